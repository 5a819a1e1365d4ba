"""Representational similarity analysis (RSA), and its bridge to CKA.

RSA (Kriegeskorte et al., 2008) summarises a representation by its representational
dissimilarity matrix (RDM), the dissimilarity of every pair of stimuli, and compares two
representations by correlating their RDMs (usually Spearman over the upper triangle).

Bridge: for squared-Euclidean RDMs ``D``, ``H D H = -2 H K H`` (``K`` the linear Gram), so the
cosine of the double-centred RDMs, ``compare_rdms(..., "centered_cosine")``, is linear CKA.
"""

import numpy as np
from scipy.spatial import distance

from .cka import as_representation, center_gram, cka_from_hsic

__all__ = ["compare_rdms", "rdm"]

RDM_METRICS = ("correlation", "euclidean", "sqeuclidean", "cosine")
COMPARISON_METHODS = ("spearman", "pearson", "kendall", "centered_cosine")
NEGATIVE_RTOL = 1e-12  # negative entries this small relative to the largest are rounding
_TINY = np.finfo(np.float64).tiny / np.finfo(np.float64).eps  # ~1e-292: precision is lost below
_SCALE_POWER = {"euclidean": 1, "sqeuclidean": 2, "correlation": 0, "cosine": 0}


def rdm(x: np.ndarray, metric: str = "correlation", *, square: bool = False) -> np.ndarray:
    """Representational dissimilarity matrix of the rows of ``x`` (``(n, d)``), float64.

    ``metric``: "correlation" (1 - Pearson r of two rows), "euclidean", "sqeuclidean" or
    "cosine", as in :func:`scipy.spatial.distance.pdist`. Returns the condensed upper triangle
    (``n (n - 1) / 2`` values), or the ``(n, n)`` matrix with ``square=True``. ``x`` is divided
    by ``max |x|`` first and the distances scaled back: exact, or refused if they do not fit.
    """
    if metric not in RDM_METRICS:
        raise ValueError(f"metric must be one of {RDM_METRICS}; got {metric!r}.")
    arr = as_representation(x, "x", min_n=2)
    if metric == "correlation" and np.any(np.ptp(arr, axis=1) == 0):
        raise ValueError(
            "Some rows of x are constant, so their correlation distance is undefined; "
            "use metric='euclidean' or drop those rows."
        )
    if metric == "cosine" and np.any(~np.any(arr, axis=1)):
        raise ValueError("Some rows of x are all zero, so cosine distance is undefined.")
    peak = float(np.max(np.abs(arr)))
    condensed = distance.pdist(arr / peak if peak > 0 else arr, metric=metric)
    with np.errstate(over="ignore"):  # an overflow is reported just below
        for _ in range(_SCALE_POWER[metric]):  # correlation and cosine do not depend on scale
            condensed = condensed * peak
    largest = condensed.max()
    if not np.isfinite(largest) or 0 < largest < _TINY:
        raise ValueError(
            f"The {metric} distances of x (largest magnitude {peak:.3g}) do not fit in "
            "float64 without overflow or loss of precision. Rescale x first, e.g. "
            "x / np.abs(x).max(), or use metric='correlation' or 'cosine' (scale-free)."
        )
    return distance.squareform(condensed) if square else condensed


def _condensed(matrix: np.ndarray, name: str) -> np.ndarray:
    """Accept a condensed vector or a square symmetric RDM; return the condensed form."""
    arr = np.asarray(matrix, dtype=np.float64)
    if arr.ndim == 2:
        if arr.shape[0] != arr.shape[1] or not np.allclose(arr, arr.T) or any(np.diag(arr)):
            raise ValueError(f"{name} must be square, symmetric, with a zero diagonal.")
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


def compare_rdms(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> float:
    """Similarity of two RDMs (condensed or square, from :func:`rdm`) over the same stimuli.

    ``method``: "spearman", "pearson" or "kendall" (tau-b) correlation over the upper
    triangle, or "centered_cosine", the cosine of the double-centred matrices, which is
    linear CKA when both RDMs are squared-Euclidean (one CKA policy for undefined values).
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
    if method == "centered_cosine":  # -H D H / 2 is the centred linear Gram matrix
        ca, cb = (center_gram(distance.squareform(v / (v.max() or 1.0))) for v in (a, b))
        return cka_from_hsic(np.vdot(ca, cb), np.vdot(ca, ca), np.vdot(cb, cb))
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("An RDM is constant, so its correlation with another is undefined.")
    from scipy import stats  # scipy.stats loads slowly: only when a correlation is asked for

    test = {"spearman": stats.spearmanr, "pearson": stats.pearsonr, "kendall": stats.kendalltau}
    return float(test[method](a, b).statistic)
