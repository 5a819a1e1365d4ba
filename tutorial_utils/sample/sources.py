"""The four planted sources of the sample's simulated encoder, per recording (numpy only).

Each recording of the synthetic sample gets four sources on the model's 20 ms frame grid
(see :mod:`tutorial_utils.sample.encoder` for how the simulated layers mix them):

- ``acoustic``: the log-mel spectrum (40 bands) of the frame's 400 audio samples;
- ``articulatory``: the 12 virtual EMA coordinates of the frame;
- ``content``: an embedding of the phone being spoken, identical for both speakers,
  smoothed over ±2 frames (linguistic content);
- ``speaker``: a constant per-speaker vector plus the frame's spectral tilt (speaker
  identity and voice quality).

:func:`planted` standardises every source over the whole sample, so that each has total
variance 1 and the layer weights are comparable.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from ..frames import EMA_COLUMNS, FRAME_HOP, FRAME_LENGTH, GRID_STFT, SAMPLE_RATE, n_model_frames
from .logmel import log_mel_db

__all__ = ["PARTICIPANTS", "SEED", "SOURCES", "SOURCE_DIMS", "planted", "stable_seed"]

PARTICIPANTS = ("SYN-F", "SYN-M")
SOURCES = ("acoustic", "articulatory", "content", "speaker")
N_MELS = 40
CONTENT_DIM = 32
SPEAKER_DIM = 16
SEED = 20250817
SOURCE_DIMS = {
    "acoustic": N_MELS,
    "articulatory": len(EMA_COLUMNS),
    "content": CONTENT_DIM,
    "speaker": SPEAKER_DIM + 1,
}
"""Columns of each source (the speaker vector plus one spectral-tilt column)."""
_CONTENT_SMOOTHING_FRAMES = 2.0


def _log_mel(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Log-mel power spectrum (n_frames, N_MELS) on the model's 20 ms frame grid."""
    # librosa's melspectrogram + power_to_db(ref=np.max, top_db=80) in numpy (see .logmel):
    # decibels relative to the recording's peak, floored 80 dB below it (silence).
    log_mel = log_mel_db(
        audio, SAMPLE_RATE, GRID_STFT["n_fft"], GRID_STFT["hop_length"], N_MELS, top_db=80.0
    )
    return log_mel.T[:n_frames].astype(np.float64)


def _spectral_tilt(log_mel: np.ndarray) -> np.ndarray:
    """Slope of a straight line fitted across the mel bands of each frame, (n_frames, 1)."""
    bands = np.arange(log_mel.shape[1], dtype=np.float64)
    bands -= bands.mean()
    slope = (log_mel - log_mel.mean(axis=1, keepdims=True)) @ bands / np.sum(bands**2)
    return slope[:, None]


def _ema_on_grid(ema: pd.DataFrame, filename: str, n_frames: int) -> np.ndarray:
    """EMA rows of one file on the model frame grid, edge-padded if a frame or two short."""
    rows = ema.loc[ema["FILENAME"] == filename].sort_values("TIMESTEP")
    values = rows[list(EMA_COLUMNS)].to_numpy(np.float64)[:n_frames]
    if len(values) < n_frames:
        values = np.pad(values, ((0, n_frames - len(values)), (0, 0)), mode="edge")
    return values


def _phone_inventory(phones: pd.DataFrame) -> list[str]:
    return sorted(set(phones["PHONE"].astype(str)))


def _content(phones: pd.DataFrame, filename: str, n_frames: int, table: dict) -> np.ndarray:
    """Embedding of the phone spoken at each frame centre, smoothed over time."""
    segments = phones.loc[phones["FILENAME"] == filename].sort_values("START_S")
    centres = (np.arange(n_frames) * FRAME_HOP + FRAME_LENGTH / 2) / SAMPLE_RATE
    index = np.searchsorted(segments["END_S"].to_numpy(), centres, side="right")
    index = np.minimum(index, len(segments) - 1)
    labels = segments["PHONE"].astype(str).to_numpy()[index]
    embedded = np.stack([table[label] for label in labels])
    return gaussian_filter1d(embedded, _CONTENT_SMOOTHING_FRAMES, axis=0, mode="nearest")


def stable_seed(*parts: str) -> int:
    """A platform-independent seed from strings (crc32, never Python's salted hash)."""
    return zlib.crc32("|".join(parts).encode()) ^ SEED


def _source_tables(phones: pd.DataFrame) -> tuple[dict, dict]:
    """Fixed phone embeddings and speaker vectors (seeded)."""
    rng = np.random.default_rng(SEED)
    inventory = _phone_inventory(phones)
    phone_table = dict(
        zip(inventory, rng.standard_normal((len(inventory), CONTENT_DIM)), strict=True)
    )
    speaker_table = {p: rng.standard_normal(SPEAKER_DIM) for p in PARTICIPANTS}
    return phone_table, speaker_table


def _raw_sources(
    recordings: pd.DataFrame, phones: pd.DataFrame, ema: dict, audio_of: dict
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Un-normalised planted sources of every recording, keyed by (participant, filename)."""
    phone_table, speaker_table = _source_tables(phones)
    sources = {}
    for row in recordings.itertuples(index=False):
        audio = audio_of[row.FILENAME]
        n_frames = n_model_frames(len(audio))
        log_mel = _log_mel(audio, n_frames)
        speaker = np.tile(speaker_table[row.PARTICIPANT], (n_frames, 1))
        sources[(row.PARTICIPANT, row.FILENAME)] = {
            "acoustic": log_mel,
            "articulatory": _ema_on_grid(ema[row.PARTICIPANT], row.FILENAME, n_frames),
            "content": _content(phones, row.FILENAME, n_frames, phone_table),
            "speaker": np.hstack([speaker, _spectral_tilt(log_mel)]),
        }
    return sources


def _standardise(sources: dict) -> dict:
    """z-score every column of every source over all frames of the sample, then divide by
    the square root of the number of columns, so each source has total variance 1 and the
    weights in LAYER_PROFILE are comparable. Pooling keeps the differences between speakers
    and sentences that carry the speaker and sentence information."""
    result = {key: {} for key in sources}
    for name in SOURCES:
        pooled = np.concatenate([s[name] for s in sources.values()])
        mean, std = pooled.mean(axis=0), pooled.std(axis=0)
        scale = np.where(std > 0, std, 1.0) * np.sqrt(pooled.shape[1])
        for key, s in sources.items():
            result[key][name] = (s[name] - mean) / scale
    return result


def planted(
    recordings: pd.DataFrame, phones: pd.DataFrame, ema: dict, audio_of: dict
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Standardised planted sources of every recording, keyed by (participant, filename)."""
    return _standardise(_raw_sources(recordings, phones, ema, audio_of))
