"""A conversion is a transaction: build the new cache beside the old one, switch in one step.

:class:`Transaction` writes every file of the new cache into a fresh generation folder
``<data_dir>/gen-<id>/`` (same filesystem as the old cache). Participants whose files are
still good are hard-linked in from the old cache (copied where links are not possible), so
the new generation is complete on its own; with ``--store npy`` the hidden states are a store
folder (:mod:`tutorial_utils.io.store`) in the generation, written or linked file by file like
the rest. :meth:`Transaction.commit` then fsyncs it and
replaces ``manifest.json`` with one ``os.replace``: a reader sees the old complete cache until
that instant and the new one after it. An interrupted run (an exception, a full disk,
``kill -9``) leaves the old manifest, hence the old cache, untouched; the half-built generation
and temporary files it leaves behind are removed by :func:`sweep` in the next run.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import cache, validate
from .download import DOWNLOADS_DIR
from .files import TEMP_SUFFIX, write_json
from .manifest import (
    GENERATION_PATTERN,
    MANIFEST_NAME,
    generation_of,
    manifest_problems,
    parse_hidden_state_key,
    participant_files,
)
from .store import STORE_DIR, STORE_INDEX, store_files, write_store

DOWNLOADS_RECORDS = "downloads.json"
"""Records of the downloaded originals, in the downloads folder (kept across runs)."""
_OUR_FILES = (MANIFEST_NAME, DOWNLOADS_RECORDS)
_TEMP = re.compile(
    r"\.(" + "|".join(map(re.escape, _OUR_FILES)) + r")\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX)
)
"""Temporary files of interrupted writes of the manifest or download records."""


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries durable (POSIX; Windows cannot open folders, nor needs to)."""
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Transaction:
    """One conversion's new cache generation, switched to by :meth:`commit`.

    Parameters
    ----------
    data_dir : Path
        The cache directory (its lock must be held).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.generation = f"gen-{secrets.token_hex(6)}"
        self.root = self.data_dir / self.generation
        self.root.mkdir(parents=True)
        self.files: dict[str, dict[str, Any]] = {}
        self.reused: set[str] = set()
        self.committed = False

    def write(
        self,
        participant: str,
        recordings: pd.DataFrame,
        ema: pd.DataFrame,
        hidden_states: Mapping[str, Any] | Iterable[tuple[str, Any]],
        store: str = "npz",
    ) -> None:
        """Write one participant's four files; records come from the bytes written.

        ``hidden_states``: ``{hidden_state_key: (T, d)}``, or with ``store="npy"`` also an
        iterable of ``(filename, layers)`` written into the store one recording at a time.
        """
        written: dict[Path, dict] = {}
        cache.write_recordings(self.root, participant, recordings, written)
        cache.write_ema(self.root, participant, ema, written)
        if store == "npy":
            folder = self.root / validate.check_participant(participant, "participant")
            order = list(recordings["FILENAME"])
            states = _per_recording(hidden_states)
            write_store(folder / STORE_DIR, states, order=order, records=written)
        else:
            cache.write_hidden_states(self.root, participant, hidden_states, written)
        for path, record in written.items():
            self.files[path.relative_to(self.data_dir).as_posix()] = record

    def reuse(self, participant: str, old: Mapping[str, Any]) -> None:
        """Link one participant's verified files from the old cache into this generation
        (a store index with the ``.npy`` files it lists)."""
        old_generation = generation_of(old)
        for old_rel in participant_files(participant, old["files"], old_generation):
            new_rel = f"{self.generation}/{old_rel.removeprefix(f'{old_generation}/')}"
            _link(self.data_dir / old_rel, self.data_dir / new_rel)
            if old_rel.endswith(f"/{STORE_INDEX}"):
                source, target = (self.data_dir / rel for rel in (old_rel, new_rel))
                for name in store_files(source.parent):
                    _link(source.parent / name, target.parent / name)
            self.files[new_rel] = dict(old["files"][old_rel])
        self.reused.add(participant)

    def commit(self, manifest: dict[str, Any], old: Mapping[str, Any] | None) -> None:
        """Make this generation the cache: one atomic replace of the manifest, then remove
        the old cache's files (``old``: the manifest replaced)."""
        manifest = {**manifest, "generation": self.generation, "files": dict(self.files)}
        folders = sorted((p for p in self.root.rglob("*") if p.is_dir()), key=_depth)
        for folder in [*folders, self.root]:
            _fsync_dir(folder)
        write_json(self.data_dir / MANIFEST_NAME, manifest)
        self.committed = True
        _fsync_dir(self.data_dir)
        if old is not None and not manifest_problems(old):
            _remove_cache_files(self.data_dir, old)
        sweep(self.data_dir, manifest)

    def abort(self) -> None:
        """Remove the unfinished generation (the old cache is untouched); no-op once committed."""
        if not self.committed:
            shutil.rmtree(self.root, ignore_errors=True)


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (a copy where links are not possible)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _depth(path: Path) -> int:
    """Sort key: deepest folders first."""
    return -len(path.parts)


def _per_recording(states: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Iterable:
    """``(filename, {layer: array})`` pairs for the store, from ``{hidden_state_key: array}``
    (e.g. converted frame states) or already so (streamed extraction)."""
    if not isinstance(states, Mapping):
        return states
    per_file: dict[str, dict[int, Any]] = {}
    for key, array in states.items():
        layer, filename = parse_hidden_state_key(key)
        per_file.setdefault(filename, {})[layer] = array
    return per_file.items()


def _remove_cache_files(data_dir: Path, old: Mapping[str, Any]) -> None:
    """Remove the files of a replaced cache (a generation folder, or flat ``<P>/`` files)."""
    if generation_of(old):
        shutil.rmtree(data_dir / generation_of(old), ignore_errors=True)
        return
    for rel in old["files"]:
        path = data_dir / rel
        path.unlink(missing_ok=True)
        if rel.endswith(f"/{STORE_INDEX}"):  # a store of the flat layout: its whole folder
            shutil.rmtree(path.parent, ignore_errors=True)
    for folder in sorted({(data_dir / rel).parent for rel in old["files"]}, key=_depth):
        for empty in (folder, folder.parent):
            if empty != data_dir and empty.is_dir() and not any(empty.iterdir()):
                empty.rmdir()


def sweep(data_dir: Path, manifest: Mapping[str, Any] | None) -> list[Path]:
    """Remove what an interrupted run left behind; returns what was removed.

    That is: generation folders other than the manifest's (``gen-`` and 12 hex digits), and
    temporary files of interrupted writes of the manifest and download records. Nothing else
    is touched, so a ``--data-dir`` shared with other files is safe. Call it only while
    holding the directory's lock.
    """
    data_dir = Path(data_dir)
    current = generation_of(manifest) if manifest is not None else ""
    folders = [data_dir, data_dir / DOWNLOADS_DIR]
    removed = []
    for folder in (f for f in folders if f.is_dir()):
        for path in folder.iterdir():
            stale = folder == data_dir and GENERATION_PATTERN.fullmatch(path.name)
            if (stale and path.name != current) or _TEMP.fullmatch(path.name):
                removed.append(path)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed
