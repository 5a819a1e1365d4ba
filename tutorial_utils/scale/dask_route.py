"""``cka_matrix`` on ``(n, d)`` dask arrays chunked along the frames (e.g. lazily from zarr):
the sums of :mod:`.moments`, per row chunk, summed by dask's tree reduction in one
``dask.compute`` (threads, or the current ``dask.distributed`` Client); only the ``(D, D)``
sums reach this process. dask (the ``scale`` extra) is imported only for a dask array."""

import warnings

import numpy as np

from ..cka import tiles
from .moments import check_frames, check_memory, moments_cka, scales_of, shift_of


def dask_cka_matrix(
    arrays_a: list, arrays_b: list | None = None, *, labels: list[str], debiased: bool = False
) -> np.ndarray:
    """``cka_matrix`` of row-chunked dask (or numpy) arrays; ``labels`` name all of them."""
    import dask  # optional dependency: reached only when an input is a dask array
    import dask.array as da

    originals = list(arrays_a) + list(arrays_b or [])
    layers = [da.asarray(x) for x in originals]
    for x, name in zip(layers, labels, strict=True):
        if x.ndim != 2 or x.dtype.kind not in "iuf":
            raise ValueError(f"{name} must be a 2-D array of real numbers; got {x!r}.")
    sizes = {name: x.shape[0] for x, name in zip(layers, labels, strict=True)}
    if len(set(sizes.values())) > 1 or any(np.isnan(s) for s in sizes.values()):
        raise ValueError(
            f"All representations must have the same, known number of rows; got {sizes}. "
            "Align them first (and call compute_chunk_sizes() on arrays of unknown size)."
        )
    check_frames(int(layers[0].shape[0]), debiased)
    lazy = [x for x, original in zip(layers, originals, strict=True) if hasattr(original, "dask")]
    # Numpy inputs follow the dask arrays' row chunks; empty chunks are skipped.
    rows = tuple(size for size in (lazy or layers)[0].chunks[0] if size)
    check_memory(sum(x.shape[1] for x in layers), len(layers), max(rows))
    # Columns in tiles' widths (whole up to 2 * BLAS_BLOCK): no chunk product crashes OpenBLAS.
    widths = [tiles(1, x.shape[1])[0][1].stop for x in layers]
    layers = [x.astype(float).rechunk({0: rows, 1: w}) for x, w in zip(layers, widths, strict=True)]
    # Shift and scale from the first row chunk, then every sum in one compute call.
    first = [np.asarray(f) for f in dask.compute(*[x.blocks[0] for x in layers])]
    peaks = [np.abs(f).max() for f in first]
    if not np.isfinite(peaks).all():
        raise ValueError(
            f"{labels[np.argmin(np.isfinite(peaks))]} contains NaN or infinite values."
        )
    sums = _sums(layers, first, scales := scales_of(peaks))
    if np.any(sums["peaks"] > scales * 2.0**32):  # chunks far apart in scale: overflow risk
        sums = _sums(layers, first, scales := scales_of(sums["peaks"]))  # so, by the largest
    sums["peaks"] = sums["peaks"] / scales
    edges = np.cumsum([0] + [x.shape[1] for x in layers])
    matrix = moments_cka(int(layers[0].shape[0]), edges, sums, labels, debiased=debiased)
    return matrix if arrays_b is None else matrix[: len(arrays_a), len(arrays_a) :]


def _sums(layers: list, first: list, scales: np.ndarray) -> dict:
    """The sums of :mod:`.moments` over the float64 dask arrays ``layers``, in one compute."""
    import dask
    import dask.array as da

    z = [(x - shift_of(f, s)) / s for x, f, s in zip(layers, first, scales, strict=True)]
    norms = da.stack([(x * x).sum(axis=1) for x in z], axis=1).rechunk({1: -1})  # (n, L)
    with warnings.catch_warnings():  # overflows (then recomputed) and NaN are caught after
        warnings.simplefilter("ignore", RuntimeWarning)
        (sums,) = dask.compute(
            {
                "col_sums": da.concatenate([x.sum(axis=0) for x in z]),
                "norm_cross": norms.T @ norms,
                "norm_feature": da.concatenate([norms.T @ x for x in z], axis=1),
                "peaks": da.stack([abs(x).max() for x in layers]),
                "blocks": {(a, b): z[a].T @ z[b] for a in range(len(z)) for b in range(a, len(z))},
            }
        )
    return sums | {"peaks": np.asarray(sums["peaks"], dtype=np.float64)}
