"""Input checks and the one-thread decorator shared by the similarity measures.

Every check raises a ValueError that says what is wrong and how to fix it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = [
    "as_matrix",
    "blas_threads",
    "one_thread",
    "paired",
    "paired_mappings",
    "recording_labels",
]


def as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a finite float64 ``(n, d)`` array, or a ValueError that says what is wrong."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(
            f"{name} must be a 2-D array (n_stimuli ≥ 2, n_features ≥ 1); got shape {arr.shape}."
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; clean them first.")
    return arr


def paired(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` checked by :func:`as_matrix`, with the same number of rows."""
    x, y = as_matrix(x, "x"), as_matrix(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x and y must describe the same stimuli: {len(x)} vs {len(y)} rows.")
    return x, y


def paired_mappings(xs: Mapping, ys: Mapping) -> tuple[dict, dict]:
    """Two mappings of checked matrices, all describing the same stimuli (rows)."""
    sides = tuple(
        {key: as_matrix(array, f"{name}[{key!r}]") for key, array in arrays.items()}
        for name, arrays in (("xs", xs), ("ys", ys))
    )
    rows = {len(array) for side in sides for array in side.values()}
    if not all(sides) or len(rows) != 1:
        raise ValueError(f"xs and ys must be non-empty, with equal row counts; got {sorted(rows)}.")
    return sides


def recording_labels(groups: Sequence, n: int, n_splits: int) -> np.ndarray:
    """Recording labels, one per row, with at least ``n_splits`` distinct values."""
    labels = np.asarray(groups)
    if labels.shape != (n,):
        raise ValueError(f"groups must hold one label per row ({n}); got shape {labels.shape}.")
    n_groups = len(np.unique(labels))
    if n_splits < 2 or n_groups < n_splits:
        raise ValueError(
            f"{n_splits}-fold grouped cross-validation needs n_splits ≥ 2 and at least "
            f"{n_splits} recordings; got {n_groups}. Use fewer folds or more recordings."
        )
    return labels


_thread_pools = functools.cache(ThreadpoolController)  # finding the libraries takes ~4 ms


def one_thread(function: Callable) -> Callable:
    """Run ``function`` with one BLAS/OpenMP thread (small matrices: threads only wait)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _thread_pools().limit(limits=1):
            return function(*args, **kwargs)

    return wrapper


def blas_threads() -> int:
    """How many threads BLAS may use now (1 inside :func:`one_thread`; at least 1)."""
    controllers = _thread_pools().select(user_api="blas").lib_controllers
    return max([controller.num_threads for controller in controllers] or [1])
