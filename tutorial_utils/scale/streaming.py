"""Layer × layer linear CKA over more frames than fit in memory, fed chunk by chunk.

:class:`CKAAccumulator` keeps running sums whose size depends on the number of features, not
of frames (:mod:`.moments`), and gives the numbers of ``cka_matrix`` over all the frames::

    acc = CKAAccumulator()
    for recording in recordings:                  # any iterable
        acc.update({layer: states[recording][layer] for layer in range(13)})
    acc.result()                                  # 13 x 13 DataFrame, like cka_matrix

Memory: one ``(D, D)`` float64 matrix, ``D`` the total number of features (13 × 768: 0.8 GB).
Numpy chunks are summed with BLAS ``dsyrk``; torch tensors with torch on the first chunk's
device (torch is imported only then), copied to the host once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.linalg import blas

from ..cka import max_abs
from .moments import Moments, moments_cka, scales_of, shift_of

__all__ = ["PRECISIONS", "CKAAccumulator", "streaming_cka_matrix"]

PRECISIONS = ("float64", "float32-chunks")  # products in float64, or per chunk in float32
Chunk = Sequence | Mapping


class _NumpySums:
    """Float64 sums over frames of numpy chunks; the upper triangle of ``cross`` grows by
    ``dsyrk`` (``ssyrk`` per chunk for "float32-chunks")."""

    def __init__(self, first: list, peaks: list[float], precision: str) -> None:
        self.edges = np.cumsum([0] + [x.shape[1] for x in first])
        self.spans = list(zip(self.edges[:-1].tolist(), self.edges[1:].tolist(), strict=True))
        self.scales, self.precision, self.n = scales_of(peaks), precision, 0
        self.shift, self.peaks = self._shifts(first), np.zeros(len(first))
        d, n_layers = int(self.edges[-1]), len(first)
        shapes = [(d, d), (d,), (n_layers, n_layers), (n_layers, d)]
        self.cross, self.col_sums, self.norm_cross, self.norm_feature = map(self._zeros, shapes)

    def _shifts(self, first: list) -> list:
        return [shift_of(x, s) for x, s in zip(first, self.scales, strict=True)]

    def _zeros(self, shape: tuple):
        return np.zeros(shape, order="F")

    def add(self, arrays: list[np.ndarray], peaks: list[float]) -> None:
        """Add one (checked) chunk, shifted and scaled per layer into one ``(m, D)`` array."""
        z = np.empty((arrays[0].shape[0], int(self.edges[-1])))
        for (lo, hi), x, shift, s in zip(self.spans, arrays, self.shift, self.scales, strict=True):
            np.subtract(x, shift, out=z[:, lo:hi])
            z[:, lo:hi] *= 1.0 / s
        if self.precision == "float64":  # z.T is Fortran-ordered: BLAS reads it without a copy
            self.cross = blas.dsyrk(1.0, z.T, beta=1.0, c=self.cross, overwrite_c=1)
        else:
            self.cross += blas.ssyrk(1.0, z.astype(np.float32).T)
        self.col_sums += z.sum(axis=0)
        self._count(
            np.stack([np.einsum("ij,ij->i", z[:, a:b], z[:, a:b]) for a, b in self.spans], 1),
            z,
            peaks,
        )

    def _count(self, norms, z, peaks: list[float]) -> None:
        self.norm_cross += norms.T @ norms
        self.norm_feature += norms.T @ z
        self.peaks = np.maximum(self.peaks, np.asarray(peaks) / self.scales)
        self.n += z.shape[0]

    def moments(self, host=np.asarray) -> Moments:
        """The sums as :func:`.moments.moments_cka` reads them (``host`` copies them there)."""
        cross, spans = host(self.cross), self.spans
        sums = (host(s) for s in (self.col_sums, self.norm_cross, self.norm_feature))
        block = lambda ab: cross[slice(*spans[ab[0]]), slice(*spans[ab[1]])]  # noqa: E731
        return Moments(self.n, self.edges, *sums, peaks=self.peaks, block=block)


class _TorchSums(_NumpySums):
    """The same sums as float64 tensors on the first chunk's device; ``cross`` grows by its
    upper block triangle (each layer's rows from its own columns on), like ``syrk``."""

    def __init__(self, first: list, peaks: list[float], precision: str) -> None:
        import torch  # optional: reached only when the chunks are torch tensors

        self.torch, self.device = torch, first[0].device
        self.work = torch.float64 if precision == "float64" else torch.float32
        super().__init__(first, peaks, precision)

    def _shifts(self, first: list) -> list:
        f64 = self.torch.float64
        return [
            (x.detach().to(f64) / float(s)).mean(dim=0) * float(s)
            for x, s in zip(first, self.scales, strict=True)
        ]

    def _zeros(self, shape: tuple):
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def add(self, tensors: list, peaks: list[float]) -> None:
        torch, f64 = self.torch, self.torch.float64
        with torch.no_grad():
            parts = zip(tensors, self.shift, self.scales, strict=True)
            z = torch.cat(
                [((x.to(self.device).detach().to(f64) - m) * (1.0 / float(s))).to(self.work)
                 for x, m, s in parts],
                dim=1,
            )  # fmt: skip
            for lo, hi in self.spans:
                if self.work == f64:
                    self.cross[lo:hi, lo:].addmm_(z[:, lo:hi].T, z[:, lo:])
                else:
                    self.cross[lo:hi, lo:] += (z[:, lo:hi].T @ z[:, lo:]).to(f64)
            z = z.to(f64)
            self.col_sums += z.sum(dim=0)
            norms = torch.stack([z[:, lo:hi].square().sum(dim=1) for lo, hi in self.spans], 1)
            self._count(norms, z, peaks)

    def moments(self, host=None) -> Moments:
        return super().moments(lambda t: t.cpu().numpy())


def _checked_layer(x, name: str, dims: int | None, torch: bool) -> float:
    """Check one layer of a chunk; return its largest magnitude."""
    if getattr(x, "ndim", None) != 2:
        raise ValueError(f"{name} must be a 2-D (frames, features) array; got {x!r:.80}.")
    if (x.dtype.is_complex or str(x.dtype) == "torch.bool") if torch else x.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {x.dtype}.")
    if x.shape[1] == 0 or (dims is not None and x.shape[1] != dims):
        raise ValueError(f"{name} has {x.shape[1]} features; every step needs {dims or '> 0'}.")
    if x.shape[0] == 0:
        return 0.0  # an empty step is refused by the caller
    peak = float(x.detach().abs().max()) if torch else max_abs(x)
    if not np.isfinite(peak):
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first.")
    return peak


class CKAAccumulator:
    """Accumulates frames chunk by chunk for exact all-pairs linear CKA.

    Each :meth:`update` takes a sequence or dict of ``(m_k, d_i)`` arrays (numpy or torch), one
    per layer, with the same layers and dimensions every step; ``m_k`` may change.

    ``precision="float32-chunks"`` takes each chunk's cross products in float32 (summed in
    float64), for devices whose float64 is slow. ``benchmarks/bench_gpu.py`` (13 × 768 dims):
    1.3e-9 from float64 on CPU torch; on one H100, 10⁶ frames in 3.5 s (float64) vs 3.7 s,
    6.5e-8 apart. Chunks are shifted by the first chunk's mean, which keeps float32 accurate.
    """

    def __init__(self, *, precision: str = "float64") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
        self.precision, self.labels, self._sums, self._count = precision, None, None, 0
        self._as_frame = self._torch = False

    @property
    def n_frames(self) -> int:
        """Number of frames accumulated so far."""
        return 0 if self._sums is None else self._sums.n

    def _layers(self, chunk: Chunk, step: str) -> tuple[list, list]:
        """Labels and arrays of one step, in the order of the first step."""
        if self._sums is not None and isinstance(chunk, Mapping) != self._as_frame:
            raise ValueError("Every step must be of the same kind: all dicts or all sequences.")
        if isinstance(chunk, Mapping):
            if self.labels is not None and set(chunk) != set(self.labels):
                raise ValueError(
                    f"{step} has layers {list(chunk)}; every step needs the same layers."
                )
            labels = list(chunk) if self.labels is None else self.labels
            return labels, [chunk[label] for label in labels]
        if getattr(chunk, "ndim", None) is not None or isinstance(chunk, (str, bytes)):
            raise ValueError(
                f"{step} must be a sequence or dict of (frames, features) arrays, one per "
                "layer; wrap a single layer in a list: [x]."
            )
        arrays = list(chunk)
        if self.labels is not None and len(arrays) != len(self.labels):
            raise ValueError(f"{step} has {len(arrays)} layers, not {len(self.labels)}.")
        return list(range(len(arrays))), arrays

    def update(self, chunk: Chunk) -> CKAAccumulator:
        """Add one step of frames (see the class); returns the accumulator, for chaining."""
        step = f"Step {self._count + 1}"
        labels, arrays = self._layers(chunk, step)
        torch = bool(arrays) and all(type(x).__module__.startswith("torch") for x in arrays)
        if not torch and any(type(x).__module__.startswith("torch") for x in arrays):
            raise ValueError("A step mixes torch tensors and other arrays; use one kind.")
        if self._sums is not None and torch != self._torch:
            raise ValueError(f"{step} and the first step differ in kind (torch vs numpy).")
        arrays = arrays if torch else [np.asarray(x) for x in arrays]
        dims = (
            [None] * len(arrays)
            if self._sums is None
            else self._sums.edges[1:] - self._sums.edges[:-1]
        )
        names = [f"layer {label!r}" for label in labels]
        peaks = [_checked_layer(*args, torch) for args in zip(arrays, names, dims, strict=True)]
        if not arrays or len({x.shape[0] for x in arrays}) != 1 or arrays[0].shape[0] == 0:
            raise ValueError(
                "A step needs at least one layer, all with the same, non-zero number of frames;"
                f" got {[x.shape[0] for x in arrays]}. Skip empty recordings."
            )
        if self._sums is None:
            self.labels, self._as_frame, self._torch = labels, isinstance(chunk, Mapping), torch
            self._sums = (_TorchSums if torch else _NumpySums)(arrays, peaks, self.precision)
        self._sums.add(arrays, peaks)
        self._count += 1
        return self

    def result(self, debiased: bool = False) -> np.ndarray | pd.DataFrame:
        """Linear CKA between every pair of layers over all frames so far, like ``cka_matrix``
        (a DataFrame labelled with the keys when the steps were dicts)."""
        if self._sums is None:
            raise ValueError("No frames were added; call update() with at least one step.")
        matrix = moments_cka(self._sums.moments(), self.labels, debiased=debiased)
        return pd.DataFrame(matrix, self.labels, self.labels) if self._as_frame else matrix


def streaming_cka_matrix(
    chunks: Iterable[Chunk], *, debiased: bool = False, precision: str = "float64"
) -> np.ndarray | pd.DataFrame:
    """Layer × layer linear CKA over all frames of an iterable of chunks.

    Each chunk is a sequence or dict of ``(m_k, d_i)`` numpy arrays or torch tensors, one per
    layer (e.g. one recording). Equal to rounding to ``cka_matrix`` of the concatenated
    frames; ``precision`` as in :class:`CKAAccumulator`.
    """
    accumulator = CKAAccumulator(precision=precision)
    for chunk in chunks:
        accumulator.update(chunk)
    return accumulator.result(debiased=debiased)
