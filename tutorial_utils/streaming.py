"""Layer × layer linear CKA over more frames than fit in memory: feed them in chunks.

``cka_matrix`` needs every frame of every layer in memory at once. When the
frames come one recording at a time (or from disk, or from a model running on a
GPU), :func:`streaming_cka_matrix` — or the :class:`CKAAccumulator` it is built
on — keeps only running sums whose size depends on the number of features, not
on the number of frames, and gives exactly the same numbers as ``cka_matrix``
over all the frames (biased and debiased). The sums and the algebra that turns
them into CKA are described in :mod:`tutorial_utils._moments`.

Example::

    acc = CKAAccumulator()
    for recording in recordings:                  # any iterable
        acc.update({layer: states[recording][layer] for layer in range(13)})
    acc.result()                                  # 13 x 13 DataFrame, like cka_matrix

Memory: one ``(D, D)`` float64 matrix with ``D`` the total number of features
(13 layers × 768 = 9984: 0.8 GB), plus one chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ._arrays import max_abs, shaped
from ._moments import moments_cka
from ._sums import NumpySums
from ._torch_sums import TorchSums

__all__ = ["PRECISIONS", "CKAAccumulator", "streaming_cka_matrix"]

PRECISIONS = ("float64", "float32-chunks")
"""``precision`` options: all products in float64, or each chunk's products in float32."""

Chunk = Sequence | Mapping


def is_torch_tensor(x: object) -> bool:
    """True for a torch tensor, found without importing torch (an optional dependency)."""
    return type(x).__module__.startswith("torch")


def _check_array(x, name: str, dims: int | None, torch: bool) -> float:
    """Check one layer of a chunk; return its largest magnitude (raise if not finite)."""
    if getattr(x, "ndim", None) != 2:
        raise ValueError(f"{name} must be a 2-D (frames, features) array; got {x!r:.80}.")
    if torch:
        bad = x.dtype.is_complex or str(x.dtype) == "torch.bool"
    else:
        bad = not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating)
    if bad:
        raise ValueError(f"{name} must hold real numbers; got dtype {x.dtype}.")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {tuple(x.shape)}).")
    if dims is not None and x.shape[1] != dims:
        raise ValueError(
            f"{name} has {x.shape[1]} features, but {dims} in the first step; every step "
            "must give the same layers with the same dimensions."
        )
    if 0 in x.shape:
        return 0.0  # an empty step is refused by the caller
    peak = float(x.detach().abs().max()) if torch else max_abs(x)
    if not np.isfinite(peak):
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first.")
    return peak


class CKAAccumulator:
    """Accumulates frames chunk by chunk for exact all-pairs linear CKA.

    Parameters
    ----------
    precision : {"float64", "float32-chunks"}, default "float64"
        "float64": every product is taken in float64. "float32-chunks": each
        chunk's cross products are taken in float32 and summed in float64, for
        devices whose float64 is slow (a T4 GPU runs it at 1/32 of float32).
        Measured with ``benchmarks/bench_gpu.py`` (13 layers × 768 correlated
        dims): on CPU torch, 10,000 frames in chunks of 1000, float32-chunks
        differed from float64 by 1.3e-9 (biased and debiased alike); on one H100,
        1,000,000 frames made on the GPU in chunks of 10,000, float64 took 3.5 s
        (284,000 frames/s), float32-chunks 3.7 s, 6.5e-8 apart: float32-chunks
        pays off only where float64 is slow. Each chunk is shifted by the first
        chunk's mean before its products are taken, which keeps float32 accurate.

    Notes
    -----
    Each step of :meth:`update` is a sequence or dict of ``(m_k, d_i)`` arrays,
    one per layer, with the same layers (keys) and dimensions every step; ``m_k``
    may change from step to step. Numpy arrays are accumulated with BLAS
    (``dsyrk``, a symmetric rank-k update); torch tensors with torch on the first
    chunk's device (torch is imported only then). All sums are float64.
    """

    def __init__(self, *, precision: str = "float64") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
        self.precision = precision
        self.labels: list | None = None
        self._as_frame = False
        self._dims: list[int] | None = None
        self._torch = False
        self._sums: NumpySums | TorchSums | None = None
        self._count = 0

    @property
    def n_frames(self) -> int:
        """Number of frames accumulated so far."""
        return 0 if self._sums is None else self._sums.n

    def _split(self, chunk: Chunk) -> tuple[list, list]:
        """Labels and arrays of one step, in the order of the first step."""
        step = f"Step {self._count + 1}"
        if isinstance(chunk, Mapping):
            labels = list(chunk)
            if self.labels is not None and set(labels) != set(self.labels):
                raise ValueError(
                    f"{step} has layers {labels}, but the first step had {self.labels}; "
                    "every step must give the same layers."
                )
            labels = labels if self.labels is None else self.labels
            return labels, [chunk[label] for label in labels]
        if getattr(chunk, "ndim", None) is not None or isinstance(chunk, (str, bytes)):
            raise ValueError(
                f"{step} must be a sequence or dict of (frames, features) arrays, one per "
                "layer; wrap a single layer in a list: [x]."
            )
        arrays = list(chunk)
        if self.labels is not None and len(arrays) != len(self.labels):
            raise ValueError(
                f"{step} has {len(arrays)} layers, but the first step had {len(self.labels)}."
            )
        return list(range(len(arrays))), arrays

    def _validated(self, chunk: Chunk) -> tuple[list, list, list[float]]:
        """Labels, arrays and per-layer largest magnitudes of one checked step."""
        if self._sums is not None and isinstance(chunk, Mapping) != self._as_frame:
            raise ValueError("Every step must be of the same kind: all dicts or all sequences.")
        labels, arrays = self._split(chunk)
        if not arrays:
            raise ValueError("A step holds no layers; give at least one (frames, features) array.")
        torch = all(is_torch_tensor(x) for x in arrays)
        if not torch and any(is_torch_tensor(x) for x in arrays):
            raise ValueError("A step mixes torch tensors and other arrays; use one kind.")
        arrays = arrays if torch else [np.asarray(x) for x in arrays]
        dims = self._dims or [None] * len(arrays)
        names = [f"layer {label!r}" for label in labels]
        peaks = [_check_array(x, s, d, torch) for x, s, d in zip(arrays, names, dims, strict=True)]
        frames = {x.shape[0] for x in arrays}
        if len(frames) != 1 or 0 in frames:
            raise ValueError(
                "Every layer of a step must have the same, non-zero number of frames; got "
                f"{[x.shape[0] for x in arrays]}. Skip empty recordings."
            )
        return labels, arrays, peaks

    def update(self, chunk: Chunk) -> CKAAccumulator:
        """Add one step of frames: a sequence or dict of ``(m, d_i)`` arrays, one per layer.

        Returns the accumulator, so calls can be chained.
        """
        labels, arrays, peaks = self._validated(chunk)
        torch = is_torch_tensor(arrays[0])
        if self._sums is None:
            self.labels, self._as_frame, self._torch = labels, isinstance(chunk, Mapping), torch
            self._dims = [x.shape[1] for x in arrays]
            backend = TorchSums if torch else NumpySums
            self._sums = backend(arrays, peaks, self.precision)
        elif torch != self._torch:
            raise ValueError(
                f"Step {self._count + 1} and the first step differ in kind (torch tensors vs "
                "arrays); use one kind throughout."
            )
        self._sums.add(arrays, peaks)
        self._count += 1
        return self

    def result(self, debiased: bool = False) -> np.ndarray | pd.DataFrame:
        """Linear CKA between every pair of layers over all frames seen so far.

        Parameters
        ----------
        debiased : bool, default False
            Use Song et al.'s unbiased HSIC (needs at least 4 frames).

        Returns
        -------
        ndarray or pandas.DataFrame, shape (L, L)
            Like ``cka_matrix``: a DataFrame labelled with the keys when the steps
            were dicts, else an array. Undefined debiased entries are nan (with
            a RuntimeWarning).
        """
        if self._sums is None:
            raise ValueError("No frames were added; call update() with at least one step.")
        matrix = moments_cka(self._sums.moments(), self.labels, debiased=debiased)
        return shaped(matrix, self.labels, self.labels, self._as_frame)


def streaming_cka_matrix(
    chunks: Iterable[Chunk], *, debiased: bool = False, precision: str = "float64"
) -> np.ndarray | pd.DataFrame:
    """Layer × layer linear CKA over all frames of an iterable of chunks.

    Parameters
    ----------
    chunks : iterable
        Yields, per step, a sequence or dict of ``(m_k, d_i)`` arrays (numpy
        arrays or torch tensors), one per layer — e.g. one recording at a time.
        Same layers and dimensions every step.
    debiased : bool, default False
        Use Song et al.'s unbiased HSIC (needs at least 4 frames in total).
    precision : {"float64", "float32-chunks"}, default "float64"
        See :class:`CKAAccumulator`.

    Returns
    -------
    ndarray or pandas.DataFrame, shape (L, L)
        Equal (to rounding) to ``cka_matrix`` of the concatenated frames.
    """
    accumulator = CKAAccumulator(precision=precision)
    for chunk in chunks:
        accumulator.update(chunk)
    return accumulator.result(debiased=debiased)
