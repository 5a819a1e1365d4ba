"""HSIC pieces of linear CKA, and the one function that turns HSIC values into CKA.

Every CKA in this package — :func:`~tutorial_utils.cka.cka`,
:func:`~tutorial_utils.cka.feature_space_linear_cka`, ``cka_matrix``,
``streaming_cka_matrix``, the dask path and RSA's centred cosine — ends in
:func:`cka_from_hsic`, so they share one policy for undefined values. The policy
is stated in the docstring of :mod:`tutorial_utils.cka`.

The HSIC values here are unnormalised: biased HSIC is ``tr(K L)`` for centred
Gram matrices (the usual ``1/(n-1)²`` factor cancels in CKA) and debiased HSIC is
Song et al.'s estimator times ``n (n - 3)`` (that factor cancels too).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["cka_from_hsic", "debiased_hsic", "self_hsic"]

ROUNDING = 1e-12
"""Relative size (to the terms it is made of) below which a debiased HSIC is zero."""


def cka_from_hsic(
    cross: np.ndarray | float,
    self_x: np.ndarray | float,
    self_y: np.ndarray | float,
    *,
    debiased: bool = False,
) -> np.ndarray | float:
    """CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), with the undefined cases handled.

    Parameters
    ----------
    cross : float or ndarray, shape (a, b)
        HSIC between representation ``i`` of one side and ``j`` of the other.
    self_x : float or ndarray, shape (a,)
        Self-HSIC of each representation on the first side.
    self_y : float or ndarray, shape (b,)
        Self-HSIC of each representation on the second side.
    debiased : bool, default False
        Which estimator the HSIC values come from (it decides the policy).

    Returns
    -------
    float or ndarray, shape (a, b)
        A float when ``cross`` is a scalar, else an array.

    Raises
    ------
    ValueError
        Biased estimator with a self-HSIC <= 0 (only a constant representation has
        one), or non-finite HSIC values (an overflow: rescale the inputs).

    Warns
    -----
    RuntimeWarning
        Debiased estimator with a self-HSIC <= 0: those entries are nan.
    """
    scalar = np.ndim(cross) == 0
    cross = np.atleast_2d(np.asarray(cross, dtype=np.float64))
    self_x = np.atleast_1d(np.asarray(self_x, dtype=np.float64))
    self_y = np.atleast_1d(np.asarray(self_y, dtype=np.float64))
    if not all(np.all(np.isfinite(v)) for v in (cross, self_x, self_y)):
        raise ValueError(
            "An HSIC value is not finite (the products overflowed). Rescale the "
            "representations, e.g. x / np.abs(x).max(); CKA does not depend on scale."
        )
    undefined = (self_x[:, None] <= 0) | (self_y[None, :] <= 0)
    if np.any(undefined):
        if not debiased:
            raise ValueError(
                "A representation is constant (zero variance after centring), so CKA is "
                "undefined for it. Remove it, or check that the right array was passed."
            )
        warnings.warn(
            "A debiased self-HSIC is <= 0, so debiased CKA is undefined there; returning "
            "nan. Use more stimuli, or the biased estimator.",
            RuntimeWarning,
            stacklevel=3,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        result = cross / np.sqrt(np.outer(self_x, self_y))
    result[undefined] = np.nan
    return float(result[0, 0]) if scalar else result


def debiased_hsic(
    trace_kl: np.ndarray | float,
    k_dot_l: np.ndarray | float,
    sum_k: np.ndarray | float,
    sum_l: np.ndarray | float,
    n: int,
) -> np.ndarray | float:
    """Song et al.'s unbiased HSIC (times ``n (n - 3)``) from centred linear-kernel pieces.

    For centred ``X`` and ``Y`` with ``K = X Xᵀ`` and ``L = Y Yᵀ`` the row sums of
    ``K`` and ``L`` vanish, and with ``k = diag(K)``, ``l = diag(L)`` (the squared
    norms of the centred rows) the estimator reduces to

        tr(K L) - n/(n-2) k·l + (Σk)(Σl) / ((n-1)(n-2)).

    All arguments broadcast, so stacks of representations give a matrix. A value
    smaller than ``ROUNDING`` times its terms is rounding noise and is returned as
    exactly 0, so that every route agrees on when a self-HSIC vanishes.
    """
    first = np.asarray(trace_kl, dtype=np.float64)
    second = (n / (n - 2)) * np.asarray(k_dot_l, dtype=np.float64)
    third = np.asarray(sum_k, dtype=np.float64) * sum_l / ((n - 1) * (n - 2))
    value = first - second + third
    noise = ROUNDING * (np.abs(first) + np.abs(second) + np.abs(third))
    value = np.where(np.abs(value) <= noise, 0.0, value)
    return float(value) if value.ndim == 0 else value


def self_hsic(x: np.ndarray) -> float:
    """Biased self-HSIC ``tr(K K) = ||Xᵀ X||² = ||X Xᵀ||²`` of a centred ``(n, d)`` array.

    Uses whichever of the two Gram forms is smaller.
    """
    small = x.T @ x if x.shape[1] <= x.shape[0] else x @ x.T
    return float(np.vdot(small, small))
