"""Similarity measures beside CKA: probing, CCA, Procrustes and shared neighbours.

Every measure compares two representations of the same ``n`` stimuli (rows), ``x`` (n, d_x) and
``y`` (n, d_y). Measures that fit parameters are scored on held-out *recordings* (``groups``, a
recording label per row, split with GroupKFold): a frame-level split would test on near-copies
of training frames.

- :func:`ridge_predictivity` — held-out R² (or Pearson r) of a ridge regression ``x → y``;
- :func:`heldout_cca` — SVCCA fitted on training recordings, scored on held-out ones
  (:func:`heldout_cca_pairs`, :func:`svcca_pairs`: many pairs, each side's PCA fitted once);
- :func:`procrustes_similarity`, :func:`procrustes_distance` — orthogonal Procrustes (each side
  centred, unit Frobenius norm; :func:`procrustes_similarity_pairs`: many pairs);
- :func:`mutual_knn` — the share of each stimulus's ``k`` nearest neighbours both spaces agree on.

For centred, Frobenius-normalised ``X`` and ``Y`` with singular values ``σᵢ`` of ``XᵀY``:
Procrustes similarity ``= Σ σᵢ`` (the nuclear norm ``‖XᵀY‖_*``), Procrustes distance
``= min_R ‖XR − Y‖_F = sqrt(2 − 2 Σ σᵢ)`` (``R`` orthogonal), and linear CKA
``= Σ σᵢ² / (‖XᵀX‖_F ‖YᵀY‖_F)``. Both compare centred configurations up to a rotation; CKA
squares the singular values and divides by the spread of each side's own spectrum, so a few
high-variance directions dominate it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import sklearn
from scipy.linalg import orthogonal_procrustes
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import _cca
from ._cca import column_correlations
from ._checks import as_matrix, one_thread, paired, paired_mappings, recording_labels

__all__ = [
    "ALPHAS",
    "centre_and_normalise",
    "heldout_cca",
    "heldout_cca_pairs",
    "mutual_knn",
    "neighbour_overlap",
    "neighbour_sets",
    "procrustes_distance",
    "procrustes_similarity",
    "procrustes_similarity_pairs",
    "ridge_predictivity",
    "ridge_scores",
    "svcca",
    "svcca_dimensions",
    "svcca_pairs",
]

ALPHAS = np.logspace(-2, 6, 9)
"""Ridge penalties searched by the inner cross-validation (inputs are standardised first)."""


def _splits(x: np.ndarray, groups: np.ndarray, n_splits: int) -> list:
    """(train, test) row indices of grouped K-fold cross-validation."""
    return list(GroupKFold(n_splits=n_splits).split(x, groups=groups))


# --------------------------------------------------------------------------- Procrustes


def centre_and_normalise(x: np.ndarray) -> np.ndarray:
    """Subtract each column's mean, then divide by the Frobenius norm of the result."""
    arr = as_matrix(x, "x")
    centred = arr - arr.mean(axis=0)
    norm = np.linalg.norm(centred)
    if norm == 0:
        raise ValueError("x is constant across stimuli; it has no configuration to compare.")
    return centred / norm


def _nuclear_norm(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of the singular values of ``aᵀ b``."""
    return float(np.linalg.svd(a.T @ b, compute_uv=False).sum())


@one_thread
def procrustes_similarity(x: np.ndarray, y: np.ndarray) -> float:
    """Nuclear norm of ``XᵀY`` for centred, normalised ``X`` and ``Y``; in ``[0, 1]``.

    1 when ``y`` is a rotated (or reflected), uniformly scaled and shifted copy of ``x``;
    equal to ``1 - procrustes_distance(x, y)**2 / 2``.
    """
    x, y = paired(x, y)
    return _nuclear_norm(centre_and_normalise(x), centre_and_normalise(y))


@one_thread
def procrustes_similarity_pairs(xs: Mapping, ys: Mapping) -> dict[tuple, float]:
    """:func:`procrustes_similarity` of every array of ``xs`` with every array of ``ys``.

    Each array is centred and normalised once, whatever the number of pairs it is in.

    Returns
    -------
    dict
        ``{(x_key, y_key): value}`` for every pair.
    """
    sides = [
        {k: centre_and_normalise(a) for k, a in side.items()} for side in paired_mappings(xs, ys)
    ]
    return {
        (kx, ky): _nuclear_norm(a, b) for kx, a in sides[0].items() for ky, b in sides[1].items()
    }


@one_thread
def procrustes_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Orthogonal Procrustes distance ``min_R ‖XR − Y‖_F`` after centring and normalising.

    ``R`` comes from :func:`scipy.linalg.orthogonal_procrustes`. Each side is first rotated
    onto its principal axes (``U S`` of ``U S Vᵀ``: at most ``n`` columns, same distance), then
    the narrower side is padded with zero columns, i.e. embedded in the wider space. The value
    lies in ``[0, √2]``: 0 for a rotated, scaled and shifted copy.
    """
    x, y = paired(x, y)
    axes = []
    for m in (x, y):
        u, s, _ = np.linalg.svd(centre_and_normalise(m), full_matrices=False)
        axes.append(u * s)
    width = max(m.shape[1] for m in axes)
    a, b = (np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in axes)
    rotation, _ = orthogonal_procrustes(a, b)
    return float(np.linalg.norm(a @ rotation - b))


# --------------------------------------------------------------------------- neighbours


@one_thread
def neighbour_sets(x: np.ndarray, k: int = 10) -> np.ndarray:
    """Indices ``(n, k)`` of each row's ``k`` nearest neighbours (Euclidean), itself excluded."""
    x = as_matrix(x, "x")
    if not 1 <= k < len(x):
        raise ValueError(f"k must be between 1 and n - 1 = {len(x) - 1}; got k = {k}.")
    return NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)


def neighbour_overlap(neighbours_x: np.ndarray, neighbours_y: np.ndarray) -> float:
    """Mean share of neighbours two ``(n, k)`` index arrays have in common, row by row."""
    if neighbours_x.shape != neighbours_y.shape:
        raise ValueError(f"shapes differ: {neighbours_x.shape} vs {neighbours_y.shape}.")
    rows = np.arange(len(neighbours_y))[:, None]
    in_y = np.zeros((len(rows), max(neighbours_x.max(), neighbours_y.max()) + 1), dtype=bool)
    in_y[rows, neighbours_y] = True  # row i: which stimuli are among y's neighbours of i
    return float(in_y[rows, neighbours_x].mean())


def mutual_knn(x: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Mutual k-nearest-neighbour overlap: 1 for identical neighbourhoods, ≈ k/(n−1) by chance.

    Only each stimulus's ``k`` closest stimuli count, so the measure is *local*: it ignores how
    far apart distant stimuli are, which dominates CKA and Procrustes.
    """
    x, y = paired(x, y)
    return neighbour_overlap(neighbour_sets(x, k), neighbour_sets(y, k))


# --------------------------------------------------------------------------- ridge probing


def _ridge(alphas: Sequence[float], inner_splits: int | None, x, groups) -> RidgeCV:
    """RidgeCV choosing from ``alphas`` on its training rows only. ``inner_splits=None``:
    efficient leave-one-out, a penalty per target column (fast; columns are fitted independently,
    so stacking targets changes nothing); ``k``: GroupKFold over the training recordings.
    More rows than columns: the SVD route (Colab's scikit-learn 1.6 default; 1.9's covariance
    route gives the same values 1.4× slower for 400 × 12 predicting 768)."""
    if inner_splits is None:
        tall = x.shape[0] > x.shape[1]
        return RidgeCV(alphas=alphas, alpha_per_target=True, gcv_mode="svd" if tall else None)
    inner = _splits(x, recording_labels(groups, len(x), inner_splits), inner_splits)
    return RidgeCV(alphas=alphas, cv=inner)


@one_thread
def ridge_scores(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence,
    *,
    n_splits: int = 3,
    alphas: Sequence[float] = ALPHAS,
    score: str = "r2",
    inner_splits: int | None = None,
) -> np.ndarray:
    """Held-out score of a ridge regression from ``x`` (n, d_x) to each column of ``y`` (n, d_y).

    GroupKFold over the recording labels ``groups`` (one per row); in each fold the inputs are
    standardised on the training rows and the penalty is chosen from ``alphas`` on them by
    inner CV (``inner_splits``: see ``_ridge``). ``score`` ("r2" or "pearson") is computed on
    each test fold and averaged over the ``n_splits`` folds.

    Returns
    -------
    numpy.ndarray
        ``(d_y,)`` held-out R² (≤ 1, negative when worse than the test mean) or Pearson r.
    """
    if score not in ("r2", "pearson"):
        raise ValueError(f"score must be 'r2' or 'pearson'; got {score!r}.")
    x, y = paired(x, y)
    groups = recording_labels(groups, len(x), n_splits)
    per_fold = []
    for train, test in _splits(x, groups, n_splits):
        ridge = _ridge(alphas, inner_splits, x[train], groups[train])
        with sklearn.config_context(assume_finite=True):  # `paired` checked: skip the re-checks
            pipeline = make_pipeline(StandardScaler(), ridge).fit(x[train], y[train])
            predicted = pipeline.predict(x[test])
        if score == "r2":
            per_fold.append(r2_score(y[test], predicted, multioutput="raw_values"))
        else:
            per_fold.append(column_correlations(y[test], predicted))
    return np.mean(per_fold, axis=0)


def ridge_predictivity(x: np.ndarray, y: np.ndarray, groups: Sequence, **options) -> float:
    """:func:`ridge_scores` (same options) averaged over the target columns: one number."""
    return float(np.nanmean(ridge_scores(x, y, groups, **options)))


# --------------------------------------------------------------------------- CCA


@one_thread
def svcca(x: np.ndarray, y: np.ndarray, dims: float | int = 0.99) -> float:
    """In-sample SVCCA: mean canonical correlation on the rows the weights were fitted to.

    ``dims``: the variance fraction each side's PCA keeps (SVCCA's usual 0.99) or a number of
    components. With as many kept dimensions as rows it is 1 for *any* data.
    """
    x, y = paired(x, y)
    return _cca.insample_pairs({0: x}, {0: y}, dims)[0, 0]


@one_thread
def heldout_cca(
    x: np.ndarray, y: np.ndarray, groups: Sequence, *, n_splits: int = 3, dims: float | int = 0.99
) -> float:
    """SVCCA fitted on training recordings, evaluated on held-out ones.

    In each GroupKFold fold the PCAs (``dims`` as in :func:`svcca`) and canonical directions are
    fitted on the training recordings, and each pair of canonical variates is correlated on the
    held-out frames. Returns the mean over the ``min(k_x, k_y)`` pairs and the folds.
    """
    x, y = paired(x, y)
    groups = recording_labels(groups, len(x), n_splits)
    return _cca.heldout_pairs({0: x}, {0: y}, _splits(x, groups, n_splits), dims)[0, 0]


def svcca_dimensions(x: np.ndarray, dims: float | int = 0.99) -> int:
    """How many principal components of ``x`` SVCCA keeps (``dims`` as in :func:`svcca`).

    For a variance fraction this is scikit-learn's ``PCA(dims).fit(x).n_components_``,
    computed from the eigenvalues alone.
    """
    return _cca.kept_dimensions(as_matrix(x, "x"), dims)


@one_thread
def svcca_pairs(xs: Mapping, ys: Mapping, dims: float | int = 0.99) -> dict[tuple, float]:
    """:func:`svcca` of every array of ``xs`` with every array of ``ys`` (the same stimuli).

    A side's whitened PCA depends only on that side, so each array's PCA is fitted once and
    serves all its pairs: the values are those of :func:`svcca` called pair by pair.

    Returns
    -------
    dict
        ``{(x_key, y_key): value}`` for every pair.
    """
    return _cca.insample_pairs(*paired_mappings(xs, ys), dims)


@one_thread
def heldout_cca_pairs(
    xs: Mapping, ys: Mapping, groups: Sequence, *, n_splits: int = 3, dims: float | int = 0.99
) -> dict[tuple, float]:
    """:func:`heldout_cca` of every array of ``xs`` with every array of ``ys`` (same stimuli).

    In each fold, each array's whitened PCA is fitted once on the training rows and serves all
    its pairs: the values are those of :func:`heldout_cca` called pair by pair.

    Returns
    -------
    dict
        ``{(x_key, y_key): value}`` for every pair.
    """
    xs, ys = paired_mappings(xs, ys)
    first = next(iter(xs.values()))
    groups = recording_labels(groups, len(first), n_splits)
    return _cca.heldout_pairs(xs, ys, _splits(first, groups, n_splits), dims)
