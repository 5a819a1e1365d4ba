"""Atomic file writes and sha256 records: the cache never holds a half-written file.

Every write goes to a temporary file in the target's directory and is then renamed over the
target (``os.replace``, atomic on POSIX), so a killed process leaves either the old file or the
new one, never a mixture.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Write a file atomically: ``write(handle)`` into a temp file, then rename it to ``path``.

    The temporary file lives in the same directory (so the rename is atomic) and is removed if
    ``write`` fails; ``path`` is either untouched or complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Atomically write an uncompressed ``.npz`` (no object arrays, no pickles)."""
    plain = {k: np.asarray(v) for k, v in arrays.items()}
    return atomic_write(path, lambda h: np.savez(h, **plain))


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> Path:
    """Atomically write a csv without index column."""
    return atomic_write(path, lambda h: table.to_csv(h, index=False), mode="w")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write indented, key-sorted JSON."""
    return atomic_write(path, lambda h: json.dump(obj, h, indent=2, sort_keys=True), mode="w")


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """``{"sha256": ..., "size": ...}`` of a file, as stored in the manifest."""
    return {"sha256": sha256_file(path), "size": Path(path).stat().st_size}
