"""A slider that shows one layer at a time, for live use in a notebook (the book shows static
figures instead). Only ``IntSlider``, ``Output``, ``VBox`` and ``observe``, which ipywidgets
7.7 (Colab) and 8.x (JupyterLab) share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ipywidgets


def layer_slider(
    layers: Sequence[int], draw: Callable[[int], None], description: str = "layer"
) -> ipywidgets.VBox:
    """A slider over consecutive ``layers`` (starting at the first) above an output area that
    shows ``draw(layer)``, called now and on every move; whatever it displays replaces the
    previous content. Returns ``VBox(children=(slider, output))``."""
    import ipywidgets

    layers = sorted(int(layer) for layer in layers)
    if not layers or layers != list(range(layers[0], layers[-1] + 1)):
        raise ValueError(f"layer_slider needs consecutive layer numbers, got {layers}.")
    slider = ipywidgets.IntSlider(
        value=layers[0],
        min=layers[0],
        max=layers[-1],
        description=description,
        continuous_update=False,  # redraw when the slider is released, not on every step
    )
    output = ipywidgets.Output()

    def redraw(change: dict | None = None) -> None:
        with output:
            output.clear_output(wait=True)
            draw(slider.value)

    slider.observe(redraw, names="value")
    redraw()
    return ipywidgets.VBox([slider, output])
