"""The built-in offline sample: ``tools/make_sample`` wrote ``tutorial_utils/data/sample/``
(16 kHz FLAC of two VocalTractLab voices, about 153 and 86 Hz, virtual EMA at 50 Hz with ``_Y``
vertical, phone segments, a manifest with each file's sha256); the hidden states come from
:mod:`tutorial_utils.sample.encoder`."""

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from threadpoolctl import threadpool_limits

from .encoder import LAYER_PROFILE, PARTICIPANTS, ground_truth, simulate

__all__ = ["LAYER_PROFILE", "SAMPLE_DIR", "ground_truth", "planted_sources", "sample_tables"]
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
_DESCRIPTION = (
    "synthetic: VocalTractLab speech + simulated encoder. Two synthetic speakers (SYN-F, "
    "SYN-M: one vocal tract, higher and lower voice) reading IEEE sentences, with virtual "
    "EMA sensors (here _Y is vertical; in the real data it is lateral) and a simulated "
    "13-layer encoder whose layer profile is planted (tutorial_utils.sample.ground_truth()). "
    "Numbers differ from the real Wav2Vec2 data."
)
_MODEL = "simulated-encoder (tutorial_utils.sample)"
_MANIFEST_SHA256 = "3db2271d47b4ec6d77887bdebfe9ccd6f206dd8d6fbe31af38ad4bdc603da944"
_REINSTALL = (
    "The installation is damaged: reinstall the package, e.g. pip install --force-reinstall "
    '--no-deps "speech-cka-tutorial @ git+<its address>" (in a clone of the repository: git '
    "checkout -- tutorial_utils/data/sample)."
)


def _checked_manifest(folder: Path) -> dict:
    """The sample's manifest (pinned), once every file it lists has its recorded sha256."""
    try:
        text = (folder / "manifest.json").read_bytes()
        manifest = json.loads(text) if hashlib.sha256(text).hexdigest() == _MANIFEST_SHA256 else {}
        damaged = [n for n, sha in manifest["files"].items() if _sha256(folder / n) != sha]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        manifest, damaged = None, ["manifest.json"]
    if damaged:
        what = f"{', '.join(damaged)}: missing or changed"
        raise ValueError(f"The offline sample in {folder} is damaged ({what}). {_REINSTALL}")
    return manifest


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@lru_cache(maxsize=2)
def _build(sample_dir: str) -> tuple[dict, dict, dict, dict, dict]:
    """Tables, EMA, hidden states, planted sources and manifest of the sample in a folder."""
    folder = Path(sample_dir)
    manifest = _checked_manifest(folder)  # once per folder and process: the files are small
    recordings = pd.read_csv(folder / "recordings.csv")
    phones = pd.read_csv(folder / "phones.csv", keep_default_na=False)  # keep "sil" a string
    ema = {p: pd.read_csv(folder / f"ema_labels_{p}.csv") for p in PARTICIPANTS}
    audio_of = {}
    for name, file in zip(recordings["FILENAME"], recordings["AUDIO_FILE"], strict=True):
        audio_of[name] = sf.read(folder / file, dtype="float32")[0]
        audio_of[name].flags.writeable = False
    with threadpool_limits(limits=1, user_api="blas"):  # small products: more threads wait
        sources, states = simulate(recordings, phones, ema, audio_of)
    tables = {}
    for p in PARTICIPANTS:
        rows = recordings.loc[recordings["PARTICIPANT"] == p, ["FILENAME", "SENTENCE"]]
        tables[p] = rows.reset_index(drop=True)
        tables[p]["AUDIO"] = [audio_of[name] for name in rows["FILENAME"]]
    return tables, ema, states, sources, manifest


def sample_tables(sample_dir: str | Path | None = None) -> dict:
    """The sample as the arguments of a ``Dataset`` (``load_dataset("sample")``), from
    ``sample_dir`` (default the package's ``data/sample``). Arrays are read-only, shared."""
    folder = str(Path(sample_dir) if sample_dir else SAMPLE_DIR)
    tables, ema, states, _, manifest = _build(folder)
    manifest = {**manifest, "sample_dir": folder}
    fixed = {"source": "sample", "description": _DESCRIPTION, "model_name": _MODEL}
    return fixed | dict(recordings=tables, ema=ema, hidden_states=states, manifest=manifest)


def planted_sources(dataset, participant: str, filename: str) -> dict[str, np.ndarray]:
    """The standardised planted sources of a sample recording, float64 copies per frame:
    ``{"acoustic": (T, 40), "articulatory": (T, 12), "content": (T, 32), "speaker": (T, 17)}``
    (within a recording the speaker vector is constant but for its spectral-tilt column)."""
    if dataset.source != "sample":
        raise ValueError(
            'Planted sources exist only for the synthetic sample: load_dataset("sample").'
        )
    sources = _build(dataset.manifest["sample_dir"])[3]
    if (participant, filename) not in sources:
        valid = sorted(f for p, f in sources if p == participant)
        raise KeyError(f"No sample recording {filename!r} for {participant!r}; valid: {valid}.")
    return {name: array.copy() for name, array in sources[(participant, filename)].items()}
