"""Curves over layers or lags: the per-recording table in, seaborn's mean and band out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from .base import NULL_COLOUR, PALETTE, new_axes

__all__ = ["cka_by_layer", "lag_curve", "layer_profile", "noise_cka"]

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
