"""The model's 20 ms frame grid, and MFCCs and EMA placed on it.

Wav2Vec2-base turns 16 kHz audio into one frame every 320 samples (20 ms). Its convolutional
feature encoder (the CNN) sees 400 samples per frame: CNN output frame ``t`` is computed from
the samples ``[320 t, 320 t + 400)``, so ``N`` samples give ``floor((N - 400) / 320) + 1``
frames. Only the CNN output has that window: hidden state 0 already adds a positional
convolution over neighbouring frames, and layers 1–12 attend to the whole utterance.

EMA rows are sampled every 20 ms from 0 s: row ``t`` lies at the *start* of frame ``t``'s
window, 12.5 ms before its centre.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_RATE = 16000
"""Sampling rate (Hz) expected by Wav2Vec2-base."""
FRAME_LENGTH = 400
"""Receptive field of one model frame, in samples (25 ms)."""
FRAME_HOP = 320
"""Hop between two model frames, in samples (20 ms)."""
FRAME_RATE_HZ = 50.0
"""Model frames per second."""
GRID_STFT = {"n_fft": FRAME_LENGTH, "hop_length": FRAME_HOP, "center": False}
"""librosa STFT settings whose frame ``t`` sees exactly the samples of model frame ``t``."""
EMA_SENSORS = ("TR", "TB", "TT", "UL", "LL", "JAW")
"""EMA sensors: tongue rear, tongue blade, tongue tip, upper lip, lower lip, jaw."""
EMA_COLUMNS = tuple(f"{sensor}_{axis}" for sensor in EMA_SENSORS for axis in ("X", "Y"))
"""The 12 sensor coordinate columns, in the order of the real EMA csv files."""
EMA_TABLE_COLUMNS = ("FILENAME", "SENTENCE", "TIMESTEP", *EMA_COLUMNS)
"""All 15 columns of the real ``ema_labels_<P>.csv`` files, in order."""


def n_model_frames(n_samples: int) -> int:
    """Number of model frames of ``n_samples`` samples at 16 kHz: ``(N - 400) // 320 + 1``."""
    return max(0, (int(n_samples) - FRAME_LENGTH) // FRAME_HOP + 1)


def frame_times(n_frames: int) -> np.ndarray:
    """Start time (s) of each model frame, ``0.02 t``; its window centre is 12.5 ms later."""
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}.")
    return np.arange(int(n_frames), dtype=np.float64) * (FRAME_HOP / SAMPLE_RATE)


def _mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"Expected 1-D mono audio, got shape {audio.shape}.")
    return audio


def mfcc_frames(
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    n_mfcc: int = 12,
    n_mels: int = 40,
    n_fft: int = FRAME_LENGTH,
) -> np.ndarray:
    """MFCCs on the model's grid: row ``t`` from an ``n_fft`` window centred on frame ``t``'s.

    With the default ``n_fft=400`` the window is exactly ``[320 t, 320 t + 400)``. Audio at
    another rate is first resampled to 16 kHz (:func:`scipy.signal.resample_poly`).

    Parameters
    ----------
    audio : numpy.ndarray
        1-D mono audio at ``sr`` Hz.
    sr, n_mfcc, n_mels, n_fft : int
        Sampling rate, cepstral coefficients, mel bands, window length (even, at most 400).

    Returns
    -------
    numpy.ndarray
        ``(n_model_frames(len(audio_16k)), n_mfcc)`` float32.
    """
    import librosa

    if n_fft % 2 or not 0 < n_fft <= FRAME_LENGTH:
        raise ValueError(f"n_fft must be even and in 2..{FRAME_LENGTH}; got {n_fft}.")
    audio = _mono(audio)
    if sr != SAMPLE_RATE:
        from scipy.signal import resample_poly

        gcd = math.gcd(int(sr), SAMPLE_RATE)
        if sr < SAMPLE_RATE:  # nothing above sr / 2 survives the upsampling
            warnings.warn(f"{sr} Hz audio upsampled to 16 kHz: top mel bands empty.", stacklevel=2)
        audio = resample_poly(audio, SAMPLE_RATE // gcd, int(sr) // gcd).astype(np.float32)
    n_frames = n_model_frames(audio.size)
    if n_frames == 0:
        return np.zeros((0, n_mfcc), dtype=np.float32)
    audio = audio[(FRAME_LENGTH - n_fft) // 2 :]  # window centre at 320 t + 200
    mfcc = librosa.feature.mfcc(
        y=audio, sr=SAMPLE_RATE, n_mfcc=n_mfcc, n_mels=n_mels, **{**GRID_STFT, "n_fft": n_fft}
    )
    return np.ascontiguousarray(mfcc.T[:n_frames], dtype=np.float32)


def mfcc_frames_original(audio: np.ndarray, n_frames: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """MFCCs as the original tutorial chapter computed them (for comparison).

    The hop is stretched to ``len(audio) // n_frames`` samples, with ``n_fft=320``, 12 mel
    bands, 12 coefficients and librosa's ``center=True``; the first ``n_frames`` rows are
    kept, so its frames drift against the model's. Prefer :func:`mfcc_frames`. Returns
    ``(n_frames, 12)`` float32.
    """
    import librosa

    audio = _mono(audio)
    if not 0 < n_frames <= audio.size:
        raise ValueError(f"{audio.size} audio samples cannot give {n_frames} frames.")
    hop = audio.size // n_frames
    mfcc = librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=12, n_mels=12, n_fft=320, hop_length=hop)
    return np.ascontiguousarray(mfcc.T[:n_frames], dtype=np.float32)


def trim_to_common_length(*arrays: np.ndarray, tolerance: int = 2) -> tuple[np.ndarray, ...]:
    """Views of ``arrays`` cut along axis 0 to the shortest one.

    Raises ``ValueError`` when the lengths differ by more than ``tolerance`` frames: the
    arrays then belong to different recordings or frame rates, and cutting would hide it.
    """
    lengths = [np.shape(a)[0] for a in arrays]
    if lengths and max(lengths) - min(lengths) > tolerance:
        raise ValueError(
            f"Frame counts differ by more than {tolerance} frames: {lengths}; check that the "
            "arrays belong to the same recording and frame rate."
        )
    return tuple(np.asarray(a)[: min(lengths)] for a in arrays)


def ema_frames(
    ema_df: pd.DataFrame, filename: str, n_frames: int, tolerance: int = 2, at: str = "start"
) -> np.ndarray:
    """EMA sensor positions of one recording, one row per model frame.

    Parameters
    ----------
    ema_df : pandas.DataFrame
        EMA table with the columns :data:`EMA_TABLE_COLUMNS`.
    filename : str
        Recording, e.g. ``"F02_B01_S18_R01_N.mat"``.
    n_frames : int
        Number of model frames of that recording; the EMA rows may differ by ``tolerance``.
    at : {"start", "centre"}, default "start"
        Row ``t`` as stored (window start), or linearly interpolated 12.5 ms later to the
        window centre (the last row, with no later neighbour, is held).

    Returns
    -------
    numpy.ndarray
        ``(min(rows, n_frames), 12)`` float32, columns :data:`EMA_COLUMNS`.
    """
    if at not in ("start", "centre"):
        raise ValueError(f"at must be 'start' or 'centre'; got {at!r}.")
    rows = ema_df[ema_df["FILENAME"] == filename].sort_values("TIMESTEP", kind="stable")
    if rows.empty:
        raise ValueError(f"No EMA rows for {filename!r}.")
    if abs(len(rows) - n_frames) > tolerance:
        raise ValueError(
            f"{filename!r} has {len(rows)} EMA rows but {n_frames} model frames, which differ "
            f"by more than {tolerance} frames; check that they belong to the same recording."
        )
    values = rows.loc[:, list(EMA_COLUMNS)].to_numpy(dtype=np.float32)
    if at == "centre":
        t = np.arange(len(values), dtype=np.float64)
        shift = FRAME_LENGTH / 2 / FRAME_HOP  # 12.5 ms / 20 ms = 0.625 rows
        values = np.stack([np.interp(t + shift, t, v) for v in values.T.astype(np.float64)], 1)
        values = values.astype(np.float32)
    return np.ascontiguousarray(values[: min(len(rows), int(n_frames))])
