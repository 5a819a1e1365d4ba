"""Gram matrices, HSIC and Centered Kernel Alignment (CKA).

Notation: a *representation* is an ``(n, d)`` array holding ``d`` features for
each of ``n`` stimuli (frames or recordings). Two representations can be
compared whenever they describe the same ``n`` stimuli in the same order; their
feature counts may differ.

Linear CKA (Kornblith et al., 2019) between representations ``X`` and ``Y`` is

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) * HSIC(L, L)),

with ``K = X Xᵀ`` and ``L = Y Yᵀ``. The *biased* HSIC is ``tr(K H L H)`` up to a
constant factor (``H = I - 11ᵀ/n``), so centring the Gram matrix is the same as
centring the features. The *debiased* (unbiased) HSIC of Song et al. (2012)
removes the positive bias that biased CKA has when the number of stimuli is
small relative to the number of features; it can be slightly negative.

When CKA is undefined (one policy for every function of the package, applied
by :func:`tutorial_utils.hsic.cka_from_hsic`):

- a representation (or Gram matrix) that is constant after centring raises
  ``ValueError`` ("constant"), whichever estimator is asked for;
- biased estimator: a self-HSIC of zero can only come from a constant
  representation, so it raises ``ValueError`` too;
- debiased estimator: a self-HSIC <= 0 gives ``nan`` with a ``RuntimeWarning``.
  (It is never negative in exact arithmetic, and zero only in degenerate
  designs, e.g. all stimuli but one identical; values within rounding of zero
  count as zero, so every route agrees.)

Gram matrices passed to :func:`cka` must be positive semi-definite after
centring (checked; otherwise ``ValueError``).

Numbers: all arithmetic is float64 whatever the input dtype. Each
representation is centred and divided by its largest magnitude before any
product is taken (each Gram matrix is divided by its largest magnitude), so
CKA is exact for inputs of any scale float64 can hold and for large offsets.
:func:`gram_linear` returns the raw ``x xᵀ`` and therefore refuses inputs whose
products would overflow or underflow.

All pairs of many representations at once: :func:`cka_matrix` (in
:mod:`tutorial_utils.all_pairs`); for more frames than fit in memory:
:func:`tutorial_utils.streaming.streaming_cka_matrix`.
"""

from __future__ import annotations

import numpy as np

from ._arrays import (
    NEGLIGIBLE,
    as_gram,
    as_representation,
    centred,
    check_psd,
    check_same_n,
    max_abs,
)
from ._arrays import min_stimuli as _min_stimuli
from .all_pairs import choose_route, cka_matrix
from .hsic import cka_from_hsic, debiased_hsic, self_hsic

__all__ = [
    "center_gram",
    "choose_route",
    "cka",
    "cka_from_hsic",
    "cka_matrix",
    "feature_space_linear_cka",
    "gram_linear",
    "gram_rbf",
]

_GRAM_TINY = 1e-146
"""Below this magnitude the products in ``x xᵀ`` lose precision (float64 subnormals)."""


# --------------------------------------------------------------------------- Gram matrices


def gram_linear(x: np.ndarray) -> np.ndarray:
    """Linear-kernel Gram matrix ``x xᵀ``.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        One row per stimulus.

    Returns
    -------
    ndarray, shape (n, n), float64
        Dot products between all pairs of stimuli (not centred).

    Raises
    ------
    ValueError
        If the dot products overflow float64 or fall into its subnormal range
        (``max |x|`` above about ``1e154`` or below ``1e-146``): rescale ``x``
        first (CKA does not depend on scale), or use
        :func:`feature_space_linear_cka`, which rescales internally.
    """
    x = as_representation(x)
    peak = max_abs(x)
    with np.errstate(over="ignore"):  # an overflow is reported just below
        gram = x @ x.T
    if 0 < peak < _GRAM_TINY or not np.all(np.isfinite(gram)):
        raise ValueError(
            f"x's largest magnitude is {peak:.3g}, so x xᵀ cannot be held in float64 "
            "without overflow or loss of precision. Rescale x first, e.g. "
            "x / np.abs(x).max() (CKA does not depend on scale), or use "
            "feature_space_linear_cka, which rescales internally."
        )
    return gram


def gram_rbf(x: np.ndarray, threshold: float = 1.0, *, include_diagonal: bool = True) -> np.ndarray:
    """Gaussian (RBF) kernel Gram matrix with a median-distance bandwidth.

    ``K_ij = exp(-||x_i - x_j||² / (2 σ²))`` with ``σ² = threshold² · m``, where
    ``m`` is the median of the squared pairwise distances. So ``σ`` is
    ``threshold`` times the (root of the) median squared distance.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        One row per stimulus.
    threshold : float, default 1.0
        Bandwidth as a fraction of the median distance. Small values make the
        kernel local (only near neighbours are similar); large values make it
        close to linear.
    include_diagonal : bool, default True
        Whether the ``n`` zero self-distances enter the median. The original
        tutorial (and Kornblith et al.'s reference code) takes the median over
        the full ``n × n`` matrix, zeros included; that is the default. Set to
        False to use only the ``n(n-1)/2`` distinct pairs.

    Returns
    -------
    ndarray, shape (n, n), float64
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be positive; got {threshold}.")
    x = centred(x)  # distances are shift-invariant, the kernel scale-invariant
    dots = x @ x.T
    sq_norms = np.diag(dots)
    sq_distances = np.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * dots, 0.0)
    if include_diagonal:
        sq_median = np.median(sq_distances)
    else:
        sq_median = np.median(sq_distances[np.triu_indices_from(sq_distances, k=1)])
    if sq_median <= 0:
        raise ValueError(
            "The median squared distance is 0 (most stimuli coincide), so the RBF "
            "bandwidth is undefined; use include_diagonal=False or a linear kernel."
        )
    return np.exp(-sq_distances / (2.0 * threshold**2 * sq_median))


def _double_centre(gram: np.ndarray) -> np.ndarray:
    """``H K H`` as a new array."""
    means = gram.mean(axis=0)
    return gram - means[:, None] - means[None, :] + means.mean()


def _u_centre(gram: np.ndarray) -> np.ndarray:
    """Székely & Rizzo's U-centring (zero diagonal) as a new array; needs ``n >= 4``."""
    n = gram.shape[0]
    gram = gram.copy()
    np.fill_diagonal(gram, 0.0)
    means = gram.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None]
    gram -= means[None, :]
    np.fill_diagonal(gram, 0.0)
    return gram


def center_gram(gram: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Centre a Gram matrix.

    Parameters
    ----------
    gram : ndarray, shape (n, n)
        Symmetric Gram matrix.
    unbiased : bool, default False
        False: double centring ``H K H`` with ``H = I - 11ᵀ/n`` (equivalent to
        centring the features for a linear kernel). True: the "U-centring" of
        Székely & Rizzo, with a zero diagonal, for which
        ``<Ũ(K), Ũ(L)> / (n (n - 3))`` is Song et al.'s unbiased HSIC
        (needs ``n >= 4``).

    Returns
    -------
    ndarray, shape (n, n), float64
        A new centred matrix; the input is not modified.
    """
    gram = as_gram(gram, min_n=_min_stimuli(unbiased))
    return _u_centre(gram) if unbiased else _double_centre(gram)


# --------------------------------------------------------------------------- CKA


def _checked_gram(gram: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The Gram divided by its largest magnitude, and its double-centred form (checked)."""
    peak = max_abs(gram)
    scaled = gram / peak if peak > 0 else gram
    double_centred = _double_centre(scaled)
    if max_abs(double_centred) <= NEGLIGIBLE:
        raise ValueError(
            f"{name} is constant after centring (it comes from a constant representation); "
            "CKA is undefined. Remove that representation."
        )
    check_psd(double_centred, name)
    return scaled, double_centred


def _u_centred_or_zero(gram: np.ndarray) -> np.ndarray:
    """U-centred Gram, set to exactly zero when it is rounding noise (see the policy)."""
    u = _u_centre(gram)
    return np.zeros_like(u) if max_abs(u) <= NEGLIGIBLE else u


def cka(gram_x: np.ndarray, gram_y: np.ndarray, debiased: bool = False) -> float:
    """CKA between two Gram matrices over the same stimuli.

    Parameters
    ----------
    gram_x, gram_y : ndarray, shape (n, n)
        Symmetric positive semi-definite Gram matrices (e.g. from
        :func:`gram_linear` or :func:`gram_rbf`).
    debiased : bool, default False
        Use Song et al.'s unbiased HSIC (needs ``n >= 4``). Debiased CKA can be
        slightly negative for unrelated representations.

    Returns
    -------
    float
        Biased CKA lies in [0, 1]. Debiased CKA is returned as computed; if a
        self-HSIC is <= 0 it is undefined and ``nan`` is returned with a
        ``RuntimeWarning``.

    Raises
    ------
    ValueError
        Non-square, non-symmetric, non-PSD or non-finite input, mismatched
        sizes, too few stimuli, or a Gram matrix that is zero after centring (a
        constant representation).
    """
    min_n = _min_stimuli(debiased)
    gram_x = as_gram(gram_x, "gram_x", min_n)
    gram_y = as_gram(gram_y, "gram_y", min_n)
    if gram_x.shape != gram_y.shape:
        raise ValueError(
            f"gram_x and gram_y describe different numbers of stimuli: {gram_x.shape} vs "
            f"{gram_y.shape}. Both must be built from the same stimuli in the same order."
        )
    scaled_x, cx = _checked_gram(gram_x, "gram_x")
    scaled_y, cy = _checked_gram(gram_y, "gram_y")
    if debiased:
        cx, cy = _u_centred_or_zero(scaled_x), _u_centred_or_zero(scaled_y)
    return cka_from_hsic(np.vdot(cx, cy), np.vdot(cx, cx), np.vdot(cy, cy), debiased=debiased)


def feature_space_linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA computed from feature-space cross products.

    Equal to ``cka(gram_linear(x), gram_linear(y), debiased)`` but costs
    ``O(n d_x d_y)`` instead of ``O(n² (d_x + d_y))``, which is cheaper when
    there are more stimuli than features.

    Parameters
    ----------
    x : ndarray, shape (n, d_x)
    y : ndarray, shape (n, d_y)
        Same stimuli, same order; feature counts may differ.
    debiased : bool, default False
        Use Song et al.'s unbiased HSIC (needs ``n >= 4``).

    Returns
    -------
    float
        See :func:`cka` for the range and the undefined case.
    """
    min_n = _min_stimuli(debiased)
    x = centred(x, "x", min_n)
    y = centred(y, "y", min_n)
    n = check_same_n({"x": x, "y": y})
    cross = np.sum((x.T @ y) ** 2)  # tr(K L) = ||Xᵀ Y||²
    self_x, self_y = self_hsic(x), self_hsic(y)
    if debiased:
        kx, ky = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
        cross = debiased_hsic(cross, kx @ ky, kx.sum(), ky.sum(), n)
        self_x = debiased_hsic(self_x, kx @ kx, kx.sum(), kx.sum(), n)
        self_y = debiased_hsic(self_y, ky @ ky, ky.sum(), ky.sum(), n)
    return cka_from_hsic(cross, self_x, self_y, debiased=debiased)
