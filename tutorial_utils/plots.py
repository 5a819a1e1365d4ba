"""The figures the notebooks share: a tidy table or a matrix in, Axes (or a Figure) out.

Curves are :func:`seaborn.lineplot` on the *per-recording* table: the mean and its band are
seaborn's (``errorbar=``); nothing here computes a statistic. Every figure is at most
:data:`WIDTH` inches wide with text of at least :data:`FONT` points, so that it stays legible
in the book's ~690 px column. In order: curves, matrices, several measures, raw material."""

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
WIDTH, FONT = 9.0, 9  # 9 in (~910 px at 100 dpi) shrink by <= 1.38 into the ~690 px column


def show(figure: Figure | Axes) -> None:
    """Display a figure (or an Axes' figure) once, under any backend, then close it."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(figure.figure)
    plt.close(figure.figure)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0)) -> Axes:
    """The given Axes, or a new one on a new Figure."""
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1] if ax is None else ax


def _panels(n: int, ncols: int, height: float, **kws) -> tuple[Figure, np.ndarray]:
    """A :data:`WIDTH`-wide figure with ``n`` panels in rows of ``ncols``, unused ones hidden."""
    import matplotlib.pyplot as plt

    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, height * nrows), squeeze=False, **kws)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str, xticks=None, which="major", **legend):
    """Ticks, titles, a light grid and a small legend: how every curve figure ends."""
    if xticks is not None:
        ax.set_xticks(sorted(xticks))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, which=which)
    ax.legend(fontsize=FONT, **legend)
    return ax


def _curves(ax: Axes, table: pd.DataFrame, x: str, hue: str, errorbar, null_label=None) -> None:
    """Mean ``value`` against ``x`` with a band, one curve per ``hue`` level (dashed: null)."""
    import seaborn as sns

    levels, observed = list(dict.fromkeys(table[hue])), null_label is None
    names = {lv: str(lv) if observed else f"{lv}: {null_label}" for lv in levels}
    palette = dict(zip(names.values(), sns.color_palette(PALETTE, len(levels)), strict=True))
    band = {"alpha": 0.25 if observed else 0.15, "linewidth": 0}
    kws = {"marker": "o" if observed else None, "linestyle": "-" if observed else "--"}
    kws |= {"errorbar": errorbar, "seed": 0, "markersize": 4, "err_kws": band, "palette": palette}
    data = table.assign(**{hue: table[hue].map(names)})
    sns.lineplot(data=data, x=x, y="value", hue=hue, ax=ax, **kws)


def cka_by_layer(
    table: pd.DataFrame, *, hue="target", null=None, ax=None, errorbar=("ci", 95), title=None
) -> Axes:
    """CKA against layer, one curve per ``hue`` level: the mean over recordings (a row per
    recording and layer: ``layer``, ``value``, ``hue``) with a band (``errorbar`` for
    :func:`seaborn.lineplot`); ``null``, a baseline table with the same columns, dashed."""
    ax = _axes(ax)
    _curves(ax, table, "layer", hue, errorbar)
    if null is not None:
        baselines = null["baseline"].unique() if "baseline" in null.columns else []
        label = f"null ({baselines[0]})" if len(baselines) == 1 else "null"
        _curves(ax, null, "layer", hue, errorbar, null_label=label)
    xlabel = "layer (0 = transformer input, 1–12 = transformer layers)"
    title = title or "CKA between each layer and the targets"
    title = f"{title}\n(lines: mean; bands: 95% CI over recordings)"
    return _finish(ax, title, xlabel, "CKA (mean over recordings)", table["layer"].unique())


def layer_profile(
    table: pd.DataFrame, columns, *, ax=None, title="Per-layer readout", ylabel="value", labels=None
) -> Axes:
    """Lines of a few ``columns`` of a wide table with one row per ``layer``; ``labels`` maps a
    column to its legend label (default: the column name)."""
    import seaborn as sns

    ax = _axes(ax)
    long = table.melt(id_vars="layer", value_vars=list(columns), var_name="curve")
    long["curve"] = [(labels or {}).get(c, c) for c in long["curve"]]
    kws = {"estimator": None, "marker": "o", "markersize": 4, "palette": PALETTE, "ax": ax}
    sns.lineplot(data=long, x="layer", y="value", hue="curve", **kws)
    ax.axhline(0, color=NULL_COLOUR, linewidth=1)
    return _finish(ax, title, "layer", ylabel, table["layer"].unique())


def noise_cka(table: pd.DataFrame, *, ax=None, marks: Mapping[str, float] | None = None) -> Axes:
    """Biased and debiased CKA of pure noise against d / n (:func:`tutorial_utils.sanity.
    noise_cka`: ``q05``–``q95`` as bands, ``expected`` as the reference curve); ``marks`` draws
    vertical lines at named ratios, e.g. ``{"sentence means": 153.6}``."""
    import seaborn as sns

    ax = _axes(ax, (8.0, 4.5))
    groups = list(table.groupby(["estimator", "n_features"], sort=True))
    colours = sns.color_palette(PALETTE, len(groups))
    for ((estimator, d), part), colour in zip(groups, colours, strict=True):
        part = part.sort_values("ratio")
        style = "o-" if estimator == "biased" else "s--"
        ax.plot(part["ratio"], part["mean"], style, color=colour, label=f"{estimator}, d = {d}")
        ax.fill_between(part["ratio"], part["q05"], part["q95"], color=colour, alpha=0.2)
    expected = table[table["estimator"] == "biased"].sort_values("ratio")
    label = "d / (d + n), approximate biased expectation"
    ax.plot(expected["ratio"], expected["expected"], color=NULL_COLOUR, linewidth=1, label=label)
    for i, (name, ratio) in enumerate((marks or {}).items()):
        ax.axvline(ratio, color="0.3", linestyle=":", linewidth=1)
        ax.annotate(name, (ratio, 0.04 + 0.09 * i), fontsize=FONT, xytext=(3, 0),
                    textcoords="offset points")  # fmt: skip
    ax.axhline(0, color=NULL_COLOUR, linewidth=1)
    ax.set_xscale("log")
    title = "CKA between independent noise matrices\n(lines: mean; bands: 5–95% of repeats)"
    xlabel = "d / n (features per stimulus, log scale)"
    return _finish(ax, title, xlabel, "linear CKA (unrelated data)", None, "both", loc="upper left")


def _heatmap(ax: Axes, matrix, names, labels=None, cbar_label=None, annot=False, square=False,
             **style) -> Axes:  # fmt: skip
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
    if width > 0.5 * ax.get_position().width * ax.figure.get_figwidth() * 72:
        ax.tick_params(axis="x", labelrotation=90)
    if annot:  # dark text on light colours, white on dark ones
        light = mesh.cmap(mesh.norm(values))[..., :3] @ np.array([0.2126, 0.7152, 0.0722]) > 0.45
        for (row, col), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(col + 0.5, row + 0.5, f"{value:.2f}", ha="center", va="center",
                        fontsize=FONT, color="0.15" if light[row, col] else "white")  # fmt: skip
    if cbar_label is not None:
        bar = ax.figure.colorbar(mesh, ax=ax, shrink=0.85, label=cbar_label)
        bar.outline.set_linewidth(0)
    ax.set(title=names[0], xlabel=names[1], ylabel=names[2])
    return ax


def gram(
    matrix: np.ndarray, *, labels: Sequence[str] | None = None, ax: Axes | None = None,
    title="Gram matrix", cbar_label="similarity", axis_label="stimulus", cmap: str | None = None,
    vmin: float | None = None, vmax: float | None = None,
) -> Axes:  # fmt: skip
    """Heatmap of one ``(n, n)`` Gram (similarity) or RDM (dissimilarity) matrix; without
    ``cmap`` and limits, negative entries get a diverging map centred on 0, else viridis."""
    ax = _axes(ax, (5.5, 4.5))
    matrix = np.asarray(matrix, dtype=float)
    if cmap is None and vmin is None and vmax is None and np.nanmin(matrix) < 0:
        cmap, vmax = "RdBu_r", float(np.nanmax(np.abs(matrix)))
        vmin = -vmax
    style = {"cmap": cmap or "viridis", "vmin": vmin, "vmax": vmax}
    return _heatmap(ax, matrix, (title, axis_label, axis_label), labels, cbar_label, **style)


def gram_grid(
    matrices: Mapping[int, np.ndarray], *, labels: Sequence[str] | None = None,
    title="Gram matrices per layer", cbar_label="similarity", panel_titles: Mapping | None = None,
) -> Figure:  # fmt: skip
    """``{layer: (n, n)}`` matrices as small multiples on one colour scale centred on 0, the
    ``labels`` on the left column and bottom row, ``panel_titles`` under "layer k"."""
    keys = list(matrices)
    fig, axes = _panels(len(keys), 5, 2.1, layout="constrained")
    top = max(float(np.nanmax(np.abs(m))) for m in matrices.values())
    for index, (ax, key) in enumerate(zip(axes.flat, keys, strict=False)):
        extra = (panel_titles or {}).get(key)
        names = (f"layer {key}" + (f"\n{extra}" if extra else ""), "", "")
        _heatmap(ax, matrices[key], names, labels, cmap="RdBu_r", vmin=-top, vmax=top)
        ax.title.set_fontsize(FONT)
        left, bottom = index % 5 == 0, index + 5 >= len(keys)  # labels outside the grid only
        ax.tick_params(labelsize=FONT, left=left, labelleft=left and labels is not None)
        ax.tick_params(bottom=bottom, labelbottom=bottom and labels is not None)
    fig.supxlabel("recording")
    fig.supylabel("recording")
    fig.suptitle(title)
    fig.colorbar(axes.flat[0].collections[0], ax=axes, shrink=0.6).set_label(cbar_label)
    return fig


def layer_heatmap(
    matrix: pd.DataFrame | np.ndarray, *, ax: Axes | None = None, title="Layer × layer CKA",
    cbar_label="linear CKA", annot=True, vmin=0.0, xlabel="layer", ylabel="layer",
) -> Axes:  # fmt: skip
    """Heatmap of a layer × layer similarity table (a DataFrame keeps its labels), values
    written in (``annot``), colours from ``vmin`` to 1 so small differences look small."""
    frame = pd.DataFrame(matrix).astype(float)
    size = (min(WIDTH, max(5.0, 0.45 * frame.shape[1] + 2)), max(4.0, 0.4 * frame.shape[0] + 1.5))
    ax = _axes(ax, size)
    style = {"vmin": vmin, "vmax": 1.0, "cmap": "magma"}
    return _heatmap(ax, frame, (title, xlabel, ylabel), None, cbar_label, annot, True, **style)


def layer_heatmaps(panels: Mapping, *, xlabel="layer (index)", ylabel="layer (index)") -> Figure:
    """:func:`layer_heatmap` panels two per row, ``{title: matrix}``, without values; colours
    from 0 (or the smallest value, if negative) to 1, so debiased values below 0 show."""
    fig, axes = _panels(len(panels), 2, 4.0)
    for ax, (title, matrix) in zip(axes.ravel(), panels.items(), strict=False):
        low = min(0.0, float(np.nanmin(np.asarray(matrix, dtype=float))))
        layer_heatmap(matrix, ax=ax, annot=False, vmin=low, title=title, xlabel=xlabel,
                      ylabel=ylabel)  # fmt: skip
    fig.tight_layout()
    return fig


def _facets(data, y, hue, col, orders, title, title_y, legend_at, **kws) -> Figure:
    """One :func:`seaborn.relplot` line panel per ``col`` level over ``layer``, the legend
    at ``legend_at`` (its centre; an empty panel's place), else under the grid."""
    import seaborn as sns

    grid = sns.relplot(data=data, x="layer", y=y, hue=hue, hue_order=list(orders[0]), col=col,
                       col_order=list(orders[1]), kind="line", **kws)  # fmt: skip
    grid.set_titles("{col_name}").set(xticks=sorted(data["layer"].unique())[::2])
    grid.figure.suptitle(title, y=title_y)
    where = ("center", legend_at, 1) if legend_at else ("upper center", (0.5, 0.0), 4)  # in 9 in
    sns.move_legend(grid, where[0], bbox_to_anchor=where[1], ncol=where[2], frameon=False)
    return grid.figure


def measures_with_nulls(scores: pd.DataFrame, measures: Sequence, targets: Sequence) -> Figure:
    """One panel per measure on its own scale: observed solid, null dashed (``scores``:
    ``measure, target, layer, version, value``; a ``version`` other than "observed" is null)."""
    kind = np.where(scores["version"] == "observed", "observed", "null (circular shift)")
    return _facets(
        scores.assign(kind=kind), "value", "target", "measure", (targets, measures),
        "Each measure on its own scale, with its circular-shift null", 1.03,
        (0.83, 0.27) if len(measures) > 3 and len(measures) % 3 else None,  # empty last panel
        style="kind", col_wrap=3, errorbar=None, height=2.4, aspect=1.2,
        facet_kws={"sharey": False, "legend_out": False},  # no extra draw to size the legend
    )  # fmt: skip


def rescaled_profiles(gaps: pd.DataFrame, measures: Sequence, targets: Sequence) -> Figure:
    """The ``rescaled gap`` column (each measure's layer profile rescaled to [0, 1]) of all
    measures over ``layer``, one panel per target."""
    return _facets(
        gaps, "rescaled gap", "measure", "target", (measures, targets),
        f"Layer profiles of {len(measures)} measures, each rescaled to [0, 1]", 1.04, None,
        style="measure", style_order=list(measures), markers=True, dashes=False, height=3.2,
        aspect=1.3, facet_kws={"legend_out": False},
    )  # fmt: skip


def ema_trajectories(ema: np.ndarray, *, title="EMA sensor trajectories", y_axis="Y") -> Figure:
    """One panel per sensor: its X and ``y_axis`` coordinate (mm, minus its mean) over time.
    ``ema`` is ``(T, 12)`` on the 20 ms grid, columns as :data:`tutorial_utils.frames.
    EMA_COLUMNS`."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ema = np.asarray(ema, dtype=float)
    times = np.arange(len(ema)) / (SAMPLE_RATE / FRAME_HOP)
    fig, axes = plt.subplots(len(EMA_SENSORS), 1, figsize=(8, 9), sharex=True, layout="constrained")
    colours = sns.color_palette(PALETTE, 2)
    names = "tongue rear,tongue blade,tongue tip,upper lip,lower lip,jaw (lower incisor)".split(",")
    for i, (ax, sensor, name) in enumerate(zip(axes, EMA_SENSORS, names, strict=True)):
        means = ema[:, 2 * i : 2 * i + 2].mean(axis=0)  # drawn around it: one scale for both
        for j, axis in enumerate(("X", y_axis)):
            ax.plot(times, ema[:, 2 * i + j] - means[j], color=colours[j], label=axis)
        ax.set_ylabel(f"{sensor}\n(mm)")
        ax.set_title(f"{name}: mean X {means[0]:.1f} mm, {y_axis} {means[1]:.1f} mm",
                     fontsize=FONT, loc="left")  # fmt: skip
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    fig.suptitle(f"{title}\n(each coordinate minus its mean; X = posterior→anterior)")
    return fig


def waveform_spectrogram(audio: np.ndarray, sr=SAMPLE_RATE, *, title="Recording") -> Figure:
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
    top.set_title("waveform", fontsize=FONT, loc="left")
    top.set_xlabel("time (s)")
    top.tick_params(labelbottom=True)
    window, hop = int(0.025 * sr), int(0.010 * sr)
    power = np.abs(librosa.stft(audio, n_fft=window, hop_length=hop)) ** 2
    db = librosa.power_to_db(power, ref=np.max, top_db=80.0)
    axes = {"x_axis": "time", "y_axis": "hz", "ax": bottom, "cmap": "magma"}
    mesh = librosa.display.specshow(db, sr=sr, hop_length=hop, n_fft=window, **axes)
    fig.colorbar(mesh, ax=bottom).set_label("power (dB)")
    bottom.set(ylabel="frequency (Hz)", xlabel="time (s)")
    bottom.set_title("spectrogram (25 ms windows, 10 ms hop)", fontsize=FONT, loc="left")
    fig.suptitle(title)
    return fig


def frame_grid(n_samples: int) -> Figure:
    """The first and last 5 frames of a recording of ``n_samples`` samples on the 20 ms grid:
    Wav2Vec2's 25 ms windows, the grid MFCC windows (identical), the original recipe's centred
    windows with the stretched hop ``n_samples // T`` (which drift) and the EMA rows."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n_frames, ms = n_model_frames(n_samples), 1000 / SAMPLE_RATE
    hop, colours = n_samples // n_frames, sns.color_palette(PALETTE, 4)
    streams = [  # (row, window starts in frames × this hop, offset, length, colour, label)
        (3, FRAME_HOP, 0, FRAME_LENGTH, colours[0], "Wav2Vec2 frame t: 25 ms window"),
        (2, FRAME_HOP, 0, FRAME_LENGTH, colours[1], "MFCC (n_fft=400, hop=320, no pad)"),
        (1, hop, -160, 320, colours[2], f"original MFCC (n_fft=320, hop={hop}, centred)"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.8), layout="constrained", sharey=True)
    n_show = min(5, n_frames)
    for ax, shown, part in zip(axes, (0, n_frames - n_show), ("start", "end"), strict=True):
        shown = np.arange(shown, shown + n_show)
        ax.set_title(f"{part} of the recording", fontsize=FONT)
        for row, step, offset, length, colour, label in streams:
            for k, start in enumerate(shown * step * ms + offset * ms):  # alternate heights
                y = row + (0.12 if k % 2 else -0.12)
                ax.plot([start, start + length * ms], [y, y], color=colour, linewidth=4,
                        solid_capstyle="butt", label=None if k else label)  # fmt: skip
        starts = shown * FRAME_HOP * ms
        ax.plot(starts, np.zeros_like(starts), "|", color=colours[3], markersize=14,
                markeredgewidth=2, label="EMA row t at t × 20 ms")  # fmt: skip
        for t, start in zip(shown, starts, strict=True):
            ax.text(start, 3.35, f"t={t}", fontsize=FONT, ha="left")
        ax.set_yticks([0, 1, 2, 3], ["EMA rows", "original\nMFCC", "MFCC", "Wav2Vec2"])
        ax.set_ylim(-0.6, 3.7)
        ax.set_xlabel("time (ms)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_ylabel("frame stream")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=2, fontsize=FONT)
    fig.suptitle(f"The 20 ms frame grid ({n_samples} samples → {n_frames} frames)")
    return fig
