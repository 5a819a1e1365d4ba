"""The cache manifest: its layout, its schema, and what a cache directory lacks.

``<data_dir>/manifest.json`` is the one file that says which cache is current. A conversion
writes a new cache into a fresh *generation* folder ``<data_dir>/gen-<id>/`` and then replaces
the manifest in one atomic rename, so a reader sees either the old complete cache or the new
one, never a mixture (:mod:`tutorial_utils.io.transaction`)::

    manifest.json        format_version, complete, generation, participants, files, ...
    gen-<id>/<P>/recordings.csv, audio.npz, ema.csv, hidden_states.npz
    gen-<id>/<P>/hidden_states/index.json + one .npy per recording   (instead, --store npy)

``files`` maps each path (relative to the data directory) to ``{"sha256", "size"}``. Caches
written before generations (no ``generation`` key) keep their files directly in
``<data_dir>/<P>/``; caches older still call the hidden states ``features.npz``. Both are read.

Checks: sizes always; the sha256 of every file up to :data:`SMALL_FILE_BYTES` (the csv files)
always; the sha256 of the large npz files when asked (``verify_hashes=True``). A listed store
index (:mod:`tutorial_utils.io.store_index`) counts as small; the ``.npy`` files it lists are
checked like the large files, against the index.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import sha256_file
from .store_index import INDEX_NAME, STORE_INDEX, read_index, store_problems
from .validate import PARTICIPANT_PATTERN

CACHE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
RECORDINGS_NAME = "recordings.csv"
AUDIO_NAME = "audio.npz"
EMA_NAME = "ema.csv"
HIDDEN_STATES_NAME = "hidden_states.npz"
OLD_HIDDEN_STATES_NAME = "features.npz"
"""Name of the hidden-states file in caches written before version 0.2 (still read)."""
GENERATION_PATTERN = re.compile(r"gen-[0-9a-f]{12}")
SMALL_FILE_BYTES = 8 << 20
"""Files up to this size are hashed on every load (cheap); larger ones on request."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


def generation_of(manifest: Mapping[str, Any]) -> str:
    """The manifest's generation folder name, or ``""`` for a cache without generations."""
    return str(manifest.get("generation") or "")


def hidden_state_key(layer: int, filename: str) -> str:
    """Key of one recording's layer in ``hidden_states.npz``: ``L{layer}__{filename}``."""
    return f"L{int(layer)}__{filename}"


def parse_hidden_state_key(key: str) -> tuple[int, str]:
    """Inverse of :func:`hidden_state_key`."""
    head, sep, filename = key.partition("__")
    if not sep or not head.startswith("L") or not head[1:].isdigit() or not filename:
        raise ValueError(f"Not a hidden-state key of the form 'L<layer>__<filename>': {key!r}")
    return int(head[1:]), filename


def participant_files(
    participant: str, listed: Mapping[str, Any] | None = None, generation: str = ""
) -> list[str]:
    """Cache files of one participant, relative to the cache directory.

    ``listed`` (a manifest's ``files``) selects the old hidden-states name
    (``features.npz``) for caches written before the rename, and the index of the npy store
    (``hidden_states/index.json``) where the manifest lists it.
    """
    folder = f"{generation}/{participant}" if generation else participant
    states = HIDDEN_STATES_NAME
    old = f"{folder}/{OLD_HIDDEN_STATES_NAME}"
    if listed is not None and old in listed and f"{folder}/{states}" not in listed:
        states = OLD_HIDDEN_STATES_NAME
    if listed is not None and f"{folder}/{STORE_INDEX}" in listed:
        states = STORE_INDEX
    return [f"{folder}/{name}" for name in (RECORDINGS_NAME, AUDIO_NAME, EMA_NAME, states)]


def stored_layers(path: str | os.PathLike, filenames: list[str] | None = None) -> list[int]:
    """Layers in a hidden-states npz, from its member names only (cheap), or in a store's
    ``index.json``.

    With ``filenames``, also refuse states of recordings that are not among them.
    """
    path = Path(path)
    if path.name == INDEX_NAME:  # the npy store
        index = read_index(path.parent)
        layers, stored = index["layers"], [r["filename"] for r in index["recordings"]]
    else:
        with zipfile.ZipFile(path) as archive:
            keys = [n.removesuffix(".npy") for n in archive.namelist()]
        parsed = [parse_hidden_state_key(k) for k in keys]
        layers, stored = [layer for layer, _ in parsed], [f for _, f in parsed]
    unknown = sorted(set(stored) - set(filenames or stored))
    if unknown:
        raise ValueError(f"{path.name} holds states of unknown recordings {unknown[:3]}")
    return sorted(set(layers))


def read_manifest(data_dir: str | os.PathLike) -> dict | None:
    """The cache manifest, or None when there is none (or it is unreadable)."""
    try:
        with open(Path(data_dir) / MANIFEST_NAME, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _record_problem(rel: Any, record: Any, generation: str) -> str | None:
    parts = rel.split("/") if isinstance(rel, str) else []
    if not parts or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        return f"the manifest lists the unsafe path {rel!r}"
    if generation and parts[0] != generation:
        return f"the manifest lists {rel!r} outside its generation {generation}"
    if not isinstance(record, dict):
        return f"the manifest's record of {rel} is {record!r}, not {{sha256, size}}"
    size, sha = record.get("size"), record.get("sha256")
    valid_size = isinstance(size, int) and not isinstance(size, bool) and size >= 0
    if not (valid_size and isinstance(sha, str) and _SHA256.fullmatch(sha)):
        return f"the manifest's record of {rel} has no valid size and sha256"
    return None


def manifest_problems(manifest: Mapping[str, Any]) -> list[str]:
    """What is malformed in a manifest (its schema); empty when it is well formed."""
    if manifest.get("format_version") != CACHE_FORMAT_VERSION:
        return [f"cache format {manifest.get('format_version')!r} != {CACHE_FORMAT_VERSION}"]
    generation = manifest.get("generation") or ""
    if generation and not (
        isinstance(generation, str) and GENERATION_PATTERN.fullmatch(generation)
    ):
        return [f"the manifest names the generation {generation!r}"]
    files = manifest.get("files")
    if not isinstance(files, dict):
        return [f"the manifest's files are a {type(files).__name__}, not a mapping"]
    participants = manifest.get("participants")
    if not isinstance(participants, list) or not participants:
        return ["the manifest lists no participants"]
    bad = [p for p in participants if not (isinstance(p, str) and PARTICIPANT_PATTERN.fullmatch(p))]
    if bad or len(set(participants)) != len(participants):
        return [f"the manifest lists invalid participants {bad or participants}"]
    problems = [] if manifest.get("complete") is True else ["the conversion did not finish"]
    for rel, record in files.items():
        problem = _record_problem(rel, record, generation)
        if problem:
            problems.append(problem)
    return problems


def file_problems(data_dir: Path, rel: str, record: Mapping, verify_hashes: bool) -> list[str]:
    """What is wrong with one listed file: missing, other size, other sha256; for a store
    index, also with the files it lists."""
    path = data_dir / rel
    if not path.is_file() or not path.resolve().is_relative_to(data_dir.resolve()):
        return [f"{rel} is missing"]
    size = path.stat().st_size
    if size != record["size"]:
        return [f"{rel} has size {size}, expected {record['size']}"]
    if (verify_hashes or size <= SMALL_FILE_BYTES) and sha256_file(path) != record["sha256"]:
        return [f"{rel} has a wrong sha256 (changed or damaged since it was written)"]
    if rel.endswith(f"/{STORE_INDEX}"):  # the npy store: also every file its index lists
        folder = rel.removesuffix(INDEX_NAME)
        return [f"{folder}{problem}" for problem in store_problems(path.parent, verify_hashes)]
    return []


def cache_problems(data_dir: str | os.PathLike, verify_hashes: bool = False) -> list[str]:
    """What is missing or wrong in a cache directory; empty when the cache is complete.

    Checks the manifest's schema, that it lists every participant's four files, and that each
    listed file exists with the recorded size and, for small files (or all files with
    ``verify_hashes``), the recorded sha256.
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    if manifest is None:
        return [f"no readable {MANIFEST_NAME} in {data_dir}"]
    problems = manifest_problems(manifest)
    if any(not p.startswith("the conversion") for p in problems):
        return problems
    files, generation = manifest["files"], generation_of(manifest)
    for p in manifest["participants"]:
        missing = [rel for rel in participant_files(p, files, generation) if rel not in files]
        problems += [f"{rel} is not in the manifest" for rel in missing]
    for rel, record in files.items():
        problems += file_problems(data_dir, rel, record, verify_hashes)
    return problems
