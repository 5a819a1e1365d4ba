"""Linear CKA between every pair of many representations, in one call.

:func:`cka_matrix` gives the same numbers as calling
:func:`~tutorial_utils.cka.feature_space_linear_cka` for every pair, but centres
each representation once and does the expensive products in as few large
matrix multiplications as possible. This module is about *how* that is computed
fast and within memory; the maths is in :mod:`tutorial_utils.cka`.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.linalg import blas

from ._arrays import (
    RepresentationSet,
    centre_into,
    check_same_n,
    check_shape,
    labelled,
    min_stimuli,
    shaped,
    symmetrised,
)
from ._checks import blas_threads
from ._memory import NotEnoughMemoryError, check_memory
from .dask_cka import dask_cka_matrix, is_dask_array
from .hsic import cka_from_hsic, debiased_hsic, self_hsic

__all__ = ["GRAM_MEMORY_LIMIT", "NotEnoughMemoryError", "choose_route", "cka_matrix"]

GRAM_MEMORY_LIMIT = 2.0 * 2**30
"""Bytes of working memory above which :func:`choose_route` avoids a route (2 GiB)."""


# --------------------------------------------------------------------------- route choice


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


def route_bytes(n: int, dims_a: list[int], dims_b: list[int] | None) -> dict[str, float]:
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
    memory = route_bytes(n, dims_a, dims_b)
    fitting = [route for route in costs if memory[route] <= max_bytes] or list(costs)
    return min(fitting, key=costs.get)


# --------------------------------------------------------------------------- trace products


class _Block(NamedTuple):
    """Centred representations: separate arrays, or views of one side-by-side buffer."""

    parts: list[np.ndarray]  # representation i, centred and rescaled, (n, d_i)
    buffer: np.ndarray | None  # (n, Σd) holding the parts side by side, when shared
    edges: np.ndarray  # column edges: part i is buffer[:, edges[i]:edges[i + 1]]


def _centred_block(arrays: list[np.ndarray], names: list[str], n: int, shared: bool) -> _Block:
    """Centre (and rescale) every representation once, into one buffer when ``shared``.

    The feature route multiplies the shared buffer directly (no second copy); the
    Gram route gets separate contiguous arrays, which BLAS multiplies faster.
    """
    edges = np.cumsum([0] + [x.shape[1] for x in arrays])
    buffer = np.empty((n, int(edges[-1]))) if shared else None
    parts = [
        buffer[:, lo:hi] if shared else np.empty((n, hi - lo))
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    threads = blas_threads()
    if threads == 1:
        for part, x, name in zip(parts, arrays, names, strict=True):
            centre_into(part, x, name)
    else:  # numpy releases the GIL: centre several representations at once, like BLAS does
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(centre_into, parts, arrays, names))  # list(): re-raises any error
    return _Block(parts, buffer, edges)


def _gram_triangles(centred: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One triangle (diagonal included) of each centred Gram matrix, flattened, and the diagonals.

    Each Gram is one BLAS ``dsyrk`` (symmetric rank-k update) written straight into
    a zeroed buffer; the other triangle stays zero, which :func:`_gram_products` uses.
    """
    n = centred[0].shape[0]
    grams = np.zeros((len(centred), n, n))
    for gram, x in zip(grams, centred, strict=True):
        # x.T and gram.T are Fortran-ordered views: BLAS reads and writes them in place.
        blas.dsyrk(1.0, x.T, trans=1, c=gram.T, overwrite_c=1)
    diagonals = np.stack([np.diag(gram) for gram in grams])
    return grams.reshape(len(centred), n * n), diagonals


def _gram_products(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """``<K_i, L_j>`` from triangles: twice the triangle products minus the diagonal ones."""
    return 2.0 * (a[0] @ b[0].T) - a[1] @ b[1].T


def _trace_products_feature(block_a: _Block, block_b: _Block | None) -> np.ndarray:
    """``tr(K_i L_j) = ||X_iᵀ Y_j||_F²`` from one big feature cross-product matrix."""
    block_b = block_a if block_b is None else block_b
    cross = block_a.buffer.T @ block_b.buffer
    edges_a, edges_b = block_a.edges, block_b.edges
    np.multiply(cross, cross, out=cross)
    # Sum squared entries block by block: first within row blocks, then column blocks.
    rows = np.add.reduceat(cross, edges_a[:-1], axis=0)
    return np.add.reduceat(rows, edges_b[:-1], axis=1)


def _all_trace_products(
    block_a: _Block, block_b: _Block | None, route: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross matrix ``tr(K_i L_j)`` and the self products of both sides."""
    centred_a = block_a.parts
    centred_b = None if block_b is None else block_b.parts
    if route == "gram":
        # tr(K_i L_j) is the Frobenius inner product of the centred Gram matrices.
        tri_a = _gram_triangles(centred_a)
        if centred_b is None:
            cross = _gram_products(tri_a, tri_a)
            return cross, np.diag(cross).copy(), np.diag(cross).copy()
        tri_b = _gram_triangles(centred_b)
        self_a = np.diag(_gram_products(tri_a, tri_a)).copy()
        return _gram_products(tri_a, tri_b), self_a, np.diag(_gram_products(tri_b, tri_b)).copy()
    cross = _trace_products_feature(block_a, block_b)
    if centred_b is None:
        return cross, np.diag(cross).copy(), np.diag(cross).copy()
    self_a = np.array([self_hsic(x) for x in centred_a])
    return cross, self_a, np.array([self_hsic(y) for y in centred_b])


def _row_sq_norms(block: _Block) -> np.ndarray:
    """Squared norm of every centred row, one row of the result per representation."""
    return np.stack([np.einsum("ij,ij->i", x, x) for x in block.parts])


def _debiased(
    cross: np.ndarray,
    self_a: np.ndarray,
    self_b: np.ndarray,
    block_a: _Block,
    block_b: _Block | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn biased trace products into Song et al.'s debiased HSICs."""
    n = block_a.parts[0].shape[0]
    diag_a = _row_sq_norms(block_a)
    diag_b = diag_a if block_b is None else _row_sq_norms(block_b)
    sum_a, sum_b = diag_a.sum(axis=1), diag_b.sum(axis=1)
    cross = debiased_hsic(cross, diag_a @ diag_b.T, sum_a[:, None], sum_b[None, :], n)
    self_a = debiased_hsic(self_a, np.einsum("ij,ij->i", diag_a, diag_a), sum_a, sum_a, n)
    self_b = debiased_hsic(self_b, np.einsum("ij,ij->i", diag_b, diag_b), sum_b, sum_b, n)
    return cross, self_a, self_b


# --------------------------------------------------------------------------- the matrix


def _prepared(reps: RepresentationSet, side: str, min_n: int) -> tuple[list, list, list[str]]:
    """Labels, shape-checked arrays (not yet converted) and display names of one side."""
    labels, arrays = labelled(reps, f"reps_{side}")
    names = [f"reps_{side}[{label!r}]" for label in labels]
    if any(is_dask_array(x) for x in arrays):
        return labels, arrays, names
    return (
        labels,
        [check_shape(x, name, min_n) for x, name in zip(arrays, names, strict=True)],
        names,
    )


def _in_memory(
    arrays_a: list, names_a: list[str], arrays_b: list | None, names_b: list[str], route: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Block, _Block | None]:
    """Check sizes and memory, centre everything once, and compute all trace products."""
    everything = dict(zip(names_a, arrays_a, strict=True))
    everything.update(dict(zip(names_b, arrays_b or [], strict=True)))
    n = check_same_n(everything)
    dims_a = [x.shape[1] for x in arrays_a]
    dims_b = None if arrays_b is None else [y.shape[1] for y in arrays_b]
    if route == "auto":
        route = choose_route(n, dims_a, dims_b)
    check_memory(n, dims_a, dims_b, route_bytes(n, dims_a, dims_b)[route])
    shared = route == "feature"
    block_a = _centred_block(arrays_a, names_a, n, shared)
    block_b = None if arrays_b is None else _centred_block(arrays_b, names_b, n, shared)
    return (*_all_trace_products(block_a, block_b, route), block_a, block_b)


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
        E.g. the 13 layers of one recording, ``{layer: frames}``. Dask arrays
        (row-chunked) are computed through dask reductions instead, on the
        current dask scheduler or cluster (see :mod:`tutorial_utils.dask_cka`).
    reps_b : sequence or dict of ndarray, each (n, d_j), optional
        Same stimuli as ``reps_a``. ``None`` compares ``reps_a`` with itself
        (symmetric result, unit diagonal).
    debiased : bool, default False
        Use Song et al.'s unbiased HSIC (needs ``n >= 4``).
    route : {"auto", "gram", "feature"}, default "auto"
        Force a route (both give the same numbers); "auto" picks the cheaper one
        with :func:`choose_route`. Ignored for dask arrays.

    Returns
    -------
    ndarray or pandas.DataFrame, shape (len(reps_a), len(reps_b))
        A DataFrame labelled with the keys when either input is a dict, else an
        array. Undefined debiased entries are nan (with a RuntimeWarning).

    Raises
    ------
    ValueError
        Invalid input (see :func:`~tutorial_utils.cka.cka`), or, as
        :class:`NotEnoughMemoryError`, a computation that
        would not fit in the available memory: use ``streaming_cka_matrix``.
    """
    if route not in ("auto", "gram", "feature"):
        raise ValueError(f"route must be 'auto', 'gram' or 'feature'; got {route!r}.")
    min_n = min_stimuli(debiased)
    as_frame = isinstance(reps_a, Mapping) or isinstance(reps_b, Mapping)
    labels_a, arrays_a, names_a = _prepared(reps_a, "a", min_n)
    labels_b, arrays_b, names_b = (
        (labels_a, None, []) if reps_b is None else _prepared(reps_b, "b", min_n)
    )
    if any(is_dask_array(x) for x in arrays_a + (arrays_b or [])):
        result = dask_cka_matrix(arrays_a, arrays_b, labels=names_a + names_b, debiased=debiased)
        return shaped(result, labels_a, labels_b, as_frame)
    cross, self_a, self_b, block_a, block_b = _in_memory(
        arrays_a, names_a, arrays_b, names_b, route
    )
    if debiased:
        cross, self_a, self_b = _debiased(cross, self_a, self_b, block_a, block_b)
    result = cka_from_hsic(cross, self_a, self_b, debiased=debiased)
    if arrays_b is None:
        result = symmetrised(result)
    return shaped(result, labels_a, labels_b, as_frame)
