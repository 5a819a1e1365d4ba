"""All-pairs linear CKA from sums over frames (the streaming and dask routes share it).

Let ``z_i`` be frame ``i`` with all layers side by side (after a fixed shift and a per-layer
scale, which CKA ignores), ``z_i^a`` its part for layer ``a`` and ``r_i[a] = ||z_i^a||²``.
The float64 sums over the ``n`` frames

    s = Σ z_i        S = Σ z_i z_iᵀ        G = Σ r_i r_iᵀ        M = Σ r_i z_iᵀ

give exact biased and debiased linear CKA between every pair of layers. With ``μ = s / n``,
``c_a = ||μ_a||²`` and ``k_i^a = ||z_i^a - μ_a||²`` (the diagonal of the centred Gram):

- ``tr(K_a K_b) = ||C_ab||²``, ``C_ab = S_ab - n μ_a μ_bᵀ``, and ``Σ_i k_i^a = tr(C_aa)``;
- expanding ``k_i^a = r_i[a] - 2 z_i^a·μ_a + c_a`` (``Σ_i z_i^a·μ_a = n c_a``), with
  ``P_ab = M[a, columns of b] · μ_b``:

      Σ_i k_i^a k_i^b = G_ab - 2 P_ab - 2 P_ba + 4 μ_aᵀ S_ab μ_b
                        + c_b tr(S_aa) + c_a tr(S_bb) - 3 n c_a c_b.

These are the pieces of :func:`tutorial_utils.cka.debiased_hsic`; the shift (the first chunk's
mean) keeps ``μ`` small, so the expansion does not cancel.
"""

import numpy as np

from ..cka import (
    NEGLIGIBLE,
    NotEnoughMemoryError,
    available_memory,
    cka_from_hsic,
    debiased_hsic,
    symmetrised,
)


def scales_of(peaks: list[float]) -> np.ndarray:
    """Per-layer scale: the first chunk's largest magnitude (1 where it is all zero)."""
    return np.array([p if p > 0 else 1.0 for p in peaks], dtype=np.float64)


def shift_of(first: np.ndarray, scale: float) -> np.ndarray:
    """The first chunk's column means (taken on scaled values, so they cannot overflow)."""
    return np.mean(np.asarray(first, dtype=np.float64) / scale, axis=0) * scale


def moments_cka(n: int, edges, sums: dict, labels: list, *, debiased: bool = False) -> np.ndarray:
    """The symmetric ``(L, L)`` linear CKA matrix from sums over ``n`` frames of ``z``, whose
    ``L + 1`` layer column ``edges`` are given. ``sums``: "col_sums" ``s``, "norm_cross" ``G``,
    "norm_feature" ``M``, "peaks" (each layer's max ``|x|`` in units of ``z``) and "blocks"
    ``{(a, b): S_ab}``, ``a <= b`` (of ``S_aa`` the upper triangle is read, the lower written)."""
    check_frames(n, debiased)
    n_layers, blocks = len(edges) - 1, sums["blocks"]
    mu = sums["col_sums"] / n
    means = [mu[lo:hi] for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    trace_kl, mu_s_mu = np.empty((n_layers, n_layers)), np.empty((n_layers, n_layers))
    raw_trace = np.empty(n_layers)
    for a in range(n_layers):
        raw_trace[a] = np.trace(blocks[a, a])
        for b in range(a, n_layers):
            terms = _block_terms(blocks[a, b], means[a], means[b], n, a == b)
            trace_kl[a, b], mu_s_mu[a, b] = trace_kl[b, a], mu_s_mu[b, a] = terms
    c = np.add.reduceat(mu * mu, edges[:-1])
    p = np.add.reduceat(sums["norm_feature"] * mu, edges[:-1], axis=1)
    outer = np.outer(raw_trace, c)
    k_dot_l = sums["norm_cross"] - 2.0 * (p + p.T) + 4.0 * mu_s_mu + outer + outer.T
    k_dot_l -= 3.0 * n * np.outer(c, c)
    sum_k = raw_trace - n * c
    for label, peak, total in zip(labels, sums["peaks"], sum_k, strict=True):
        if not np.isfinite(peak):
            raise ValueError(f"Layer {label!r} contains NaN or infinite values; clean it first.")
        if total <= n * (NEGLIGIBLE * peak) ** 2:
            raise ValueError(
                f"Layer {label!r} is constant across all {n} frames (zero variance); CKA "
                "is undefined for it. Remove it, or check that the right array was passed."
            )
    cross = trace_kl
    if debiased:
        cross = debiased_hsic(trace_kl, k_dot_l, sum_k[:, None], sum_k[None, :], n)
    self_hsic = np.diag(cross).copy()
    return symmetrised(cka_from_hsic(cross, self_hsic, self_hsic, debiased=debiased))


def check_memory(d: int, n_layers: int, rows: int, device=None) -> None:
    """Refuse up front when the ``(D, D)`` sums and a chunk of ``rows`` frames would not fit
    (on ``device``'s memory for a CUDA device, where torch chunks keep their sums)."""
    where, limit = "", available_memory()
    if getattr(device, "type", None) == "cuda":
        import torch  # optional: reached only for torch chunks on a GPU

        where, limit = " on the GPU", torch.cuda.mem_get_info(device)[0]
    if (need := 8.0 * d * (d + 2 * rows)) > limit:
        raise NotEnoughMemoryError(
            f"Linear CKA from sums over frames of {n_layers} layers ({d} features in all) keeps "
            f"a {d} × {d} float64 matrix: about {need / 2**30:.1f} GiB, but only "
            f"{limit / 2**30:.1f} GiB are available{where}. Use fewer or narrower layers (e.g. "
            "PCA-reduced features), compare the layers in pairs (one call per pair), or run it "
            "on a machine with more memory."
        )


def check_frames(n: int, debiased: bool) -> None:
    """Refuse fewer frames than the estimator needs."""
    if n < (need := 4 if debiased else 2):
        raise ValueError(f"Only {n} frame(s) were accumulated; at least {need} are needed.")


def _block_terms(block, mu_a, mu_b, n: int, diagonal: bool, step: int = 1024) -> tuple:
    """``||S_ab - n μ_a μ_bᵀ||²`` and ``μ_aᵀ S_ab μ_b`` by strips of rows (a diagonal block is
    first made symmetric, in place)."""
    squares = mu_s_mu = 0.0
    for lo in range(0, len(block), step):
        rows, hi = block[lo : lo + step], lo + step
        if diagonal:  # the strip's lower triangle, from the upper one
            rows[:, :lo] = block[:lo, lo:hi].T
            rows[:, lo:hi] = np.triu(rows[:, lo:hi]) + np.triu(rows[:, lo:hi], 1).T
        centred = rows - n * np.outer(mu_a[lo:hi], mu_b)
        squares += np.vdot(centred, centred)
        mu_s_mu += mu_a[lo:hi] @ rows @ mu_b
    return squares, mu_s_mu
