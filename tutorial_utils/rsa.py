"""Representational similarity analysis (RSA).

RSA (Kriegeskorte et al., 2008) summarises a representation by its
representational dissimilarity matrix (RDM): the dissimilarity of every pair
of stimuli. Two representations are then compared by correlating their RDMs,
usually with a rank correlation over the upper triangle.

Bridge to CKA: with squared-Euclidean RDMs ``D`` and double centring
``H D H = -2 H K H`` (``K`` the linear Gram matrix), so the cosine similarity
of the double-centred RDMs is exactly linear CKA. ``compare_rdms(...,
method="centered_cosine")`` computes that quantity, which lets the notebooks
show RSA and CKA as two readings of the same pairwise geometry.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial import distance

from .cka import center_gram, cka_from_hsic

__all__ = ["compare_rdms", "rdm"]

RDM_METRICS = ("correlation", "euclidean", "sqeuclidean", "cosine")
COMPARISON_METHODS = ("spearman", "pearson", "kendall", "centered_cosine")


NEGATIVE_RTOL = 1e-12
"""Negative entries smaller than this times the largest are accepted as rounding."""
_TINY = np.finfo(np.float64).tiny / np.finfo(np.float64).eps
"""Below this, float64 values are subnormal-adjacent and lose precision (about 1e-292)."""
_SCALE_POWER = {"euclidean": 1, "sqeuclidean": 2, "correlation": 0, "cosine": 0}


def _checked_rows(x: np.ndarray, metric: str) -> np.ndarray:
    """``x`` as validated float64 rows for ``metric``."""
    if metric not in RDM_METRICS:
        raise ValueError(f"metric must be one of {RDM_METRICS}; got {metric!r}.")
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"x must be 2-D (n_stimuli, n_features); got shape {arr.shape}.")
    if arr.shape[0] < 2:
        raise ValueError(f"An RDM needs at least 2 stimuli; got {arr.shape[0]}.")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError("x contains NaN or infinite values; clean or impute them first.")
    if metric == "correlation" and np.any(np.ptp(arr, axis=1) == 0):
        raise ValueError(
            "Some rows of x are constant, so their correlation distance is undefined; "
            "use metric='euclidean' or drop those rows."
        )
    if metric == "cosine" and np.any(~np.any(arr, axis=1)):
        raise ValueError("Some rows of x are all zero, so cosine distance is undefined.")
    return arr


def _scaled_back(condensed: np.ndarray, peak: float, metric: str) -> np.ndarray:
    """Distances of ``x / peak`` turned into distances of ``x``, or a clear refusal."""
    if _SCALE_POWER[metric] == 0:
        return condensed  # correlation and cosine distances do not depend on scale
    with np.errstate(over="ignore"):  # an overflow is reported just below
        for _ in range(_SCALE_POWER[metric]):
            condensed = condensed * peak
    largest = condensed.max()
    if not np.isfinite(largest) or 0 < largest < _TINY:
        raise ValueError(
            f"The {metric} distances of x (largest magnitude {peak:.3g}) do not fit in "
            "float64 without overflow or loss of precision. Rescale x first, e.g. "
            "x / np.abs(x).max(), or use metric='correlation' or 'cosine' (scale-free)."
        )
    return condensed


def rdm(x: np.ndarray, metric: str = "correlation", *, square: bool = False) -> np.ndarray:
    """Representational dissimilarity matrix of the rows of ``x``.

    The rows are divided by ``x``'s largest magnitude before the distances are
    taken (and the distances scaled back), so any float64 input gives correct
    distances, or a ``ValueError`` when the distances themselves do not fit in
    float64 (e.g. squared distances of values near 1e200).

    Parameters
    ----------
    x : ndarray, shape (n, d)
        One row per stimulus.
    metric : {"correlation", "euclidean", "sqeuclidean", "cosine"}
        Dissimilarity between two rows, as defined by :func:`scipy.spatial.distance.pdist`
        ("correlation" is 1 minus the Pearson correlation of the two rows).
    square : bool, default False
        Return the full ``(n, n)`` matrix instead of the condensed upper
        triangle of length ``n (n - 1) / 2``.

    Returns
    -------
    ndarray, float64
    """
    arr = _checked_rows(x, metric)
    peak = float(np.max(np.abs(arr)))
    condensed = distance.pdist(arr / peak if peak > 0 else arr, metric=metric)
    condensed = _scaled_back(condensed, peak, metric)
    return distance.squareform(condensed) if square else condensed


def _condensed(matrix: np.ndarray, name: str) -> np.ndarray:
    """Accept a condensed vector or a square symmetric RDM; return the condensed form."""
    arr = np.asarray(matrix, dtype=np.float64)
    if arr.ndim == 2:
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{name} must be square or condensed; got shape {arr.shape}.")
        if not np.allclose(arr, arr.T) or np.any(np.diag(arr) != 0):
            raise ValueError(f"{name} must be symmetric with a zero diagonal to be an RDM.")
        arr = distance.squareform(arr, checks=False)
    elif arr.ndim != 1:
        raise ValueError(f"{name} must be a condensed vector or a square matrix.")
    n = int(round((1 + np.sqrt(1 + 8 * arr.size)) / 2))
    if n * (n - 1) // 2 != arr.size:
        raise ValueError(
            f"{name} has {arr.size} entries, which is not n(n-1)/2 for any number of stimuli "
            "n, so it is not a condensed RDM. Pass rdm(x) or rdm(x, square=True)."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if arr.size and arr.min() < -NEGATIVE_RTOL * np.max(np.abs(arr)):
        raise ValueError(
            f"{name} contains negative dissimilarities (smallest {arr.min():.3g}); an RDM "
            "holds distances >= 0. Build it with rdm(x), or convert similarities first."
        )
    return arr


def _centered_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of the double-centred square forms of two RDMs.

    For squared-Euclidean RDMs, ``-H D H / 2`` is the centred linear Gram matrix,
    so this is linear CKA; it goes through the package's one CKA policy.
    """
    centred_a, centred_b = (center_gram(distance.squareform(v / (v.max() or 1.0))) for v in (a, b))
    cross = np.vdot(centred_a, centred_b)
    return cka_from_hsic(
        cross, np.vdot(centred_a, centred_a), np.vdot(centred_b, centred_b), debiased=False
    )


def compare_rdms(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> float:
    """Similarity of two RDMs over the same stimuli.

    Parameters
    ----------
    a, b : ndarray
        RDMs as condensed vectors or square matrices (from :func:`rdm`).
    method : {"spearman", "pearson", "kendall", "centered_cosine"}
        Correlation over the upper-triangle entries (Kendall's tau-b), or the
        cosine of the double-centred matrices, which equals linear CKA when both
        RDMs are squared-Euclidean.

    Returns
    -------
    float
    """
    if method not in COMPARISON_METHODS:
        raise ValueError(f"method must be one of {COMPARISON_METHODS}; got {method!r}.")
    a, b = _condensed(a, "a"), _condensed(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"The RDMs cover different numbers of pairs ({a.size} vs {b.size}); they must be "
            "built from the same stimuli."
        )
    if a.size < 2:
        raise ValueError("At least 3 stimuli (3 pairs) are needed to compare RDMs.")
    if method == "centered_cosine":
        return _centered_cosine(a, b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("An RDM is constant, so its correlation with another is undefined.")
    if method == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    if method == "pearson":
        return float(stats.pearsonr(a, b).statistic)
    return float(stats.kendalltau(a, b).statistic)
