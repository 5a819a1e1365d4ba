"""``load_dataset``: the real-data cache when it is complete, else the built-in sample.

Dispatch only: reading the cache lives in :mod:`tutorial_utils.io.cache`, the sample in
:mod:`tutorial_utils.sample`. It is a module of its own, not part of
:mod:`tutorial_utils.dataset`, because both of those import
:class:`~tutorial_utils.dataset.Dataset`: keeping the dispatch here avoids an import cycle.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from .dataset import Dataset
from .io.cache import (
    DOWNLOAD_HINT,
    MANIFEST_NAME,
    CacheUnusable,
    find_data_dir,
    load_cache,
    pointer_file,
)
from .sample import load_sample_dataset

__all__ = ["load_dataset"]


def load_dataset(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    verify_hashes: bool = False,
) -> Dataset:
    """Load the tutorial data.

    Parameters
    ----------
    source : {"auto", "real", "sample"}
        ``"real"``: the converted real data (run ``python -m tutorial_utils.io`` first);
        ``"sample"``: the built-in synthetic sample (no download); ``"auto"``: the real data if
        the cache is complete and loads, else the sample, with a warning when a cache was asked
        for (``data_dir``, ``$TUTORIAL_DATA_DIR`` or the data command's record) or exists but
        is missing, incomplete or damaged.
    data_dir : path, optional
        Cache directory; default: ``$TUTORIAL_DATA_DIR``, else the last cache written by
        ``python -m tutorial_utils.io`` (recorded in ``~/.config/speech-cka-tutorial/data_dir``),
        else ``<repo>/data`` in a checkout or ``~/.cache/speech-cka-tutorial``.
    verify_hashes : bool, default False
        Recompute the sha256 of every cache file (sizes, and the sha256 of the small files,
        are always checked).

    Returns
    -------
    Dataset
    """
    if source not in ("auto", "real", "sample"):
        raise ValueError(f"source must be 'auto', 'real' or 'sample', got {source!r}.")
    if source == "sample":
        return load_sample_dataset()
    if source == "real":
        return load_cache(data_dir, verify_hashes=verify_hashes)
    directory, origin = (Path(data_dir), "argument") if data_dir is not None else find_data_dir()
    try:
        return load_cache(directory, verify_hashes=verify_hashes)
    except CacheUnusable as err:
        if origin in _ASKED_FOR or (directory / MANIFEST_NAME).exists():
            warnings.warn(_not_found(directory, origin, str(err)), stacklevel=2)
    return load_sample_dataset()


_ASKED_FOR = {
    "argument": "load_dataset(data_dir=...) names it",
    "env": "$TUTORIAL_DATA_DIR names it",
    "pointer": "the data command recorded it in {pointer}",
}
"""Where a cache directory came from when its absence is worth a warning (see find_data_dir)."""


def _not_found(directory: Path, origin: str, reason: str) -> str:
    if not directory.is_dir():
        state = "does not exist"
    elif not (directory / MANIFEST_NAME).exists():
        state = "holds no real-data cache"
    else:
        state = f"holds a cache that is incomplete or damaged ({reason})"
    why = _ASKED_FOR.get(origin, "it is the default cache directory").format(pointer=pointer_file())
    mounted = " (On Colab, mount Google Drive first, e.g. with 00_data_tour's optional cell.)"
    return (
        f"The real-data cache directory {directory} {state}; {why}. Using the synthetic sample "
        f"instead. Run `{DOWNLOAD_HINT} --data-dir {directory}` to create or repair it."
        + (mounted if origin == "pointer" else "")
    )
