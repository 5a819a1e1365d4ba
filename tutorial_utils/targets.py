"""Targets on the hidden-state grid: MFCCs and EMA, one row per model frame.

The *targets* are what hidden states are compared with (:data:`TARGETS`). A recording's
targets and hidden states must describe the same frames: :func:`target_frames` puts one target
on the model's 20 ms grid (:mod:`tutorial_utils.frames`), :func:`aligned_recording` trims the
hidden states and targets of a recording to one frame count, and :func:`frame_counts` lists how
many frames every stream has, per recording (chapter 00).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from . import frames
from .dataset import Dataset
from .frames import (
    SAMPLE_RATE,
    ema_frames,
    mfcc_frames,
    mfcc_frames_original,
    n_model_frames,
    trim_to_common_length,
)
from .io.feature_cache import cached_features, code_fingerprint

__all__ = [
    "TARGETS",
    "aligned_recording",
    "frame_counts",
    "grid_mfcc",
    "target_frames",
    "target_keys",
]

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
    if not keys:
        raise ValueError("Give at least one target.")
    for key in keys:
        if key not in TARGETS:
            raise ValueError(f"target must be one of {sorted(TARGETS)}; got {key!r}.")
    return keys


def target_frames(
    dataset: Dataset, participant: str, filename: str, target: str = "mfcc"
) -> np.ndarray:
    """One target of one recording, one row per model frame.

    Parameters
    ----------
    dataset : Dataset
    participant, filename : str
    target : {"mfcc", "mfcc_original", "ema", "ema_centre"}
        12 MFCCs on the Wav2Vec2 grid (:func:`~tutorial_utils.frames.mfcc_frames`, kept on
        disk after their first computation: :func:`grid_mfcc`), the original chapter's MFCC
        recipe, or the 12 EMA sensor coordinates (mm) at the start of each frame's window (as
        stored) or interpolated to its centre, 12.5 ms later.

    Returns
    -------
    numpy.ndarray
        ``(T', 12)`` float32; ``T'`` may differ from the model's frame count by a frame or two
        (:func:`aligned_recording` trims them to one length).
    """
    (target,) = target_keys(target)
    n_frames = dataset.hidden_state(participant, dataset.layers[0], filename).shape[0]
    if target in ("ema", "ema_centre"):
        at = "centre" if target == "ema_centre" else "start"
        return ema_frames(dataset.ema(participant), filename, n_frames, at=at)
    audio = dataset.audio(participant, filename)
    if target == "mfcc_original":
        return mfcc_frames_original(audio, n_frames, sr=dataset.sample_rate)
    return grid_mfcc(audio, dataset.sample_rate)


def grid_mfcc(audio: np.ndarray, sr: int) -> np.ndarray:
    """:func:`~tutorial_utils.frames.mfcc_frames` with its defaults, computed once per audio.

    The result is kept on disk (:mod:`tutorial_utils.io.feature_cache`, keyed by the audio's
    bytes, ``sr``, the source of :mod:`~tutorial_utils.frames` and the library versions), so
    later calls, and later chapters, read it back instead of loading librosa's feature code.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n_samples_16k = -(-audio.shape[-1] * SAMPLE_RATE // sr) if sr > 0 else 0  # resample_poly's
    return cached_features(
        "mfcc",
        audio,
        lambda: mfcc_frames(audio, sr=sr),
        params={"sr": int(sr)},
        code=code_fingerprint(frames.__file__),
        shape=(n_model_frames(n_samples_16k), 12),
    )


def aligned_recording(
    dataset: Dataset,
    participant: str,
    filename: str,
    targets: str | Iterable[str] = ("mfcc", "ema"),
    layers: Iterable[int] | None = None,
) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
    """Hidden states of each layer and the targets of one recording, trimmed to one length.

    Returns
    -------
    hidden_states : dict of int to numpy.ndarray
        ``{layer: (T, d)}``; default all layers of the dataset.
    targets : dict of str to numpy.ndarray
        ``{target: (T, 12)}``; row ``t`` belongs to model frame ``t``.
    """
    keys = target_keys(targets)
    layers = dataset.layers if layers is None else [int(layer) for layer in layers]
    values = [target_frames(dataset, participant, filename, k) for k in keys]
    states = [dataset.hidden_state(participant, layer, filename) for layer in layers]
    trimmed = trim_to_common_length(*values, *states)
    n = len(keys)
    return dict(zip(layers, trimmed[n:], strict=True)), dict(zip(keys, trimmed[:n], strict=True))


def frame_counts(dataset: Dataset, participants: Iterable[str] | None = None) -> pd.DataFrame:
    """How many frames each stream has, per recording.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, filename, n_samples, duration_s, model_frames`` (from the
        formula ``floor((N - 400) / 320) + 1``), ``hidden_states`` (rows stored for layer 0),
        ``mfcc_rows`` (grid-aligned MFCCs), ``ema_rows`` (EMA table rows) and
        ``original_hop`` (the original recipe's stretched hop ``N // T`` in samples).
    """
    rows = []
    for participant, filename in dataset.pick_recordings(participants):
        audio = dataset.audio(participant, filename)
        ema = dataset.ema(participant)
        hidden = dataset.hidden_state(participant, dataset.layers[0], filename).shape[0]
        rows.append(
            {
                "participant": participant,
                "filename": filename,
                "n_samples": audio.size,
                "duration_s": round(audio.size / dataset.sample_rate, 3),
                "model_frames": n_model_frames(audio.size),
                "hidden_states": hidden,
                "mfcc_rows": len(grid_mfcc(audio, dataset.sample_rate)),
                "ema_rows": int((ema["FILENAME"] == filename).sum()),
                "original_hop": audio.size // hidden,
            }
        )
    return pd.DataFrame(rows)
