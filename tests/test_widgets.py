"""The layer slider, built and driven without a browser; `make colab-check` runs it again under
Colab's ipywidgets 7.7.1 (the dev environment has 8.x)."""

import ipywidgets
import matplotlib
import numpy as np
import pytest

from tutorial_utils import plots
from tutorial_utils.widgets import layer_slider

matplotlib.use("Agg")


def test_builds_on_this_ipywidgets_major():
    box = layer_slider(range(13), lambda layer: None)
    slider, output = box.children
    assert isinstance(box, ipywidgets.VBox) and isinstance(output, ipywidgets.Output)
    assert (slider.min, slider.max, slider.value, slider.step) == (0, 12, 0, 1)
    assert slider.description == "layer" and slider.continuous_update is False
    state = slider.get_state()  # what the frontend receives; its version differs per major
    assert state["_model_name"] == "IntSliderModel" and state["value"] == 0
    assert int(ipywidgets.__version__.split(".")[0]) in (7, 8)


def test_moving_the_slider_redraws_the_chosen_layer():
    drawn: list[int] = []

    def show_layer(layer: int) -> None:
        plots.show(plots.gram(np.eye(4) * (layer + 1), title=f"layer {layer}"))
        drawn.append(layer)

    slider = layer_slider([2, 0, 1], show_layer, description="L").children[0]
    slider.value = 2
    slider.value = 1
    slider.value = 1  # no change, no redraw
    assert drawn == [0, 2, 1] and slider.description == "L"


@pytest.mark.parametrize("layers", [[], [0, 2]])
def test_needs_consecutive_layers(layers):
    with pytest.raises(ValueError, match="consecutive"):
        layer_slider(layers, lambda layer: None)
