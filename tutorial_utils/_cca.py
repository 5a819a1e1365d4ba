"""SVCCA's two steps, each fitted once per set of rows: a whitened PCA per side, then CCA.

SVCCA reduces each side to its leading principal components, whitens them (unit variance),
and takes the singular values of the whitened cross-covariance as canonical correlations. A
side's whitened PCA depends only on that side's rows, so when one layer is compared with
several feature sets (or one feature set with every layer), :func:`whitened_pca` is fitted
once per side and set of rows and serves every pair it takes part in.

The PCA comes from the eigendecomposition of the smaller cross-product of the centred rows:
``X Xᵀ`` (n × n) when there are fewer rows than columns, ``Xᵀ X`` otherwise. Both give the
exact principal components (as a full SVD does, unlike a randomized SVD), in a fraction of
the time of an SVD of ``X``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy.linalg import eigh

__all__ = [
    "WhitenedPCA",
    "canonical_directions",
    "column_correlations",
    "heldout_correlation",
    "heldout_pairs",
    "insample_pairs",
    "kept_dimensions",
    "leading_eigenpairs",
    "whitened_pca",
]


class WhitenedPCA(NamedTuple):
    """A whitened PCA fitted to ``n`` rows: ``(x - mean) @ projection`` has unit covariance.

    ``scores`` holds the fitted rows' own whitened scores, ``(n, k)``.
    """

    mean: np.ndarray
    projection: np.ndarray
    scores: np.ndarray

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Whitened scores ``(m, k)`` of new rows ``x`` (m, d)."""
        return (x - self.mean) @ self.projection


def _is_count(dims) -> bool:
    return isinstance(dims, (int, np.integer)) and not isinstance(dims, bool) and dims >= 1


def _kept(dims: float | int, eigenvalues: np.ndarray, n_rows: int) -> int:
    """How many leading components ``dims`` keeps (see :func:`leading_eigenpairs`).

    ``eigenvalues``: all of them, clipped at 0, in increasing order (as ``eigh`` returns them);
    only a fraction needs them.
    """
    if _is_count(dims):
        return min(int(dims), n_rows - 1, len(eigenvalues))
    if isinstance(dims, float) and 0 < dims < 1:
        explained = np.cumsum(eigenvalues[::-1] / eigenvalues.sum())
        return min(int(np.searchsorted(explained, dims, side="right")) + 1, len(eigenvalues))
    raise ValueError(f"dims must be a fraction in (0, 1) or a positive int; got {dims!r}.")


def kept_dimensions(x: np.ndarray, dims: float | int) -> int:
    """How many principal components of the rows of ``x`` :func:`whitened_pca` keeps."""
    if _is_count(dims):
        return _kept(dims, np.empty(min(x.shape)), len(x))
    centred = x - x.mean(axis=0)
    cross_product = centred @ centred.T if len(x) <= x.shape[1] else centred.T @ centred
    eigenvalues = eigh(cross_product, eigvals_only=True, driver="evd", check_finite=False)
    return _kept(dims, np.clip(eigenvalues, 0.0, None), len(x))


def leading_eigenpairs(
    cross_product: np.ndarray, dims: float | int, n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """The kept eigenvalues (decreasing, clipped at 0) and eigenvectors of a cross-product.

    ``cross_product``: ``X Xᵀ`` or ``Xᵀ X`` of ``n_rows`` centred rows. ``dims`` as in
    scikit-learn's PCA: a fraction in (0, 1) keeps the fewest components whose explained
    variance exceeds it; an int keeps that many, at most the rank ``n_rows - 1`` of centred
    rows and the matrix's size, and only those are computed.
    """
    m = len(cross_product)
    if _is_count(dims):
        k = _kept(dims, np.empty(m), n_rows)
        values, vectors = eigh(cross_product, subset_by_index=[m - k, m - 1], check_finite=False)
    else:
        values, vectors = eigh(cross_product, driver="evd", check_finite=False)
        k = _kept(dims, np.clip(values, 0.0, None), n_rows)
        values, vectors = values[m - k :], vectors[:, m - k :]
    return np.clip(values[::-1], 0.0, None), vectors[:, ::-1]


def whitened_pca(x: np.ndarray, dims: float | int) -> WhitenedPCA:
    """Whitened PCA of the rows of ``x`` (n, d), keeping ``dims`` components.

    ``dims``: a variance fraction in (0, 1) or a number of components (see
    :func:`leading_eigenpairs`). Equal, up to the sign of each component, to scikit-learn's
    ``PCA(dims, whiten=True, svd_solver="full")``.
    """
    mean = x.mean(axis=0)
    centred = x - mean
    n = len(x)
    if n <= x.shape[1]:  # left singular vectors U from X Xᵀ = U S² Uᵀ; V = Xᵀ U S⁻¹
        eigenvalues, left = leading_eigenpairs(centred @ centred.T, dims, n)
        projection = centred.T @ (left * (np.sqrt(n - 1) / eigenvalues))
        scores = left * np.sqrt(n - 1)
    else:  # right singular vectors V from Xᵀ X = V S² Vᵀ
        eigenvalues, right = leading_eigenpairs(centred.T @ centred, dims, n)
        projection = right * np.sqrt((n - 1) / eigenvalues)
        scores = centred @ projection
    return WhitenedPCA(mean, projection, scores)


def canonical_directions(
    zx: np.ndarray, zy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical directions ``u`` and ``v`` in two whitened spaces and their correlations.

    The SVD of the whitened cross-covariance ``zxᵀ zy / (n - 1)`` of the same ``n`` rows.
    """
    u, correlations, vt = np.linalg.svd(zx.T @ zy / (len(zx) - 1), full_matrices=False)
    return u, vt.T, np.clip(correlations, 0.0, 1.0)


def column_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of ``a`` and ``b`` (NaN where one is constant)."""
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    norms = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, np.sum(a * b, axis=0) / norms, np.nan)


def heldout_correlation(
    pca_x: WhitenedPCA, pca_y: WhitenedPCA, x_heldout: np.ndarray, y_heldout: np.ndarray
) -> float:
    """Mean correlation, on held-out rows, of the canonical variate pairs of two fitted PCAs.

    The canonical directions are fitted to the PCAs' own (training) rows; ``x_heldout`` and
    ``y_heldout`` are the held-out rows' whitened scores (``pca.transform`` of those rows).
    """
    u, v, _ = canonical_directions(pca_x.scores, pca_y.scores)
    return float(np.nanmean(column_correlations(x_heldout @ u, y_heldout @ v)))


def insample_pairs(xs: Mapping, ys: Mapping, dims: float | int) -> dict[tuple, float]:
    """In-sample SVCCA (mean canonical correlation) of every pair, each PCA fitted once."""
    fitted = [{key: whitened_pca(a, dims) for key, a in side.items()} for side in (xs, ys)]
    return {
        (kx, ky): float(canonical_directions(px.scores, py.scores)[2].mean())
        for kx, px in fitted[0].items()
        for ky, py in fitted[1].items()
    }


def heldout_pairs(xs: Mapping, ys: Mapping, splits: Sequence, dims: float | int) -> dict:
    """Held-out SVCCA of every pair, averaged over the ``(train, test)`` row ``splits``.

    In each split every array's whitened PCA is fitted once, on the training rows, and its
    held-out rows are projected once; every pair then needs only its canonical directions.
    """
    per_split = []
    for train, test in splits:
        fitted, heldout = [], []
        for side in (xs, ys):
            fitted.append({key: whitened_pca(a[train], dims) for key, a in side.items()})
            heldout.append({key: fitted[-1][key].transform(a[test]) for key, a in side.items()})
        per_split.append(
            {
                (kx, ky): heldout_correlation(
                    fitted[0][kx], fitted[1][ky], heldout[0][kx], heldout[1][ky]
                )
                for kx in xs
                for ky in ys
            }
        )
    return {pair: float(np.mean([split[pair] for split in per_split])) for pair in per_split[0]}
