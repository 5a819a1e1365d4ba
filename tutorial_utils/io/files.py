"""Atomic file writes whose sha256 is taken from the bytes written, never re-read from disk.

Every write goes to a temporary file in the target's directory and is then renamed over the
target (``os.replace``, atomic on POSIX), so a killed process leaves either the old file or the
new one, never a mixture. The bytes pass through a :class:`HashingWriter` on their way to the
temporary file, so the returned record (``{"sha256", "size"}``) describes exactly what this
process wrote, even if another process replaces the path right after the rename.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

TEMP_SUFFIX = ".tmp"
"""Suffix of the temporary files; a name ``.<target>.<random>.tmp`` marks an interrupted write."""


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """``{"sha256": ..., "size": ...}`` of an existing file, as stored in the manifest."""
    return {"sha256": sha256_file(path), "size": Path(path).stat().st_size}


def _write_chunk(target: Path, handle: IO[bytes], data: memoryview) -> None:
    """Write one chunk of ``target`` to its temporary file (where a test may fill the disk)."""
    handle.write(data)


class HashingWriter:
    """Write-only, non-seekable binary sink that hashes and counts what passes through it.

    ``target`` is the file being written (for :func:`_write_chunk`). It has no
    ``seek``/``tell``, so writers that could go back and patch bytes (``zipfile``,
    used by ``numpy.savez``) stream instead, and every byte is hashed exactly once.
    """

    def __init__(self, handle: IO[bytes], target: Path) -> None:
        self._handle = handle
        self._target = target
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        """Hash, count and write ``data`` (bytes-like)."""
        view = memoryview(data).cast("B")
        _write_chunk(self._target, self._handle, view)
        self._digest.update(view)
        self.size += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        """Flush the underlying file."""
        self._handle.flush()

    def read(self, *_: Any) -> bytes:
        """Not readable (present so that numpy treats this as a file object)."""
        raise io.UnsupportedOperation("HashingWriter is write-only")

    def record(self) -> dict[str, Any]:
        """``{"sha256": ..., "size": ...}`` of everything written so far."""
        return {"sha256": self._digest.hexdigest(), "size": self.size}


def atomic_write(path: str | os.PathLike, write: Callable[[HashingWriter], Any]) -> dict[str, Any]:
    """Write a file atomically and return the record of the bytes written.

    ``write(sink)`` writes bytes into a temporary file in the same directory (so the rename is
    atomic), which is then fsynced and renamed to ``path``; on any failure the temporary file is
    removed and ``path`` is untouched.

    Returns
    -------
    dict
        ``{"sha256": ..., "size": ...}`` computed from the bytes as they were written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            sink = HashingWriter(handle, path)
            write(sink)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sink.record()


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Atomically write an uncompressed ``.npz`` (no object arrays, no pickles); its record."""
    plain = {k: np.asarray(v) for k, v in arrays.items()}
    for key, value in plain.items():
        if value.dtype.hasobject:
            raise ValueError(f"Refusing to write the object array {key!r} (it would need pickle).")
    return atomic_write(path, lambda sink: np.savez(sink, **plain))


def write_text(path: str | os.PathLike, text: str) -> dict[str, Any]:
    """Atomically write UTF-8 text; its record."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda sink: sink.write(data))


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> dict[str, Any]:
    """Atomically write a csv without index column; its record."""
    return write_text(path, table.to_csv(index=False, lineterminator="\n"))


def write_json(path: str | os.PathLike, obj: Any) -> dict[str, Any]:
    """Atomically write indented, key-sorted JSON; its record."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True))
