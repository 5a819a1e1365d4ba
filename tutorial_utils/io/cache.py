"""The on-disk cache of the real data: write one participant, check and read everything.

``python -m tutorial_utils.io`` converts the real data once into a cache directory
(see :func:`default_data_dir`) that holds no pickles; per participant ``<P>``::

    recordings.csv        FILENAME, SENTENCE, N_SAMPLES, SAMPLE_RATE
    audio.npz             one float32 16 kHz array per FILENAME
    ema.csv               the 15 original EMA columns
    hidden_states.npz     float32 (T, d) arrays under keys ``L{layer}__{FILENAME}``
    hidden_states/        instead, with ``--store npy``: see :mod:`tutorial_utils.io.store`

The layout of the directory, the manifest and its checks are in
:mod:`tutorial_utils.io.manifest`. Loading checks sizes and the sha256 of the small files,
then that the npz files hold exactly the arrays the csv files announce; anything wrong raises
:class:`CacheUnusable` (a ``FileNotFoundError``) with one message that says how to rebuild.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..dataset import Dataset, HiddenStates, check_ema_table, check_recordings_table
from ..frames import SAMPLE_RATE
from . import validate
from .files import file_record, write_csv, write_npz
from .location import default_data_dir, find_data_dir, pointer_file, remember_data_dir
from .manifest import (
    AUDIO_NAME,
    CACHE_FORMAT_VERSION,
    EMA_NAME,
    HIDDEN_STATES_NAME,
    MANIFEST_NAME,
    OLD_HIDDEN_STATES_NAME,
    RECORDINGS_NAME,
    cache_problems,
    generation_of,
    hidden_state_key,
    parse_hidden_state_key,
    participant_files,
    read_manifest,
    stored_layers,
)
from .store import STORE_INDEX, open_store

__all__ = [
    "AUDIO_NAME",
    "CACHE_FORMAT_VERSION",
    "DOWNLOAD_HINT",
    "EMA_NAME",
    "HIDDEN_STATES_NAME",
    "MANIFEST_NAME",
    "OLD_HIDDEN_STATES_NAME",
    "RECORDINGS_NAME",
    "CacheUnusable",
    "cache_problems",
    "cache_status",
    "default_data_dir",
    "find_data_dir",
    "pointer_file",
    "remember_data_dir",
    "file_record",
    "generation_of",
    "hidden_state_key",
    "parse_hidden_state_key",
    "load_cache",
    "participant_files",
    "read_hidden_states",
    "read_manifest",
    "stored_layers",
    "write_ema",
    "write_hidden_states",
    "write_recordings",
]

DOWNLOAD_HINT = "python -m tutorial_utils.io"
"""The command that fetches the real data, named in every message that asks for it."""
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


class CacheUnusable(FileNotFoundError):
    """The real-data cache is missing, incomplete or damaged (the message says what to do)."""


# -- Writing (into a generation folder; see tutorial_utils.io.transaction) -------------------


def _kept(path: Path, record: dict, records: dict | None) -> Path:
    if records is not None:
        records[path] = record
    return path


def write_recordings(
    data_dir: Path, participant: str, recordings: pd.DataFrame, records: dict | None = None
) -> list[Path]:
    """Write ``recordings.csv`` and ``audio.npz`` of one participant.

    ``records``, when given, receives ``{path: {"sha256", "size"}}`` of the bytes written.
    """
    check_recordings_table(recordings, participant)
    folder = Path(data_dir) / validate.check_participant(participant, "participant")
    names = validate.check_filenames(recordings["FILENAME"], f"recordings of {participant}")
    audio = dict(zip(names, (np.asarray(a, np.float32) for a in recordings["AUDIO"]), strict=True))
    table = pd.DataFrame(
        {
            "FILENAME": names,
            "SENTENCE": recordings["SENTENCE"].astype(str).tolist(),
            "N_SAMPLES": [a.size for a in audio.values()],
            "SAMPLE_RATE": SAMPLE_RATE,
        }
    )
    return [
        _kept(folder / AUDIO_NAME, write_npz(folder / AUDIO_NAME, audio), records),
        _kept(folder / RECORDINGS_NAME, write_csv(folder / RECORDINGS_NAME, table), records),
    ]


def write_ema(
    data_dir: Path, participant: str, ema: pd.DataFrame, records: dict | None = None
) -> Path:
    """Write ``ema.csv`` of one participant (exactly the 15 original columns)."""
    check_ema_table(ema, participant)
    path = Path(data_dir) / validate.check_participant(participant, "participant") / EMA_NAME
    return _kept(path, write_csv(path, ema), records)


def write_hidden_states(
    data_dir: Path,
    participant: str,
    states: Mapping[str, np.ndarray],
    records: dict | None = None,
) -> Path:
    """Write ``hidden_states.npz`` of one participant from ``{hidden_state_key: (T, d) array}``."""
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in states.items()}
    for key in arrays:
        parse_hidden_state_key(key)
    folder = Path(data_dir) / validate.check_participant(participant, "participant")
    path = folder / HIDDEN_STATES_NAME
    return _kept(path, write_npz(path, arrays), records)


# -- Reading ---------------------------------------------------------------------------------


def _read_recordings(csv: Path) -> pd.DataFrame:
    table = pd.read_csv(csv, dtype={"FILENAME": str, "SENTENCE": str}, keep_default_na=False)
    if list(table.columns[:3]) != ["FILENAME", "SENTENCE", "N_SAMPLES"]:
        raise ValueError(f"has the columns {list(table.columns)}")
    validate.check_filenames(table["FILENAME"], csv.name)
    return table


def _add_audio(table: pd.DataFrame, npz_path: Path) -> pd.DataFrame:
    names = table["FILENAME"].tolist()
    with np.load(npz_path, allow_pickle=False) as npz:
        if set(npz.files) != set(names):
            raise ValueError(f"does not hold exactly the recordings of {RECORDINGS_NAME}")
        audio = [npz[name] for name in names]
    for name, values, n in zip(names, audio, table["N_SAMPLES"], strict=True):
        if values.dtype != np.float32 or values.shape != (n,):
            raise ValueError(f"{name} is {values.dtype} {values.shape}")
    table.insert(2, "AUDIO", audio)
    return table


def _read_ema(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"FILENAME": str, "SENTENCE": str}, keep_default_na=False)


def read_hidden_states(path: str | os.PathLike) -> HiddenStates:
    """Read a ``hidden_states.npz`` (or an old ``features.npz``) into
    ``{layer: {filename: (T, d) float32}}``."""
    states: HiddenStates = {}
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            layer, filename = parse_hidden_state_key(key)
            states.setdefault(layer, {})[filename] = npz[key]
    return dict(sorted(states.items()))


def _incomplete(data_dir: Path, problems: list[str]) -> CacheUnusable:
    return CacheUnusable(
        f"The real-data cache in {data_dir} is missing, incomplete or damaged "
        f"({'; '.join(problems[:3])}). "
        f"Run `{DOWNLOAD_HINT}` (add `--data-dir {data_dir}` for this directory, or "
        "`--from-dir PATH` if you already have the files), or use load_dataset('sample')."
    )


def _damaged(data_dir: Path, what: str) -> CacheUnusable:
    return CacheUnusable(
        f"The real-data cache in {data_dir} is damaged ({what}). Run `{DOWNLOAD_HINT}` (add "
        f"`--data-dir {data_dir}` for this directory) to rebuild it, or use "
        "load_dataset('sample')."
    )


def _lazy_hidden_states(data_dir: Path, rel: str) -> Callable[[], HiddenStates]:
    def damaged(what: str) -> CacheUnusable:
        return _damaged(data_dir, f"{rel}: {what}")

    def load() -> HiddenStates:
        try:
            if rel.endswith(STORE_INDEX):  # npy store: a recording's file is mapped when read
                return open_store((data_dir / rel).parent, damaged=damaged)
            return read_hidden_states(data_dir / rel)
        except _READ_ERRORS as err:
            raise damaged(str(err)) from err

    return load


def _read_participant(data_dir: Path, manifest: dict, participant: str) -> tuple:
    """(recordings, ema, lazy hidden states, layers) of one participant, structure checked."""
    rels = participant_files(participant, manifest["files"], generation_of(manifest))
    rel = rels[0]
    try:
        recordings = _read_recordings(data_dir / rel)
        rel = rels[1]
        recordings = _add_audio(recordings, data_dir / rel)
        rel = rels[2]
        ema = _read_ema(data_dir / rel)
        rel = rels[3]
        layers = stored_layers(data_dir / rel, recordings["FILENAME"].tolist())
    except _READ_ERRORS as err:
        raise _damaged(data_dir, f"{rel}: {err}") from err
    return recordings, ema, _lazy_hidden_states(data_dir, rels[3]), layers


def cache_status(data_dir: str | os.PathLike, verify_hashes: bool = False) -> str | None:
    """None when the cache loads (with ``verify_hashes``: every file hashed and read), else
    the reason it does not."""
    try:
        dataset = load_cache(data_dir, verify_hashes=verify_hashes)
        for participant in dataset.participants if verify_hashes else []:
            dataset.hidden_states(participant)
    except CacheUnusable as err:
        return str(err)
    return None


def load_cache(data_dir: str | os.PathLike | None = None, verify_hashes: bool = False) -> Dataset:
    """Load the converted real data from a cache directory.

    Parameters
    ----------
    data_dir : path, optional
        Cache directory; default :func:`default_data_dir`.
    verify_hashes : bool, default False
        Also recompute the sha256 of the large npz files (slower); sizes and the sha256 of the
        small files are always checked.

    Raises
    ------
    CacheUnusable
        A ``FileNotFoundError``: the cache is missing, incomplete or damaged (the message
        names the download command).
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    problems = cache_problems(data_dir, verify_hashes=verify_hashes)
    if problems:
        raise _incomplete(data_dir, problems)
    manifest = read_manifest(data_dir) or {}
    try:
        parts = {p: _read_participant(data_dir, manifest, p) for p in manifest["participants"]}
    except CacheUnusable:
        if generation_of(read_manifest(data_dir) or {}) == generation_of(manifest):
            raise
        return load_cache(data_dir, verify_hashes)  # a conversion switched caches meanwhile
    layers = [part[3] for part in parts.values()]
    if any(found != manifest.get("layers", layers[0]) for found in layers):
        raise _damaged(data_dir, "the hidden states do not have the layers of the manifest")
    try:
        return Dataset(
            source="real",
            description=str(manifest.get("description", "Tutorial data (Haskins database).")),
            recordings={p: part[0] for p, part in parts.items()},
            ema={p: part[1] for p, part in parts.items()},
            hidden_states={p: part[2] for p, part in parts.items()},
            model_name=str(manifest.get("model_name", "facebook/wav2vec2-base")),
            sample_rate=int(manifest.get("sample_rate", SAMPLE_RATE)),
            manifest=manifest,
        )
    except (ValueError, TypeError) as err:
        raise _damaged(data_dir, str(err)) from err
