"""Layer × layer linear CKA of dask arrays, computed through dask's reductions.

``cka_matrix`` sends dask arrays here: each layer is an ``(n, d)`` dask array
chunked along the frames (e.g. read lazily from zarr, one recording or a few
thousand frames per chunk). The same sums as the streaming accumulator (see
:mod:`tutorial_utils._moments`) are expressed as dask array reductions — column
sums, ``Z_aᵀ Z_b`` products and row-norm products, each computed per row chunk
and then summed by dask's tree reduction — and computed in one ``dask.compute``
call. So the same call runs on the threads of a laptop or on whatever
``dask.distributed`` cluster the current ``Client`` points at, and only the
``(D, D)`` sums ever reach this process.

dask is optional (the ``scale`` extra): it is imported only when a dask array is
passed.
"""

from __future__ import annotations

import numpy as np

from ._arrays import max_abs
from ._moments import Moments, moments_cka
from ._sums import layer_edges, scales_from, shift_from

__all__ = ["dask_cka_matrix", "is_dask_array"]


def is_dask_array(x: object) -> bool:
    """True for a dask array (found without importing dask, an optional dependency)."""
    return type(x).__module__.split(".")[0] == "dask"


def _aligned(da, arrays: list, names: list[str]) -> list:
    """Dask arrays with the first one's row chunks and one chunk across the features."""
    layers = [da.asarray(x) for x in arrays]
    for x, name in zip(layers, names, strict=True):
        if x.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (frames, features) array; got {x.shape}.")
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"{name} must hold real numbers; got dtype {x.dtype}.")
    sizes = {name: x.shape[0] for x, name in zip(layers, names, strict=True)}
    if len(set(sizes.values())) > 1 or any(np.isnan(s) for s in sizes.values()):
        raise ValueError(
            f"All representations must have the same, known number of rows; got {sizes}. "
            "Align them first (and call compute_chunk_sizes() on arrays of unknown size)."
        )
    lazy = [x for x, original in zip(layers, arrays, strict=True) if is_dask_array(original)]
    rows = (lazy or layers)[0].chunks[0]  # numpy inputs follow the dask arrays' row chunks
    return [x.rechunk({0: rows, 1: -1}) for x in layers]


def _lazy_sums(da, z: list, raw: list) -> dict:
    """The sums of :class:`~tutorial_utils._moments.Moments` as lazy dask reductions."""
    norms = da.stack([(x * x).sum(axis=1) for x in z], axis=1).rechunk({1: -1})  # (n, L)
    return {
        "col_sums": da.concatenate([x.sum(axis=0) for x in z]),
        "norm_cross": norms.T @ norms,
        "norm_feature": da.concatenate([norms.T @ x for x in z], axis=1),
        "peaks": da.stack([abs(x).max() for x in raw]),
        "blocks": {(a, b): z[a].T @ z[b] for a in range(len(z)) for b in range(a, len(z))},
    }


def _moments(dask, da, layers: list, names: list[str]) -> Moments:
    """Shift and scale from the first row chunk, then every sum in one compute call."""
    first = dask.compute(*[x.blocks[0] for x in layers])
    peaks = [max_abs(np.asarray(f, dtype=np.float64)) for f in first]
    for peak, name in zip(peaks, names, strict=True):
        if not np.isfinite(peak):
            raise ValueError(f"{name} contains NaN or infinite values; clean or impute them.")
    scales = scales_from(peaks)
    shifts = [shift_from(f, s) for f, s in zip(first, scales, strict=True)]
    z = [(x.astype(np.float64) - m) / s for x, m, s in zip(layers, shifts, scales, strict=True)]
    (sums,) = dask.compute(_lazy_sums(da, z, layers))
    blocks = sums["blocks"]
    return Moments(
        n=int(layers[0].shape[0]),
        edges=layer_edges([x.shape[1] for x in layers]),
        col_sums=sums["col_sums"],
        norm_cross=sums["norm_cross"],
        norm_feature=sums["norm_feature"],
        peaks=np.asarray(sums["peaks"], dtype=np.float64) / scales,
        block=lambda a, b: blocks[(a, b)],
    )


def dask_cka_matrix(
    arrays_a: list, arrays_b: list | None = None, *, labels: list[str], debiased: bool = False
) -> np.ndarray:
    """Linear CKA between dask arrays (row-chunked ``(n, d)`` layers).

    Parameters
    ----------
    arrays_a, arrays_b : list of dask (or numpy) arrays
        As in ``cka_matrix``; ``arrays_b=None`` compares ``arrays_a`` with itself.
    labels : list of str
        A name per array (``arrays_a`` then ``arrays_b``) for error messages.
    debiased : bool, default False
        Use Song et al.'s unbiased HSIC.

    Returns
    -------
    ndarray, shape (len(arrays_a), len(arrays_b or arrays_a))
    """
    import dask  # optional dependency: reached only when an input is a dask array
    import dask.array as da

    layers = _aligned(da, list(arrays_a) + list(arrays_b or []), labels)
    matrix = moments_cka(_moments(dask, da, layers, labels), labels, debiased=debiased)
    return matrix if arrays_b is None else matrix[: len(arrays_a), len(arrays_a) :]
