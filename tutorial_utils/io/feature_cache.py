"""Features computed from audio, kept on disk so that later chapters read them back.

Every chapter puts the MFCCs of each recording on the model's grid; computing them needs
``librosa.feature``, whose first import in a session loads numba-compiled code (about a second
on a small machine). :func:`cached_features` keeps each result as
``<folder>/<kind>/<key>.npz``, where ``key`` is the sha256 of everything the array depends on:
the kind and its parameters, the source of the module that computes it, the versions of numpy,
scipy and librosa, and the bytes of the audio. Any change to one of them gives another name,
so an entry never answers for other audio or another recipe and there is nothing to invalidate.

Entries are written atomically (:func:`.files.write_npz`) and read without pickle, after a
size check against the expected shape; one that cannot be read (a damaged zip fails its CRC)
or holds another shape or dtype is recomputed and replaced. Where the folder cannot be
written the features are computed and returned without being kept. The folder is
``<data dir>/features`` (:func:`.location.default_data_dir`), ``$TUTORIAL_FEATURE_CACHE``
when set, and nothing is kept when that variable is ``off``. Deleting the folder is safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import scipy

from .files import write_npz
from .location import default_data_dir

__all__ = ["FEATURE_CACHE_ENV", "cached_features", "code_fingerprint", "entry_key", "folder"]

FEATURE_CACHE_ENV = "TUTORIAL_FEATURE_CACHE"
"""Environment variable: the folder to keep features in, or ``off``."""

_NPZ_OVERHEAD = 4096
"""Bytes an uncompressed one-array ``.npz`` may add to its data (zip and npy headers)."""


def folder() -> Path | None:
    """Where features are kept (see the module docstring); ``None`` when switched off."""
    value = os.environ.get(FEATURE_CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else default_data_dir() / "features"


@lru_cache(maxsize=8)
def code_fingerprint(module_file: str) -> str:
    """sha256 of a module's source and of the numeric libraries' versions."""
    digest = hashlib.sha256(Path(module_file).read_bytes())
    for version in (np.__version__, scipy.__version__, librosa.__version__):
        digest.update(f"\0{version}".encode())
    return digest.hexdigest()


def entry_key(kind: str, params: Mapping[str, Any], code: str, audio: np.ndarray) -> str:
    """The name of an entry: sha256 of ``kind``, ``params``, ``code`` and the audio's bytes."""
    audio = np.ascontiguousarray(audio)
    header = json.dumps([kind, dict(params), code, audio.dtype.str, audio.shape], sort_keys=True)
    digest = hashlib.sha256(header.encode())
    digest.update(memoryview(audio).cast("B"))
    return digest.hexdigest()


def _read(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The float32 array of shape ``shape`` stored at ``path``, or ``None`` if it is unusable."""
    bound = int(np.prod(shape)) * 4 + _NPZ_OVERHEAD
    try:
        if path.stat().st_size > bound:
            return None
        with np.load(path, allow_pickle=False) as entry:
            array = entry["features"] if entry.files == ["features"] else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if array is None or array.dtype != np.float32 or array.shape != shape:
        return None
    return array


def _keep(path: Path, array: np.ndarray) -> None:
    """Store ``array`` at ``path`` atomically; a folder that cannot be written is skipped."""
    try:
        write_npz(path, {"features": array})
    except OSError:
        pass


def cached_features(
    kind: str,
    audio: np.ndarray,
    compute: Callable[[], np.ndarray],
    *,
    params: Mapping[str, Any],
    code: str,
    shape: tuple[int, ...],
) -> np.ndarray:
    """``compute()`` for ``audio``, read back from the folder when it was kept before.

    Parameters
    ----------
    kind : str
        The kind of features (a sub-folder), e.g. ``"mfcc"``.
    audio : numpy.ndarray
        The input the features are computed from (its bytes enter the key).
    compute : callable
        Computes the features: a float32 array of shape ``shape``.
    params, code : mapping, str
        The recipe's parameters and :func:`code_fingerprint` of the code computing it.
    shape : tuple of int
        The shape ``compute()`` returns; a kept entry of another shape is recomputed.
    """
    where = folder()
    if where is None:
        return compute()
    path = where / kind / f"{entry_key(kind, params, code, audio)}.npz"
    kept = _read(path, shape)
    if kept is not None:
        return kept
    array = compute()
    if array.dtype == np.float32 and array.shape == shape:
        _keep(path, array)
    return array
