"""Frame alignment: MFCCs and EMA on the Wav2Vec2 frame grid.

Wav2Vec2-base turns 16 kHz audio into one frame every 320 samples (20 ms). Its convolutional
feature encoder (the CNN) has a receptive field of 400 samples, so CNN output frame ``t`` is
computed from the samples ``[320 t, 320 t + 400)`` and a recording of ``N`` samples gives
``floor((N - 400) / 320) + 1`` frames. Only the CNN output has that window: hidden state 0
already adds a positional convolution over neighbouring frames, and layers 1–12 attend to the
whole utterance. Frame ``t`` is a position on the grid, not a 25 ms view.

:func:`mfcc_frames` computes MFCCs with windows centred on the CNN window (by default exactly
that window: ``n_fft=400``, ``hop_length=320``, ``center=False``).
:func:`mfcc_frames_original` reproduces the recipe of the original tutorial chapter for
comparison. EMA rows are sampled every 20 ms starting at 0 s (row ``t`` at ``t * 0.02`` s),
the *start* of frame ``t``, 12.5 ms before its window centre; :func:`ema_frames` pairs row
``t`` with frame ``t`` as stored (``at="start"``) or interpolated to the centre
(``at="centre"``).
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import pandas as pd

SAMPLE_RATE = 16000
"""Sampling rate (Hz) expected by Wav2Vec2-base."""
FRAME_LENGTH = 400
"""Receptive field of one model frame, in samples (25 ms)."""
FRAME_HOP = 320
"""Hop between two model frames, in samples (20 ms)."""
FRAME_RATE_HZ = 50.0
"""Model frames per second."""
GRID_STFT = {
    "n_fft": FRAME_LENGTH,
    "hop_length": FRAME_HOP,
    "win_length": FRAME_LENGTH,
    "center": False,
}
"""librosa STFT settings whose frame ``t`` sees exactly the samples of model frame ``t``."""
EMA_SENSORS = ("TR", "TB", "TT", "UL", "LL", "JAW")
"""EMA sensors: tongue rear, tongue blade, tongue tip, upper lip, lower lip, jaw."""
EMA_COLUMNS = tuple(f"{sensor}_{axis}" for sensor in EMA_SENSORS for axis in ("X", "Y"))
"""The 12 sensor coordinate columns, in the order of the real EMA csv files."""
EMA_TABLE_COLUMNS = ("FILENAME", "SENTENCE", "TIMESTEP", *EMA_COLUMNS)
"""All 15 columns of the real ``ema_labels_<P>.csv`` files, in order."""


def n_model_frames(n_samples: int) -> int:
    """Number of Wav2Vec2 frames for a 16 kHz recording of ``n_samples`` samples.

    Parameters
    ----------
    n_samples : int
        Length of the audio in samples at 16 kHz.

    Returns
    -------
    int
        ``floor((n_samples - 400) / 320) + 1``, or 0 when ``n_samples < 400``.
    """
    n_samples = int(n_samples)
    if n_samples < FRAME_LENGTH:
        return 0
    return (n_samples - FRAME_LENGTH) // FRAME_HOP + 1


def frame_times(n_frames: int) -> np.ndarray:
    """Start time in seconds of each model frame.

    Model frame ``t`` covers the samples ``[320 t, 320 t + 400)``, i.e. the interval
    ``[0.02 t, 0.02 t + 0.025)`` seconds; this returns the start ``0.02 t``. Add
    ``FRAME_LENGTH / (2 * SAMPLE_RATE)`` (12.5 ms) for the window centre.

    Parameters
    ----------
    n_frames : int
        Number of frames.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_frames,)`` float64 array of start times.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}.")
    return np.arange(int(n_frames), dtype=np.float64) * (FRAME_HOP / SAMPLE_RATE)


def _as_mono_float32(audio: np.ndarray) -> np.ndarray:
    """Return ``audio`` as a 1-D float32 array or raise a clear error."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(
            f"Expected 1-D mono audio, got shape {audio.shape}; mix down or select one channel."
        )
    return audio


def _to_model_rate(audio: np.ndarray, sr: int) -> np.ndarray:
    """Resample ``audio`` from ``sr`` to 16 kHz (polyphase, scipy) if needed."""
    if sr == SAMPLE_RATE:
        return audio
    if sr <= 0:
        raise ValueError(f"Sampling rate must be positive, got {sr}.")
    from scipy.signal import resample_poly

    gcd = math.gcd(int(sr), SAMPLE_RATE)
    resampled = resample_poly(audio, SAMPLE_RATE // gcd, int(sr) // gcd)
    return resampled.astype(np.float32)


def mfcc_frames(
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    n_mfcc: int = 12,
    n_mels: int = 40,
    n_fft: int = FRAME_LENGTH,
) -> np.ndarray:
    """MFCCs on the Wav2Vec2 frame grid.

    MFCC frame ``t`` is computed from an ``n_fft``-sample window centred on the CNN window of
    frame ``t`` (``hop_length=320``, ``center=False``); with the default ``n_fft=400`` that is
    exactly ``[320 t, 320 t + 400)``. Audio at another rate is first resampled to 16 kHz with
    :func:`scipy.signal.resample_poly`.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D mono audio.
    sr : int, default 16000
        Sampling rate of ``audio``.
    n_mfcc : int, default 12
        Number of cepstral coefficients.
    n_mels : int, default 40
        Number of mel bands.
    n_fft : int, default 400
        Window length in samples, even and at most 400.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_model_frames(len(audio_16k)), n_mfcc)`` float32.
    """
    if n_fft % 2 or not 0 < n_fft <= FRAME_LENGTH:
        raise ValueError(f"n_fft must be even and in 2..{FRAME_LENGTH}; got {n_fft}.")
    audio = _to_model_rate(_as_mono_float32(audio), sr)
    n_frames = n_model_frames(audio.size)
    if n_frames == 0:
        return np.zeros((0, n_mfcc), dtype=np.float32)
    stft = {**GRID_STFT, "n_fft": n_fft, "win_length": n_fft}
    audio = audio[(FRAME_LENGTH - n_fft) // 2 :]  # window centre at 320 t + 200
    mfcc = librosa.feature.mfcc(y=audio, sr=SAMPLE_RATE, n_mfcc=n_mfcc, n_mels=n_mels, **stft)
    return np.ascontiguousarray(mfcc.T[:n_frames], dtype=np.float32)


def mfcc_frames_original(audio: np.ndarray, n_frames: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """MFCCs computed as in the original tutorial chapter (kept for comparison).

    The original recipe stretches the hop to ``len(audio) // n_frames`` samples, uses
    ``n_fft=320``, ``n_mels=12``, 12 coefficients and librosa's default ``center=True``, then
    keeps the first ``n_frames`` rows. Its frames therefore drift against the model's frames;
    prefer :func:`mfcc_frames`.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D mono audio.
    n_frames : int
        Number of model frames to produce (the recording's frame count).
    sr : int, default 16000
        Sampling rate of ``audio`` (used as is, as in the original).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_frames, 12)`` float32 (frames × coefficients).
    """
    audio = _as_mono_float32(audio)
    if n_frames <= 0:
        raise ValueError(f"n_frames must be positive, got {n_frames}.")
    hop_length = audio.size // n_frames
    if hop_length < 1:
        raise ValueError(
            f"Audio of {audio.size} samples is too short for {n_frames} frames; "
            "check that the audio and the frame count belong to the same recording."
        )
    mfcc = librosa.feature.mfcc(
        y=audio, sr=sr, n_mfcc=12, n_mels=12, n_fft=320, hop_length=hop_length
    )
    return np.ascontiguousarray(mfcc.T[:n_frames], dtype=np.float32)


def _check_tolerance(lengths: list[int], tolerance: int, what: str) -> None:
    """Raise ValueError when the lengths differ by more than ``tolerance``."""
    if lengths and max(lengths) - min(lengths) > tolerance:
        raise ValueError(
            f"Frame counts of {what} differ by more than {tolerance} frames: {lengths}. "
            "This usually means the arrays belong to different recordings or use different "
            "frame rates; check the alignment instead of truncating."
        )


def trim_to_common_length(*arrays: np.ndarray, tolerance: int = 2) -> tuple[np.ndarray, ...]:
    """Trim arrays along axis 0 to the shortest one.

    Parameters
    ----------
    *arrays : numpy.ndarray
        Arrays whose first axis is time (frames).
    tolerance : int, default 2
        Largest allowed difference between the longest and the shortest array.

    Returns
    -------
    tuple of numpy.ndarray
        Views of the inputs, all with the same number of rows.

    Raises
    ------
    ValueError
        When the lengths differ by more than ``tolerance``.
    """
    arrays_ = [np.asarray(a) for a in arrays]
    lengths = [a.shape[0] for a in arrays_]
    _check_tolerance(lengths, tolerance, "the arrays")
    if not arrays_:
        return ()
    n = min(lengths)
    return tuple(a[:n] for a in arrays_)


def _at_window_centre(values: np.ndarray) -> np.ndarray:
    """Rows sampled every 20 ms from 0 s, linearly interpolated to ``20 t + 12.5`` ms.

    The last row, which has no later neighbour, is held (``numpy.interp`` clamps).
    """
    rows = np.arange(len(values), dtype=np.float64)
    wanted = rows + (FRAME_LENGTH / 2) / FRAME_HOP  # 12.5 ms / 20 ms = 0.625 rows later
    columns = [np.interp(wanted, rows, column) for column in values.T.astype(np.float64)]
    return np.stack(columns, axis=1).astype(np.float32) if columns else values


def ema_frames(
    ema_df: pd.DataFrame, filename: str, n_frames: int, tolerance: int = 2, at: str = "start"
) -> np.ndarray:
    """EMA sensor positions of one recording, aligned to the model's frames.

    The rows of ``filename`` are sorted by ``TIMESTEP`` (row ``t`` at ``0.02 t`` s, the start of
    frame ``t``'s CNN window) and trimmed to ``min(rows, n_frames)``. With ``at="centre"`` each
    coordinate is linearly interpolated to the window centre ``0.02 t + 0.0125`` s.

    Parameters
    ----------
    ema_df : pandas.DataFrame
        EMA table with the columns of :data:`EMA_TABLE_COLUMNS`.
    filename : str
        Recording, e.g. ``"F02_B01_S18_R01_N.mat"``.
    n_frames : int
        Number of model frames of that recording.
    tolerance : int, default 2
        Largest allowed difference between the number of EMA rows and ``n_frames``.
    at : {"start", "centre"}, default "start"
        Pair frame ``t`` with the row at its window start, or with the value interpolated to
        its window centre (the last frame holds the last row).

    Returns
    -------
    numpy.ndarray
        Shape ``(min(rows, n_frames), 12)`` float32, columns :data:`EMA_COLUMNS`.

    Raises
    ------
    ValueError
        When columns are missing, ``filename`` is unknown, or the counts differ too much.
    """
    if at not in ("start", "centre"):
        raise ValueError(f"at must be 'start' or 'centre'; got {at!r}.")
    missing = [c for c in ("FILENAME", "TIMESTEP", *EMA_COLUMNS) if c not in ema_df.columns]
    if missing:
        raise ValueError(f"EMA table lacks the columns {missing}; expected {EMA_TABLE_COLUMNS}.")
    rows = ema_df[ema_df["FILENAME"] == filename]
    if rows.empty:
        known = sorted(ema_df["FILENAME"].unique())
        shown = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
        raise ValueError(f"No EMA rows for {filename!r}. Known filenames: {shown}")
    rows = rows.sort_values("TIMESTEP", kind="stable")
    _check_tolerance([len(rows), int(n_frames)], tolerance, f"EMA and model for {filename!r}")
    values = rows.loc[:, list(EMA_COLUMNS)].to_numpy(dtype=np.float32)
    if at == "centre":
        values = _at_window_centre(values)
    return np.ascontiguousarray(values[: min(len(rows), int(n_frames))])
