"""The sample's simulated 13-layer, 768-dimensional encoder (numpy, seeded; not Wav2Vec2).

Each layer mixes four standardised planted sources on the 20 ms grid, each mapped to 768
dimensions by a fixed random projection ``P_s``::

    h_l(t) = Σ_s  w_s(l) · P_s · source_s(t)  +  noise_l(t)  +  anisotropy_l(t)

``acoustic``: the 40-band log-mel (librosa's, redone in numpy: loading the sample never imports
``librosa.feature``); ``articulatory``: the 12 virtual EMA coordinates; ``content``: a smoothed
embedding of the phone spoken; ``speaker``: a per-speaker vector plus the spectral tilt.
``noise`` is smooth in time and shared by neighbouring layers; ``anisotropy``, a few rogue
dimensions of large variance in the last two layers. The weights (:data:`LAYER_PROFILE`)
resemble in shape only layer-wise analyses of wav2vec 2.0 base (Pasad, Chou & Livescu 2021;
Shen et al. 2023; Cho et al. 2023): a stand-in with a known answer, not the real data's CKA.
"""

import zlib

import numpy as np
import pandas as pd

from ..frames import EMA_COLUMNS, FRAME_HOP, FRAME_LENGTH, GRID_STFT, SAMPLE_RATE, n_model_frames

PARTICIPANTS = ("SYN-F", "SYN-M")
SOURCES = ("acoustic", "articulatory", "content", "speaker")
SEED = 20250817
N_MELS, CONTENT_DIM, SPEAKER_DIM, N_LAYERS, HIDDEN_DIM = 40, 32, 16, 13, 768
SOURCE_DIMS = {"acoustic": N_MELS, "articulatory": 12, "content": CONTENT_DIM, "speaker": 17}
_PROFILE = [  # acoustic, articulatory, content, speaker, noise, anisotropy
    (1.00, 0.60, 0.10, 0.70, 1.40, 0.0),
    (0.95, 0.62, 0.20, 0.62, 1.40, 0.0),
    (0.88, 0.63, 0.35, 0.52, 1.40, 0.0),
    (0.80, 0.62, 0.50, 0.40, 1.40, 0.0),
    (0.72, 0.58, 0.68, 0.28, 1.40, 0.0),
    (0.64, 0.52, 0.85, 0.16, 1.40, 0.0),
    (0.58, 0.48, 0.95, 0.08, 1.40, 0.0),
    (0.58, 0.48, 0.95, 0.06, 1.40, 0.0),
    (0.62, 0.48, 0.88, 0.08, 1.40, 0.0),
    (0.68, 0.48, 0.75, 0.12, 1.40, 0.0),
    (0.74, 0.46, 0.60, 0.16, 1.40, 0.0),
    (0.50, 0.25, 0.50, 0.25, 1.50, 1.0),
    (0.45, 0.22, 0.45, 0.28, 1.60, 1.1),
]
_LAYERS = pd.Index(list(range(N_LAYERS)), name="layer")
LAYER_PROFILE = pd.DataFrame(_PROFILE, columns=[*SOURCES, "noise", "anisotropy"], index=_LAYERS)
"""Amplitude of each standardised source, of the noise and of the rogue dimensions per layer."""
_FIELDS, _FIELD_WIDTH, _NOISE_RANK, _ROGUE_DIMS = 5, 2.5, 6, 4  # noise fields: reach in layers
_ISOTROPIC_SHARE = 0.2  # share of the noise variance spread over all 768 dimensions
_F_SP, _MIN_LOG_HZ, _LOGSTEP = 200.0 / 3, 1000.0, np.log(6.4) / 27.0  # Slaney's mel scale


def ground_truth() -> pd.DataFrame:
    """The planted weight of each source (columns) in each simulated layer (index ``layer``)."""
    return LAYER_PROFILE[list(SOURCES)].copy()


def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``: float32 Slaney triangles."""
    min_log_mel = _MIN_LOG_HZ / _F_SP
    top = min_log_mel + np.log(sr / 2.0 / _MIN_LOG_HZ) / _LOGSTEP  # sr/2 is above 1 kHz
    mels = np.linspace(0.0, top, n_mels + 2)
    mel_f = _F_SP * mels
    log_t = mels >= min_log_mel
    mel_f[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - min_log_mel))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, np.fft.rfftfreq(n=n_fft, d=1.0 / sr))
    weights = np.zeros((n_mels, n_fft // 2 + 1), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def log_mel_db(audio: np.ndarray, sr: int, n_fft: int, hop_length: int, n_mels: int) -> np.ndarray:
    """Log-mel ``(n_mels, T)`` float32 of uncentred Hann frames, in dB below the peak, floored
    80 dB under it: ``librosa.power_to_db(melspectrogram(...), ref=np.max, top_db=80.0)``."""
    fac = np.linspace(-np.pi, np.pi, n_fft + 1)  # scipy's periodic Hann window, float64
    hann = (np.zeros(n_fft + 1) + 0.5 * np.cos(0 * fac) + 0.5 * np.cos(fac))[:n_fft]
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop_length]
    power = np.abs(np.fft.rfft(frames * hann, axis=-1).astype(np.complex64).T) ** 2.0
    mel = np.einsum("...ft,mf->...mt", power, mel_filterbank(sr, n_fft, n_mels), optimize=True)
    log_spec = 10.0 * np.log10(np.maximum(1e-10, mel))
    log_spec -= 10.0 * np.log10(np.maximum(1e-10, np.max(mel)))
    return np.maximum(log_spec, log_spec.max() - 80.0)


def _planted(recordings: pd.DataFrame, phones: pd.DataFrame, ema: dict, audio_of: dict) -> dict:
    """Standardised planted sources of every recording, keyed by (participant, filename)."""
    from scipy.ndimage import gaussian_filter1d  # 0.3 s to import: only when building

    rng = np.random.default_rng(SEED)
    inventory = sorted(set(phones["PHONE"].astype(str)))
    embeddings = rng.standard_normal((len(inventory), CONTENT_DIM))
    phone_table = dict(zip(inventory, embeddings, strict=True))
    speaker_table = {p: rng.standard_normal(SPEAKER_DIM) for p in PARTICIPANTS}
    bands = np.arange(N_MELS, dtype=np.float64) - (N_MELS - 1) / 2
    raw = {}
    for row in recordings.itertuples(index=False):
        audio = audio_of[row.FILENAME]
        n_frames = n_model_frames(len(audio))
        log_mel = log_mel_db(audio, SAMPLE_RATE, GRID_STFT["n_fft"], FRAME_HOP, N_MELS)
        log_mel = log_mel.T[:n_frames].astype(np.float64)
        tilt = (log_mel - log_mel.mean(axis=1, keepdims=True)) @ bands / np.sum(bands**2)
        table = ema[row.PARTICIPANT]
        rows = table.loc[table["FILENAME"] == row.FILENAME].sort_values("TIMESTEP")
        em = rows[list(EMA_COLUMNS)].to_numpy(np.float64)[:n_frames]  # edge-padded if short
        segments = phones.loc[phones["FILENAME"] == row.FILENAME].sort_values("START_S")
        centres = (np.arange(n_frames) * FRAME_HOP + FRAME_LENGTH / 2) / SAMPLE_RATE
        index = np.searchsorted(segments["END_S"].to_numpy(), centres, side="right")
        labels = segments["PHONE"].astype(str).to_numpy()[np.minimum(index, len(segments) - 1)]
        content = np.stack([phone_table[label] for label in labels])
        speaker = np.tile(speaker_table[row.PARTICIPANT], (n_frames, 1))
        raw[(row.PARTICIPANT, row.FILENAME)] = {
            "acoustic": log_mel,
            "articulatory": np.pad(em, ((0, n_frames - len(em)), (0, 0)), mode="edge"),
            "content": gaussian_filter1d(content, 2.0, axis=0, mode="nearest"),
            "speaker": np.hstack([speaker, tilt[:, None]]),
        }
    # z-score each column over the whole sample, / sqrt(columns): each source has variance 1.
    result = {key: {} for key in raw}
    for name in SOURCES:
        pooled = np.concatenate([s[name] for s in raw.values()])
        mean, std = pooled.mean(axis=0), pooled.std(axis=0)
        scale = np.where(std > 0, std, 1.0) * np.sqrt(pooled.shape[1])
        for key, s in raw.items():
            result[key][name] = (s[name] - mean) / scale
    return result


def _smooth_in_time(fields: np.ndarray) -> np.ndarray:
    """Three-tap [1/4, 1/2, 1/4] smoothing along axis 1, rescaled to keep unit variance."""
    smooth = fields.copy()
    smooth[:, 1:-1] = 0.25 * fields[:, :-2] + 0.5 * fields[:, 1:-1] + 0.25 * fields[:, 2:]
    return smooth / np.sqrt(0.375)  # 0.25² + 0.5² + 0.25² of the variance is kept


def _encode(sources: dict, projections: dict, noise_maps: np.ndarray, seed: int) -> np.ndarray:
    """The 13 simulated layers of one recording, (N_LAYERS, n_frames, 768) float32."""
    rng = np.random.default_rng(seed)
    n_frames = len(sources["acoustic"])
    # Unit-variance projections of the standardised sources: variance ~1 per dimension.
    projected = np.stack([sources[name].astype(np.float32) @ projections[name] for name in SOURCES])
    weights = LAYER_PROFILE[list(SOURCES)].to_numpy()
    hidden = np.tensordot(weights.astype(np.float32), projected, axes=1)
    # Noise fields (smooth, low-rank plus isotropic), each a Gaussian around an evenly spaced layer.
    latent = _smooth_in_time(rng.standard_normal((_FIELDS, n_frames, _NOISE_RANK), np.float32))
    structured = np.einsum("ftr,frd->ftd", latent, noise_maps) / np.sqrt(_NOISE_RANK)
    isotropic = _smooth_in_time(rng.standard_normal((_FIELDS, n_frames, HIDDEN_DIM), np.float32))
    fields = np.sqrt(1 - _ISOTROPIC_SHARE) * structured + np.sqrt(_ISOTROPIC_SHARE) * isotropic
    distance = np.arange(N_LAYERS)[:, None] - np.linspace(0, N_LAYERS - 1, _FIELDS)[None, :]
    mixing = np.exp(-0.5 * (distance / _FIELD_WIDTH) ** 2)
    mixing /= np.linalg.norm(mixing, axis=1, keepdims=True)
    noise = (mixing.astype(np.float32) @ fields.reshape(_FIELDS, -1)).reshape(hidden.shape)
    hidden += LAYER_PROFILE["noise"].to_numpy(np.float32)[:, None, None] * noise
    # Rogue dimensions: a slow drift with the total variance of a source of that weight.
    drift = np.cumsum(rng.standard_normal((n_frames, _ROGUE_DIMS)), axis=0)
    drift -= drift.mean(axis=0)
    drift /= max(drift.std(), 1e-12)
    rogue_scale = LAYER_PROFILE["anisotropy"].to_numpy() * np.sqrt(HIDDEN_DIM / _ROGUE_DIMS)
    hidden[:, :, :_ROGUE_DIMS] += (rogue_scale[:, None, None] * drift[None]).astype(np.float32)
    hidden.flags.writeable = False
    return hidden


def simulate(recordings: pd.DataFrame, phones: pd.DataFrame, ema: dict, audio_of: dict) -> tuple:
    """``(sources, hidden_states)``: ``sources[(participant, filename)]`` a dict of arrays,
    ``hidden_states[participant][layer][filename]`` a ``(T, 768)`` float32 array."""
    sources = _planted(recordings, phones, ema, audio_of)
    rng = np.random.default_rng(SEED + 1)
    projections = {
        name: rng.standard_normal((SOURCE_DIMS[name], HIDDEN_DIM)).astype(np.float32)
        for name in SOURCES
    }
    shape = (_FIELDS, _NOISE_RANK, HIDDEN_DIM)
    noise_maps = np.random.default_rng(SEED + 2).standard_normal(shape, dtype=np.float32)
    states = {p: {layer: {} for layer in range(N_LAYERS)} for p in PARTICIPANTS}
    for p, name in zip(recordings["PARTICIPANT"], recordings["FILENAME"], strict=True):
        seed = zlib.crc32(f"{p}|{name}".encode()) ^ SEED  # never Python's salted hash
        layers = _encode(sources[p, name], projections, noise_maps, seed)
        for layer in range(N_LAYERS):
            states[p][layer][name] = layers[layer]
    return sources, states
