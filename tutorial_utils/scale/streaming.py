"""Layer × layer linear CKA over more frames than fit in memory: feed them in chunks.

:class:`CKAAccumulator` keeps only running sums whose size depends on the number of features,
not of frames (see :mod:`.moments`), and gives the numbers of ``cka_matrix`` over all the
frames (biased and debiased)::

    acc = CKAAccumulator()
    for recording in recordings:                  # any iterable
        acc.update({layer: states[recording][layer] for layer in range(13)})
    acc.result()                                  # 13 x 13 DataFrame, like cka_matrix

Memory: one ``(D, D)`` float64 matrix, ``D`` the total number of features (13 × 768: 0.8 GB),
plus one chunk. Numpy chunks are summed with BLAS ``dsyrk``; torch tensors with torch on the
first chunk's device (torch is imported only then), copied to the host once at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.linalg import blas

from ..cka import max_abs
from .moments import Moments, moments_cka, scales_of, shift_of

__all__ = ["PRECISIONS", "CKAAccumulator", "streaming_cka_matrix"]

PRECISIONS = ("float64", "float32-chunks")
"""``precision`` options: all products in float64, or each chunk's products in float32."""

Chunk = Sequence | Mapping


class _NumpySums:
    """Float64 sums over frames of numpy chunks; ``cross`` (upper triangle) grows by ``dsyrk``
    (or by ``ssyrk`` in float32 per chunk, for ``precision="float32-chunks"``)."""

    def __init__(self, first: list, peaks: list[float], precision: str) -> None:
        self.edges = np.cumsum([0] + [x.shape[1] for x in first])
        self.spans = list(zip(self.edges[:-1].tolist(), self.edges[1:].tolist(), strict=True))
        self.scales = scales_of(peaks)
        self.shift = self._shifts(first)
        self.precision, self.n = precision, 0
        self.peaks = np.zeros(len(first))
        self.cross, self.col_sums, self.norm_cross, self.norm_feature = self._zeros(
            int(self.edges[-1]), len(first)
        )

    def _shifts(self, first: list) -> list:
        return [shift_of(x, s) for x, s in zip(first, self.scales, strict=True)]

    def _zeros(self, n_features: int, n_layers: int) -> tuple:
        return (
            np.zeros((n_features, n_features), order="F"),
            np.zeros(n_features),
            np.zeros((n_layers, n_layers)),
            np.zeros((n_layers, n_features)),
        )

    def add(self, arrays: list[np.ndarray], peaks: list[float]) -> None:
        """Add one (validated) chunk: shifted and scaled per layer into one ``(m, D)`` array."""
        z = np.empty((arrays[0].shape[0], int(self.edges[-1])))
        for (lo, hi), x, shift, s in zip(self.spans, arrays, self.shift, self.scales, strict=True):
            np.subtract(x, shift, out=z[:, lo:hi])
            z[:, lo:hi] *= 1.0 / s
        if self.precision == "float64":  # z.T is Fortran-ordered: BLAS reads it without a copy
            self.cross = blas.dsyrk(1.0, z.T, beta=1.0, c=self.cross, overwrite_c=1)
        else:
            self.cross += blas.ssyrk(1.0, z.astype(np.float32).T)
        self.col_sums += z.sum(axis=0)
        norms = np.stack(
            [np.einsum("ij,ij->i", z[:, lo:hi], z[:, lo:hi]) for lo, hi in self.spans], 1
        )
        self._count(norms, z, peaks)

    def _count(self, norms, z, peaks: list[float]) -> None:
        self.norm_cross += norms.T @ norms
        self.norm_feature += norms.T @ z
        self.peaks = np.maximum(self.peaks, np.asarray(peaks) / self.scales)
        self.n += z.shape[0]

    def moments(self, host=np.asarray) -> Moments:
        """The sums as :func:`.moments.moments_cka` reads them (``host`` copies them there)."""
        cross = host(self.cross)

        def block(a: int, b: int) -> np.ndarray:
            (ra, rb), (ca, cb) = self.spans[a], self.spans[b]
            return cross[ra:rb, ca:cb]

        sums = (host(s) for s in (self.col_sums, self.norm_cross, self.norm_feature))
        return Moments(self.n, self.edges, *sums, peaks=self.peaks, block=block)


class _TorchSums(_NumpySums):
    """The same sums as float64 tensors on the first chunk's device. ``cross`` grows by its
    upper block triangle (the rows of each layer from its own columns on), like ``syrk``;
    "float32-chunks" multiplies each chunk in float32 (fast where float64 is slow)."""

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

    def _zeros(self, n_features: int, n_layers: int) -> tuple:
        options = {"dtype": self.torch.float64, "device": self.device}
        shapes = [(n_features, n_features), (n_features,), (n_layers, n_layers)]
        return tuple(self.torch.zeros(s, **options) for s in [*shapes, (n_layers, n_features)])

    def add(self, tensors: list, peaks: list[float]) -> None:
        torch, f64 = self.torch, self.torch.float64
        with torch.no_grad():
            z = torch.cat(
                [
                    ((x.to(self.device).detach().to(f64) - shift) * (1.0 / float(s))).to(self.work)
                    for x, shift, s in zip(tensors, self.shift, self.scales, strict=True)
                ],
                dim=1,
            )
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


def _is_torch(x: object) -> bool:
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
    if x.shape[0] == 0:
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
        "float64": every product in float64. "float32-chunks": each chunk's cross products in
        float32, summed in float64, for devices whose float64 is slow. Measured with
        ``benchmarks/bench_gpu.py`` (13 × 768 dims): CPU torch, 10,000 frames, 1.3e-9 from
        float64; one H100, 1,000,000 frames, float64 3.5 s, float32-chunks 3.7 s, 6.5e-8
        apart. Each chunk is shifted by the first chunk's mean first, which keeps float32
        accurate.

    Notes
    -----
    Each :meth:`update` takes a sequence or dict of ``(m_k, d_i)`` arrays, one per layer,
    with the same layers (keys) and dimensions every step; ``m_k`` may change.
    """

    def __init__(self, *, precision: str = "float64") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
        self.precision = precision
        self.labels: list | None = None
        self._as_frame = self._torch = False
        self._dims: list[int] | None = None
        self._sums: _NumpySums | None = None
        self._count = 0

    @property
    def n_frames(self) -> int:
        """Number of frames accumulated so far."""
        return 0 if self._sums is None else self._sums.n

    def _split(self, chunk: Chunk, step: str) -> tuple[list, list]:
        """Labels and arrays of one step, in the order of the first step."""
        if self._sums is not None and isinstance(chunk, Mapping) != self._as_frame:
            raise ValueError("Every step must be of the same kind: all dicts or all sequences.")
        if isinstance(chunk, Mapping):
            if self.labels is not None and set(chunk) != set(self.labels):
                raise ValueError(
                    f"{step} has layers {list(chunk)}, but the first step had {self.labels}; "
                    "every step must give the same layers."
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
            raise ValueError(
                f"{step} has {len(arrays)} layers, but the first step had {len(self.labels)}."
            )
        return list(range(len(arrays))), arrays

    def update(self, chunk: Chunk) -> CKAAccumulator:
        """Add one step of frames: a sequence or dict of ``(m, d_i)`` arrays, one per layer.

        Returns the accumulator, so calls can be chained.
        """
        step = f"Step {self._count + 1}"
        labels, arrays = self._split(chunk, step)
        if not arrays:
            raise ValueError("A step holds no layers; give at least one (frames, features) array.")
        torch = all(_is_torch(x) for x in arrays)
        if not torch and any(_is_torch(x) for x in arrays):
            raise ValueError("A step mixes torch tensors and other arrays; use one kind.")
        if self._sums is not None and torch != self._torch:
            raise ValueError(
                f"{step} and the first step differ in kind (torch tensors vs arrays); use one "
                "kind throughout."
            )
        arrays = arrays if torch else [np.asarray(x) for x in arrays]
        dims = self._dims or [None] * len(arrays)
        names = [f"layer {label!r}" for label in labels]
        peaks = [_check_array(x, s, d, torch) for x, s, d in zip(arrays, names, dims, strict=True)]
        if len({x.shape[0] for x in arrays}) != 1 or arrays[0].shape[0] == 0:
            raise ValueError(
                "Every layer of a step must have the same, non-zero number of frames; got "
                f"{[x.shape[0] for x in arrays]}. Skip empty recordings."
            )
        if self._sums is None:
            self.labels, self._as_frame, self._torch = labels, isinstance(chunk, Mapping), torch
            self._dims = [x.shape[1] for x in arrays]
            self._sums = (_TorchSums if torch else _NumpySums)(arrays, peaks, self.precision)
        self._sums.add(arrays, peaks)
        self._count += 1
        return self

    def result(self, debiased: bool = False) -> np.ndarray | pd.DataFrame:
        """Linear CKA between every pair of layers over all frames seen so far.

        Like ``cka_matrix``: an ``(L, L)`` DataFrame labelled with the keys when the steps
        were dicts, else an array; ``debiased`` needs at least 4 frames.
        """
        if self._sums is None:
            raise ValueError("No frames were added; call update() with at least one step.")
        matrix = moments_cka(self._sums.moments(), self.labels, debiased=debiased)
        return pd.DataFrame(matrix, self.labels, self.labels) if self._as_frame else matrix


def streaming_cka_matrix(
    chunks: Iterable[Chunk], *, debiased: bool = False, precision: str = "float64"
) -> np.ndarray | pd.DataFrame:
    """Layer × layer linear CKA over all frames of an iterable of chunks.

    ``chunks`` yields, per step, a sequence or dict of ``(m_k, d_i)`` numpy arrays or torch
    tensors, one per layer (e.g. one recording at a time). Equal (to rounding) to
    ``cka_matrix`` of the concatenated frames; ``precision`` as in :class:`CKAAccumulator`.
    """
    accumulator = CKAAccumulator(precision=precision)
    for chunk in chunks:
        accumulator.update(chunk)
    return accumulator.result(debiased=debiased)
