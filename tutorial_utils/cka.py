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

All arithmetic is done in float64 whatever the input dtype, and features are
centred before any products are taken, so inputs with large offsets keep
their precision.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "center_gram",
    "choose_route",
    "cka",
    "cka_matrix",
    "feature_space_linear_cka",
    "gram_linear",
    "gram_rbf",
]

_SYMMETRY_RTOL = 1e-6
GRAM_MEMORY_LIMIT = 2.0 * 2**30
"""Bytes of working memory above which :func:`choose_route` avoids a route (2 GiB)."""


# --------------------------------------------------------------------------- validation


def _as_representation(x: np.ndarray, name: str = "x", min_n: int = 2) -> np.ndarray:
    """Return ``x`` as a validated float64 ``(n, d)`` array."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_stimuli, n_features); got shape "
            f"{arr.shape}. Reshape it, e.g. x.reshape(len(x), -1)."
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}.")
    n = arr.shape[0]
    if n < min_n:
        raise ValueError(
            f"{name} has {n} stimuli (rows); at least {min_n} are needed"
            + (" for the debiased estimator." if min_n > 2 else ".")
        )
    if arr.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {arr.shape}).")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first.")
    return arr


def _center_features(x: np.ndarray, name: str = "x") -> np.ndarray:
    """Subtract the column means; raise if nothing is left (a constant representation)."""
    centered = x - x.mean(axis=0, keepdims=True)
    if _negligible(centered, x):
        raise ValueError(
            f"{name} is constant across stimuli (zero variance); CKA is undefined for it."
        )
    return centered


def _negligible(part: np.ndarray, whole: np.ndarray) -> bool:
    """True when ``part`` is zero up to float64 rounding relative to ``whole``."""
    scale = max(float(np.max(np.abs(whole))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(part))) <= 1e-12 * scale


def _check_not_constant_gram(gram: np.ndarray, name: str) -> None:
    """Raise if ``gram`` vanishes after double centring (a constant representation)."""
    if _negligible(center_gram(gram), gram):
        raise ValueError(
            f"{name} is constant after centring (it comes from a constant representation); "
            "CKA is undefined."
        )


def _as_gram(gram: np.ndarray, name: str = "gram", min_n: int = 2) -> np.ndarray:
    """Return ``gram`` as a validated, symmetric float64 ``(n, n)`` array."""
    arr = _as_representation(gram, name, min_n=min_n)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square (n, n); got shape {arr.shape}.")
    scale = np.max(np.abs(arr))
    if not np.allclose(arr, arr.T, rtol=_SYMMETRY_RTOL, atol=_SYMMETRY_RTOL * scale):
        raise ValueError(
            f"{name} is not symmetric, so it is not a Gram (kernel) matrix. Build it with "
            "gram_linear or gram_rbf, or symmetrise it with (g + g.T) / 2."
        )
    return arr


def _min_stimuli(debiased: bool) -> int:
    return 4 if debiased else 2


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
    """
    x = _as_representation(x)
    return x @ x.T


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
    x = _center_features(_as_representation(x))  # distances are shift-invariant
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
    gram = _as_gram(gram, min_n=_min_stimuli(unbiased)).copy()
    n = gram.shape[0]
    if unbiased:
        np.fill_diagonal(gram, 0.0)
        means = gram.sum(axis=0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0.0)
    else:
        means = gram.mean(axis=0)
        gram -= means[:, None]
        gram -= means[None, :]
        gram += means.mean()
    return gram


# --------------------------------------------------------------------------- CKA


def _ratio(cross: float, self_x: float, self_y: float, debiased: bool) -> float:
    """``cross / sqrt(self_x * self_y)``, with the undefined cases reported."""
    if self_x <= 0 or self_y <= 0:
        if not debiased:
            raise ValueError("A representation is constant (zero variance); CKA is undefined.")
        warnings.warn(
            "A debiased self-HSIC is <= 0, so debiased CKA is undefined here; returning "
            "nan. Use more stimuli, or the biased estimator.",
            RuntimeWarning,
            stacklevel=3,
        )
        return math.nan
    return float(cross / math.sqrt(self_x * self_y))


def cka(gram_x: np.ndarray, gram_y: np.ndarray, debiased: bool = False) -> float:
    """CKA between two Gram matrices over the same stimuli.

    Parameters
    ----------
    gram_x, gram_y : ndarray, shape (n, n)
        Symmetric Gram matrices (e.g. from :func:`gram_linear` or :func:`gram_rbf`).
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
        Non-square, non-symmetric or non-finite input, mismatched sizes, too
        few stimuli, or a Gram matrix that is zero after centring (a constant
        representation).
    """
    min_n = _min_stimuli(debiased)
    gram_x = _as_gram(gram_x, "gram_x", min_n)
    gram_y = _as_gram(gram_y, "gram_y", min_n)
    if gram_x.shape != gram_y.shape:
        raise ValueError(
            f"gram_x and gram_y describe different numbers of stimuli: {gram_x.shape} vs "
            f"{gram_y.shape}. Both must be built from the same stimuli in the same order."
        )
    _check_not_constant_gram(gram_x, "gram_x")
    _check_not_constant_gram(gram_y, "gram_y")
    cx = center_gram(gram_x, unbiased=debiased)
    cy = center_gram(gram_y, unbiased=debiased)
    return _ratio(np.vdot(cx, cy), np.vdot(cx, cx), np.vdot(cy, cy), debiased)


def _debiased_hsic(
    trace_kl: np.ndarray | float,
    diag_k: np.ndarray,
    diag_l: np.ndarray,
    n: int,
) -> np.ndarray | float:
    """Song et al.'s unbiased HSIC (times n(n-3)) from centred linear-kernel pieces.

    For feature-centred ``X`` and ``Y`` with ``K = X Xᵀ``, ``L = Y Yᵀ``, the row
    sums of ``K`` and ``L`` vanish, so with ``k = diag(K)``, ``l = diag(L)`` the
    estimator reduces to ``tr(KL) - (n/(n-2)) k·l + (Σk)(Σl)/((n-1)(n-2))``.
    ``diag_k`` / ``diag_l`` may be stacks (rows = representations) to get a matrix.
    """
    k = np.atleast_2d(diag_k)
    m = np.atleast_2d(diag_l)
    kl = k @ m.T
    sums = np.outer(k.sum(axis=1), m.sum(axis=1))
    value = trace_kl - (n / (n - 2)) * kl + sums / ((n - 1) * (n - 2))
    return value if np.ndim(trace_kl) else float(value[0, 0])


def _debiased_self_hsic(self_trace: np.ndarray, diags: np.ndarray, n: int) -> np.ndarray:
    """Unbiased self-HSIC (times n(n-3)) of each representation."""
    return np.array([_debiased_hsic(t, d, d, n) for t, d in zip(self_trace, diags, strict=True)])


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
    x = _center_features(_as_representation(x, "x", min_n), "x")
    y = _center_features(_as_representation(y, "y", min_n), "y")
    _check_same_n({"x": x, "y": y})
    cross = np.sum((x.T @ y) ** 2)
    self_x, self_y = _self_trace_products([x, y])  # ||XᵀX||² = ||XXᵀ||²: the smaller one
    if debiased:
        n = x.shape[0]
        kx, ky = np.sum(x * x, axis=1), np.sum(y * y, axis=1)
        cross = _debiased_hsic(cross, kx, ky, n)
        self_x = _debiased_hsic(self_x, kx, kx, n)
        self_y = _debiased_hsic(self_y, ky, ky, n)
    return _ratio(cross, self_x, self_y, debiased)


# --------------------------------------------------------------------------- all pairs


RepresentationSet = Sequence[np.ndarray] | Mapping[object, np.ndarray]


def _labelled(reps: RepresentationSet, name: str) -> tuple[list, list[np.ndarray]]:
    """Split a sequence or mapping of representations into labels and arrays."""
    if isinstance(reps, Mapping):
        labels, arrays = list(reps.keys()), list(reps.values())
    elif isinstance(reps, np.ndarray) and reps.ndim == 2:
        raise ValueError(
            f"{name} must be a sequence or dict of (n, d) arrays, not a single array; "
            f"wrap it in a list: [{name}]."
        )
    else:
        arrays = list(reps)
        labels = list(range(len(arrays)))
    if not arrays:
        raise ValueError(f"{name} is empty; pass at least one (n, d) array.")
    return labels, arrays


def _check_same_n(reps: Mapping[object, np.ndarray]) -> int:
    sizes = {label: arr.shape[0] for label, arr in reps.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            "All representations must describe the same stimuli, but their numbers of rows "
            f"differ: {sizes}. Align or trim them first (e.g. trim_to_common_length)."
        )
    return next(iter(sizes.values()))


def _route_costs(n: int, dims_a: list[int], dims_b: list[int] | None) -> dict[str, float]:
    """Approximate multiply-add counts of the two ways to get all tr(K_i L_j)."""
    if dims_b is None:
        total = sum(dims_a)
        gram = n * n * total / 2 + n * n * len(dims_a) ** 2 / 2
        feature = n * total * total / 2
    else:
        gram = n * n * (sum(dims_a) + sum(dims_b)) / 2 + n * n * len(dims_a) * len(dims_b)
        feature = n * sum(dims_a) * sum(dims_b) + n * sum(d * d for d in dims_a + dims_b) / 2
    return {"gram": gram, "feature": feature}


def _route_bytes(n: int, dims_a: list[int], dims_b: list[int] | None) -> dict[str, float]:
    """Float64 working memory of the two routes (Gram stacks vs feature cross products)."""
    n_reps = len(dims_a) + (len(dims_b) if dims_b is not None else 0)
    total_b = sum(dims_a) if dims_b is None else sum(dims_b)
    return {"gram": 8.0 * n * n * n_reps, "feature": 8.0 * sum(dims_a) * total_b}


def choose_route(
    n: int,
    dims_a: list[int],
    dims_b: list[int] | None = None,
    *,
    max_bytes: float = GRAM_MEMORY_LIMIT,
) -> str:
    """Name the cheaper way ("gram" or "feature") to compare all pairs.

    The Gram route costs about ``n² Σd`` (one ``n × n`` Gram per representation),
    the feature route about ``n (Σd)²`` (all feature cross products), so Gram
    matrices win whenever there are fewer stimuli than features in total. A route
    whose float64 working memory would exceed ``max_bytes`` is avoided when the
    other one fits (e.g. 13 Gram matrices of 9000 frames would need 8.4 GB).
    """
    costs = _route_costs(n, dims_a, dims_b)
    memory = _route_bytes(n, dims_a, dims_b)
    fitting = [route for route in costs if memory[route] <= max_bytes] or list(costs)
    return min(fitting, key=costs.get)


def _flattened_grams(centred: list[np.ndarray]) -> np.ndarray:
    """Row i is the flattened Gram matrix of representation i, built in one buffer."""
    n = centred[0].shape[0]
    grams = np.empty((len(centred), n, n))
    for gram, x in zip(grams, centred, strict=True):
        np.matmul(x, x.T, out=gram)
    return grams.reshape(len(centred), n * n)


def _trace_products_feature(
    centred_a: list[np.ndarray], centred_b: list[np.ndarray] | None
) -> np.ndarray:
    """``tr(K_i L_j) = ||X_iᵀ Y_j||_F²`` from one big feature cross-product matrix."""
    stacked_a = np.concatenate(centred_a, axis=1)
    stacked_b = stacked_a if centred_b is None else np.concatenate(centred_b, axis=1)
    cross = stacked_a.T @ stacked_b
    edges_a = np.cumsum([0] + [x.shape[1] for x in centred_a])
    group_b = centred_a if centred_b is None else centred_b
    edges_b = np.cumsum([0] + [x.shape[1] for x in group_b])
    squared = cross * cross
    # Sum squared entries block by block: first within row blocks, then column blocks.
    rows = np.add.reduceat(squared, edges_a[:-1], axis=0)
    return np.add.reduceat(rows, edges_b[:-1], axis=1)


def _self_trace_products(centred: list[np.ndarray]) -> np.ndarray:
    """``tr(K_i K_i)`` per representation, via the smaller of the two Gram forms."""
    values = []
    for x in centred:
        small = x.T @ x if x.shape[1] <= x.shape[0] else x @ x.T
        values.append(np.vdot(small, small))
    return np.asarray(values)


def _all_trace_products(
    centred_a: list[np.ndarray], centred_b: list[np.ndarray] | None, route: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross matrix ``tr(K_i L_j)`` and the self products of both sides."""
    if route == "gram":
        # tr(K_i L_j) is the Frobenius inner product of the centred Gram matrices.
        flat_a = _flattened_grams(centred_a)
        flat_b = flat_a if centred_b is None else _flattened_grams(centred_b)
        cross = flat_a @ flat_b.T
        if centred_b is None:
            self_a = self_b = np.diag(cross).copy()
        else:
            self_a = np.einsum("ij,ij->i", flat_a, flat_a)
            self_b = np.einsum("ij,ij->i", flat_b, flat_b)
    else:
        cross = _trace_products_feature(centred_a, centred_b)
        self_a = np.diag(cross).copy() if centred_b is None else _self_trace_products(centred_a)
        self_b = self_a if centred_b is None else _self_trace_products(centred_b)
    return cross, self_a, self_b


def _normalise(cross: np.ndarray, self_a: np.ndarray, self_b: np.ndarray, debiased: bool):
    """Divide the HSIC matrix by the geometric mean of the self-HSICs."""
    undefined = (self_a[:, None] <= 0) | (self_b[None, :] <= 0)
    if np.any(undefined):
        if not debiased:
            raise ValueError("A representation is constant (zero variance); CKA is undefined.")
        warnings.warn(
            "Some debiased self-HSICs are <= 0, so debiased CKA is undefined for those "
            "pairs; they are nan. Use more stimuli, or the biased estimator.",
            RuntimeWarning,
            stacklevel=3,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        result = cross / np.sqrt(np.outer(self_a, self_b))
    result[undefined] = np.nan
    return result


def cka_matrix(
    reps_a: RepresentationSet,
    reps_b: RepresentationSet | None = None,
    *,
    debiased: bool = False,
    route: str = "auto",
) -> np.ndarray | pd.DataFrame:
    """Linear CKA between every representation in ``reps_a`` and every one in ``reps_b``.

    Each representation is validated, converted to float64 and centred once.
    The expensive part, ``tr(K_i L_j)`` for all pairs, is then computed by the
    cheaper of two exact routes: centred ``n × n`` Gram matrices (one per
    representation, then one product of the flattened Grams), or feature
    cross products ``X_iᵀ Y_j`` (one product of the concatenated features).

    Parameters
    ----------
    reps_a : sequence or dict of ndarray, each (n, d_i)
        E.g. the 13 layers of one recording, ``{layer: frames}``.
    reps_b : sequence or dict of ndarray, each (n, d_j), optional
        Same stimuli as ``reps_a``. ``None`` compares ``reps_a`` with itself
        (symmetric result, unit diagonal).
    debiased : bool, default False
        Use Song et al.'s unbiased HSIC (needs ``n >= 4``).
    route : {"auto", "gram", "feature"}, default "auto"
        Force a route (both give the same numbers); "auto" picks the cheaper one
        with :func:`choose_route`.

    Returns
    -------
    ndarray or pandas.DataFrame, shape (len(reps_a), len(reps_b))
        A DataFrame labelled with the keys when either input is a dict, else an
        array. Undefined debiased entries are nan (with a RuntimeWarning).
    """
    if route not in ("auto", "gram", "feature"):
        raise ValueError(f"route must be 'auto', 'gram' or 'feature'; got {route!r}.")
    min_n = _min_stimuli(debiased)
    labels_a, arrays_a = _labelled(reps_a, "reps_a")
    centred_a = [
        _center_features(_as_representation(x, f"reps_a[{label!r}]", min_n), f"reps_a[{label!r}]")
        for label, x in zip(labels_a, arrays_a, strict=True)
    ]
    everything = {("a", label): x for label, x in zip(labels_a, centred_a, strict=True)}
    if reps_b is None:
        labels_b, centred_b = labels_a, None
    else:
        labels_b, arrays_b = _labelled(reps_b, "reps_b")
        centred_b = [
            _center_features(
                _as_representation(y, f"reps_b[{label!r}]", min_n), f"reps_b[{label!r}]"
            )
            for label, y in zip(labels_b, arrays_b, strict=True)
        ]
        everything.update({("b", label): y for label, y in zip(labels_b, centred_b, strict=True)})
    n = _check_same_n(everything)
    if route == "auto":
        dims_b = None if centred_b is None else [y.shape[1] for y in centred_b]
        route = choose_route(n, [x.shape[1] for x in centred_a], dims_b)

    cross, self_a, self_b = _all_trace_products(centred_a, centred_b, route)
    if debiased:
        diag_a = np.stack([np.sum(x * x, axis=1) for x in centred_a])
        diag_b = (
            diag_a if centred_b is None else np.stack([np.sum(y * y, axis=1) for y in centred_b])
        )
        cross = _debiased_hsic(cross, diag_a, diag_b, n)
        self_a = _debiased_self_hsic(self_a, diag_a, n)
        self_b = self_a if centred_b is None else _debiased_self_hsic(self_b, diag_b, n)
    result = _normalise(cross, self_a, self_b, debiased)
    if centred_b is None:
        result = (result + result.T) / 2
        defined = np.isfinite(np.diag(result))
        result[np.diag_indices_from(result)] = np.where(defined, 1.0, np.nan)

    if isinstance(reps_a, Mapping) or isinstance(reps_b, Mapping):
        return pd.DataFrame(result, index=labels_a, columns=labels_b)
    return result
