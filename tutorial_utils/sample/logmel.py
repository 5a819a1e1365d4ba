"""The sample's log-mel spectrum in numpy: librosa's recipe without importing librosa.feature.

Importing ``librosa.feature`` compiles numba code (~2 s on a small machine), and the
simulated encoder's acoustic source is the only thing the sample needs from it. This module
repeats, operation for operation and in the same dtypes, what
``librosa.power_to_db(librosa.feature.melspectrogram(y, sr=16000, n_mels=40, power=2.0,
**GRID_STFT), ref=np.max, top_db=80.0)`` computes (librosa 0.11): a periodic Hann window in
float64, ``np.fft.rfft`` of the windowed frames stored as complex64, the power spectrum in
float32, a Slaney-style mel filterbank (float32, Slaney normalisation) and decibels relative
to the peak. ``tests/test_sample.py`` checks it against librosa.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["log_mel_db", "mel_filterbank", "power_spectrogram"]

_F_SP = 200.0 / 3  # Slaney mel scale: linear below 1 kHz, 200/3 Hz per mel
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    """Slaney mel of one frequency (librosa's ``hz_to_mel(htk=False)``)."""
    if hz >= _MIN_LOG_HZ:
        return _MIN_LOG_MEL + np.log(hz / _MIN_LOG_HZ) / _LOGSTEP
    return hz / _F_SP


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Frequencies (Hz) of Slaney mels (librosa's ``mel_to_hz(htk=False)``)."""
    freqs = _F_SP * mels
    log_t = mels >= _MIN_LOG_MEL
    freqs[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - _MIN_LOG_MEL))
    return freqs


@lru_cache(maxsize=4)
def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular mel filters (n_mels, n_fft // 2 + 1), float32, 0..sr/2.

    Parameters
    ----------
    sr : int
        Sampling rate (Hz).
    n_fft : int
        FFT length.
    n_mels : int
        Number of mel bands.

    Returns
    -------
    numpy.ndarray
        Read-only float32 weights, equal to ``librosa.filters.mel(sr=sr, n_fft=n_fft,
        n_mels=n_mels)``.
    """
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mels = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2)
    mel_f = _mel_to_hz(mels)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, n_fft // 2 + 1), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    weights.flags.writeable = False
    return weights


def _periodic_hann(n: int) -> np.ndarray:
    """Periodic Hann window of length ``n`` (scipy's ``get_window("hann", n)``), float64."""
    fac = np.linspace(-np.pi, np.pi, n + 1)
    window = np.zeros(n + 1)
    window += 0.5 * np.cos(0 * fac)
    window += 0.5 * np.cos(fac)
    return window[:n]


def power_spectrogram(audio: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """|STFT|² (n_fft // 2 + 1, n_frames) of uncentred Hann-windowed frames, float32.

    Parameters
    ----------
    audio : numpy.ndarray
        Mono float32 signal.
    n_fft : int
        Frame and FFT length (the window spans the whole frame).
    hop_length : int
        Samples between frame starts; frame ``t`` is ``audio[t * hop : t * hop + n_fft]``.

    Returns
    -------
    numpy.ndarray
        The power spectrum, as librosa's ``stft(center=False)`` then ``np.abs(...) ** 2``.
    """
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop_length].T
    stft = np.zeros((n_fft // 2 + 1, frames.shape[1]), dtype=np.complex64, order="F")
    stft[...] = np.fft.rfft(_periodic_hann(n_fft)[:, None] * frames, axis=-2)
    return np.abs(stft) ** 2.0


def log_mel_db(
    audio: np.ndarray, sr: int, n_fft: int, hop_length: int, n_mels: int, top_db: float = 80.0
) -> np.ndarray:
    """Log-mel power (n_mels, n_frames) in dB relative to the peak, floored ``top_db`` below.

    Parameters
    ----------
    audio : numpy.ndarray
        Mono float32 signal.
    sr, n_fft, hop_length, n_mels : int
        Sampling rate, frame length, hop and number of mel bands (no centring padding).
    top_db : float, default 80.0
        Floor below the peak (dB).

    Returns
    -------
    numpy.ndarray
        float32, as ``librosa.power_to_db(melspectrogram(...), ref=np.max, top_db=top_db)``.
    """
    power = power_spectrogram(audio, n_fft, hop_length)
    mel = np.einsum("...ft,mf->...mt", power, mel_filterbank(sr, n_fft, n_mels), optimize=True)
    amin = 1e-10
    log_spec = 10.0 * np.log10(np.maximum(amin, mel))
    log_spec -= 10.0 * np.log10(np.maximum(amin, np.max(mel)))
    return np.maximum(log_spec, log_spec.max() - top_db)
