"""Features computed from audio (the MFCCs), kept as ``<folder>/<kind>/<sha256 of all they depend
on>.npz`` and read back only as a regular file of the declared shape and size, finite."""

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


def cached_features(kind: str, audio: np.ndarray, compute: Callable[[], np.ndarray], *,
                    params: Mapping[str, Any], code: str,
                    shape: tuple[int, ...]) -> np.ndarray:  # fmt: skip
    """``compute()`` (float32, ``shape``) for ``audio``, read back when kept before under the
    sha256 of ``kind`` (a sub-folder), ``params``, ``code`` (:func:`code_fingerprint`), audio."""
    where = os.environ.get(FEATURE_CACHE_ENV, "").strip()
    folder, origin = (Path(where).expanduser(), "") if where else find_data_dir()
    needed = folder.parent if where else folder  # never created (an unmounted Drive's mount point)
    if where.lower() == "off" or (origin in ("", "env", "pointer") and not needed.is_dir()):
        return compute()  # (and the data command's "is Google Drive mounted?" guard stays)
    audio = np.ascontiguousarray(audio)  # the key: sha256 of all the entry depends on
    named = json.dumps([kind, dict(params), code, audio.dtype.str, audio.shape], sort_keys=True)
    key = hashlib.sha256(named.encode() + memoryview(audio).cast("B")).hexdigest()
    path = (folder if where else folder / "features") / kind / f"{key}.npz"
    with contextlib.suppress(Exception):  # not kept, odd or damaged: computed again
        if path.is_file() and path.stat().st_size <= np.prod(shape) * 4 + 4096:  # (no FIFO)
            with np.load(path, allow_pickle=False) as entry, entry.zip.open("features.npy") as npy:
                header = np.lib.format.read_magic(npy), np.lib.format.read_array_header_1_0(npy)
                if header == ((1, 0), (shape, False, "<f4")) and entry.files == ["features"]:
                    if np.isfinite(kept := entry["features"]).all():  # read after the checks
                        return kept
    array = compute()
    if array.dtype == np.float32 and array.shape == shape and np.isfinite(array).all():
        buffer = io.BytesIO()
        np.savez(buffer, features=array)
        with contextlib.suppress(OSError):  # a folder that cannot be written keeps nothing
            atomic_write(path, buffer.getvalue())
    return array
