"""Running sums of the streaming accumulator for numpy chunks (float64, BLAS syrk).

See :mod:`tutorial_utils._moments` for what is summed and why it is enough.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import blas

from ._moments import Moments


def layer_edges(dims: list[int]) -> np.ndarray:
    """Column edges of layers placed side by side: layer ``a`` is ``[edges[a], edges[a+1])``."""
    return np.cumsum([0] + list(dims))


def layer_spans(edges: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` columns of each layer, from :func:`layer_edges`."""
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def block_reader(cross: np.ndarray, spans: list[tuple[int, int]]) -> Callable:
    """``block(a, b)``: the rows of layer ``a`` and columns of layer ``b`` of ``cross``."""

    def block(a: int, b: int) -> np.ndarray:
        (ra, rb), (ca, cb) = spans[a], spans[b]
        return cross[ra:rb, ca:cb]

    return block


def scales_from(peaks: list[float]) -> np.ndarray:
    """Per-layer scale of the first chunk (its largest magnitude; 1 where it is all zero)."""
    return np.array([p if p > 0 else 1.0 for p in peaks], dtype=np.float64)


def shift_from(first: np.ndarray, scale: float) -> np.ndarray:
    """The first chunk's column means (taken on scaled values, so they cannot overflow)."""
    return np.mean(np.asarray(first, dtype=np.float64) / scale, axis=0) * scale


class NumpySums:
    """Float64 sums over frames of numpy chunks; ``cross`` grows by BLAS ``dsyrk``.

    ``precision="float32-chunks"`` takes each chunk's cross products with ``ssyrk``
    in float32 and adds them to the float64 total.
    """

    def __init__(self, first: list[np.ndarray], peaks: list[float], precision: str) -> None:
        self.edges = layer_edges([x.shape[1] for x in first])
        self.spans = layer_spans(self.edges)
        self.scales = scales_from(peaks)
        self.shift = [shift_from(x, s) for x, s in zip(first, self.scales, strict=True)]
        n_features, n_layers = int(self.edges[-1]), len(first)
        self.cross = np.zeros((n_features, n_features), order="F")  # upper triangle used
        self.col_sums = np.zeros(n_features)
        self.norm_cross = np.zeros((n_layers, n_layers))
        self.norm_feature = np.zeros((n_layers, n_features))
        self.peaks = np.zeros(n_layers)
        self.precision = precision
        self.n = 0

    def _standardised(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The chunk as one float64 ``(m, D)`` array, shifted and scaled per layer."""
        z = np.empty((arrays[0].shape[0], int(self.edges[-1])))
        for lo, hi, x, shift, scale in zip(
            self.edges[:-1], self.edges[1:], arrays, self.shift, self.scales, strict=True
        ):
            block = z[:, lo:hi]
            np.subtract(x, shift, out=block)
            block *= 1.0 / scale
        return z

    def add(self, arrays: list[np.ndarray], peaks: list[float]) -> None:
        """Add one chunk (validated by the caller) to the sums."""
        z = self._standardised(arrays)
        if self.precision == "float64":
            # z.T is Fortran-ordered, so BLAS reads the chunk without a copy.
            self.cross = blas.dsyrk(1.0, z.T, beta=1.0, c=self.cross, overwrite_c=1)
        else:
            self.cross += blas.ssyrk(1.0, z.astype(np.float32).T)
        self.col_sums += z.sum(axis=0)
        norms = np.stack(
            [np.einsum("ij,ij->i", z[:, lo:hi], z[:, lo:hi]) for lo, hi in self.spans], axis=1
        )
        self.norm_cross += norms.T @ norms
        self.norm_feature += norms.T @ z
        self.peaks = np.maximum(self.peaks, np.asarray(peaks) / self.scales)
        self.n += z.shape[0]

    def moments(self) -> Moments:
        """The sums, as :func:`tutorial_utils._moments.moments_cka` reads them."""
        return Moments(
            n=self.n,
            edges=self.edges,
            col_sums=self.col_sums,
            norm_cross=self.norm_cross,
            norm_feature=self.norm_feature,
            peaks=self.peaks,
            block=block_reader(self.cross, self.spans),
        )
