"""The simulated 13-layer encoder of the offline sample (numpy only, deterministic).

Everything here is **synthetic**. Two speakers, ``SYN-F`` and ``SYN-M``, read IEEE sentences
synthesised with the VocalTractLab articulatory synthesiser. Both use VocalTractLab's bundled
adult vocal tract (changing the anatomy breaks the synthesis in vocaltractlab-cython 0.0.17);
they differ in voice pitch (about 153 vs 86 Hz), speaking rate and segment timing.
``tools/make_sample`` made the committed files in ``data/sample/``: 16 kHz FLAC audio,
virtual EMA sensors at 50 Hz (``_Y`` is vertical here, lateral in the real data) and the
phone segments. The sample has the real data's schema, so every notebook runs on it offline.

The "model" is not Wav2Vec2. It is a simulated 13-layer, 768-dimensional encoder built at
load time (numpy only, deterministic). Each layer ``l`` is a planted mixture of four sources,
each standardised and passed through a fixed random projection to 768 dimensions::

    h_l(t) = Σ_s  w_s(l) · P_s · source_s(t)  +  noise_l(t)  +  anisotropy_l(t)

- ``acoustic``: the log-mel spectrum (40 bands) of the frame's 400 audio samples;
- ``articulatory``: the 12 virtual EMA coordinates of the frame;
- ``content``: an embedding of the phone being spoken, identical for both speakers,
  smoothed over ±2 frames (linguistic content);
- ``speaker``: a constant per-speaker vector plus the frame's spectral tilt (speaker
  identity and voice quality);
- ``noise``: temporally smooth noise that drifts from layer to layer (a few noise fields,
  each shared by neighbouring layers), so neighbouring layers resemble each other;
- ``anisotropy``: a few dimensions with very large variance carrying a slow drift, switched
  on in the last layers (real transformer layers have such "rogue" dimensions).

The weights ``w_s(l)`` are :data:`LAYER_PROFILE`. They were chosen to resemble, in shape
only, what layer-wise analyses report for wav2vec 2.0 base: acoustic information high in the
first layers, dipping in the middle and partly returning around layer 10, with the last two
layers diverging (Pasad, Chou & Livescu 2021); speaker information strongest early and
linguistic content peaking in the middle layers (Pasad et al. 2021; Shen et al. 2023);
articulatory information present at a roughly constant low level (Cho et al. 2023). It is a
teaching stand-in with a known answer, not a model of wav2vec 2.0, and its CKA values are
not the real data's.
"""

from __future__ import annotations

import zlib

import librosa
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from ..dataset import HiddenStates
from ..frames import EMA_COLUMNS, FRAME_HOP, FRAME_LENGTH, SAMPLE_RATE, n_model_frames

__all__ = ["LAYER_PROFILE", "PARTICIPANTS", "SOURCES", "ground_truth", "simulate"]

PARTICIPANTS = ("SYN-F", "SYN-M")
SOURCES = ("acoustic", "articulatory", "content", "speaker")
N_LAYERS = 13
HIDDEN_DIM = 768
N_MELS = 40
CONTENT_DIM = 32
SPEAKER_DIM = 16
SEED = 20250817

_LAYERS = list(range(N_LAYERS))
LAYER_PROFILE = pd.DataFrame(
    {
        # Amplitude of each standardised source in each layer (rows are layers 0-12).
        "acoustic": [1.00, 0.95, 0.88, 0.80, 0.72, 0.64, 0.58, 0.58, 0.62, 0.68, 0.74, 0.50, 0.45],
        "articulatory": [
            0.60,
            0.62,
            0.63,
            0.62,
            0.58,
            0.52,
            0.48,
            0.48,
            0.48,
            0.48,
            0.46,
            0.25,
            0.22,
        ],
        "content": [0.10, 0.20, 0.35, 0.50, 0.68, 0.85, 0.95, 0.95, 0.88, 0.75, 0.60, 0.50, 0.45],
        "speaker": [0.70, 0.62, 0.52, 0.40, 0.28, 0.16, 0.08, 0.06, 0.08, 0.12, 0.16, 0.25, 0.28],
        # Amplitude of the layer's noise (structured + isotropic, see _layer_noise).
        "noise": [1.40] * 11 + [1.50, 1.60],
        # Amplitude of the few high-variance "rogue" dimensions (last two layers only).
        "anisotropy": [0.0] * 11 + [1.0, 1.1],
    },
    index=pd.Index(_LAYERS, name="layer"),
)
"""Planted weights per layer (rows 0-12). Columns :data:`SOURCES` plus ``noise`` and
``anisotropy``; see the module docstring for what each term is."""

_NOISE_FIELDS = 5  # independent noise fields shared out over the layers
_NOISE_LAYER_WIDTH = 2.5  # layers; how far one noise field reaches
_NOISE_RANK = 6  # dimensions of the structured part of each noise field (low rank, so
# that the noise competes with the sources' dominant directions as in real layers)
_ISOTROPIC_SHARE = 0.2  # share of the noise variance spread over all 768 dimensions
_ROGUE_DIMS = 4
_CONTENT_SMOOTHING_FRAMES = 2.0


def ground_truth() -> pd.DataFrame:
    """The planted weight of each source in each simulated layer.

    Returns
    -------
    pandas.DataFrame
        Index ``layer`` (0-12), columns ``acoustic``, ``articulatory``, ``content``,
        ``speaker``: the amplitude with which each standardised source enters the layer.
    """
    return LAYER_PROFILE[list(SOURCES)].copy()


# --------------------------------------------------------------------------- planted sources


def _log_mel(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Log-mel power spectrum (n_frames, N_MELS) on the model's 20 ms frame grid."""
    mel = librosa.feature.melspectrogram(
        y=audio,
        sr=SAMPLE_RATE,
        n_fft=FRAME_LENGTH,
        hop_length=FRAME_HOP,
        win_length=FRAME_LENGTH,
        center=False,
        n_mels=N_MELS,
        power=2.0,
    )
    # Decibels relative to the recording's peak, floored 80 dB below it (silence).
    return librosa.power_to_db(mel.T[:n_frames], ref=np.max, top_db=80.0).astype(np.float64)


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


def _stable_seed(*parts: str) -> int:
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


# --------------------------------------------------------------------------- the encoder


def _projections() -> dict[str, np.ndarray]:
    """Fixed random maps from each source to the 768 hidden dimensions (seeded)."""
    rng = np.random.default_rng(SEED + 1)
    dims = {
        "acoustic": N_MELS,
        "articulatory": len(EMA_COLUMNS),
        "content": CONTENT_DIM,
        "speaker": SPEAKER_DIM + 1,
    }
    return {
        name: rng.standard_normal((dims[name], HIDDEN_DIM)).astype(np.float32) for name in SOURCES
    }


def _noise_mixing() -> np.ndarray:
    """Weights (N_LAYERS, _NOISE_FIELDS) that mix a few shared noise fields into each layer.

    Field ``k`` is centred on an evenly spaced layer and falls off as a Gaussian of the layer
    distance, so neighbouring layers share most of their noise and distant layers little.
    Rows have unit norm, so every layer's noise has the same variance.
    """
    centres = np.linspace(0, N_LAYERS - 1, _NOISE_FIELDS)
    distance = np.arange(N_LAYERS)[:, None] - centres[None, :]
    weights = np.exp(-0.5 * (distance / _NOISE_LAYER_WIDTH) ** 2)
    return weights / np.linalg.norm(weights, axis=1, keepdims=True)


def _noise_projections() -> np.ndarray:
    """Fixed maps (_NOISE_FIELDS, _NOISE_RANK, HIDDEN_DIM) of the structured noise (seeded)."""
    rng = np.random.default_rng(SEED + 2)
    return rng.standard_normal((_NOISE_FIELDS, _NOISE_RANK, HIDDEN_DIM), dtype=np.float32)


def _smooth_in_time(fields: np.ndarray) -> np.ndarray:
    """Three-tap [1/4, 1/2, 1/4] smoothing along axis 1, rescaled to keep unit variance."""
    smooth = fields.copy()
    smooth[:, 1:-1] = 0.25 * fields[:, :-2] + 0.5 * fields[:, 1:-1] + 0.25 * fields[:, 2:]
    return smooth / np.sqrt(0.375)  # 0.25² + 0.5² + 0.25² of the variance is kept


def _layer_noise(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Noise (N_LAYERS, n_frames, HIDDEN_DIM): smooth in time, correlated across layers.

    Each of the few noise fields is mostly *structured* (a temporally smooth signal in a
    random ``_NOISE_RANK``-dimensional subspace: everything else a layer encodes that none
    of the planted sources explains) plus some isotropic noise over all 768 dimensions.
    Every layer mixes the fields with :func:`_noise_mixing`; variance is ~1 per dimension.
    """
    latent = _smooth_in_time(
        rng.standard_normal((_NOISE_FIELDS, n_frames, _NOISE_RANK), dtype=np.float32)
    )
    structured = np.einsum("ftr,frd->ftd", latent, _noise_projections()) / np.sqrt(_NOISE_RANK)
    isotropic = _smooth_in_time(
        rng.standard_normal((_NOISE_FIELDS, n_frames, HIDDEN_DIM), dtype=np.float32)
    )
    fields = np.sqrt(1 - _ISOTROPIC_SHARE) * structured + np.sqrt(_ISOTROPIC_SHARE) * isotropic
    mixed = _noise_mixing().astype(np.float32) @ fields.reshape(_NOISE_FIELDS, -1)
    return mixed.reshape(N_LAYERS, n_frames, HIDDEN_DIM)


def _rogue_drift(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A slow random drift (n_frames, _ROGUE_DIMS) for the high-variance dimensions."""
    drift = np.cumsum(rng.standard_normal((n_frames, _ROGUE_DIMS)), axis=0)
    drift -= drift.mean(axis=0)
    return drift / max(drift.std(), 1e-12)


def _encode(sources: dict[str, np.ndarray], projections: dict, seed: int) -> np.ndarray:
    """The 13 simulated layers of one recording, (N_LAYERS, n_frames, 768) float32."""
    rng = np.random.default_rng(seed)
    n_frames = len(sources["acoustic"])
    # A standardised source has total variance 1 and the projections have unit-variance
    # entries, so each projected source has variance ~1 per hidden dimension, like the noise.
    projected = np.stack([sources[name].astype(np.float32) @ projections[name] for name in SOURCES])
    weights = LAYER_PROFILE[list(SOURCES)].to_numpy()
    hidden = np.tensordot(weights.astype(np.float32), projected, axes=1)
    noise_scale = LAYER_PROFILE["noise"].to_numpy(np.float32)[:, None, None]
    hidden += noise_scale * _layer_noise(n_frames, rng)
    # The rogue dimensions carry as much total variance as a source of that weight would,
    # concentrated in _ROGUE_DIMS dimensions.
    rogue_scale = LAYER_PROFILE["anisotropy"].to_numpy() * np.sqrt(HIDDEN_DIM / _ROGUE_DIMS)
    drift = _rogue_drift(n_frames, rng)
    hidden[:, :, :_ROGUE_DIMS] += (rogue_scale[:, None, None] * drift[None]).astype(np.float32)
    hidden.flags.writeable = False
    return hidden


def simulate(
    recordings: pd.DataFrame, phones: pd.DataFrame, ema: dict, audio_of: dict
) -> tuple[dict, dict[str, HiddenStates]]:
    """Planted sources and simulated hidden states of every sample recording.

    Returns
    -------
    (sources, hidden_states)
        ``sources[(participant, filename)]`` is a dict of standardised source arrays;
        ``hidden_states[participant]`` is ``{layer: {filename: (T, 768) float32}}``.
    """
    sources = _standardise(_raw_sources(recordings, phones, ema, audio_of))
    projections = _projections()
    states: dict[str, HiddenStates] = {}
    for participant in PARTICIPANTS:
        names = recordings.loc[recordings["PARTICIPANT"] == participant, "FILENAME"]
        per_layer: HiddenStates = {layer: {} for layer in _LAYERS}
        for filename in names:
            seed = _stable_seed(participant, filename)
            layers = _encode(sources[(participant, filename)], projections, seed)
            for layer in _LAYERS:
                per_layer[layer][filename] = layers[layer]
        states[participant] = per_layer
    return sources, states
