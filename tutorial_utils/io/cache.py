"""The on-disk cache of the real data: write one participant, check and read everything.

``python -m tutorial_utils.io`` converts the real data once into a cache directory
(see :func:`find_data_dir`) that holds no pickles, and records where in :func:`pointer_file`::

    manifest.json                 source, model, frame rate, versions, sha256 + size of files
    <P>/recordings.csv            FILENAME, SENTENCE, N_SAMPLES, SAMPLE_RATE
    <P>/audio.npz                 one float32 16 kHz array per FILENAME
    <P>/ema.csv                   the 15 original EMA columns
    <P>/hidden_states.npz         float32 (T, d) arrays under keys ``L{layer}__{FILENAME}``
    <P>/hidden_states/index.json  instead, with ``--store npy``: see tutorial_utils.io.store

Caches written before the rename call the last file ``features.npz``; it is still read.
``manifest.json`` is written last, so a cache without it is incomplete. Loading checks the
size of every file listed in the manifest (cheap, catches truncation); pass
``verify_hashes=True`` to also recompute the sha256 of each file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..dataset import Dataset, HiddenStates, check_ema_table, check_recordings_table
from ..frames import SAMPLE_RATE
from .files import file_record, sha256_file, write_csv, write_npz
from .store import STORE_INDEX, open_store, store_problems

__all__ = [
    "cache_problems",
    "default_data_dir",
    "file_record",
    "find_data_dir",
    "load_cache",
    "pointer_file",
    "read_manifest",
    "remember_data_dir",
]

CACHE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
RECORDINGS_NAME = "recordings.csv"
AUDIO_NAME = "audio.npz"
EMA_NAME = "ema.csv"
HIDDEN_STATES_NAME = "hidden_states.npz"
OLD_HIDDEN_STATES_NAME = "features.npz"
"""Name of the hidden-states file in caches written before version 0.2 (still read)."""
DOWNLOAD_HINT = "python -m tutorial_utils.io"
"""The command that fetches the real data, named in every message that asks for it."""


def hidden_state_key(layer: int, filename: str) -> str:
    """Key of one recording's layer in ``hidden_states.npz``: ``L{layer}__{filename}``."""
    return f"L{int(layer)}__{filename}"


def parse_hidden_state_key(key: str) -> tuple[int, str]:
    """Inverse of :func:`hidden_state_key`."""
    head, sep, filename = key.partition("__")
    if not sep or not head.startswith("L") or not head[1:].isdigit():
        raise ValueError(f"Not a hidden-state key of the form 'L<layer>__<filename>': {key!r}")
    return int(head[1:]), filename


def pointer_file() -> Path:
    """Where the data command records the last cache it completed, so that
    :func:`default_data_dir` finds it in later sessions:
    ``~/.config/speech-cka-tutorial/data_dir`` (under ``$XDG_CONFIG_HOME`` when set)."""
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "speech-cka-tutorial" / "data_dir"


def remember_data_dir(data_dir: str | os.PathLike) -> Path:
    """Record ``data_dir`` (absolute) in :func:`pointer_file`; returns the pointer's path."""
    pointer = pointer_file()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(f"{Path(data_dir).expanduser().resolve()}\n")
    return pointer


def find_data_dir() -> tuple[Path, str]:
    """The default cache directory and where it comes from, in this order:

    ``"env"``: ``$TUTORIAL_DATA_DIR``; ``"pointer"``: the directory recorded in
    :func:`pointer_file` by the data command; ``"checkout"``: ``<repo>/data`` in a source
    checkout; ``"user"``: ``~/.cache/speech-cka-tutorial`` (a pip-installed package, e.g. in
    Colab, must not write into site-packages).
    """
    env = os.environ.get("TUTORIAL_DATA_DIR")
    if env:
        return Path(env).expanduser(), "env"
    try:
        recorded = pointer_file().read_text().strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if recorded:
        return Path(recorded), "pointer"
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "data", "checkout"
    return Path.home() / ".cache" / "speech-cka-tutorial", "user"


def default_data_dir() -> Path:
    """Cache directory used when none is given; see :func:`find_data_dir`."""
    return find_data_dir()[0]


def participant_files(participant: str, listed: Mapping[str, Any] | None = None) -> list[str]:
    """Cache files of one participant, relative to the cache directory.

    ``listed`` (a manifest's ``files``) selects the old hidden-states name
    (``features.npz``) for caches written before the rename.
    """
    states = HIDDEN_STATES_NAME
    old = f"{participant}/{OLD_HIDDEN_STATES_NAME}"
    if listed is not None and old in listed and f"{participant}/{states}" not in listed:
        states = OLD_HIDDEN_STATES_NAME
    if listed is not None and f"{participant}/{STORE_INDEX}" in listed:  # hook: npy store
        states = STORE_INDEX
    names = (RECORDINGS_NAME, AUDIO_NAME, EMA_NAME, states)
    return [f"{participant}/{name}" for name in names]


def write_recordings(data_dir: Path, participant: str, recordings: pd.DataFrame) -> list[Path]:
    """Write ``recordings.csv`` and ``audio.npz`` of one participant."""
    check_recordings_table(recordings, participant)
    audio = {
        name: np.asarray(a, dtype=np.float32)
        for name, a in zip(recordings["FILENAME"], recordings["AUDIO"], strict=True)
    }
    table = pd.DataFrame(
        {
            "FILENAME": recordings["FILENAME"].astype(str),
            "SENTENCE": recordings["SENTENCE"].astype(str),
            "N_SAMPLES": [a.size for a in audio.values()],
            "SAMPLE_RATE": SAMPLE_RATE,
        }
    )
    folder = Path(data_dir) / participant
    return [
        write_npz(folder / AUDIO_NAME, audio),
        write_csv(folder / RECORDINGS_NAME, table),
    ]


def write_ema(data_dir: Path, participant: str, ema: pd.DataFrame) -> Path:
    """Write ``ema.csv`` of one participant (exactly the 15 original columns)."""
    check_ema_table(ema, participant)
    return write_csv(Path(data_dir) / participant / EMA_NAME, ema)


def write_hidden_states(data_dir: Path, participant: str, states: Mapping[str, np.ndarray]) -> Path:
    """Write ``hidden_states.npz`` of one participant from ``{hidden_state_key: (T, d) array}``."""
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in states.items()}
    for key in arrays:
        parse_hidden_state_key(key)
    return write_npz(Path(data_dir) / participant / HIDDEN_STATES_NAME, arrays)


def read_manifest(data_dir: str | os.PathLike) -> dict | None:
    """The cache manifest, or None when there is none (or it is unreadable)."""
    path = Path(data_dir) / MANIFEST_NAME
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def cache_problems(data_dir: str | os.PathLike, verify_hashes: bool = False) -> list[str]:
    """What is missing or wrong in a cache directory; empty when the cache is complete.

    Checks that the manifest exists, lists every participant's four files, and that each
    listed file exists with the recorded size (and sha256 when ``verify_hashes``).
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    if manifest is None:
        return [f"no readable {MANIFEST_NAME} in {data_dir}"]
    if manifest.get("format_version") != CACHE_FORMAT_VERSION:
        return [f"cache format {manifest.get('format_version')!r} != {CACHE_FORMAT_VERSION}"]
    files = manifest.get("files", {})
    problems = [] if manifest.get("complete") else ["the conversion did not finish"]
    participants = manifest.get("participants") or []
    if not participants:
        problems.append("the manifest lists no participants")
    for p in participants:
        missing = [rel for rel in participant_files(p, files) if rel not in files]
        problems += [f"{rel} is not in the manifest" for rel in missing]
    for rel, record in files.items():
        problems += _file_problems(data_dir / rel, rel, record, verify_hashes)
        if rel.endswith(f"/{STORE_INDEX}") and (data_dir / rel).is_file():  # hook: npy store
            problems += store_problems((data_dir / rel).parent, verify_hashes)
    return problems


def _file_problems(path: Path, rel: str, record: Mapping, verify_hashes: bool) -> list[str]:
    if not path.is_file():
        return [f"{rel} is missing"]
    if path.stat().st_size != record.get("size"):
        return [f"{rel} has size {path.stat().st_size}, expected {record.get('size')}"]
    if verify_hashes and sha256_file(path) != record.get("sha256"):
        return [f"{rel} has a wrong sha256"]
    return []


def _read_recordings(folder: Path) -> pd.DataFrame:
    table = pd.read_csv(folder / RECORDINGS_NAME, dtype={"FILENAME": str, "SENTENCE": str})
    with np.load(folder / AUDIO_NAME, allow_pickle=False) as npz:
        audio = [npz[name].astype(np.float32, copy=False) for name in table["FILENAME"]]
    table.insert(2, "AUDIO", audio)
    return table


def _read_ema(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / EMA_NAME, dtype={"FILENAME": str, "SENTENCE": str})


def read_hidden_states(path: str | os.PathLike) -> HiddenStates:
    """Read a ``hidden_states.npz`` (or an old ``features.npz``) into
    ``{layer: {filename: (T, d) float32}}``."""
    states: HiddenStates = {}
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            layer, filename = parse_hidden_state_key(key)
            states.setdefault(layer, {})[filename] = npz[key]
    return dict(sorted(states.items()))


def load_cache(data_dir: str | os.PathLike | None = None, verify_hashes: bool = False) -> Dataset:
    """Load the converted real data from a cache directory.

    Parameters
    ----------
    data_dir : path, optional
        Cache directory; default :func:`default_data_dir`.
    verify_hashes : bool, default False
        Also recompute every file's sha256 (slower); sizes are always checked.

    Raises
    ------
    FileNotFoundError
        When the cache is missing or incomplete (the message names the download command).
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    problems = cache_problems(data_dir, verify_hashes=verify_hashes)
    if problems:
        raise FileNotFoundError(
            f"The real-data cache in {data_dir} is missing or incomplete ({'; '.join(problems[:3])}"
            f"). Run `{DOWNLOAD_HINT}` (add `--data-dir {data_dir}` for this directory, or "
            "`--from-dir PATH` if you already have the files), or use load_dataset('sample')."
        )
    manifest = read_manifest(data_dir) or {}
    participants = list(manifest["participants"])
    folders = {p: data_dir / p for p in participants}
    states_files = {p: data_dir / participant_files(p, manifest["files"])[-1] for p in participants}
    return Dataset(
        source="real",
        description=manifest.get(
            "description", "Tutorial data (Haskins rate comparison database, F02 and M02)."
        ),
        recordings={p: _read_recordings(f) for p, f in folders.items()},
        ema={p: _read_ema(f) for p, f in folders.items()},
        hidden_states={p: _lazy_hidden_states(path) for p, path in states_files.items()},
        model_name=manifest.get("model_name", "facebook/wav2vec2-base"),
        sample_rate=int(manifest.get("sample_rate", SAMPLE_RATE)),
        manifest=manifest,
    )


def _lazy_hidden_states(path: Path) -> Callable[[], HiddenStates]:
    if path.as_posix().endswith(STORE_INDEX):  # hook (extract branch): lazy per-file memmaps
        return lambda: open_store(path.parent)
    return lambda: read_hidden_states(path)
