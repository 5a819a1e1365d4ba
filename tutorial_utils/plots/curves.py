"""Curves over layers or lags: the per-recording table in, seaborn's mean and band out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .base import NULL_COLOUR, PALETTE, new_axes

__all__ = ["cka_by_layer", "lag_curve", "layer_panels", "layer_profile", "noise_cka"]

LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "X", "D", "P", "s", "^", "v", "*")

BAND = "95% CI over recordings"


def _curves(ax: Axes, table: pd.DataFrame, x: str, hue: str, errorbar, null_label=None) -> None:
    """Mean ``value`` against ``x`` with a band, one curve per ``hue`` level (dashed: null)."""
    levels = list(dict.fromkeys(table[hue]))
    colours = dict(zip(levels, sns.color_palette(PALETTE, len(levels)), strict=True))
    names = {
        level: str(level) if null_label is None else f"{level}: {null_label}" for level in levels
    }
    data = table.assign(**{hue: table[hue].map(names)})
    sns.lineplot(
        data=data,
        x=x,
        y="value",
        hue=hue,
        palette={names[level]: colour for level, colour in colours.items()},
        errorbar=errorbar,
        seed=0,
        marker="o" if null_label is None else None,
        markersize=4,
        linestyle="-" if null_label is None else "--",
        err_kws={"alpha": 0.25 if null_label is None else 0.15, "linewidth": 0},
        ax=ax,
    )


def cka_by_layer(
    table: pd.DataFrame,
    *,
    hue: str = "target",
    null: pd.DataFrame | None = None,
    ax: Axes | None = None,
    errorbar: object = ("ci", 95),
    band: str = BAND,
    title: str = "CKA between each layer and the targets",
    ylabel: str = "CKA (mean over recordings)",
) -> Axes:
    """CKA against layer: the mean over recordings with a band, one curve per ``hue`` level.

    ``table`` has one row per recording and layer (columns ``layer``, ``value`` and ``hue``,
    e.g. :func:`tutorial_utils.recordings.layer_target_cka`); ``null``, a baseline table with
    the same columns, is drawn dashed. ``errorbar`` goes to :func:`seaborn.lineplot`; ``band``
    says in the title what it is.
    """
    ax = new_axes(ax)
    _curves(ax, table, "layer", hue, errorbar)
    if null is not None:
        baselines = null["baseline"].unique() if "baseline" in null.columns else []
        label = f"null ({baselines[0]})" if len(baselines) == 1 else "null"
        _curves(ax, null, "layer", hue, errorbar, null_label=label)
    ax.set_xticks(sorted(table["layer"].unique()))
    ax.set_xlabel("layer (0 = transformer input, 1–12 = transformer layers)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\n(lines: mean; bands: {band})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return ax


def lag_curve(
    table: pd.DataFrame,
    *,
    hue: str = "target",
    ax: Axes | None = None,
    errorbar: object = ("ci", 95),
    band: str = BAND,
    title: str | None = None,
) -> Axes:
    """CKA against time lag (ms): :func:`tutorial_utils.recordings.lag_curve`'s table, the
    mean over recordings with a band (``errorbar``, ``band`` as in :func:`cka_by_layer`)."""
    ax = new_axes(ax)
    _curves(ax, table, "lag_ms", hue, errorbar)
    ax.axvline(0, color=NULL_COLOUR, linewidth=1)
    layers = ", ".join(str(v) for v in sorted(table["layer"].unique()))
    title = title or f"CKA of layer {layers} with time-shifted targets"
    ax.set_title(f"{title}\n(bands: {band})")
    ax.set_xlabel("lag (ms); positive = targets from later than the model frame")
    ax.set_ylabel("linear CKA (mean over recordings)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def layer_profile(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str = "Per-layer readout",
    ylabel: str = "value",
    labels: Mapping[str, str] | None = None,
) -> Axes:
    """Lines of a few columns of a wide table with one row per ``layer``.

    ``labels`` maps a column to its legend label (default: the column name).
    """
    ax = new_axes(ax)
    labels = dict(labels or {})
    long = table.melt(id_vars="layer", value_vars=list(columns), var_name="curve")
    long["curve"] = [labels.get(c, c) for c in long["curve"]]
    sns.lineplot(
        data=long,
        x="layer",
        y="value",
        hue="curve",
        estimator=None,
        marker="o",
        markersize=4,
        palette=PALETTE,
        ax=ax,
    )
    ax.axhline(0, color=NULL_COLOUR, linewidth=1)
    ax.set_xticks(sorted(table["layer"].unique()))
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def noise_cka(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    marks: Mapping[str, float] | None = None,
    title: str = "CKA between independent noise matrices",
) -> Axes:
    """Biased and debiased CKA of pure noise against the features-per-stimulus ratio d / n.

    ``table`` is :func:`tutorial_utils.sanity.noise_cka` (its ``q05``–``q95`` become bands,
    its biased ``expected`` values the reference curve); ``marks`` draws vertical lines at
    named ratios, e.g. ``{"sentence means": 153.6}``.
    """
    ax = new_axes(ax, figsize=(8.0, 4.5))
    groups = list(table.groupby(["estimator", "n_features"], sort=True))
    for ((estimator, d), part), colour in zip(
        groups, sns.color_palette(PALETTE, len(groups)), strict=True
    ):
        part = part.sort_values("ratio")
        style = "o-" if estimator == "biased" else "s--"
        ax.plot(part["ratio"], part["mean"], style, color=colour, label=f"{estimator}, d = {d}")
        ax.fill_between(part["ratio"], part["q05"], part["q95"], color=colour, alpha=0.2)
    expected = table[table["estimator"] == "biased"].sort_values("ratio")
    ax.plot(
        expected["ratio"],
        expected["expected"],
        color=NULL_COLOUR,
        linewidth=1,
        label="d / (d + n), approximate biased expectation",
    )
    for i, (name, ratio) in enumerate((marks or {}).items()):
        ax.axvline(ratio, color="0.3", linestyle=":", linewidth=1)
        ax.annotate(
            name, (ratio, 0.04 + 0.08 * i), fontsize=7, xytext=(3, 0), textcoords="offset points"
        )
    ax.axhline(0, color=NULL_COLOUR, linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("d / n (features per stimulus, log scale)")
    ax.set_ylabel("linear CKA (unrelated data)")
    ax.set_title(f"{title}\n(lines: mean; bands: 5–95% of repeats)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def _levels(table: pd.DataFrame, column: str | None, orders: Mapping[str, Sequence]) -> list:
    """The levels of ``column`` in the given order, else in order of appearance."""
    if column is None:
        return [None]
    return list(orders.get(column, dict.fromkeys(table[column])))


def _panel_grid(n_panels: int, ncols: int, panel_size: tuple[float, float], sharey: bool):
    """A figure with ``n_panels`` Axes in rows of ``ncols`` and room on the right for a legend.

    Fixed margins (in inches) instead of a layout engine: no extra drawing pass to measure the
    labels; ``bbox_inches="tight"``, as the notebook backend saves, trims what is left over.
    """
    n_cols = min(ncols, n_panels)
    n_rows = math.ceil(n_panels / n_cols)
    width, height = panel_size[0] * n_cols + 0.8, panel_size[1] * n_rows + 0.9
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width, height), sharex=True, sharey=sharey, squeeze=False
    )
    fig.subplots_adjust(
        left=0.7 / width, right=1 - 0.1 / width, bottom=0.5 / height, top=1 - 0.6 / height,
        wspace=0.15 if sharey else 0.3, hspace=0.4,
    )  # fmt: skip
    for i, ax in enumerate(axes.flat):
        if i >= n_panels:
            ax.remove()
        elif i + n_cols >= n_panels:  # the lowest panel of its column
            ax.set_xlabel("layer")
            ax.xaxis.set_tick_params(labelbottom=True)
    return fig, axes


def _legend(fig: Figure, colours: Mapping, looks: Mapping, sections: Mapping[str, list]) -> None:
    """A legend with a header per section: ``{hue: levels}`` in colour (with their look when
    colours and looks share levels), then optionally ``{style: levels}`` in grey."""
    handles, labels = [], []
    for i, (name, levels) in enumerate(sections.items()):
        handles.append(Line2D([], [], linestyle="none"))  # the header's empty handle
        for level in levels:
            colour = colours[level] if i == 0 else NULL_COLOUR
            handles.append(Line2D([], [], color=colour, **looks.get(level, {})))
        labels += [name, *map(str, levels)]
    fig.legend(
        handles, labels, loc="center left", bbox_to_anchor=(1, 0.5), fontsize="small", frameon=False
    )


def layer_panels(
    table: pd.DataFrame,
    *,
    panel: str,
    hue: str,
    style: str | None = None,
    y: str = "value",
    orders: Mapping[str, Sequence] | None = None,
    markers: bool = False,
    ncols: int = 3,
    sharey: bool = False,
    panel_size: tuple[float, float] = (3.4, 2.6),
    xticks: Sequence | None = None,
    title: str | None = None,
) -> Figure:
    """Small multiples over layers: one panel per ``panel`` level, ``y`` against ``layer``.

    One line per ``hue`` level (colour) and ``style`` level (solid, dashed, ...; with
    ``markers``, solid lines with one marker per level); ``style`` may be ``hue`` itself. Rows
    that share a panel, line and layer are averaged. ``orders`` maps a column to the order of
    its levels (default: order of appearance); ``xticks``, the layers to mark (default:
    Matplotlib's choice). Plain Matplotlib: the figure of seaborn's ``relplot(kind="line",
    col=panel, hue=hue, style=style, errorbar=None)``, drawn in a fraction of the time.
    """
    orders = dict(orders or {})
    panels, hues, styles = (_levels(table, c, orders) for c in (panel, hue, style))
    colours = dict(zip(hues, sns.color_palette(PALETTE, len(hues)), strict=True))
    kind, choices = ("marker", MARKERS) if markers else ("linestyle", LINESTYLES)
    looks = {level: {kind: choices[i % len(choices)]} for i, level in enumerate(styles)}
    separate = style not in (None, hue)  # a legend entry per hue level and per style level
    means = table.groupby([panel, hue, *([style] if separate else []), "layer"])[y].mean()
    fig, axes = _panel_grid(len(panels), ncols, panel_size, sharey)
    for ax, level in zip(axes.flat, panels, strict=False):
        for h in hues:
            for s in styles if separate else [h]:
                line = means.loc[(level, h, s) if separate else (level, h)]
                look = looks.get(s, {"linestyle": "-"})
                ax.plot(line.index, line.to_numpy(), color=colours[h], markersize=5, **look)
        ax.set_title(str(level))
        ax.grid(alpha=0.3)
        if xticks is not None:
            ax.set_xticks(list(xticks))
    for ax in axes[:, 0]:
        ax.set_ylabel(y)
    _legend(fig, colours, looks, {hue: hues, style: styles} if separate else {hue: hues})
    if title:
        fig.suptitle(title, y=1 - 0.15 / fig.get_figheight())
    return fig
