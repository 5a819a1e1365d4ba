"""The raw material of chapter 00: EMA trajectories, audio, and the 20 ms frame grid."""

from __future__ import annotations

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..frames import EMA_SENSORS, FRAME_HOP, FRAME_LENGTH, SAMPLE_RATE, n_model_frames
from .base import PALETTE

__all__ = ["ema_trajectories", "frame_grid", "waveform_spectrogram"]

SENSOR_NAMES = {
    "TR": "tongue rear",
    "TB": "tongue blade",
    "TT": "tongue tip",
    "UL": "upper lip",
    "LL": "lower lip",
    "JAW": "jaw (lower incisor)",
}


def ema_trajectories(
    ema: np.ndarray | pd.DataFrame,
    *,
    frame_rate: float = SAMPLE_RATE / FRAME_HOP,
    title: str = "EMA sensor trajectories",
    y_axis: str = "Y",
) -> Figure:
    """Six panels, one per sensor, with its X and Y coordinate (mm) over time.

    ``ema`` is ``(T, 12)`` in the column order of :data:`tutorial_utils.frames.EMA_COLUMNS`
    (an EMA table of one recording also works), ``frame_rate`` rows per second; ``y_axis``
    describes the second coordinate (e.g. "Y, vertical" or "Y, lateral").
    """
    if isinstance(ema, pd.DataFrame):
        ema = ema[[f"{s}_{a}" for s in EMA_SENSORS for a in ("X", "Y")]].to_numpy()
    ema = np.asarray(ema, dtype=float)
    times = np.arange(len(ema)) / frame_rate
    fig, axes = plt.subplots(len(EMA_SENSORS), 1, figsize=(8, 9), sharex=True, layout="constrained")
    colours = sns.color_palette(PALETTE, 2)
    for i, (ax, sensor) in enumerate(zip(axes, EMA_SENSORS, strict=True)):
        for j, axis in enumerate(("X", y_axis)):
            values = ema[:, 2 * i + j]  # drawn around its mean, so both share one scale
            offset = values.mean()
            ax.plot(
                times, values - offset, color=colours[j], label=f"{axis} (mean {offset:.1f} mm)"
            )
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
    """Waveform (:func:`librosa.display.waveshow`) above a log-power spectrogram
    (:func:`librosa.display.specshow`, 25 ms windows, 10 ms hop) of 1-D mono ``audio``."""
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
    mesh = librosa.display.specshow(
        db,
        sr=sr,
        hop_length=hop,
        n_fft=window,
        x_axis="time",
        y_axis="hz",
        ax=bottom,
        cmap="magma",
    )
    fig.colorbar(mesh, ax=bottom).set_label("power (dB)")
    bottom.set_ylabel("frequency (Hz)")
    bottom.set_xlabel("time (s)")
    bottom.set_title("spectrogram (25 ms windows, 10 ms hop)", fontsize=9, loc="left")
    fig.suptitle(title)
    return fig


def _windows(ax: Axes, starts: np.ndarray, length: float, row: float, colour, label: str) -> None:
    """Analysis windows as thin bars, alternating height so overlaps stay visible."""
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
    """One panel of :func:`frame_grid` for the given frame indices."""
    ms = 1000 / sr
    colours = sns.color_palette(PALETTE, 4)
    starts = frames * FRAME_HOP * ms
    _windows(ax, starts, FRAME_LENGTH * ms, 3, colours[0], "Wav2Vec2 frame t: 25 ms window")
    _windows(ax, starts, FRAME_LENGTH * ms, 2, colours[1], "MFCC (n_fft=400, hop=320, no pad)")
    hop = n_samples // n_frames
    _windows(
        ax,
        frames * hop * ms - 160 * ms,
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


def frame_grid(
    n_samples: int, *, sr: int = SAMPLE_RATE, n_show: int = 5, title: str | None = None
) -> Figure:
    """How model frames, MFCC frames and EMA rows line up on the 20 ms grid.

    Two panels show the first and the last ``n_show`` frames of a recording of ``n_samples``
    samples: Wav2Vec2's 25 ms windows every 20 ms, the grid-aligned MFCC windows (identical),
    the original recipe's centred windows with the stretched hop ``n_samples // T`` (which
    drift), and the EMA rows at ``t × 20 ms``.
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
