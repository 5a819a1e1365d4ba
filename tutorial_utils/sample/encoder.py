"""The simulated 13-layer, 768-dimensional encoder of the offline sample (numpy, seeded).

It is not Wav2Vec2. Each layer ``l`` mixes the four planted sources (:mod:`.sources`), each
mapped to 768 dimensions by a fixed random projection ``P_s``::

    h_l(t) = Σ_s  w_s(l) · P_s · source_s(t)  +  noise_l(t)  +  anisotropy_l(t)

``noise`` is smooth in time and drifts from layer to layer (a few noise fields, each shared by
neighbouring layers), so neighbouring layers resemble each other; ``anisotropy`` is a few
dimensions of very large variance carrying a slow drift, on in the last two layers (real
transformer layers have such "rogue" dimensions).

The weights ``w_s(l)`` (:data:`LAYER_PROFILE`) resemble, in shape only, layer-wise analyses
of wav2vec 2.0 base: acoustic information high early, dipping in the middle and partly
returning around layer 10, the last two layers diverging (Pasad, Chou & Livescu 2021);
speaker information strongest early and linguistic content peaking in the middle (Pasad et
al. 2021; Shen et al. 2023); articulatory information at a roughly constant low level (Cho et
al. 2023). A teaching stand-in with a known answer: its CKA values are not the real data's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .sources import PARTICIPANTS, SEED, SOURCE_DIMS, SOURCES, planted, stable_seed

N_LAYERS, HIDDEN_DIM = 13, 768
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
LAYER_PROFILE = pd.DataFrame(
    _PROFILE,
    columns=[*SOURCES, "noise", "anisotropy"],
    index=pd.Index(list(range(N_LAYERS)), name="layer"),
)
"""Amplitude of each standardised source, of the noise and of the rogue dimensions per layer."""

_FIELDS, _FIELD_WIDTH, _NOISE_RANK = 5, 2.5, 6  # noise fields, their reach (layers), rank
_ISOTROPIC_SHARE = 0.2  # share of the noise variance spread over all 768 dimensions
_ROGUE_DIMS = 4


def ground_truth() -> pd.DataFrame:
    """The planted weight of each source (columns) in each simulated layer (index ``layer``)."""
    return LAYER_PROFILE[list(SOURCES)].copy()


def _smooth_in_time(fields: np.ndarray) -> np.ndarray:
    """Three-tap [1/4, 1/2, 1/4] smoothing along axis 1, rescaled to keep unit variance."""
    smooth = fields.copy()
    smooth[:, 1:-1] = 0.25 * fields[:, :-2] + 0.5 * fields[:, 1:-1] + 0.25 * fields[:, 2:]
    return smooth / np.sqrt(0.375)  # 0.25² + 0.5² + 0.25² of the variance is kept


def _encode(sources: dict, projections: dict, noise_maps: np.ndarray, seed: int) -> np.ndarray:
    """The 13 simulated layers of one recording, (N_LAYERS, n_frames, 768) float32."""
    rng = np.random.default_rng(seed)
    n_frames = len(sources["acoustic"])
    # Standardised sources (total variance 1) through unit-variance projections: each has
    # variance ~1 per hidden dimension, like the noise.
    projected = np.stack([sources[name].astype(np.float32) @ projections[name] for name in SOURCES])
    weights = LAYER_PROFILE[list(SOURCES)].to_numpy()
    hidden = np.tensordot(weights.astype(np.float32), projected, axes=1)
    # Noise fields: mostly a smooth signal in a random low-rank subspace (what a layer encodes
    # beyond the sources), plus isotropic noise. Field k centres on an evenly spaced layer and
    # falls off as a Gaussian of the layer distance; unit-norm rows keep the variance at 1.
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


def simulate(
    recordings: pd.DataFrame, phones: pd.DataFrame, ema: dict, audio_of: dict
) -> tuple[dict, dict]:
    """Planted sources and simulated hidden states of every sample recording.

    Returns ``(sources, hidden_states)``: ``sources[(participant, filename)]`` is a dict of
    standardised source arrays, ``hidden_states[participant][layer][filename]`` a ``(T, 768)``
    float32 array.
    """
    sources = planted(recordings, phones, ema, audio_of)
    rng = np.random.default_rng(SEED + 1)
    projections = {
        name: rng.standard_normal((SOURCE_DIMS[name], HIDDEN_DIM)).astype(np.float32)
        for name in SOURCES
    }
    shape = (_FIELDS, _NOISE_RANK, HIDDEN_DIM)
    noise_maps = np.random.default_rng(SEED + 2).standard_normal(shape, dtype=np.float32)
    states = {p: {layer: {} for layer in range(N_LAYERS)} for p in PARTICIPANTS}
    for row in recordings.itertuples(index=False):
        key = (row.PARTICIPANT, row.FILENAME)
        layers = _encode(sources[key], projections, noise_maps, stable_seed(*key))
        for layer in range(N_LAYERS):
            states[row.PARTICIPANT][layer][row.FILENAME] = layers[layer]
    return sources, states
