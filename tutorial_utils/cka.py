"""Gram matrices, HSIC and Centered Kernel Alignment (CKA), top to bottom.

A *representation* is an ``(n, d)`` array: ``d`` features of ``n`` stimuli (the same stimuli,
in the same order, in every representation compared). Linear CKA (Kornblith et al., 2019) is

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),   K = X Xᵀ,  L = Y Yᵀ,

with the biased HSIC ``tr(K H L H)`` up to a factor (``H = I - 11ᵀ/n``); Song et al.'s (2012)
debiased HSIC removes CKA's positive bias for few stimuli and many features. One policy for
undefined values (:func:`cka_from_hsic`). Arithmetic is float64 on inputs divided by their
largest magnitude, so CKA is exact at any scale float64 holds. Out of memory: ``.scale``.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

RepresentationSet = Sequence[np.ndarray] | Mapping[Hashable, np.ndarray]  # list or dict

NEGLIGIBLE = 1e-12  # relative to the largest input value: a centred input this small is constant
ROUNDING = 1e-12  # relative to its terms: a debiased HSIC this small is zero
SYMMETRY_RTOL = 1e-6  # relative to max|K|: accepted difference of row and column means
EPS = np.finfo(np.float64).eps
_GRAM_TINY = 1e-146  # below this magnitude x xᵀ loses precision (float64 subnormals)


# --------------------------------------------------------------------------- textbook
def gram_linear(x: np.ndarray) -> np.ndarray:
    """Linear-kernel Gram matrix ``x xᵀ`` (not centred), float64 ``(n, n)``; ``ValueError``
    where it does not fit float64 (``max |x|`` beyond 1e154 or below 1e-146)."""
    x, peak = _checked(x)
    x = x.astype(np.float64, copy=False)
    with np.errstate(over="ignore"):  # an overflow is reported just below
        gram = x @ x.T
    if 0 < peak < _GRAM_TINY or not np.isfinite(gram).all():
        raise ValueError(
            f"x's largest magnitude is {peak:.3g}, so x xᵀ does not fit float64. Rescale x "
            "first, e.g. x / np.abs(x).max() (CKA does not depend on scale), or use "
            "feature_space_linear_cka, which rescales internally."
        )
    return gram


def gram_rbf(x: np.ndarray, threshold: float = 1.0, *, include_diagonal: bool = True) -> np.ndarray:
    """Gaussian (RBF) Gram ``exp(-||x_i - x_j||² / (2 σ²))``, float64 ``(n, n)``, ``σ² = threshold²
    m``: ``m`` the median squared distance over all ``n × n`` entries (as in Kornblith et al.'s
    code) or the distinct pairs. Small ``threshold`` makes the kernel local; large, near linear."""
    if not threshold > 0:
        raise ValueError(f"threshold must be positive; got {threshold}.")
    x = centred(x)  # distances are shift-invariant, the kernel scale-invariant
    dots = x @ x.T
    sq_norms = np.diag(dots)
    sq_distances = np.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * dots, 0.0)
    pairs = sq_distances if include_diagonal else sq_distances[np.triu_indices(len(x), k=1)]
    sq_median = np.median(pairs)
    if sq_median <= 0:
        raise ValueError(
            "The median squared distance is 0 (most stimuli coincide), so the RBF "
            "bandwidth is undefined; use include_diagonal=False or a linear kernel."
        )
    return np.exp(-sq_distances / (2.0 * threshold**2 * sq_median))


def center_gram(gram: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """A new float64 ``H K H`` (for a linear kernel: centred features) or, ``unbiased=True``,
    the U-centred ``Ũ(K)`` (zero diagonal; ``<Ũ(K), Ũ(L)> / (n (n - 3))`` is the unbiased HSIC)."""
    gram, peak = _checked(gram, "gram", 4 if unbiased else 2, square=True)
    return _centre(np.array(gram, dtype=np.float64), "gram", peak, unbiased)


def _centre(gram: np.ndarray, name: str, peak: float, unbiased: bool = False) -> np.ndarray:
    """Centre the float64 ``gram`` in place once its row and column means agree (symmetric)."""
    n = len(gram)
    means = gram.sum(axis=0) / n
    if np.abs(gram @ np.full(n, 1.0 / n) - means).max() > SYMMETRY_RTOL * peak:
        raise ValueError(
            f"{name} is not symmetric, so it is not a Gram (kernel) matrix. Build it with "
            "gram_linear or gram_rbf, or symmetrise it with (g + g.T) / 2."
        )
    if unbiased:  # means over the off-diagonal entries, corrected for the zero diagonal
        np.fill_diagonal(gram, 0.0)
        means = gram.sum(axis=0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None]
    gram -= means[None, :]
    if unbiased:
        np.fill_diagonal(gram, 0.0)
    else:
        gram += means.sum() / n
    return gram


def _centred_gram(gram, name: str, min_n: int) -> tuple[np.ndarray, float]:
    """``H K H / max|K|`` and its self-HSIC, after the checks a centred Gram allows cheaply:
    not constant, and a PSD matrix's non-negative diagonal and Frobenius norm <= trace."""
    gram, peak = _checked(gram, name, min_n, square=True)
    if peak == 0:
        raise _constant(name)
    scaled = _centre(np.divide(gram, peak, dtype=np.float64), name, 1.0)
    self_hsic_ = np.vdot(scaled, scaled)
    n, norm, diagonal = len(scaled), np.sqrt(self_hsic_), np.diagonal(scaled)
    if norm <= n * NEGLIGIBLE:
        raise _constant(name)
    rounding = 64.0 * n * EPS  # of an entry of the uncentred Gram / max|K|, with a margin
    if diagonal.min() < -rounding or norm > diagonal.sum() + 2 * n * rounding:
        raise _not_psd(name)
    return scaled, self_hsic_


def cka(gram_x: np.ndarray, gram_y: np.ndarray, debiased: bool = False) -> float:
    """CKA between two symmetric PSD ``(n, n)`` Gram matrices (``debiased``: ``n >= 4``). Bad
    input raises ``ValueError``; non-PSD input shows in the results (``<Kx, Ky> < 0``, ``|CKA| >
    1``) beyond the rounding of the *uncentred* Gram, so that offset Grams pass."""
    cx, self_x = _centred_gram(gram_x, "gram_x", 4 if debiased else 2)
    cy, self_y = _centred_gram(gram_y, "gram_y", 4 if debiased else 2)
    if cx.shape != cy.shape:
        raise ValueError(
            f"gram_x and gram_y describe different numbers of stimuli: {cx.shape} vs "
            f"{cy.shape}. Both must be built from the same stimuli in the same order."
        )
    n, cross = cx.shape[0], np.vdot(cx, cy)
    noise = 64.0 * n * n * EPS * (np.sqrt(self_x) + np.sqrt(self_y))  # of <Kx, Ky>, likewise
    if cross < -noise:
        raise _not_psd("gram_x or gram_y")
    if debiased:
        kx, ky = np.diagonal(cx), np.diagonal(cy)
        cross = debiased_hsic(cross, kx @ ky, kx.sum(), ky.sum(), n)
        self_x = debiased_hsic(self_x, kx @ kx, kx.sum(), kx.sum(), n)
        self_y = debiased_hsic(self_y, ky @ ky, ky.sum(), ky.sum(), n)
        if min(self_x, self_y) > 0 and abs(cross) > np.sqrt(self_x * self_y) + noise:
            raise _not_psd("gram_x or gram_y")
    return cka_from_hsic(cross, self_x, self_y, debiased=debiased)


def feature_space_linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA ``||Xᵀ Y||² / (||Xᵀ X|| ||Yᵀ Y||)``: ``cka(gram_linear(x), gram_linear(y),
    debiased)`` at ``O(n d_x d_y)`` instead of ``O(n² (d_x + d_y))``."""
    min_n = 4 if debiased else 2
    x, y = centred(x, "x", min_n), centred(y, "y", min_n)
    n = check_same_n({"x": x, "y": y})
    cross = np.sum((x.T @ y) ** 2)  # tr(K L) = ||Xᵀ Y||²
    self_x, self_y = self_hsic(x), self_hsic(y)
    if debiased:
        kx, ky = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
        cross = debiased_hsic(cross, kx @ ky, kx.sum(), ky.sum(), n)
        self_x = debiased_hsic(self_x, kx @ kx, kx.sum(), kx.sum(), n)
        self_y = debiased_hsic(self_y, ky @ ky, ky.sum(), ky.sum(), n)
    return cka_from_hsic(cross, self_x, self_y, debiased=debiased)


def self_hsic(x: np.ndarray) -> float:
    """Biased self-HSIC ``||Xᵀ X||² = ||X Xᵀ||²`` of a centred array (the smaller form)."""
    small = x.T @ x if x.shape[1] <= x.shape[0] else x @ x.T
    return float(np.vdot(small, small))


# --------------------------------------------------------------------------- HSIC -> CKA
def cka_from_hsic(cross, self_x, self_y, *, debiased: bool = False):
    """CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) of a float or an ``(a, b)`` array
    ``cross`` (``self_x`` ``(a,)``, ``self_y`` ``(b,)``), with the one policy for undefined
    values: a biased self-HSIC <= 0 (a constant input) raises ``ValueError``; a debiased one
    <= 0 (degenerate designs, e.g. all stimuli but one identical) gives ``nan`` and a warning."""
    scalar, cross = np.ndim(cross) == 0, np.atleast_2d(np.asarray(cross, dtype=np.float64))
    self_x, self_y = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (self_x, self_y))
    undefined = (self_x[:, None] <= 0) | (self_y[None, :] <= 0)
    if np.any(undefined):
        if not debiased:
            raise _constant("A representation")
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


def debiased_hsic(trace_kl, k_dot_l, sum_k, sum_l, n: int):
    """Song et al.'s unbiased HSIC times ``n (n - 3)``, broadcast, for centred Grams with
    diagonals ``k``, ``l``: ``tr(K L) - n/(n-2) k·l + (Σk)(Σl) / ((n-1)(n-2))``; within
    ``ROUNDING`` of its terms it is exactly 0, so routes agree."""
    first = np.asarray(trace_kl, dtype=np.float64)
    second = (n / (n - 2)) * np.asarray(k_dot_l, dtype=np.float64)
    third = np.asarray(sum_k, dtype=np.float64) * sum_l / ((n - 1) * (n - 2))
    value = first - second + third
    noise = ROUNDING * (np.abs(first) + np.abs(second) + np.abs(third))
    value = np.where(np.abs(value) <= noise, 0.0, value)
    return float(value) if value.ndim == 0 else value


# --------------------------------------------------------------------------- all pairs
MEMORY_LIMIT: float | None = None  # bytes cka_matrix / streaming may use; None: what is free


class NotEnoughMemoryError(ValueError, MemoryError):
    """The computation would need more memory than is available (use streaming)."""


def cka_matrix(
    reps_a: RepresentationSet,
    reps_b: RepresentationSet | None = None,
    *,
    debiased: bool = False,
    route: str = "auto",
) -> np.ndarray | pd.DataFrame:
    """Linear CKA between every ``(n, d_i)`` array of ``reps_a`` and every one of ``reps_b``
    (sequences or dicts, e.g. ``{layer: frames}``; ``None``: ``reps_a`` with itself, symmetric).

    Each is checked and centred once; ``tr(K_i L_j)`` then comes from the cheaper exact route
    (:func:`choose_route`, or ``route``): centred Grams (a ``dsyrk`` triangle each, then one
    product of the flattened triangles) or one cross product ``Xᵀ Y`` of the side-by-side
    features, squared and summed per block. Dask arrays go through ``tutorial_utils.scale``.
    Returns an array, or a DataFrame labelled with the keys when an input is a dict; raises
    :class:`NotEnoughMemoryError` (a ``ValueError``) when it would not fit in memory."""
    if route not in ("auto", "gram", "feature"):
        raise ValueError(f"route must be 'auto', 'gram' or 'feature'; got {route!r}.")
    as_frame = isinstance(reps_a, Mapping) or isinstance(reps_b, Mapping)
    labels_a, arrays_a, names_a = _labelled(reps_a, "a")
    labels_b, arrays_b, names_b = (labels_a, None, []) if reps_b is None else _labelled(reps_b, "b")
    if any(type(x).__module__.split(".")[0] == "dask" for x in arrays_a + (arrays_b or [])):
        from .scale.dask_route import dask_cka_matrix  # optional: only for dask arrays

        result = dask_cka_matrix(arrays_a, arrays_b, labels=names_a + names_b, debiased=debiased)
        return _labelled_frame(result, labels_a, labels_b) if as_frame else result
    arrays = [  # shapes checked here, values when centred
        _checked(x, name, 4 if debiased else 2, finite=False)[0]
        for x, name in zip(arrays_a + (arrays_b or []), names_a + names_b, strict=True)
    ]
    n = check_same_n(dict(zip(names_a + names_b, arrays, strict=True)))
    arrays_a, arrays_b = arrays[: len(names_a)], arrays[len(names_a) :] or None
    dims_a = [x.shape[1] for x in arrays_a]
    dims_b = None if arrays_b is None else [y.shape[1] for y in arrays_b]
    route = choose_route(n, dims_a, dims_b) if route == "auto" else route
    _check_memory(n, dims_a, dims_b, _route_bytes(n, dims_a, dims_b)[route])
    side_a = _centred_side(arrays_a, names_a, n, route == "feature")
    side_b = side_a if arrays_b is None else _centred_side(arrays_b, names_b, n, route == "feature")
    (parts_a, buffer_a, edges_a), (parts_b, buffer_b, edges_b) = side_a, side_b
    if route == "gram":  # tr(K_i L_j): the Frobenius inner product of the centred Grams
        tri_a = _gram_triangles(parts_a)
        tri_b = tri_a if arrays_b is None else _gram_triangles(parts_b)
        cross = _triangle_products(tri_a, tri_b)
        if arrays_b is not None:
            self_a, self_b = (np.diag(_triangle_products(t, t)) for t in (tri_a, tri_b))
    else:  # tr(K_i L_j) = ||X_iᵀ Y_j||², summed block by block from one cross product
        cross = np.empty((buffer_a.shape[1], buffer_b.shape[1]))
        for r, c in tiles(*cross.shape, upper=arrays_b is None):
            np.matmul(buffer_a[:, r].T, buffer_b[:, c], out=cross[r, c])
            if arrays_b is None and r != c:
                cross[c, r] = cross[r, c].T
        np.multiply(cross, cross, out=cross)
        cross = np.add.reduceat(np.add.reduceat(cross, edges_a[:-1], axis=0), edges_b[:-1], axis=1)
        if arrays_b is not None:
            self_a, self_b = ([self_hsic(x) for x in p] for p in (parts_a, parts_b))
    if arrays_b is None:
        self_a = self_b = np.diag(cross)
    if debiased:  # the diagonals of the centred Grams: squared norms of the centred rows
        diag_a, diag_b = (
            np.stack([np.einsum("ij,ij->i", x, x) for x in p]) for p in (parts_a, parts_b)
        )
        sum_a, sum_b = diag_a.sum(axis=1), diag_b.sum(axis=1)
        cross = debiased_hsic(cross, diag_a @ diag_b.T, sum_a[:, None], sum_b[None, :], n)
        self_a = debiased_hsic(self_a, np.einsum("ij,ij->i", diag_a, diag_a), sum_a, sum_a, n)
        self_b = debiased_hsic(self_b, np.einsum("ij,ij->i", diag_b, diag_b), sum_b, sum_b, n)
    result = cka_from_hsic(cross, self_a, self_b, debiased=debiased)
    if arrays_b is None:
        result = symmetrised(result)
    return _labelled_frame(result, labels_a, labels_b) if as_frame else result


def choose_route(n: int, dims_a: list, dims_b: list | None = None, *, max_bytes=2.0**31) -> str:
    """The cheaper exact route, "gram" (about ``n² Σd`` operations) or "feature" (``n (Σd)²``),
    avoiding one whose float64 working memory exceeds ``max_bytes`` when the other fits."""
    if dims_b is None:
        total = sum(dims_a)
        gram = n * n * total / 2 + n * n * len(dims_a) ** 2 / 2
        feature = n * total * total / 2
    else:
        gram = n * n * (sum(dims_a) + sum(dims_b)) / 2 + n * n * len(dims_a) * len(dims_b)
        feature = n * sum(dims_a) * sum(dims_b) + n * sum(d * d for d in dims_a + dims_b) / 2
    costs = {"gram": gram, "feature": feature}
    memory = _route_bytes(n, dims_a, dims_b)
    fitting = [route for route in costs if memory[route] <= max_bytes] or list(costs)
    return min(fitting, key=costs.get)


def _route_bytes(n: int, dims_a: list[int], dims_b: list[int] | None) -> dict[str, float]:
    """Float64 working memory of the routes: the Gram stack, or the feature cross products."""
    n_reps = len(dims_a) + (len(dims_b) if dims_b is not None else 0)
    total_b = sum(dims_a) if dims_b is None else sum(dims_b)
    return {"gram": 8.0 * n * n * n_reps, "feature": 8.0 * sum(dims_a) * total_b}


def available_memory() -> float:
    """Bytes a computation may use: ``MEMORY_LIMIT``, else Linux's MemAvailable, else inf."""
    if MEMORY_LIMIT is not None:
        return MEMORY_LIMIT
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            return next(float(s.split()[1]) * 1024 for s in info if "MemAvailable:" in s)
    except (OSError, StopIteration):
        return float("inf")


def _check_memory(n: int, dims_a: list[int], dims_b: list[int] | None, route: float) -> None:
    """Refuse up front when the centred copies and the route's arrays would not fit."""
    need, limit = 8.0 * n * (sum(dims_a) + sum(dims_b or [])) + route, available_memory()
    if need > limit:
        raise NotEnoughMemoryError(
            f"cka_matrix would need about {need / 2**30:.1f} GiB of working memory for "
            f"{n} stimuli and {len(dims_a) + len(dims_b or [])} representations, but only "
            f"{limit / 2**30:.1f} GiB are available. Use tutorial_utils.streaming_cka_matrix, "
            "which feeds the frames in chunks (e.g. one recording at a time) and needs "
            "memory independent of the number of frames; or pass dask arrays."
        )


def _centred_side(arrays: list, names: list[str], n: int, shared: bool):
    """``(parts, buffer, column edges)``: each array centred once, side by side if ``shared``."""
    edges = np.cumsum([0] + [x.shape[1] for x in arrays])
    buffer = np.empty((n, int(edges[-1]))) if shared else None
    parts = []
    for lo, hi, x, name in zip(edges[:-1], edges[1:], arrays, names, strict=True):
        parts.append(centred(x, name, out=buffer[:, lo:hi] if shared else None))
    return parts, buffer, edges


def _gram_triangles(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each centred Gram's triangle (a ``dsyrk`` per diagonal tile, a product per tile above it;
    zeros beyond), flattened; diagonals."""
    from scipy.linalg import blas  # loaded on first use, like pandas

    n = parts[0].shape[0]
    grams = np.zeros((len(parts), n, n))
    for gram, x in zip(grams, parts, strict=True):
        for r, c in tiles(n, n, upper=True):  # x.T, gram.T: Fortran-ordered, written in place
            if r == c:  # one tile (up to 2 * BLAS_BLOCK): the whole triangle in place
                gram.T[r, r] = blas.dsyrk(1.0, x[r].T, trans=1, c=gram.T[r, r], overwrite_c=1)
            else:
                np.matmul(x[r], x[c].T, out=gram.T[r, c])
    diagonals = np.stack([np.diag(gram) for gram in grams])
    return grams.reshape(len(parts), n * n), diagonals


def _triangle_products(a, b) -> np.ndarray:
    """``<K_i, L_j>`` from triangles: twice the triangle products minus the diagonal ones."""
    return 2.0 * (a[0] @ b[0].T) - a[1] @ b[1].T


BLAS_BLOCK = 8192  # OpenBLAS 0.3.31 (numpy's wheels) crashes on a product with a ~32,760² output


def tiles(rows: int, cols: int, *, upper: bool = False) -> list[tuple[slice, slice]]:
    """Tiles of a ``(rows, cols)`` product, one BLAS call each: the whole up to ``2 * BLAS_BLOCK``
    a side, else ``BLAS_BLOCK``-sided (``upper``: those on or above the diagonal)."""
    b = BLAS_BLOCK if max(rows, cols) > 2 * BLAS_BLOCK else max(rows, cols)
    corners = [(r, c) for r in range(0, rows, b) for c in range(r * upper, cols, b)]
    return [(slice(r, r + b), slice(c, c + b)) for r, c in corners]


def _labelled_frame(result: np.ndarray, index: list, columns: list) -> pd.DataFrame:
    import pandas as pd  # loaded on first use: import tutorial_utils stays fast

    return pd.DataFrame(result, index, columns)


def symmetrised(result: np.ndarray) -> np.ndarray:
    """A self-comparison matrix made exactly symmetric, with 1 (or nan) on the diagonal."""
    result = (result + result.T) / 2
    defined = np.isfinite(np.diag(result))
    result[np.diag_indices_from(result)] = np.where(defined, 1.0, np.nan)
    return result


# --------------------------------------------------------------------------- the input check
def as_representation(x: np.ndarray, name: str = "x", min_n: int = 2) -> np.ndarray:
    """``x`` as a finite, real, float64 ``(n, d)`` array, ``n >= min_n``, or a ``ValueError``."""
    return _checked(x, name, min_n)[0].astype(np.float64, copy=False)


def _checked(x, name: str = "x", min_n: int = 2, *, square: bool = False, finite: bool = True):
    """:func:`as_representation`'s check: ``(np.asarray(x), max |x|)`` (``None``: not checked)."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n_stimuli, n_features) array; got shape {arr.shape}. "
            "Reshape it, e.g. x.reshape(len(x), -1)."
        )
    if arr.dtype.kind not in "iuf":  # signed, unsigned, floating
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}.")
    if arr.shape[0] < min_n:
        raise ValueError(
            f"{name} has {arr.shape[0]} stimuli (rows); at least {min_n} are needed"
            + (" for the debiased estimator." if min_n > 2 else ".")
        )
    if arr.shape[1] < 1 or (square and arr.shape[0] != arr.shape[1]):
        raise ValueError(
            f"{name} must be {'square (n, n)' if square else 'non-empty'}; got shape {arr.shape}."
        )
    if not finite:
        return arr, None
    if not np.isfinite(peak := max_abs(arr)):  # NaN and inf propagate to max and min
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first.")
    return arr, peak


def max_abs(arr: np.ndarray) -> float:
    """Largest magnitude in ``arr`` (two passes, no copy; in float: -min wraps for integers)."""
    return max(float(arr.max()), -float(arr.min()))


def centred(x: np.ndarray, name: str = "x", min_n: int = 2, *, out=None) -> np.ndarray:
    """``x`` checked, centred and divided by its largest centred magnitude, float64 (into
    ``out``); means of scaled values where a sum could overflow."""
    x, peak = _checked(x, name, min_n)
    out = np.empty(x.shape) if out is None else out
    if peak == 0:
        raise _constant(name)
    if peak * x.shape[0] < 1e300:
        mean = x.mean(axis=0, dtype=np.float64)
    else:  # the column sums could overflow: average scaled values
        mean = np.mean(np.asarray(x, dtype=np.float64) / peak, axis=0) * peak
    np.subtract(x, mean, out=out)  # converts to float64 in the same pass
    if (spread := max_abs(out)) <= NEGLIGIBLE * peak:
        raise _constant(name)
    out /= spread
    return out


def check_same_n(reps: Mapping[object, np.ndarray]) -> int:
    """The common number of rows of ``reps``, else a ``ValueError``."""
    sizes = {label: arr.shape[0] for label, arr in reps.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            "All representations must describe the same stimuli, but their numbers of rows "
            f"differ: {sizes}. Align or trim them first (e.g. trim_to_common_length)."
        )
    return next(iter(sizes.values()))


def _labelled(reps: RepresentationSet, side: str) -> tuple[list, list, list[str]]:
    """Labels, arrays and display names of one side of :func:`cka_matrix`."""
    if getattr(reps, "ndim", None) == 2:
        raise ValueError(
            f"reps_{side} must be a sequence or dict of (n, d) arrays, not a single array; "
            f"wrap it in a list: [reps_{side}]."
        )
    arrays = list(reps.values() if isinstance(reps, Mapping) else reps)
    labels = list(reps) if isinstance(reps, Mapping) else list(range(len(arrays)))
    if not arrays:
        raise ValueError(f"reps_{side} is empty; pass at least one (n, d) array.")
    return labels, arrays, [f"reps_{side}[{label!r}]" for label in labels]


def _constant(name: str) -> ValueError:
    return ValueError(
        f"{name} is constant across stimuli (zero variance after centring); CKA is undefined "
        "for it. Remove it, or check that the right array was passed."
    )


def _not_psd(name: str) -> ValueError:
    return ValueError(
        f"{name} is not positive semi-definite after centring, so it is not a Gram (kernel) "
        "matrix and CKA would be meaningless. Build it with gram_linear or gram_rbf (a "
        "distance matrix D becomes a Gram matrix as -D/2)."
    )
