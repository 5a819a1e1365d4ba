"""The built-in offline sample: read the committed files, simulate the encoder, build a Dataset.

The committed files in ``tutorial_utils/data/sample/`` (16 kHz FLAC audio, virtual EMA at
50 Hz, phone segments, manifest) were written by ``tools/make_sample``; the hidden states come
from the simulated encoder in :mod:`tutorial_utils.sample.encoder`. See that module for what
is planted.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from threadpoolctl import threadpool_limits

from ..dataset import Dataset
from ..frames import SAMPLE_RATE
from .encoder import simulate
from .sources import PARTICIPANTS

__all__ = ["SAMPLE_DIR", "load_sample_dataset", "planted_sources"]

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
_DESCRIPTION = (
    "synthetic: VocalTractLab speech + simulated encoder. Two synthetic speakers (SYN-F, "
    "SYN-M: one vocal tract, higher and lower voice) reading IEEE sentences, with virtual "
    "EMA sensors (here _Y is vertical; in the real data it is lateral) and a simulated "
    "13-layer encoder whose layer profile is planted (tutorial_utils.sample.ground_truth()). "
    "Numbers differ from the real Wav2Vec2 data."
)


def _read_tables(sample_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Recordings, phone segments and per-participant EMA tables of the sample."""
    if not (sample_dir / "recordings.csv").is_file():
        raise FileNotFoundError(
            f"The offline sample is missing from {sample_dir}. Reinstall the package "
            "(pip install -e .) or restore tutorial_utils/data/sample from the repository."
        )
    recordings = pd.read_csv(sample_dir / "recordings.csv")
    phones = pd.read_csv(sample_dir / "phones.csv", keep_default_na=False)
    ema = {p: pd.read_csv(sample_dir / f"ema_labels_{p}.csv") for p in PARTICIPANTS}
    return recordings, phones, ema


def _read_audio(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path.name}: expected {SAMPLE_RATE} Hz audio, found {rate} Hz.")
    return audio


@lru_cache(maxsize=2)
def _build(sample_dir: str) -> tuple[dict, dict, dict, dict]:
    """Load the committed files and simulate the encoder once per process."""
    folder = Path(sample_dir)
    recordings, phones, ema = _read_tables(folder)
    audio_of = {}
    for row in recordings.itertuples(index=False):
        audio_of[row.FILENAME] = _read_audio(folder / row.AUDIO_FILE)
        audio_of[row.FILENAME].flags.writeable = False
    # One BLAS thread: the encoder's products are small and memory-bound, and on a busy
    # machine extra threads mostly wait for each other (3x slower on 2 shared cores); the
    # result is the same bits either way.
    with threadpool_limits(limits=1, user_api="blas"):
        sources, states = simulate(recordings, phones, ema, audio_of)
    tables = {}
    for participant in PARTICIPANTS:
        rows = recordings.loc[recordings["PARTICIPANT"] == participant]
        tables[participant] = pd.DataFrame(
            {
                "FILENAME": rows["FILENAME"].to_list(),
                "SENTENCE": rows["SENTENCE"].to_list(),
                "AUDIO": [audio_of[name] for name in rows["FILENAME"]],
            }
        )
    manifest = json.loads((folder / "manifest.json").read_text())
    return tables, ema, states, {"sources": sources, "manifest": manifest}


def load_sample_dataset(sample_dir: str | Path | None = None) -> Dataset:
    """The built-in synthetic sample as a :class:`~tutorial_utils.dataset.Dataset`.

    Parameters
    ----------
    sample_dir : str or Path, optional
        Folder with the committed sample files (default: the package's ``data/sample``).

    Returns
    -------
    Dataset
        ``source == "sample"``, participants ``["SYN-F", "SYN-M"]``. Arrays are read-only
        (they are shared between calls); copy one before changing it.
    """
    folder = str(Path(sample_dir) if sample_dir else SAMPLE_DIR)
    tables, ema, states, extras = _build(folder)
    return Dataset(
        source="sample",
        description=_DESCRIPTION,
        recordings=tables,
        ema=ema,
        hidden_states=states,
        model_name="simulated-encoder (tutorial_utils.sample)",
        manifest={**extras["manifest"], "sample_dir": folder},
    )


def planted_sources(dataset: Dataset, participant: str, filename: str) -> dict[str, np.ndarray]:
    """The standardised planted sources of one sample recording, on the model frame grid.

    Parameters
    ----------
    dataset : Dataset
        The sample (``load_dataset("sample")``); real data have no planted sources.
    participant, filename : str

    Returns
    -------
    dict
        ``{"acoustic": (T, 40), "articulatory": (T, 12), "content": (T, 32),
        "speaker": (T, 17)}`` float64 arrays. Within one recording the speaker vector is
        constant, so only the spectral-tilt column of ``speaker`` varies; speaker identity
        is visible across recordings (e.g. in sentence means), not within one.
    """
    if dataset.source != "sample":
        raise ValueError(
            "Planted sources exist only for the synthetic sample; load it with "
            'load_dataset("sample").'
        )
    # The folder the dataset was built from (cached by _build, so nothing is recomputed).
    sources = _build(dataset.manifest.get("sample_dir", str(SAMPLE_DIR)))[3]["sources"]
    key = (participant, filename)
    if key not in sources:
        names = sorted(f for p, f in sources if p == participant)
        raise KeyError(f"No sample recording {filename!r} for {participant!r}; valid: {names}.")
    return {name: array.copy() for name, array in sources[key].items()}
