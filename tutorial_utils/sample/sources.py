"""The four planted sources of the sample's simulated encoder, on the model's 20 ms grid.

- ``acoustic``: the 40-band log-mel spectrum of the frame's 400 audio samples;
- ``articulatory``: the 12 virtual EMA coordinates of the frame;
- ``content``: an embedding of the phone being spoken (the same for both speakers), smoothed;
- ``speaker``: a constant per-speaker vector plus the frame's spectral tilt.

The log-mel is librosa's (``power_to_db(melspectrogram(y, sr=16000, n_mels=40, **GRID_STFT),
ref=np.max, top_db=80)``, librosa 0.11) redone operation for operation in numpy, so loading
the sample never imports ``librosa.feature`` (a second of numba code); a test checks it.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from ..frames import EMA_COLUMNS, FRAME_HOP, FRAME_LENGTH, GRID_STFT, SAMPLE_RATE, n_model_frames

PARTICIPANTS = ("SYN-F", "SYN-M")
SOURCES = ("acoustic", "articulatory", "content", "speaker")
SEED = 20250817
N_MELS, CONTENT_DIM, SPEAKER_DIM = 40, 32, 16
SOURCE_DIMS = {"acoustic": N_MELS, "articulatory": 12, "content": CONTENT_DIM, "speaker": 17}
"""Columns of each source (the speaker vector plus one spectral-tilt column)."""

_F_SP, _MIN_LOG_HZ, _LOGSTEP = 200.0 / 3, 1000.0, np.log(6.4) / 27.0  # Slaney's mel scale
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP


def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular mel filters ``(n_mels, n_fft // 2 + 1)`` float32, 0..sr/2.

    Equal to ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``.
    """
    top = _MIN_LOG_MEL + np.log(sr / 2.0 / _MIN_LOG_HZ) / _LOGSTEP  # sr/2 is above 1 kHz
    mels = np.linspace(0.0, top, n_mels + 2)
    mel_f = _F_SP * mels
    log_t = mels >= _MIN_LOG_MEL
    mel_f[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - _MIN_LOG_MEL))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, np.fft.rfftfreq(n=n_fft, d=1.0 / sr))
    weights = np.zeros((n_mels, n_fft // 2 + 1), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def log_mel_db(audio: np.ndarray, sr: int, n_fft: int, hop_length: int, n_mels: int) -> np.ndarray:
    """Log-mel power ``(n_mels, T)`` float32 of uncentred Hann frames, dB below the peak.

    Frame ``t`` is ``audio[t * hop_length : t * hop_length + n_fft]``; values are floored
    80 dB below the peak, as ``librosa.power_to_db(..., ref=np.max, top_db=80.0)``.
    """
    fac = np.linspace(-np.pi, np.pi, n_fft + 1)  # scipy's periodic Hann window, float64
    hann = (np.zeros(n_fft + 1) + 0.5 * np.cos(0 * fac) + 0.5 * np.cos(fac))[:n_fft]
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop_length]
    power = np.abs(np.fft.rfft(frames * hann, axis=-1).astype(np.complex64).T) ** 2.0
    mel_basis = mel_filterbank(sr, n_fft, n_mels)
    mel = np.einsum("...ft,mf->...mt", power, mel_basis, optimize=True)
    log_spec = 10.0 * np.log10(np.maximum(1e-10, mel))
    log_spec -= 10.0 * np.log10(np.maximum(1e-10, np.max(mel)))
    return np.maximum(log_spec, log_spec.max() - 80.0)


def stable_seed(*parts: str) -> int:
    """A platform-independent seed from strings (crc32, never Python's salted hash)."""
    return zlib.crc32("|".join(parts).encode()) ^ SEED


def _content(phones: pd.DataFrame, filename: str, n_frames: int, table: dict) -> np.ndarray:
    """Embedding of the phone spoken at each frame centre, smoothed over time."""
    from scipy.ndimage import gaussian_filter1d  # 0.3 s to import: only when building

    segments = phones.loc[phones["FILENAME"] == filename].sort_values("START_S")
    centres = (np.arange(n_frames) * FRAME_HOP + FRAME_LENGTH / 2) / SAMPLE_RATE
    index = np.searchsorted(segments["END_S"].to_numpy(), centres, side="right")
    labels = segments["PHONE"].astype(str).to_numpy()[np.minimum(index, len(segments) - 1)]
    embedded = np.stack([table[label] for label in labels])
    return gaussian_filter1d(embedded, 2.0, axis=0, mode="nearest")


def planted(
    recordings: pd.DataFrame, phones: pd.DataFrame, ema: dict, audio_of: dict
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Standardised planted sources of every recording, keyed by (participant, filename)."""
    rng = np.random.default_rng(SEED)
    inventory = sorted(set(phones["PHONE"].astype(str)))
    phone_table = dict(
        zip(inventory, rng.standard_normal((len(inventory), CONTENT_DIM)), strict=True)
    )
    speaker_table = {p: rng.standard_normal(SPEAKER_DIM) for p in PARTICIPANTS}
    raw = {}
    for row in recordings.itertuples(index=False):
        audio = audio_of[row.FILENAME]
        n_frames = n_model_frames(len(audio))
        log_mel = log_mel_db(audio, SAMPLE_RATE, GRID_STFT["n_fft"], FRAME_HOP, N_MELS)
        log_mel = log_mel.T[:n_frames].astype(np.float64)
        bands = np.arange(N_MELS, dtype=np.float64)
        bands -= bands.mean()
        tilt = (log_mel - log_mel.mean(axis=1, keepdims=True)) @ bands / np.sum(bands**2)
        table = ema[row.PARTICIPANT]
        rows = table.loc[table["FILENAME"] == row.FILENAME].sort_values("TIMESTEP")
        em = rows[list(EMA_COLUMNS)].to_numpy(np.float64)[:n_frames]  # edge-padded if short
        speaker = np.tile(speaker_table[row.PARTICIPANT], (n_frames, 1))
        raw[(row.PARTICIPANT, row.FILENAME)] = {
            "acoustic": log_mel,
            "articulatory": np.pad(em, ((0, n_frames - len(em)), (0, 0)), mode="edge"),
            "content": _content(phones, row.FILENAME, n_frames, phone_table),
            "speaker": np.hstack([speaker, tilt[:, None]]),
        }
    # z-score each column over all frames of the sample, then divide by sqrt(columns): each
    # source has total variance 1, and differences between speakers and sentences are kept.
    result = {key: {} for key in raw}
    for name in SOURCES:
        pooled = np.concatenate([s[name] for s in raw.values()])
        mean, std = pooled.mean(axis=0), pooled.std(axis=0)
        scale = np.where(std > 0, std, 1.0) * np.sqrt(pooled.shape[1])
        for key, s in raw.items():
            result[key][name] = (s[name] - mean) / scale
    return result
