"""Ridge regression with a penalty per target column, chosen by efficient leave-one-out CV.

The model of ``make_pipeline(StandardScaler(), RidgeCV(alphas, alpha_per_target=True))``:
inputs standardised on the training rows, an intercept, and for every target column the
penalty in ``alphas`` with the smallest leave-one-out squared error (the first on ties). As in
scikit-learn, the leave-one-out errors of every penalty come from one eigendecomposition: of
``X Xᵀ`` with fewer rows than columns, of ``Xᵀ X`` otherwise. Unlike RidgeCV this computes
only what the choice needs: no coefficients for penalties that are not chosen, and, when there
are more target columns than eigen-directions, each penalty's weighted sums of squared errors
straight from small cross-products instead of an (n × targets) residual matrix.

With ``X`` centred, ``H_α = X (XᵀX + αI)⁻¹ Xᵀ + 11ᵀ/n`` is the hat matrix, and the
leave-one-out error of row ``i`` is ``(y_i − (H_α y)_i) / (1 − (H_α)_ii)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.linalg import eigh

__all__ = ["Decomposition", "decompose", "loo_squared_errors", "predict", "r2_columns"]


class Decomposition(NamedTuple):
    """``X (XᵀX + αI)⁻¹ Xᵀ = left · diag(1/(eigenvalues + α)) · rightᵀ`` for every ``α``.

    ``vectors``: the eigenvectors of ``X Xᵀ`` (``from_gram``) or of ``Xᵀ X``.
    """

    eigenvalues: np.ndarray
    left: np.ndarray
    right: np.ndarray
    vectors: np.ndarray
    from_gram: bool


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays scaled by the training rows' mean and standard deviation (StandardScaler).

    A column whose variance is within rounding of zero keeps the scale 1, as in scikit-learn.
    """
    mean, variance = train.mean(axis=0), train.var(axis=0)
    eps = np.finfo(np.float64).eps
    constant = variance <= len(train) * eps * variance + (len(train) * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(variance))
    return (train - mean) / scale, (test - mean) / scale


def decompose(x: np.ndarray) -> Decomposition:
    """The eigendecomposition of the smaller cross-product of the centred rows ``x``."""
    if len(x) <= x.shape[1]:
        eigenvalues, q = eigh(x @ x.T, driver="evd", check_finite=False)
        return Decomposition(eigenvalues, q * eigenvalues, q, q, True)
    eigenvalues, v = eigh(x.T @ x, driver="evd", check_finite=False)
    z = x @ v
    return Decomposition(eigenvalues, z, z, v, False)


def loo_squared_errors(parts: Decomposition, y: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Summed squared leave-one-out errors ``(len(alphas), n_targets)`` of centred ``y``.

    With more target columns than eigen-directions ``r``, the sum for column ``j`` is expanded
    as ``Σ w y² − 2 sᵀ(Lᵀ W y) + sᵀ(Lᵀ W L)s`` with ``s = diag(1/(λ+α)) Rᵀ y`` and the
    leave-one-out weights ``w = 1/(1 − h)²``: products with ``r`` rows instead of ``n × targets``.
    """
    projected = parts.right.T @ y  # (r, targets)
    shrinks = 1.0 / (parts.eigenvalues + np.asarray(alphas, dtype=np.float64)[:, None])
    # 1 - (H_α)_ii for every penalty (rows) and row i (columns); 1/n is the intercept's share
    residual_scales = 1.0 - shrinks @ (parts.left * parts.right).T - 1.0 / len(y)
    if len(parts.eigenvalues) >= y.shape[1]:
        errors = []
        for shrink, scale in zip(shrinks, residual_scales, strict=True):
            residual = y - parts.left @ (shrink[:, None] * projected)
            errors.append(np.sum((residual / scale[:, None]) ** 2, axis=0))
        return np.array(errors)
    weights = residual_scales**-2  # (alphas, n)
    n_alphas, n_rows, r = len(weights), len(y), len(parts.eigenvalues)
    # W L for every penalty side by side, (n, alphas × r): one product with y for all of them
    weighted_left = (weights.T[:, :, None] * parts.left[:, None, :]).reshape(n_rows, -1)
    cross = (weighted_left.T @ y).reshape(n_alphas, r, -1)  # Lᵀ W y: (alphas, r, targets)
    gram = (weighted_left.T @ parts.left).reshape(n_alphas, r, r)  # Lᵀ W L
    shrunk = shrinks[:, :, None] * projected  # (alphas, r, targets)
    return (
        weights @ y**2
        - 2 * np.sum(shrunk * cross, axis=1)
        + np.sum(shrunk * np.matmul(gram, shrunk), axis=1)
    )


def predict(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, alphas: Sequence[float]
) -> np.ndarray:
    """Predictions ``(len(x_test), n_targets)`` of the ridge model described above."""
    z_train, z_test = standardise(x_train, x_test)
    z_mean, y_mean = z_train.mean(axis=0), y_train.mean(axis=0)
    z_train, y_centred = z_train - z_mean, y_train - y_mean
    parts = decompose(z_train)
    errors = loo_squared_errors(parts, y_centred, alphas)
    chosen = np.asarray(alphas, dtype=np.float64)[np.argmin(errors, axis=0)]
    shrunk = (parts.right.T @ y_centred) / (parts.eigenvalues[:, None] + chosen)
    if parts.from_gram:
        coefficients = z_train.T @ (parts.vectors @ shrunk)
    else:
        coefficients = parts.vectors @ shrunk
    return (z_test - z_mean) @ coefficients + y_mean


def r2_columns(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R² of every column, as scikit-learn's ``r2_score(..., multioutput="raw_values")``.

    A constant column scores 1 when predicted exactly, else 0.
    """
    residual = np.sum((y - predicted) ** 2, axis=0)
    total = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - residual / total
    return np.where(total != 0, r2, np.where(residual == 0, 1.0, 0.0))
