"""The figures the notebooks share.

Every function draws one figure (or fills one given Axes), sets a title, axis labels with
units and labelled colour bars, and returns the Axes (single panel) or the Figure (several
panels) so a notebook can adjust it further. Nothing here computes statistics beyond means
and confidence intervals (via :func:`tutorial_utils.analysis.summarise`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .analysis import summarise
from .frames import (
    EMA_SENSORS,
    FRAME_HOP,
    FRAME_LENGTH,
    SAMPLE_RATE,
    n_model_frames,
)

__all__ = [
    "plot_cka_by_layer",
    "plot_layer_heatmaps",
    "plot_ema_trajectories",
    "plot_frame_grid",
    "plot_gram",
    "plot_gram_grid",
    "plot_lag_curve",
    "plot_layer_heatmap",
    "plot_layer_profile",
    "plot_waveform_spectrogram",
    "show",
]

PALETTE = "colorblind"
NULL_COLOUR = "0.45"
SENSOR_NAMES = {
    "TR": "tongue rear",
    "TB": "tongue blade",
    "TT": "tongue tip",
    "UL": "upper lip",
    "LL": "lower lip",
    "JAW": "jaw (lower incisor)",
}


def show(figure: Figure | Axes) -> None:
    """Display a figure in the notebook output, then close it.

    Unlike ``plt.show()`` this works under every Matplotlib backend (including ``Agg``, as used
    by headless test runs) and never shows the same figure twice.

    Parameters
    ----------
    figure : matplotlib Figure or Axes
        An Axes stands for the figure it belongs to.
    """
    from IPython.display import display

    fig = figure.figure if isinstance(figure, Axes) else figure
    display(fig)
    plt.close(fig)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0)) -> Axes:
    """The given Axes, or a new one on a new Figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


# --------------------------------------------------------------------------------------------
# Curves with confidence bands
# --------------------------------------------------------------------------------------------


def _draw_band(ax: Axes, summary: pd.DataFrame, x: str, label: str, colour, dashed: bool) -> None:
    """Mean line plus shaded confidence band of one group."""
    summary = summary.sort_values(x)
    style = "--" if dashed else "-"
    ax.plot(
        summary[x],
        summary["mean"],
        style,
        color=colour,
        marker="" if dashed else "o",
        markersize=4,
        label=label,
    )
    ax.fill_between(
        summary[x],
        summary["low"],
        summary["high"],
        color=colour,
        alpha=0.15 if dashed else 0.25,
        linewidth=0,
    )


def _draw_groups(
    ax: Axes,
    table: pd.DataFrame,
    x: str,
    hue: str,
    level: float,
    method: str,
    *,
    null_label: str | None = None,
) -> None:
    """Summarise ``table`` per ``hue`` and ``x`` and draw one band per hue level."""
    summary = summarise(table, by=[hue, x], level=level, method=method)
    groups = list(dict.fromkeys(table[hue]))
    colours = sns.color_palette(PALETTE, len(groups))
    for group, colour in zip(groups, colours, strict=True):
        part = summary[summary[hue] == group]
        if null_label is None:
            _draw_band(ax, part, x, str(group), colour, dashed=False)
        else:
            _draw_band(ax, part, x, f"{group}: {null_label}", colour, dashed=True)


def _null_label(null: pd.DataFrame) -> str:
    if "baseline" in null.columns and null["baseline"].nunique() == 1:
        return f"null ({null['baseline'].iloc[0]})"
    return "null"


def plot_cka_by_layer(
    table: pd.DataFrame,
    *,
    hue: str = "measure",
    null: pd.DataFrame | None = None,
    ax: Axes | None = None,
    level: float = 0.95,
    method: str = "t",
    title: str = "CKA between each layer and the feature spaces",
    ylabel: str = "CKA (mean over recordings)",
) -> Axes:
    """CKA against layer: mean over recordings with a confidence band, per group.

    Parameters
    ----------
    table : pandas.DataFrame
        Long table with columns ``layer``, ``value`` and ``hue`` (one row per recording and
        layer), e.g. from :func:`tutorial_utils.analysis.layer_feature_cka`.
    hue : str, default "measure"
        Column whose levels get one curve each (e.g. ``"measure"`` or ``"estimator"``).
    null : pandas.DataFrame, optional
        A null-baseline table with the same columns, drawn dashed on the same axes.
    ax : matplotlib Axes, optional
    level : float, default 0.95
        Confidence level of the bands.
    method : {"t", "bootstrap"}
        Interval over recordings, see :func:`tutorial_utils.analysis.confidence_interval`.
    title, ylabel : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    _draw_groups(ax, table, "layer", hue, level, method)
    if null is not None:
        _draw_groups(ax, null, "layer", hue, level, method, null_label=_null_label(null))
    layers = sorted(table["layer"].unique())
    ax.set_xticks(layers)
    ax.set_xlabel("layer (0 = transformer input, 1–12 = transformer layers)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\n(lines: mean; bands: {level:.0%} CI over recordings)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return ax


def plot_lag_curve(
    table: pd.DataFrame,
    *,
    hue: str = "measure",
    ax: Axes | None = None,
    level: float = 0.95,
    method: str = "t",
    title: str | None = None,
) -> Axes:
    """CKA against time lag (ms), mean over recordings with a confidence band.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`tutorial_utils.analysis.lag_curve` (columns ``lag_ms``, ``value``,
        ``layer`` and ``hue``).
    hue : str, default "measure"
    ax : matplotlib Axes, optional
    level, method
        See :func:`plot_cka_by_layer`.
    title : str, optional
        Default names the layer.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    _draw_groups(ax, table, "lag_ms", hue, level, method)
    ax.axvline(0, color=NULL_COLOUR, linewidth=1)
    layers = ", ".join(str(v) for v in sorted(table["layer"].unique()))
    ax.set_title(
        (title or f"CKA of layer {layers} with time-shifted features")
        + f"\n(bands: {level:.0%} CI over recordings)"
    )
    ax.set_xlabel("lag (ms); positive = features from later than the model frame")
    ax.set_ylabel("linear CKA (mean over recordings)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_layer_profile(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    ax: Axes | None = None,
    title: str = "Per-layer readout",
    ylabel: str = "value",
    labels: Mapping[str, str] | None = None,
) -> Axes:
    """Plain line plot of a few per-layer columns of a wide table (one row per layer).

    Parameters
    ----------
    table : pandas.DataFrame
        Must have a ``layer`` column and the given ``columns``.
    columns : sequence of str
    ax : matplotlib Axes, optional
    title, ylabel : str
    labels : mapping, optional
        Legend label per column (default: the column name).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    labels = dict(labels or {})
    colours = sns.color_palette(PALETTE, len(columns))
    ordered = table.sort_values("layer")
    for column, colour in zip(columns, colours, strict=True):
        ax.plot(
            ordered["layer"],
            ordered[column],
            "o-",
            color=colour,
            markersize=4,
            label=labels.get(column, column),
        )
    ax.axhline(0, color=NULL_COLOUR, linewidth=1)
    ax.set_xticks(sorted(ordered["layer"].unique()))
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------
# Matrices
# --------------------------------------------------------------------------------------------


def _symmetric_limits(matrices: Sequence[np.ndarray]) -> tuple[float, float]:
    """Colour limits symmetric around 0 that cover every matrix."""
    top = max(float(np.nanmax(np.abs(m))) for m in matrices)
    return -top, top


def _label_ticks(ax: Axes, labels: Sequence[str] | None, fontsize: float = 7) -> None:
    if labels is None:
        return
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, labels, fontsize=fontsize)


def plot_gram(
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
    """Heatmap of one Gram (similarity) or RDM (dissimilarity) matrix.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(n, n)`` matrix.
    labels : sequence of str, optional
        Tick labels of the ``n`` stimuli.
    ax : matplotlib Axes, optional
    title, cbar_label : str
        Title and colour-bar label (say what the entries are, with units if any).
    axis_label : str, default "stimulus"
        Label of both axes (e.g. "frame (20 ms)" or "recording").
    cmap : str, optional
        Default: a diverging map centred on 0 when the matrix has negative entries, else
        ``"viridis"``.
    vmin, vmax : float, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax, figsize=(5.5, 4.5))
    matrix = np.asarray(matrix, dtype=float)
    if cmap is None and np.nanmin(matrix) < 0 and vmin is None and vmax is None:
        cmap = "RdBu_r"
        vmin, vmax = _symmetric_limits([matrix])
    image = ax.imshow(matrix, cmap=cmap or "viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
    colourbar = ax.figure.colorbar(image, ax=ax, shrink=0.85)
    colourbar.set_label(cbar_label)
    _label_ticks(ax, labels)
    ax.set_xlabel(axis_label)
    ax.set_ylabel(axis_label)
    ax.set_title(title)
    return ax


def plot_gram_grid(
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
    """Small multiples: one heatmap per layer on a shared, 0-centred colour scale.

    Parameters
    ----------
    matrices : mapping of int to numpy.ndarray
        ``{layer: (n, n)}``.
    labels : sequence of str, optional
        Stimulus labels, shown on the left column and bottom row only.
    ncols : int, default 5
    title, cbar_label, axis_label, cmap : str
    panel_titles : mapping, optional
        Extra text per layer (e.g. a printed readout), shown under "layer k".

    Returns
    -------
    matplotlib.figure.Figure
    """
    keys = list(matrices)
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.6 * ncols, 2.7 * nrows), layout="constrained", squeeze=False
    )
    vmin, vmax = _symmetric_limits([np.asarray(m) for m in matrices.values()])
    image = None
    for index, ax in enumerate(axes.flat):
        if index >= len(keys):
            ax.set_visible(False)
            continue
        key = keys[index]
        image = ax.imshow(matrices[key], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        extra = f"\n{panel_titles[key]}" if panel_titles and key in panel_titles else ""
        ax.set_title(f"layer {key}{extra}", fontsize=9)
        row, col = divmod(index, ncols)
        ax.set_xticks([])
        ax.set_yticks([])
        if labels is not None and col == 0:
            ax.set_yticks(np.arange(len(labels)), labels, fontsize=6)
        if labels is not None and (row == nrows - 1 or index + ncols >= len(keys)):
            ax.set_xticks(np.arange(len(labels)), labels, rotation=90, fontsize=6)
    fig.supxlabel(axis_label)
    fig.supylabel(axis_label)
    fig.suptitle(title)
    colourbar = fig.colorbar(image, ax=axes, shrink=0.6)
    colourbar.set_label(cbar_label)
    return fig


def plot_layer_heatmap(
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
    """Annotated heatmap of a layer × layer (or layer × feature) similarity matrix.

    Parameters
    ----------
    matrix : pandas.DataFrame or numpy.ndarray
        A labelled DataFrame (e.g. from :func:`tutorial_utils.cka.cka_matrix` with dict input)
        or an array (rows and columns numbered from 0).
    ax : matplotlib Axes, optional
    title, cbar_label, xlabel, ylabel : str
    annot : bool, default True
        Write each value in its cell.
    fmt : str, default ".2f"
    vmin, vmax : float or None, default 0 and 1
        Colour limits; keep the full [0, 1] range so small differences are not exaggerated.
    cmap : str, default "magma"

    Returns
    -------
    matplotlib.axes.Axes
    """
    frame = matrix if isinstance(matrix, pd.DataFrame) else pd.DataFrame(np.asarray(matrix))
    size = max(5.0, 0.45 * frame.shape[1] + 2.0)
    ax = _axes(ax, figsize=(size, max(4.0, 0.4 * frame.shape[0] + 1.5)))
    sns.heatmap(
        frame.astype(float),
        ax=ax,
        annot=annot,
        fmt=fmt,
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
        square=True,
        annot_kws={"fontsize": 6},
        cbar_kws={"label": cbar_label, "shrink": 0.8},
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


# --------------------------------------------------------------------------------------------
# Signals: EMA, audio, and the frame grid
# --------------------------------------------------------------------------------------------


def plot_layer_heatmaps(
    panels: Mapping[str, pd.DataFrame],
    *,
    ncols: int = 2,
    xlabel: str = "layer (index)",
    ylabel: str = "layer (index)",
    cbar_label: str = "linear CKA",
) -> Figure:
    """Several layer × layer matrices side by side, one panel per entry of ``panels``.

    Parameters
    ----------
    panels : Mapping[str, pandas.DataFrame]
        Panel title → matrix (e.g. ``{"biased": ..., "debiased": ...}``).
    ncols : int, default 2
    xlabel, ylabel, cbar_label : str

    Returns
    -------
    matplotlib.figure.Figure
        Colour scales run from 0 (or the smallest value, if negative) to 1, so that
        debiased values below 0 stay visible.
    """
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 5.5 * nrows), squeeze=False)
    for ax, (title, matrix) in zip(axes.ravel(), panels.items(), strict=False):
        plot_layer_heatmap(
            matrix,
            ax=ax,
            annot=False,
            vmin=min(0.0, float(np.nanmin(np.asarray(matrix, dtype=float)))),
            title=title,
            cbar_label=cbar_label,
            xlabel=xlabel,
            ylabel=ylabel,
        )
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_ema_trajectories(
    ema: np.ndarray | pd.DataFrame,
    *,
    frame_rate: float = SAMPLE_RATE / FRAME_HOP,
    title: str = "EMA sensor trajectories",
    y_axis: str = "Y",
) -> Figure:
    """Six panels, one per sensor, with the sensor's X and Y coordinate over time.

    Parameters
    ----------
    ema : numpy.ndarray or pandas.DataFrame
        ``(T, 12)`` coordinates in mm, columns in the order of
        :data:`tutorial_utils.frames.EMA_COLUMNS` (an EMA table of one recording also works).
    frame_rate : float, default 50
        Rows per second.
    title : str
    y_axis : str, default "Y"
        How to describe the second coordinate (e.g. "Y, vertical" or "Y, lateral").

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(ema, pd.DataFrame):
        ema = ema[[f"{s}_{a}" for s in EMA_SENSORS for a in ("X", "Y")]].to_numpy()
    ema = np.asarray(ema, dtype=float)
    times = np.arange(len(ema)) / frame_rate
    fig, axes = plt.subplots(len(EMA_SENSORS), 1, figsize=(8, 9), sharex=True, layout="constrained")
    colours = sns.color_palette(PALETTE, 2)
    for i, (ax, sensor) in enumerate(zip(axes, EMA_SENSORS, strict=True)):
        for j, axis in enumerate(("X", y_axis)):
            # Subtract the mean so both coordinates share one readable scale.
            values = ema[:, 2 * i + j]
            mean = values.mean()
            ax.plot(times, values - mean, color=colours[j], label=f"{axis} (mean {mean:.1f} mm)")
        ax.set_ylabel(f"{sensor}\n(mm)")
        ax.set_title(SENSOR_NAMES.get(sensor, sensor), fontsize=9, loc="left")
        ax.legend(fontsize="x-small", loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{title}\n(each coordinate minus its mean; X = posterior→anterior)")
    return fig


def plot_waveform_spectrogram(
    audio: np.ndarray, sr: int = SAMPLE_RATE, *, title: str = "Recording"
) -> Figure:
    """Waveform above a log-power spectrogram (25 ms windows, 10 ms hop).

    Parameters
    ----------
    audio : numpy.ndarray
        1-D mono audio.
    sr : int, default 16000
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy.signal import spectrogram

    audio = np.asarray(audio, dtype=float)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 5.5), sharex=True, layout="constrained", height_ratios=(1, 2)
    )
    top.plot(np.arange(audio.size) / sr, audio, linewidth=0.5, color="0.2")
    top.set_ylabel("amplitude\n(full scale)")
    top.set_title("waveform", fontsize=9, loc="left")
    window, hop = int(0.025 * sr), int(0.010 * sr)
    freqs, times, power = spectrogram(audio, fs=sr, nperseg=window, noverlap=window - hop)
    db = 10 * np.log10(power + 1e-12)
    mesh = bottom.pcolormesh(
        times, freqs, db, shading="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max()
    )
    colourbar = fig.colorbar(mesh, ax=bottom)
    colourbar.set_label("power (dB)")
    bottom.set_ylabel("frequency (Hz)")
    bottom.set_xlabel("time (s)")
    bottom.set_title("spectrogram (25 ms windows, 10 ms hop)", fontsize=9, loc="left")
    fig.suptitle(title)
    return fig


def _windows(ax: Axes, starts: np.ndarray, length: float, row: float, colour, label: str) -> None:
    """Draw analysis windows as thin bars, alternating height so overlaps stay visible."""
    for k, start in enumerate(starts):
        y = row + (0.12 if k % 2 else -0.12)
        ax.plot(
            [start, start + length],
            [y, y],
            color=colour,
            linewidth=4,
            solid_capstyle="butt",
            label=label if k == 0 else None,
        )


def _grid_panel(ax: Axes, frames: np.ndarray, n_samples: int, n_frames: int, sr: int) -> None:
    """One panel of :func:`plot_frame_grid` for the given frame indices."""
    ms = 1000 / sr
    colours = sns.color_palette(PALETTE, 4)
    starts = frames * FRAME_HOP * ms
    _windows(ax, starts, FRAME_LENGTH * ms, 3, colours[0], "Wav2Vec2 frame t: 25 ms window")
    _windows(ax, starts, FRAME_LENGTH * ms, 2, colours[1], "MFCC (n_fft=400, hop=320, no pad)")
    hop = n_samples // n_frames
    centres = frames * hop * ms
    _windows(
        ax,
        centres - 160 * ms,
        320 * ms,
        1,
        colours[2],
        f"original MFCC (n_fft=320, hop={hop}, centred)",
    )
    ax.plot(
        starts,
        np.zeros_like(starts),
        "|",
        color=colours[3],
        markersize=14,
        markeredgewidth=2,
        label="EMA row t at t × 20 ms",
    )
    for t, start in zip(frames, starts, strict=True):
        ax.text(start, 3.35, f"t={t}", fontsize=7, ha="left")
    ax.set_yticks([0, 1, 2, 3], ["EMA rows", "original\nMFCC", "MFCC", "Wav2Vec2"])
    ax.set_ylim(-0.6, 3.7)
    ax.set_xlabel("time (ms)")
    ax.grid(axis="x", alpha=0.3)


def plot_frame_grid(
    n_samples: int, *, sr: int = SAMPLE_RATE, n_show: int = 5, title: str | None = None
) -> Figure:
    """How model frames, MFCC frames and EMA rows line up on the 20 ms grid.

    Two panels show the first and the last ``n_show`` frames of a recording of ``n_samples``
    samples: Wav2Vec2's 25 ms windows every 20 ms, the grid-aligned MFCC windows (identical),
    the original recipe's centred windows with the stretched hop ``n_samples // T`` (which
    drift), and the EMA rows at ``t × 20 ms``.

    Parameters
    ----------
    n_samples : int
        Length of the recording at 16 kHz.
    sr : int, default 16000
    n_show : int, default 5
        Frames per panel.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_frames = n_model_frames(n_samples)
    if n_frames < 1:
        raise ValueError(f"{n_samples} samples give no model frame (need at least 400).")
    n_show = min(n_show, n_frames)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained", sharey=True)
    _grid_panel(axes[0], np.arange(n_show), n_samples, n_frames, sr)
    _grid_panel(axes[1], np.arange(n_frames - n_show, n_frames), n_samples, n_frames, sr)
    axes[0].set_title("start of the recording", fontsize=9)
    axes[1].set_title("end of the recording", fontsize=9)
    axes[0].set_ylabel("frame stream")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=2, fontsize="small")
    fig.suptitle(title or f"The 20 ms frame grid ({n_samples} samples → {n_frames} frames)")
    return fig


# --------------------------------------------------------------------------------------------
# Sanity checks
# --------------------------------------------------------------------------------------------


def plot_noise_cka(
    table: pd.DataFrame,
    *,
    ax: Axes | None = None,
    marks: Mapping[str, float] | None = None,
    title: str = "CKA between independent noise matrices",
) -> Axes:
    """Biased and debiased CKA of pure noise against the features-per-stimulus ratio d / n.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy table from :func:`tutorial_utils.sanity.noise_cka` (columns ``ratio``,
        ``n_features``, ``estimator``, ``mean``, ``q05``, ``q95``, ``expected``).
    ax : matplotlib Axes, optional
    marks : mapping of str to float, optional
        Vertical reference lines at given ratios, e.g. ``{"sentence means": 153.6}``.
    title : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax, figsize=(8.0, 4.5))
    groups = list(table.groupby(["estimator", "n_features"], sort=True))
    colours = sns.color_palette(PALETTE, len(groups))
    for ((estimator, n_features), part), colour in zip(groups, colours, strict=True):
        part = part.sort_values("ratio")
        style = "o-" if estimator == "biased" else "s--"
        ax.plot(
            part["ratio"],
            part["mean"],
            style,
            color=colour,
            markersize=4,
            label=f"{estimator}, d = {n_features}",
        )
        ax.fill_between(part["ratio"], part["q05"], part["q95"], color=colour, alpha=0.2)
    ratios = np.geomspace(table["ratio"].min(), table["ratio"].max(), 200)
    ax.plot(
        ratios,
        ratios / (1 + ratios),
        color=NULL_COLOUR,
        linewidth=1,
        label="d / (d + n), approximate biased expectation",
    )
    for i, (name, ratio) in enumerate((marks or {}).items()):
        ax.axvline(ratio, color="0.3", linestyle=":", linewidth=1)
        ax.annotate(
            name,
            (ratio, 0.04 + 0.08 * i),
            rotation=0,
            fontsize=7,
            xytext=(3, 0),
            textcoords="offset points",
        )
    ax.axhline(0, color=NULL_COLOUR, linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("d / n (features per stimulus, log scale)")
    ax.set_ylabel("linear CKA (unrelated data)")
    ax.set_title(f"{title}\n(lines: mean; bands: 5–95% of repeats)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left")
    return ax
