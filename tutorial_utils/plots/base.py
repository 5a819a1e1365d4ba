"""What every figure shares: the palette, new Axes, and showing a figure once."""

from __future__ import annotations

import IPython.display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["NULL_COLOUR", "PALETTE", "new_axes", "show"]

PALETTE = "colorblind"
NULL_COLOUR = "0.45"


def show(figure: Figure | Axes) -> None:
    """Display a figure (or the figure of an Axes) in the notebook output, then close it.

    Unlike ``plt.show()`` this works under every Matplotlib backend (including ``Agg`` in
    headless test runs) and never shows the same figure twice.
    """
    fig = figure.figure if isinstance(figure, Axes) else figure
    IPython.display.display(fig)
    plt.close(fig)


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0)) -> Axes:
    """The given Axes, or a new one on a new Figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax
