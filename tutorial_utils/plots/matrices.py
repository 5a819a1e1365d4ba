"""Matrices as heatmaps: Gram matrices, RDMs and layer × layer CKA, one engine (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .base import new_axes

__all__ = ["gram", "gram_grid", "layer_heatmap", "layer_heatmaps"]


def _heatmap(
    ax: Axes,
    matrix,
    *,
    labels=None,
    cbar_label: str | None = None,
    names=("", "", ""),
    annot: bool = False,
    fmt: str = ".2f",
    square: bool = False,
    **style,
) -> Axes:
    """The one heatmap engine: ``matrix`` as a matplotlib ``pcolormesh``, row 0 at the top.

    ``names`` are the title and the x and y axis labels; ``style`` (cmap, vmin, vmax) goes to
    ``pcolormesh``; ``annot`` writes each value in its cell. (``seaborn.heatmap`` draws the
    whole figure on every call, which made a 13-panel grid take seconds, so its few steps are
    written here.)
    """
    frame = matrix if isinstance(matrix, pd.DataFrame) else pd.DataFrame(np.asarray(matrix))
    values = frame.to_numpy(dtype=float)
    style.setdefault("cmap", "viridis")
    mesh = ax.pcolormesh(values, **style)
    ax.set(xlim=(0, values.shape[1]), ylim=(values.shape[0], 0))
    ax.set_aspect("equal" if square else "auto")
    ax.spines[:].set_visible(False)
    _tick_labels(ax, frame, labels)
    if annot:
        _annotate(ax, mesh, values, fmt)
    if cbar_label is not None:
        bar = ax.figure.colorbar(mesh, ax=ax, shrink=0.85)
        bar.set_label(cbar_label)
        bar.outline.set_linewidth(0)
    title, xlabel, ylabel = names
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def _tick_labels(ax: Axes, frame: pd.DataFrame, labels) -> None:
    """Labels at the cell centres: ``labels``, else a DataFrame's own, else every k-th index."""
    for axis, names in ((ax.xaxis, frame.columns), (ax.yaxis, frame.index)):
        names = list(names if labels is None else labels)
        step = 1 if labels is not None or len(names) <= 20 else -(-len(names) // 10)
        axis.set_ticks(np.arange(0, len(names), step) + 0.5, [str(n) for n in names[::step]])
    if _crowded(ax):
        ax.tick_params(axis="x", labelrotation=90)


def _crowded(ax: Axes) -> bool:
    """Would the x tick labels, written side by side, fill most of the Axes' width?"""
    texts = ax.get_xticklabels()
    if not texts:
        return False
    text_width = sum(len(t.get_text()) for t in texts) * 0.6 * texts[0].get_fontsize()
    return text_width > 0.7 * ax.get_position().width * ax.figure.get_figwidth() * 72


def _annotate(ax: Axes, mesh, values: np.ndarray, fmt: str) -> None:
    """Each finite value in its cell, dark on light colours and white on dark ones."""
    rgb = mesh.cmap(mesh.norm(values))[..., :3]
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            colour = "0.15" if luminance[row, col] > 0.45 else "white"
            ax.text(col + 0.5, row + 0.5, format(value, fmt), ha="center", va="center",
                    fontsize=6, color=colour)  # fmt: skip


def gram(
    matrix: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str = "Gram matrix",
    cbar_label: str = "similarity",
    axis_label: str = "stimulus",
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Heatmap of one ``(n, n)`` Gram (similarity) or RDM (dissimilarity) matrix.

    ``cbar_label`` says what the entries are; ``axis_label`` names the stimuli. Without
    ``cmap`` (and limits) a matrix with negative entries gets a diverging map centred on 0,
    any other ``"viridis"``.
    """
    ax = new_axes(ax, figsize=(5.5, 4.5))
    matrix = np.asarray(matrix, dtype=float)
    if cmap is None and np.nanmin(matrix) < 0 and vmin is None and vmax is None:
        cmap, vmax = "RdBu_r", float(np.nanmax(np.abs(matrix)))
        vmin = -vmax
    style = {"cmap": cmap or "viridis", "vmin": vmin, "vmax": vmax}
    names = (title, axis_label, axis_label)
    return _heatmap(ax, matrix, labels=labels, cbar_label=cbar_label, names=names, **style)


def gram_grid(
    matrices: Mapping[int, np.ndarray],
    *,
    labels: Sequence[str] | None = None,
    ncols: int = 5,
    title: str = "Gram matrices per layer",
    cbar_label: str = "similarity",
    axis_label: str = "recording",
    cmap: str = "RdBu_r",
    panel_titles: Mapping[int, str] | None = None,
) -> Figure:
    """Small multiples of ``{layer: (n, n)}`` matrices on one colour scale centred on 0.

    Stimulus ``labels`` are shown on the left column and the bottom row; ``panel_titles`` add
    text per layer (e.g. a printed readout) under "layer k".
    """
    keys = list(matrices)
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.6 * ncols, 2.7 * nrows), layout="constrained", squeeze=False
    )
    top = max(float(np.nanmax(np.abs(m))) for m in matrices.values())
    for index, ax in enumerate(axes.flat):
        if index >= len(keys):
            ax.set_visible(False)
            continue
        row, col = divmod(index, ncols)
        bottom = row == nrows - 1 or index + ncols >= len(keys)
        extra = (panel_titles or {}).get(keys[index])
        names = (f"layer {keys[index]}" + (f"\n{extra}" if extra else ""), "", "")
        _heatmap(
            ax, matrices[keys[index]], labels=labels, names=names, cmap=cmap, vmin=-top, vmax=top
        )
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=6, left=col == 0, labelleft=col == 0 and labels is not None)
        ax.tick_params(bottom=bottom, labelbottom=bottom and labels is not None)
    fig.supxlabel(axis_label)
    fig.supylabel(axis_label)
    fig.suptitle(title)
    fig.colorbar(axes.flat[0].collections[0], ax=axes, shrink=0.6).set_label(cbar_label)
    return fig


def layer_heatmap(
    matrix: pd.DataFrame | np.ndarray,
    *,
    ax: Axes | None = None,
    title: str = "Layer × layer CKA",
    cbar_label: str = "linear CKA",
    annot: bool = True,
    fmt: str = ".2f",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    xlabel: str = "layer",
    ylabel: str = "layer",
    cmap: str = "magma",
) -> Axes:
    """Heatmap of a layer × layer (or layer × target) similarity table, values written in.

    A DataFrame keeps its labels (an array is numbered from 0). The colour scale spans
    ``vmin``–``vmax``, by default the full 0–1, so small differences are not exaggerated.
    """
    frame = matrix if isinstance(matrix, pd.DataFrame) else pd.DataFrame(np.asarray(matrix))
    size = max(5.0, 0.45 * frame.shape[1] + 2.0)
    ax = new_axes(ax, figsize=(size, max(4.0, 0.4 * frame.shape[0] + 1.5)))
    style = {"annot": annot, "fmt": fmt, "vmin": vmin, "vmax": vmax, "cmap": cmap, "square": True}
    names = (title, xlabel, ylabel)
    return _heatmap(ax, frame.astype(float), cbar_label=cbar_label, names=names, **style)


def layer_heatmaps(
    panels: Mapping[str, pd.DataFrame],
    *,
    ncols: int = 2,
    xlabel: str = "layer (index)",
    ylabel: str = "layer (index)",
    cbar_label: str = "linear CKA",
) -> Figure:
    """Several :func:`layer_heatmap` panels side by side, ``{panel title: matrix}``.

    Colour scales run from 0 (or the smallest value, if negative) to 1, so that debiased
    values below 0 stay visible.
    """
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 5.5 * nrows), squeeze=False)
    for ax, (title, matrix) in zip(axes.ravel(), panels.items(), strict=False):
        low = min(0.0, float(np.nanmin(np.asarray(matrix, dtype=float))))
        names = {"title": title, "xlabel": xlabel, "ylabel": ylabel, "cbar_label": cbar_label}
        layer_heatmap(matrix, ax=ax, annot=False, vmin=low, **names)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
