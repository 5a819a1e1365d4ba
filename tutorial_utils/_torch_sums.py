"""Running sums of the streaming accumulator for torch chunks, on the chunks' device.

The same sums as :class:`tutorial_utils._sums.NumpySums` (see
:mod:`tutorial_utils._moments`), kept as float64 tensors on the device of the
first chunk, so a GPU user accumulates at the GPU's speed without copying frames
to the host. Only the ``(D, D)`` result of the sums is copied back, once.
"""

from __future__ import annotations

import numpy as np

from ._moments import Moments
from ._sums import block_reader, layer_edges, layer_spans, scales_from


class TorchSums:
    """Float64 sums over frames of torch chunks.

    ``precision="float32-chunks"`` multiplies each chunk in float32 (fast where the
    device's float64 is slow, e.g. consumer and T4 GPUs) and adds the chunk's
    products to the float64 totals.
    """

    def __init__(self, first: list, peaks: list[float], precision: str) -> None:
        import torch  # optional dependency: reached only when the chunks are torch tensors

        self.torch = torch
        self.device = first[0].device
        self.work = torch.float64 if precision == "float64" else torch.float32
        self.edges = layer_edges([x.shape[1] for x in first])
        self.spans = layer_spans(self.edges)
        self.scales = scales_from(peaks)
        self.shift = [
            (x.detach().to(torch.float64) / float(s)).mean(dim=0) * float(s)
            for x, s in zip(first, self.scales, strict=True)
        ]
        n_features, n_layers = int(self.edges[-1]), len(first)
        options = {"dtype": torch.float64, "device": self.device}
        self.cross = torch.zeros((n_features, n_features), **options)
        self.col_sums = torch.zeros(n_features, **options)
        self.norm_cross = torch.zeros((n_layers, n_layers), **options)
        self.norm_feature = torch.zeros((n_layers, n_features), **options)
        self.peaks = np.zeros(n_layers)
        self.n = 0

    def _standardised(self, tensors: list):
        """The chunk as one ``(m, D)`` tensor in the working dtype, shifted and scaled."""
        f64 = self.torch.float64
        parts = [
            ((x.detach().to(f64) - shift) * (1.0 / float(scale))).to(self.work)
            for x, shift, scale in zip(tensors, self.shift, self.scales, strict=True)
        ]
        return self.torch.cat(parts, dim=1)

    def _add_cross(self, z) -> None:
        """Add ``zᵀz`` to the upper block triangle of ``cross`` (the rows of each layer from its
        own columns on): 91 of 169 blocks for 13 layers, like a rank-k update (``syrk``)."""
        for lo, hi in self.spans:
            if self.work == self.torch.float64:
                self.cross[lo:hi, lo:].addmm_(z[:, lo:hi].T, z[:, lo:])
            else:
                self.cross[lo:hi, lo:] += (z[:, lo:hi].T @ z[:, lo:]).to(self.torch.float64)

    def add(self, tensors: list, peaks: list[float]) -> None:
        """Add one chunk (validated by the caller) to the sums."""
        torch = self.torch
        with torch.no_grad():
            z = self._standardised([x.to(self.device) for x in tensors])
            self._add_cross(z)
            z = z.to(torch.float64)
            self.col_sums += z.sum(dim=0)
            norms = torch.stack([z[:, lo:hi].square().sum(dim=1) for lo, hi in self.spans], 1)
            self.norm_cross += norms.T @ norms
            self.norm_feature += norms.T @ z
        self.peaks = np.maximum(self.peaks, np.asarray(peaks) / self.scales)
        self.n += z.shape[0]

    def moments(self) -> Moments:
        """The sums copied to the host as float64 numpy arrays."""
        return Moments(
            n=self.n,
            edges=self.edges,
            col_sums=self.col_sums.cpu().numpy(),
            norm_cross=self.norm_cross.cpu().numpy(),
            norm_feature=self.norm_feature.cpu().numpy(),
            peaks=self.peaks,
            block=block_reader(self.cross.cpu().numpy(), self.spans),  # upper block triangle
        )
