"""Several similarity measures over the layers (chapters 05 and 06): one panel per measure
with its null, and the rescaled gap profiles of all measures side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

__all__ = ["measures_with_nulls", "rescaled_profiles"]


def measures_with_nulls(
    scores: pd.DataFrame, measures: Sequence[str], targets: Sequence[str]
) -> Figure:
    """Each measure on its own scale (one panel each): observed values solid, null dashed.

    ``scores`` has columns ``measure, target, layer, version, value``; rows whose ``version``
    is not ``"observed"`` are the null (averaged over its versions by seaborn's line).
    """
    kind = np.where(scores["version"] == "observed", "observed", "null (circular shift)")
    grid = sns.relplot(
        data=scores.assign(kind=kind),
        x="layer",
        y="value",
        hue="target",
        hue_order=list(targets),
        style="kind",
        col="measure",
        col_order=list(measures),
        col_wrap=3,
        kind="line",
        errorbar=None,
        height=2.6,
        aspect=1.3,
        facet_kws={"sharey": False, "legend_out": False},  # no extra draw to size the legend
    )
    layers = sorted(scores["layer"].unique())
    grid.set_titles("{col_name}").set(xticks=layers[::2])
    grid.figure.suptitle("Each measure on its own scale, with its circular-shift null", y=1.03)
    _legend_beside(grid, empty_panel=len(measures) > 3 and len(measures) % 3 != 0)
    return grid.figure


def rescaled_profiles(
    gaps: pd.DataFrame, measures: Sequence[str], targets: Sequence[str]
) -> Figure:
    """The rescaled gap profiles of all measures, one panel per target.

    ``gaps`` has columns ``measure, target, layer`` and ``rescaled gap``
    (:func:`tutorial_utils.agreement.rescaled_gaps`).
    """
    grid = sns.relplot(
        data=gaps,
        x="layer",
        y="rescaled gap",
        hue="measure",
        hue_order=list(measures),
        style="measure",
        style_order=list(measures),
        col="target",
        col_order=list(targets),
        kind="line",
        markers=True,
        dashes=False,
        height=3.4,
        aspect=1.3,
        facet_kws={"legend_out": False},
    )
    layers = sorted(gaps["layer"].unique())
    grid.set_titles("{col_name}").set(xticks=layers[::2])
    grid.figure.suptitle(
        f"Layer profiles of {len(measures)} measures (gap above the null, rescaled)", y=1.04
    )
    _legend_beside(grid, empty_panel=False)
    return grid.figure


def _legend_beside(grid: sns.FacetGrid, empty_panel: bool) -> None:
    """The legend in the last row's empty panel (``empty_panel``), else right of the grid."""
    if empty_panel:
        sns.move_legend(grid, "center", bbox_to_anchor=(0.83, 0.27), frameon=False)
    else:
        sns.move_legend(grid, "center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
