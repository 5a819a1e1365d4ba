"""Write the committed sample files: FLAC audio, CSV tables and the manifest.

Every file is written atomically (temporary file, then ``os.replace``); the manifest records
the settings, the versions and the sha256 of every other file, which loading the sample checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import soundfile as sf

from ._package import SAMPLE_RATE
from .corpus import (
    ANATOMY_NOTE,
    BLOCK,
    EXTRA_IDS,
    EXTRA_TEXT_NOTE,
    RATE_TAG,
    REPETITION,
    SEED,
    SENTENCES,
    SHARED_IDS,
    SPEAKERS,
    Speaker,
)
from .ema import ema_convention, sanity_report
from .phones import ENGLISH_TO_VTL, JITTER_SIGMA, PHONE_COLUMNS
from .vtl import PEAK, VTL_RATE, versions

# The committed manifest still names scripts/make_sample.py, the script that wrote it (this
# package makes the same bytes); the next regeneration records this name instead.
GENERATOR_NAME = "tools/make_sample"
GENERATOR_VERSION = "1.0.0"
RECORDING_COLUMNS = [
    "PARTICIPANT",
    "FILENAME",
    "SENTENCE",
    "AUDIO_FILE",
    "N_SAMPLES",
    "SAMPLE_RATE",
]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def flac_bytes(audio: np.ndarray) -> bytes:
    """Encode int16 audio at 16 kHz as FLAC.

    Parameters
    ----------
    audio : numpy.ndarray
        int16 samples.

    Returns
    -------
    bytes
        The FLAC file.
    """
    buffer = io.BytesIO()
    sf.write(buffer, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def csv_bytes(table: pd.DataFrame, decimals: int = 3) -> bytes:
    """Serialise a table as CSV without index (``\\n`` line ends).

    Parameters
    ----------
    table : pandas.DataFrame
        Table to write.
    decimals : int, default 3
        Decimals of float columns (the EMA tables use 2).

    Returns
    -------
    bytes
        UTF-8 CSV.
    """
    return table.to_csv(index=False, lineterminator="\n", float_format=f"%.{decimals}f").encode()


def remove_stale_audio(out_dir: Path, keep: set[str]) -> None:
    """Delete FLAC files in ``out_dir`` that this run did not write.

    Parameters
    ----------
    out_dir : Path
        Sample folder.
    keep : set of str
        File names written by this run.
    """
    for path in out_dir.glob("*.flac"):
        if path.name not in keep:
            path.unlink()


def speaker_entry(speaker: Speaker) -> dict:
    """Manifest entry of one speaker.

    Parameters
    ----------
    speaker : Speaker
        Speaker settings.

    Returns
    -------
    dict
        JSON-serialisable settings.
    """
    return {
        "participant": speaker.participant,
        "sex": speaker.sex,
        "anatomy": "JD3 (VocalTractLab default adult male), unchanged",
        "rate_scale": speaker.rate_scale,
        "duration_jitter_lognormal_sd": JITTER_SIGMA,
        "f0_offset_semitones": speaker.f0_offset_st,
        "f0_note": "offset added to every F0 target of VTL's default F0 tier",
        "sentence_ids": list(speaker.sentence_ids),
    }


def provenance() -> dict:
    """Manifest entries that say what made the sample: generator, tools and versions.

    Returns
    -------
    dict
        JSON-serialisable entries, in manifest order.
    """
    return {
        "statement": "synthetic: VocalTractLab speech",
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
        **versions(),
        "vtl_speaker_file": "JD3.speaker (bundled adult male), anatomy unchanged for both",
        "anatomy_note": ANATOMY_NOTE,
        "library_versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "soundfile": sf.__version__,
            "libsndfile": sf.__libsndfile_version__,
        },
    }


def settings() -> dict:
    """Manifest entries that describe the synthesis settings.

    Returns
    -------
    dict
        Seed, audio format, speakers, sentences, phone mapping and EMA convention.
    """
    sentences = [
        {
            "id": sid,
            "text": SENTENCES[sid][0],
            "arpabet": SENTENCES[sid][1],
            "speakers": [s.participant for s in SPEAKERS if sid in s.sentence_ids],
        }
        for sid in EXTRA_IDS + SHARED_IDS
    ]
    return {
        "seed": SEED,
        "sample_rate": SAMPLE_RATE,
        "audio": {
            "synthesis_rate": VTL_RATE,
            "resampling": "scipy.signal.resample_poly(x, 160, 441)",
            "peak": PEAK,
            "format": "FLAC, 16-bit PCM, mono",
        },
        "speakers": [speaker_entry(s) for s in SPEAKERS],
        "sentences": sentences,
        "sentence_text_note": EXTRA_TEXT_NOTE,
        "block": BLOCK,
        "repetition": REPETITION,
        "rate": RATE_TAG,
        "english_to_vtl": {k: v[0] for k, v in ENGLISH_TO_VTL.items()},
        "postvocalic_r": "dropped (non-rhotic); preceding vowel lengthened x1.3",
        "ema_convention": ema_convention(),
    }


def write_manifest(out_dir: Path, recordings: list[dict]) -> None:
    """Hash every file of the sample folder and write ``manifest.json``.

    Parameters
    ----------
    out_dir : Path
        Sample folder.
    recordings : list of dict
        Per-recording facts (table columns plus extras for the manifest).
    """
    files = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out_dir.iterdir())
        if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
    }
    manifest = {**provenance(), **settings(), "recordings": recordings, "files": files}
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(out_dir / "manifest.json", text.encode())
    total = sum((out_dir / name).stat().st_size for name in files) + len(text.encode())
    print(f"wrote {len(files) + 1} files, {total / 1e6:.2f} MB, to {out_dir}")


def write_tables(
    out_dir: Path, recordings: list[dict], phones: list[dict], ema: dict[str, pd.DataFrame]
) -> None:
    """Write the CSV tables and the manifest, and print the sanity report.

    Parameters
    ----------
    out_dir : Path
        Sample folder.
    recordings : list of dict
        Per-recording facts (table columns plus extras for the manifest).
    phones : list of dict
        Phone rows.
    ema : dict
        Participant -> EMA table.
    """
    phone_table = pd.DataFrame(phones, columns=PHONE_COLUMNS)
    recording_table = pd.DataFrame(recordings)[RECORDING_COLUMNS]
    atomic_write_bytes(out_dir / "recordings.csv", csv_bytes(recording_table))
    atomic_write_bytes(out_dir / "phones.csv", csv_bytes(phone_table))
    for participant, table in ema.items():
        atomic_write_bytes(out_dir / f"ema_labels_{participant}.csv", csv_bytes(table, 2))
        print(f"{participant}:")
        sanity_report(table, phone_table)
    write_manifest(out_dir, recordings)
