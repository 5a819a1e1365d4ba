"""Features computed from audio (the MFCCs), kept as npz so that later chapters read them back:
``<folder>/<kind>/<sha256 of all they depend on>.npz``, written atomically, read with
``allow_pickle=False`` after a size check (a damaged entry is computed again)."""

import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .cache import atomic_write, find_data_dir

FEATURE_CACHE_ENV = "TUTORIAL_FEATURE_CACHE"  # the folder (default: <data dir>/features) or off


@lru_cache(maxsize=8)
def code_fingerprint(module_file: str) -> str:
    """sha256 of a module's source and of the numeric libraries' versions."""
    digest = hashlib.sha256(Path(module_file).read_bytes())
    for package in ("numpy", "scipy", "librosa"):
        digest.update(f"\0{importlib.metadata.version(package)}".encode())
    return digest.hexdigest()


def entry_key(kind: str, params: Mapping[str, Any], code: str, audio: np.ndarray) -> str:
    """The name of an entry: sha256 of ``kind``, ``params``, ``code`` and the audio's bytes."""
    audio = np.ascontiguousarray(audio)
    header = json.dumps([kind, dict(params), code, audio.dtype.str, audio.shape], sort_keys=True)
    return hashlib.sha256(header.encode() + memoryview(audio).cast("B")).hexdigest()


def cached_features(
    kind: str,
    audio: np.ndarray,
    compute: Callable[[], np.ndarray],
    *,
    params: Mapping[str, Any],
    code: str,
    shape: tuple[int, ...],
) -> np.ndarray:
    """``compute()`` (a float32 array of ``shape``) for ``audio``, read back when kept before;
    ``kind`` (a sub-folder), ``params``, ``code`` (:func:`code_fingerprint`) and the audio's bytes
    make the key (:func:`entry_key`)."""
    where = os.environ.get(FEATURE_CACHE_ENV, "").strip()
    if where.lower() == "off":
        return compute()
    folder = Path(where).expanduser() if where else find_data_dir()[0] / "features"
    path = folder / kind / f"{entry_key(kind, params, code, audio)}.npz"
    with contextlib.suppress(Exception):  # not kept, or damaged: computed again
        if path.stat().st_size <= np.prod(shape) * 4 + 4096:  # data + zip and npy headers
            with np.load(path, allow_pickle=False) as entry:
                kept = entry["features"] if entry.files == ["features"] else None
            if kept is not None and kept.dtype == np.float32 and kept.shape == shape:
                return kept
    array = compute()
    if array.dtype == np.float32 and array.shape == shape:
        buffer = io.BytesIO()
        np.savez(buffer, features=array)
        with contextlib.suppress(OSError):  # a folder that cannot be written keeps nothing
            atomic_write(path, buffer.getvalue())
    return array
