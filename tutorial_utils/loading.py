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
from .io.cache import DOWNLOAD_HINT, cache_problems, default_data_dir, load_cache, read_manifest
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
        the cache is complete, else the sample.
    data_dir : path, optional
        Cache directory; default ``$TUTORIAL_DATA_DIR`` or ``<repo>/data``.
    verify_hashes : bool, default False
        Recompute the sha256 of every cache file (sizes are always checked).

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
    problems = cache_problems(directory, verify_hashes=verify_hashes)
    if not problems:
        return load_cache(directory, verify_hashes=verify_hashes)
    if read_manifest(directory) is not None:
        warnings.warn(
            f"The real-data cache in {directory} is incomplete ({'; '.join(problems[:2])}); "
            f"using the synthetic sample. Run `{DOWNLOAD_HINT}` to repair the cache.",
            stacklevel=2,
        )
    return load_sample_dataset()
