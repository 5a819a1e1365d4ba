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
from .io.cache import MANIFEST_NAME, CacheUnusable, default_data_dir, load_cache
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
        the cache is complete and loads, else the sample (with a warning when a cache exists
        but is incomplete or damaged).
    data_dir : path, optional
        Cache directory; default ``$TUTORIAL_DATA_DIR`` or ``<repo>/data``.
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
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    try:
        return load_cache(directory, verify_hashes=verify_hashes)
    except CacheUnusable as err:
        if (directory / MANIFEST_NAME).exists():  # a cache was made but cannot be used
            warnings.warn(
                f"Using the synthetic sample: the real-data cache is incomplete or damaged. {err}",
                stacklevel=2,
            )
    return load_sample_dataset()
