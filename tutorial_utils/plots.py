"""The figures the notebooks share: a tidy table or a matrix in, Axes (or a Figure) out.

Curves are :func:`seaborn.lineplot` on the *per-recording* table, so the mean and its band are
seaborn's (``errorbar=``, e.g. :func:`tutorial_utils.stats.errorbar`); matrices are heatmaps;
audio uses :mod:`librosa.display`. Nothing here computes a statistic. Matplotlib, seaborn and
librosa load on the first figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .frames import EMA_SENSORS, FRAME_HOP, FRAME_LENGTH, SAMPLE_RATE, n_model_frames

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PALETTE = "colorblind"
NULL_COLOUR = "0.45"
BAND = "95% CI over recordings"


def show(figure: Figure | Axes) -> None:
    """Display a figure (or an Axes' figure) once in the notebook output, then close it; works
    under every backend, ``Agg`` included."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(figure.figure)
    plt.close(figure.figure)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0)) -> Axes:
    """The given Axes, or a new one on a new Figure."""
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1] if ax is None else ax


# ----------------------------------------------------------------- curves over layers or lags


def _curves(ax: Axes, table: pd.DataFrame, x: str, hue: str, errorbar, null_label=None) -> None:
    """Mean ``value`` against ``x`` with a band, one curve per ``hue`` level (dashed: null)."""
    import seaborn as sns

    levels = list(dict.fromkeys(table[hue]))
    names = {lv: str(lv) if null_label is None else f"{lv}: {null_label}" for lv in levels}
    observed = null_label is None
    sns.lineplot(
        data=table.assign(**{hue: table[hue].map(names)}),
        x=x,
        y="value",
        hue=hue,
        palette=dict(zip(names.values(), sns.color_palette(PALETTE, len(levels)), strict=True)),
        errorbar=errorbar,
        seed=0,
        marker="o" if observed else None,
        markersize=4,
        linestyle="-" if observed else "--",
        err_kws={"alpha": 0.25 if observed else 0.15, "linewidth": 0},
        ax=ax,
    )


def cka_by_layer(
    table: pd.DataFrame,
    *,
    hue: str = "target",
    null: pd.DataFrame | None = None,
    ax: Axes | None = None,
    errorbar: object = ("ci", 95),
    title: str = "CKA between each layer and the targets",
) -> Axes:
    """CKA against layer: mean over recordings with a band, one curve per ``hue`` level.

    ``table`` has one row per recording and layer (columns ``layer``, ``value``, ``hue``);
    ``null``, a baseline table with the same columns, is drawn dashed. ``errorbar`` goes to
    :func:`seaborn.lineplot`.
    """
    ax = _axes(ax)
    _curves(ax, table, "layer", hue, errorbar)
    if null is not None:
        baselines = null["baseline"].unique() if "baseline" in null.columns else []
        label = f"null ({baselines[0]})" if len(baselines) == 1 else "null"
        _curves(ax, null, "layer", hue, errorbar, null_label=label)
    ax.set_xticks(sorted(table["layer"].unique()))
    ax.set_xlabel("layer (0 = transformer input, 1–12 = transformer layers)")
    ax.set_ylabel("CKA (mean over recordings)")
    ax.set_title(f"{title}\n(lines: mean; bands: {BAND})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return ax


def lag_curve(table: pd.DataFrame, *, errorbar: object = ("ci", 95)) -> Axes:
    """CKA against time lag (ms), :func:`tutorial_utils.recordings.lag_curve`'s table: the mean
    over recordings with a band (``errorbar`` as in :func:`cka_by_layer`)."""
    ax = _axes(None)
    _curves(ax, table, "lag_ms", "target", errorbar)
    ax.axvline(0, color=NULL_COLOUR, linewidth=1)
    layers = ", ".join(str(v) for v in sorted(table["layer"].unique()))
    ax.set_title(f"CKA of layer {layers} with time-shifted targets\n(bands: {BAND})")
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
    """Lines of a few ``columns`` of a wide table with one row per ``layer``; ``labels`` maps a
    column to its legend label (default: the column name)."""
    import seaborn as sns

    ax = _axes(ax)
    long = table.melt(id_vars="layer", value_vars=list(columns), var_name="curve")
    long["curve"] = [(labels or {}).get(c, c) for c in long["curve"]]
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
    ax.set(xlabel="layer", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def noise_cka(
    table: pd.DataFrame, *, ax: Axes | None = None, marks: Mapping[str, float] | None = None
) -> Axes:
    """Biased and debiased CKA of pure noise against d / n (:func:`tutorial_utils.sanity.
    noise_cka`: ``q05``–``q95`` as bands, ``expected`` as the reference curve); ``marks`` draws
    vertical lines at named ratios, e.g. ``{"sentence means": 153.6}``."""
    import seaborn as sns

    ax = _axes(ax, (8.0, 4.5))
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
    ax.set_title("CKA between independent noise matrices\n(lines: mean; bands: 5–95% of repeats)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="upper left")
    return ax


# ------------------------------------------------------- matrices: Grams, RDMs, layer × layer


def _heatmap(ax: Axes, matrix, names, labels=None, cbar_label=None, annot=False, square=False,
             **style) -> None:  # fmt: skip
    """``matrix`` as a ``pcolormesh``, row 0 at the top, as :func:`seaborn.heatmap` draws it
    (which redraws the whole figure per call: seconds for a 13-panel grid). ``names``: title,
    x and y label; ``style``: cmap, vmin, vmax; ``annot`` writes each value in its cell."""
    frame = matrix if isinstance(matrix, pd.DataFrame) else pd.DataFrame(np.asarray(matrix))
    values = frame.to_numpy(dtype=float)
    mesh = ax.pcolormesh(values, **style)
    ax.set(xlim=(0, values.shape[1]), ylim=(values.shape[0], 0))
    ax.set_aspect("equal" if square else "auto")
    ax.spines[:].set_visible(False)
    for axis, ticks in ((ax.xaxis, frame.columns), (ax.yaxis, frame.index)):
        ticks = list(ticks if labels is None else labels)  # a long axis: every k-th label
        step = 1 if labels is not None or len(ticks) <= 20 else -(-len(ticks) // 10)
        axis.set_ticks(np.arange(0, len(ticks), step) + 0.5, [str(n) for n in ticks[::step]])
    texts = ax.get_xticklabels()  # rotate x labels that would fill most of the width
    width = sum(len(t.get_text()) for t in texts) * 0.6 * (texts[0].get_fontsize() if texts else 0)
    if width > 0.7 * ax.get_position().width * ax.figure.get_figwidth() * 72:
        ax.tick_params(axis="x", labelrotation=90)
    if annot:  # dark text on light colours, white on dark ones
        light = mesh.cmap(mesh.norm(values))[..., :3] @ np.array([0.2126, 0.7152, 0.0722]) > 0.45
        for (row, col), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(col + 0.5, row + 0.5, f"{value:.2f}", ha="center", va="center",
                        fontsize=6, color="0.15" if light[row, col] else "white")  # fmt: skip
    if cbar_label is not None:
        bar = ax.figure.colorbar(mesh, ax=ax, shrink=0.85)
        bar.set_label(cbar_label)
        bar.outline.set_linewidth(0)
    ax.set(title=names[0], xlabel=names[1], ylabel=names[2])


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
    """Heatmap of one ``(n, n)`` Gram (similarity) or RDM (dissimilarity) matrix; without
    ``cmap`` and limits, negative entries get a diverging map centred on 0, else viridis."""
    ax = _axes(ax, (5.5, 4.5))
    matrix = np.asarray(matrix, dtype=float)
    if cmap is None and vmin is None and vmax is None and np.nanmin(matrix) < 0:
        cmap, vmax = "RdBu_r", float(np.nanmax(np.abs(matrix)))
        vmin = -vmax
    names = (title, axis_label, axis_label)
    _heatmap(ax, matrix, names, labels, cbar_label, cmap=cmap or "viridis", vmin=vmin, vmax=vmax)
    return ax


def gram_grid(
    matrices: Mapping[int, np.ndarray],
    *,
    labels: Sequence[str] | None = None,
    title: str = "Gram matrices per layer",
    cbar_label: str = "similarity",
    panel_titles: Mapping[int, str] | None = None,
) -> Figure:
    """``{layer: (n, n)}`` matrices as small multiples on one colour scale centred on 0, the
    ``labels`` on the left column and bottom row, ``panel_titles`` under "layer k"."""
    import matplotlib.pyplot as plt

    keys, ncols = list(matrices), 5
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
        _heatmap(ax, matrices[keys[index]], names, labels, cmap="RdBu_r", vmin=-top, vmax=top)
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=6, left=col == 0, labelleft=col == 0 and labels is not None)
        ax.tick_params(bottom=bottom, labelbottom=bottom and labels is not None)
    fig.supxlabel("recording")
    fig.supylabel("recording")
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
    vmin: float = 0.0,
    xlabel: str = "layer",
    ylabel: str = "layer",
) -> Axes:
    """Heatmap of a layer × layer similarity table (a DataFrame keeps its labels), values
    written in (``annot``), colours from ``vmin`` to 1 so small differences look small."""
    frame = pd.DataFrame(matrix).astype(float)
    size = (max(5.0, 0.45 * frame.shape[1] + 2.0), max(4.0, 0.4 * frame.shape[0] + 1.5))
    ax = _axes(ax, size)
    names = (title, xlabel, ylabel)
    _heatmap(ax, frame, names, None, cbar_label, annot, True, vmin=vmin, vmax=1.0, cmap="magma")
    return ax


def layer_heatmaps(
    panels: Mapping[str, pd.DataFrame],
    *,
    xlabel: str = "layer (index)",
    ylabel: str = "layer (index)",
) -> Figure:
    """:func:`layer_heatmap` panels two per row, ``{title: matrix}``, without values; colours
    from 0 (or the smallest value, if negative) to 1, so debiased values below 0 show."""
    import matplotlib.pyplot as plt

    nrows = -(-len(panels) // 2)
    fig, axes = plt.subplots(nrows, 2, figsize=(13.0, 5.5 * nrows), squeeze=False)
    for ax, (title, matrix) in zip(axes.ravel(), panels.items(), strict=False):
        low = min(0.0, float(np.nanmin(np.asarray(matrix, dtype=float))))
        layer_heatmap(matrix, ax=ax, annot=False, vmin=low, title=title, xlabel=xlabel,
                      ylabel=ylabel)  # fmt: skip
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


# ------------------------------------------------- several measures (chapters 05 and 06)


def measures_with_nulls(
    scores: pd.DataFrame, measures: Sequence[str], targets: Sequence[str]
) -> Figure:
    """One panel per measure on its own scale: observed solid, null dashed (``scores``:
    ``measure, target, layer, version, value``; a ``version`` other than "observed" is null)."""
    import seaborn as sns

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
    grid.set_titles("{col_name}").set(xticks=sorted(scores["layer"].unique())[::2])
    grid.figure.suptitle("Each measure on its own scale, with its circular-shift null", y=1.03)
    if len(measures) > 3 and len(measures) % 3:  # the legend in the last row's empty panel
        sns.move_legend(grid, "center", bbox_to_anchor=(0.83, 0.27), frameon=False)
    else:
        sns.move_legend(grid, "center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return grid.figure


def rescaled_profiles(
    gaps: pd.DataFrame, measures: Sequence[str], targets: Sequence[str]
) -> Figure:
    """The ``rescaled gap`` profiles of all measures over ``layer``, one panel per target
    (:func:`tutorial_utils.agreement.rescaled_gaps`)."""
    import seaborn as sns

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
    grid.set_titles("{col_name}").set(xticks=sorted(gaps["layer"].unique())[::2])
    grid.figure.suptitle(
        f"Layer profiles of {len(measures)} measures (gap above the null, rescaled)", y=1.04
    )
    sns.move_legend(grid, "center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return grid.figure


# ------------------------------------------- raw material (chapter 00): EMA, audio, frame grid

SENSOR_NAMES = {
    "TR": "tongue rear",
    "TB": "tongue blade",
    "TT": "tongue tip",
    "UL": "upper lip",
    "LL": "lower lip",
    "JAW": "jaw (lower incisor)",
}


def ema_trajectories(
    ema: np.ndarray, *, title: str = "EMA sensor trajectories", y_axis: str = "Y"
) -> Figure:
    """One panel per sensor: its X and ``y_axis`` coordinate (mm, minus its mean) over time.
    ``ema`` is ``(T, 12)`` on the 20 ms grid, columns as :data:`tutorial_utils.frames.
    EMA_COLUMNS`."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ema = np.asarray(ema, dtype=float)
    times = np.arange(len(ema)) / (SAMPLE_RATE / FRAME_HOP)
    fig, axes = plt.subplots(len(EMA_SENSORS), 1, figsize=(8, 9), sharex=True, layout="constrained")
    colours = sns.color_palette(PALETTE, 2)
    for i, (ax, sensor) in enumerate(zip(axes, EMA_SENSORS, strict=True)):
        for j, axis in enumerate(("X", y_axis)):
            offset = ema[:, 2 * i + j].mean()
            label = f"{axis} (mean {offset:.1f} mm)"
            ax.plot(times, ema[:, 2 * i + j] - offset, color=colours[j], label=label)
        ax.set_ylabel(f"{sensor}\n(mm)")
        ax.set_title(SENSOR_NAMES.get(sensor, sensor), fontsize=9, loc="left")
        ax.legend(fontsize="x-small", loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{title}\n(each coordinate minus its mean; X = posterior→anterior)")
    return fig


def waveform_spectrogram(
    audio: np.ndarray, sr: int = SAMPLE_RATE, *, title: str = "Recording"
) -> Figure:
    """The waveform (:func:`librosa.display.waveshow`) above a log-power spectrogram
    (:func:`librosa.display.specshow`, 25 ms windows, 10 ms hop) of mono ``audio``."""
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    audio = np.asarray(audio, dtype=np.float32)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 5.5), sharex=True, layout="constrained", height_ratios=(1, 2)
    )
    librosa.display.waveshow(audio, sr=sr, ax=top, color="0.2", linewidth=0.5)
    top.set_ylabel("amplitude\n(full scale)")
    top.set_title("waveform", fontsize=9, loc="left")
    window, hop = int(0.025 * sr), int(0.010 * sr)
    power = np.abs(librosa.stft(audio, n_fft=window, hop_length=hop)) ** 2
    db = librosa.power_to_db(power, ref=np.max, top_db=80.0)
    mesh = librosa.display.specshow(db, sr=sr, hop_length=hop, n_fft=window, x_axis="time",
                                    y_axis="hz", ax=bottom, cmap="magma")  # fmt: skip
    fig.colorbar(mesh, ax=bottom).set_label("power (dB)")
    bottom.set(ylabel="frequency (Hz)", xlabel="time (s)")
    bottom.set_title("spectrogram (25 ms windows, 10 ms hop)", fontsize=9, loc="left")
    fig.suptitle(title)
    return fig


def frame_grid(n_samples: int) -> Figure:
    """How model frames, MFCC frames and EMA rows line up on the 20 ms grid, for the first and
    the last 5 frames of a recording of ``n_samples`` samples: Wav2Vec2's 25 ms windows every
    20 ms, the grid MFCC windows (identical), the original recipe's centred windows with the
    stretched hop ``n_samples // T`` (which drift), and the EMA rows at ``t × 20 ms``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n_frames, ms = n_model_frames(n_samples), 1000 / SAMPLE_RATE
    hop, colours = n_samples // n_frames, sns.color_palette(PALETTE, 4)
    streams = [  # (row, window starts in frames × this hop, offset, length, colour, label)
        (3, FRAME_HOP, 0, FRAME_LENGTH, colours[0], "Wav2Vec2 frame t: 25 ms window"),
        (2, FRAME_HOP, 0, FRAME_LENGTH, colours[1], "MFCC (n_fft=400, hop=320, no pad)"),
        (1, hop, -160, 320, colours[2], f"original MFCC (n_fft=320, hop={hop}, centred)"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained", sharey=True)
    n_show = min(5, n_frames)
    for ax, shown in zip(axes, (range(n_show), range(n_frames - n_show, n_frames)), strict=True):
        shown = np.asarray(shown)
        for row, step, offset, length, colour, label in streams:
            for k, start in enumerate(shown * step * ms + offset * ms):  # alternate heights
                y = row + (0.12 if k % 2 else -0.12)
                ax.plot([start, start + length * ms], [y, y], color=colour, linewidth=4,
                        solid_capstyle="butt", label=None if k else label)  # fmt: skip
        starts = shown * FRAME_HOP * ms
        ax.plot(starts, np.zeros_like(starts), "|", color=colours[3], markersize=14,
                markeredgewidth=2, label="EMA row t at t × 20 ms")  # fmt: skip
        for t, start in zip(shown, starts, strict=True):
            ax.text(start, 3.35, f"t={t}", fontsize=7, ha="left")
        ax.set_yticks([0, 1, 2, 3], ["EMA rows", "original\nMFCC", "MFCC", "Wav2Vec2"])
        ax.set_ylim(-0.6, 3.7)
        ax.set_xlabel("time (ms)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_title("start of the recording", fontsize=9)
    axes[1].set_title("end of the recording", fontsize=9)
    axes[0].set_ylabel("frame stream")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=2, fontsize="small")
    fig.suptitle(f"The 20 ms frame grid ({n_samples} samples → {n_frames} frames)")
    return fig
