"""Layer × layer linear CKA over more frames than fit in memory, fed chunk by chunk::

    acc = CKAAccumulator()
    for recording in recordings:                  # any iterable
        acc.update({layer: states[recording][layer] for layer in range(13)})
    acc.result()                                  # 13 x 13 DataFrame, as cka_matrix gives

It keeps the sums of :mod:`.moments`: one ``(D, D)`` float64 matrix, ``D`` the number of
features (13 × 768: 0.8 GB; checked at the first step). Numpy chunks are summed with BLAS
``dsyrk``; torch tensors with torch on the first chunk's device, copied to the host at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.linalg import blas

from ..cka import max_abs, tiles
from .moments import check_memory, moments_cka, scales_of, shift_of

PRECISIONS = ("float64", "float32-chunks")  # products in float64, or per chunk in float32
Chunk = Sequence | Mapping


class CKAAccumulator:
    """Accumulates frames for exact all-pairs linear CKA: each :meth:`update` takes a sequence
    or dict of ``(m_k, d_i)`` arrays (numpy or torch), the same layers every step.

    ``precision="float32-chunks"`` takes each chunk's products in float32 (summed in float64),
    for devices with slow float64 (``benchmarks/bench_gpu.py``: 6.5e-8 from float64, one H100).
    """

    def __init__(self, *, precision: str = "float64") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
        self.precision, self.labels, self.n_frames, self._steps = precision, None, 0, 0
        self._torch = None  # the torch module, when the steps are torch tensors

    def update(self, chunk: Chunk) -> CKAAccumulator:
        """Add one step of frames (see the class); returns the accumulator, for chaining."""
        step, started = f"Step {self._steps + 1}", self._steps > 0
        if started and isinstance(chunk, Mapping) != self._as_frame:
            raise ValueError("Every step must be of the same kind: all dicts or all sequences.")
        if isinstance(chunk, Mapping):
            if started and set(chunk) != set(self.labels):
                raise ValueError(
                    f"{step} has layers {list(chunk)}; every step needs the same layers."
                )
            labels = self.labels if started else list(chunk)
            arrays = [chunk[label] for label in labels]
        elif getattr(chunk, "ndim", None) is not None or isinstance(chunk, (str, bytes)):
            raise ValueError(
                f"{step} must be a sequence or dict of (frames, features) arrays, one per "
                "layer; wrap a single layer in a list: [x]."
            )
        else:
            arrays = list(chunk)
            labels = list(range(len(arrays)))
            if started and len(arrays) != len(self.labels):
                raise ValueError(f"{step} has {len(arrays)} layers, not {len(self.labels)}.")
        kinds = {type(x).__module__.startswith("torch") for x in arrays}
        if len(kinds | ({self._torch is not None} if started else set())) > 1:
            raise ValueError(f"{step} mixes torch tensors and other arrays; use one kind.")
        torch = kinds == {True}
        arrays = arrays if torch else [np.asarray(x) for x in arrays]
        dims = np.diff(self._edges) if started else [None] * len(arrays)
        peaks = [_peak(*args, torch) for args in zip(arrays, labels, dims, strict=True)]
        if not arrays or len({x.shape[0] for x in arrays}) != 1 or arrays[0].shape[0] == 0:
            raise ValueError(
                "A step needs at least one layer, all with the same, non-zero number of frames;"
                f" got {[x.shape[0] for x in arrays]}. Skip empty recordings."
            )
        if not started:
            self.labels, self._as_frame = labels, isinstance(chunk, Mapping)
            self._start(arrays, peaks, torch)
        self._add(arrays, peaks)
        self._steps += 1
        return self

    def _start(self, first: list, peaks: list[float], torch: bool) -> None:
        """Zero sums; the shift and scales of every chunk, from the first."""
        self._edges = np.cumsum([0] + [x.shape[1] for x in first])
        self._spans = list(zip(self._edges[:-1].tolist(), self._edges[1:].tolist(), strict=True))
        self._scales, self._peaks = scales_of(peaks), np.zeros(len(first))
        d, n_layers = int(self._edges[-1]), len(first)
        check_memory(d, n_layers, len(first[0]), first[0].device if torch else None)
        shapes = [(d, d), (d,), (n_layers, n_layers), (n_layers, d)]
        if torch:
            import torch  # optional: reached only when the chunks are torch tensors

            self._torch, f64, scales = torch, torch.float64, self._scales.tolist()
            parts = zip(first, scales, strict=True)
            self._shift = [(x.detach().to(f64) / s).mean(0) * s for x, s in parts]
            sums = [torch.zeros(shape, dtype=f64, device=first[0].device) for shape in shapes]
        else:
            self._shift = [shift_of(x, s) for x, s in zip(first, self._scales, strict=True)]
            sums = [np.zeros(shape, order="F") for shape in shapes]
        self._cross, self._col_sums, self._norm_cross, self._norm_feature = sums

    def _add(self, arrays: list, peaks: list[float]) -> None:
        """Add one chunk as a shifted, scaled float64 ``(m, D)`` ``z``: ``S`` by its upper part."""
        xp = self._torch or np  # the same calls in numpy and torch
        peaks = np.asarray(peaks)
        k = np.where(peaks > 0, np.frexp(peaks)[1] - np.frexp(self._scales)[1], 0)
        if k.max() > 32:  # far above the first step's scale: rescale, lest the sums overflow
            self._rescale(np.maximum(k, 0), xp)
        if self._torch:
            arrays = [x.detach().to(self._cross.device, xp.float64) for x in arrays]
        parts = zip(arrays, self._shift, (1.0 / self._scales).tolist(), strict=True)
        z = xp.concatenate([(x - shift) * s for x, shift, s in parts], 1)
        if self._torch:
            work = z if self.precision == "float64" else z.float()
            for lo, hi in self._spans:
                if self.precision == "float64":  # in place, no temporary
                    self._cross[lo:hi, lo:].addmm_(z[:, lo:hi].T, z[:, lo:])
                else:
                    self._cross[lo:hi, lo:] += (work[:, lo:hi].T @ work[:, lo:]).double()
        elif len(tiles(*self._cross.shape)) > 1:  # wide: the upper triangle, tile by tile
            work = z if self.precision == "float64" else z.astype(np.float32)
            for r, c in tiles(*self._cross.shape, upper=True):
                self._cross[r, c] += work[:, r].T @ work[:, c]
        elif self.precision == "float64":  # z.T is Fortran-ordered: BLAS reads it, no copy
            self._cross = blas.dsyrk(1.0, z.T, beta=1.0, c=self._cross, overwrite_c=1)
        else:
            self._cross += blas.ssyrk(1.0, z.astype(np.float32).T)
        self._col_sums += z.sum(0)
        norms = xp.stack([xp.einsum("ij,ij->i", z[:, a:b], z[:, a:b]) for a, b in self._spans], 1)
        self._norm_cross += norms.T @ norms
        self._norm_feature += norms.T @ z
        self._peaks = np.maximum(self._peaks, peaks / self._scales)
        self.n_frames += z.shape[0]

    def _rescale(self, k: np.ndarray, xp) -> None:
        """Multiply each layer's scale by ``2**k`` (its sums exactly, by powers of two)."""
        f, self._scales = np.ldexp(1.0, -k), np.ldexp(self._scales, k)
        self._peaks = self._peaks * f
        f, fz = (xp.asarray(v) for v in (f, np.repeat(f, np.diff(self._edges))))
        if self._torch:
            f, fz = f.to(self._cross.device), fz.to(self._cross.device)
        self._cross *= fz[:, None]
        self._cross *= fz[None, :]
        self._col_sums *= fz
        self._norm_cross *= (f * f)[:, None] * (f * f)[None, :]
        self._norm_feature *= (f * f)[:, None] * fz[None, :]

    def result(self, debiased: bool = False) -> np.ndarray | pd.DataFrame:
        """``cka_matrix`` of all frames so far (a DataFrame when the steps were dicts)."""
        if not self._steps:
            raise ValueError("No frames were added; call update() with at least one step.")
        host = (lambda t: t.cpu().numpy()) if self._torch else np.asarray  # noqa: E731
        cross, spans = host(self._cross), [slice(*span) for span in self._spans]
        sums = {"col_sums": host(self._col_sums), "peaks": self._peaks}
        sums |= {"norm_cross": host(self._norm_cross), "norm_feature": host(self._norm_feature)}
        sums["blocks"] = {
            (a, b): cross[spans[a], spans[b]] for b in range(len(spans)) for a in range(b + 1)
        }
        matrix = moments_cka(self.n_frames, self._edges, sums, self.labels, debiased=debiased)
        return pd.DataFrame(matrix, self.labels, self.labels) if self._as_frame else matrix


def _peak(x, label, dims: int | None, torch: bool) -> float:
    """Check one layer of a chunk; return its largest magnitude."""
    name = f"layer {label!r}"
    if getattr(x, "ndim", None) != 2:
        raise ValueError(f"{name} must be a 2-D (frames, features) array; got {x!r:.80}.")
    if (x.dtype.is_complex or str(x.dtype) == "torch.bool") if torch else x.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {x.dtype}.")
    if x.shape[1] == 0 or (dims is not None and x.shape[1] != dims):
        raise ValueError(f"{name} has {x.shape[1]} features; every step needs {dims or '> 0'}.")
    if x.shape[0] == 0:
        return 0.0  # an empty step is refused by the caller
    if not np.isfinite(peak := max_abs(x)):
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first.")
    return peak


def streaming_cka_matrix(
    chunks: Iterable[Chunk], *, debiased: bool = False, precision: str = "float64"
) -> np.ndarray | pd.DataFrame:
    """Layer × layer linear CKA over all frames of ``chunks`` (e.g. one recording each; as in
    :meth:`CKAAccumulator.update`): ``cka_matrix`` of the concatenated frames, to rounding."""
    accumulator = CKAAccumulator(precision=precision)
    for chunk in chunks:
        accumulator.update(chunk)
    return accumulator.result(debiased=debiased)
