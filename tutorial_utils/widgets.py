"""A slider that shows one layer at a time, for live use in a notebook.

Works with ipywidgets 7.7 (Colab's frontend) and 8.x (JupyterLab): it uses only ``IntSlider``,
``Output``, ``VBox`` and ``observe``, which both majors share. The book shows static figures
instead, because a slider needs a running kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets

__all__ = ["layer_slider"]


def layer_slider(
    layers: Sequence[int], draw: Callable[[int], None], description: str = "layer"
) -> widgets.VBox:
    """A slider over ``layers`` above an output area that shows ``draw(layer)``.

    Parameters
    ----------
    layers : sequence of int
        Consecutive layer numbers, e.g. ``range(13)``; the slider starts at the first.
    draw : callable
        ``draw(layer)`` draws one layer (e.g. ``plots.show(...)``); whatever it displays
        replaces the output area's previous content. Called once now and on every move.
    description : str, default "layer"
        Label left of the slider.

    Returns
    -------
    ipywidgets.VBox
        ``children == (slider, output)``. Display it; setting ``children[0].value`` in code
        redraws like moving the slider does.
    """
    layers = sorted(int(layer) for layer in layers)
    if not layers or layers != list(range(layers[0], layers[-1] + 1)):
        raise ValueError(f"layer_slider needs consecutive layer numbers, got {layers}.")
    slider = widgets.IntSlider(
        value=layers[0],
        min=layers[0],
        max=layers[-1],
        description=description,
        continuous_update=False,  # redraw when the slider is released, not on every step
    )
    output = widgets.Output()

    def redraw(change: dict | None = None) -> None:
        with output:
            output.clear_output(wait=True)
            draw(slider.value)

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, output])
