"""All-pairs linear CKA from sums over frames (shared by the streaming and dask paths).

Let ``z_i`` be frame ``i`` with all layers side by side (after a fixed shift and a
per-layer scale, which CKA ignores), ``z_i^a`` its part for layer ``a`` and
``r_i[a] = ||z_i^a||²``. Summing over the ``n`` frames, in float64,

    s = Σ z_i        S = Σ z_i z_iᵀ        G = Σ r_i r_iᵀ        M = Σ r_i z_iᵀ

is enough for exact biased and debiased linear CKA between every pair of layers.
With ``μ = s / n`` and ``c_a = ||μ_a||²``:

- centred cross products ``C_ab = S_ab - n μ_a μ_bᵀ``, so ``tr(K_a K_b) = ||C_ab||²``;
- ``Σ_i k_i^a = tr(C_aa)``, with ``k_i^a = ||z_i^a - μ_a||²`` the squared norm of a
  centred row (the diagonal of the centred Gram matrix);
- expanding ``k_i^a = r_i[a] - 2 z_i^a·μ_a + c_a`` and summing the products over
  frames (using ``Σ_i z_i^a·μ_a = n c_a``):

      Σ_i k_i^a k_i^b = G_ab - 2 P_ab - 2 P_ba + 4 μ_aᵀ S_ab μ_b
                        + c_b tr(S_aa) + c_a tr(S_bb) - 3 n c_a c_b,

  where ``P_ab = M[a, columns of b] · μ_b``.

These are the pieces of :func:`tutorial_utils.hsic.debiased_hsic`. The shift
(the first chunk's mean) keeps ``μ`` small, so the expansion does not cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._arrays import NEGLIGIBLE, min_stimuli, symmetrised
from .hsic import cka_from_hsic, debiased_hsic


@dataclass
class Moments:
    """Sums over frames of the shifted, scaled frames ``z`` (see the module docstring)."""

    n: int
    edges: np.ndarray  # (L + 1,) column edges of the layers in z
    col_sums: np.ndarray  # (D,) s
    norm_cross: np.ndarray  # (L, L) G
    norm_feature: np.ndarray  # (L, D) M
    peaks: np.ndarray  # (L,) largest |x| of each layer seen, in units of z
    block: Callable[[int, int], np.ndarray]  # S_ab for a <= b (upper triangle for a == b)


def _block_sums(m: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``||C_ab||²``, ``μ_aᵀ S_ab μ_b`` and ``tr(S_aa)`` for every pair of layers."""
    n_layers = len(m.edges) - 1
    mu = m.col_sums / m.n
    means = [mu[lo:hi] for lo, hi in zip(m.edges[:-1], m.edges[1:], strict=True)]
    trace_kl = np.empty((n_layers, n_layers))
    mu_s_mu = np.empty((n_layers, n_layers))
    raw_trace = np.empty(n_layers)
    for a in range(n_layers):
        for b in range(a, n_layers):
            block = m.block(a, b)
            if a == b:
                block = np.triu(block) + np.triu(block, 1).T
                raw_trace[a] = np.trace(block)
            centred = block - m.n * np.outer(means[a], means[b])
            trace_kl[a, b] = trace_kl[b, a] = np.vdot(centred, centred)
            mu_s_mu[a, b] = mu_s_mu[b, a] = means[a] @ block @ means[b]
    return trace_kl, mu_s_mu, raw_trace


def _centred_norm_products(m: Moments, mu_s_mu: np.ndarray, raw_trace: np.ndarray):
    """``Σ_i k_i^a k_i^b`` for every pair, and ``Σ_i k_i^a`` for every layer."""
    mu = m.col_sums / m.n
    c = np.add.reduceat(mu * mu, m.edges[:-1])
    p = np.add.reduceat(m.norm_feature * mu, m.edges[:-1], axis=1)
    k_dot_l = (
        m.norm_cross
        - 2.0 * (p + p.T)
        + 4.0 * mu_s_mu
        + np.outer(raw_trace, c)
        + np.outer(c, raw_trace)
        - 3.0 * m.n * np.outer(c, c)
    )
    return k_dot_l, raw_trace - m.n * c


def _check(m: Moments, sum_k: np.ndarray, labels: list, debiased: bool) -> None:
    """Enough frames, finite values, and no constant layer."""
    need = min_stimuli(debiased)
    if m.n < need:
        raise ValueError(
            f"Only {m.n} frame(s) were accumulated; at least {need} are needed"
            + (" for the debiased estimator." if debiased else ".")
        )
    for label, peak, total in zip(labels, m.peaks, sum_k, strict=True):
        if not np.isfinite(peak):
            raise ValueError(f"Layer {label!r} contains NaN or infinite values; clean it first.")
        if total <= m.n * (NEGLIGIBLE * peak) ** 2:
            raise ValueError(
                f"Layer {label!r} is constant across all {m.n} frames (zero variance); CKA "
                "is undefined for it. Remove it, or check that the right array was passed."
            )


def moments_cka(m: Moments, labels: list, *, debiased: bool = False) -> np.ndarray:
    """The symmetric ``(L, L)`` linear CKA matrix from the sums in ``m``.

    ``labels`` name the layers in error messages. The undefined cases follow the
    package's policy (see :mod:`tutorial_utils.cka`).
    """
    trace_kl, mu_s_mu, raw_trace = _block_sums(m)
    k_dot_l, sum_k = _centred_norm_products(m, mu_s_mu, raw_trace)
    _check(m, sum_k, labels, debiased)
    cross = trace_kl
    if debiased:
        cross = debiased_hsic(trace_kl, k_dot_l, sum_k[:, None], sum_k[None, :], m.n)
    self_hsic = np.diag(cross).copy()
    return symmetrised(cka_from_hsic(cross, self_hsic, self_hsic, debiased=debiased))
