"""Targets on the hidden-state grid: MFCCs and EMA, one row per model frame.

The *targets* (:data:`TARGETS`) are what hidden states are compared with. A recording's
targets and hidden states must describe the same frames: :func:`aligned_recording` puts the
targets on the model's 20 ms grid (:mod:`tutorial_utils.frames`) and trims everything to one
frame count.
"""

from collections.abc import Iterable

import numpy as np

from . import frames
from .dataset import Dataset
from .frames import mfcc_frames
from .io.feature_cache import cached_features, code_fingerprint

TARGETS = {
    "mfcc": "MFCC",
    "mfcc_original": "MFCC (original recipe)",
    "ema": "EMA",
    "ema_centre": "EMA (window centre)",
}
"""Targets a layer can be compared with, and their labels in the tables."""


def target_keys(targets: str | Iterable[str]) -> list[str]:
    """Keys of :data:`TARGETS` as a list (one key or several), checked."""
    keys = [targets] if isinstance(targets, str) else list(targets)
    if not keys or not set(keys) <= set(TARGETS):
        raise ValueError(f"target must be one or more of {sorted(TARGETS)}; got {targets!r}.")
    return keys


def grid_mfcc(audio: np.ndarray, sr: int) -> np.ndarray:
    """:func:`~tutorial_utils.frames.mfcc_frames` with its defaults, computed once per audio.

    Kept on disk (:mod:`tutorial_utils.io.feature_cache`), so later chapters read it back
    instead of loading librosa's feature code.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n_samples_16k = -(-audio.shape[-1] * frames.SAMPLE_RATE // sr)  # as resample_poly gives
    return cached_features(
        "mfcc",
        audio,
        lambda: mfcc_frames(audio, sr=sr),
        params={"sr": int(sr)},
        code=code_fingerprint(frames.__file__),
        shape=(frames.n_model_frames(n_samples_16k), 12),
    )


def target_frames(
    dataset: Dataset, participant: str, filename: str, target: str = "mfcc"
) -> np.ndarray:
    """One target of one recording, one row per model frame.

    ``target`` is one of :data:`TARGETS`: 12 MFCCs on the model's grid (:func:`grid_mfcc`),
    the original chapter's MFCC recipe, or the 12 EMA coordinates (mm) at the start of each
    frame's window (as stored) or interpolated to its centre. Returns ``(T', 12)`` float32;
    ``T'`` may differ from the model's frame count by a frame or two.
    """
    (target,) = target_keys(target)
    n_frames = dataset.hidden_state(participant, dataset.layers[0], filename).shape[0]
    if target.startswith("ema"):
        at = "centre" if target == "ema_centre" else "start"
        return frames.ema_frames(dataset.ema(participant), filename, n_frames, at=at)
    audio = dataset.audio(participant, filename)
    if target == "mfcc_original":
        return frames.mfcc_frames_original(audio, n_frames, sr=dataset.sample_rate)
    return grid_mfcc(audio, dataset.sample_rate)


def aligned_recording(
    dataset: Dataset,
    participant: str,
    filename: str,
    targets: str | Iterable[str] = ("mfcc", "ema"),
    layers: Iterable[int] | None = None,
) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
    """Hidden states of each layer and the targets of one recording, trimmed to one length.

    Returns ``({layer: (T, d)}, {target: (T, 12)})``; row ``t`` belongs to model frame ``t``.
    ``layers`` defaults to all layers of the dataset.
    """
    keys = target_keys(targets)
    layers = dataset.layers if layers is None else [int(layer) for layer in layers]
    values = [target_frames(dataset, participant, filename, k) for k in keys]
    states = [dataset.hidden_state(participant, layer, filename) for layer in layers]
    trimmed = frames.trim_to_common_length(*values, *states)
    n = len(keys)
    return dict(zip(layers, trimmed[n:], strict=True)), dict(zip(keys, trimmed[:n], strict=True))
