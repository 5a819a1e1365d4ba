"""Hidden states of a Hugging Face speech model, one recording at a time (optional: torch).

This mirrors how the original tutorial made its features: the audio is normalised by the
model's feature extractor (``Wav2Vec2Processor`` / ``Wav2Vec2FeatureExtractor``: zero mean,
unit variance per recording for wav2vec2-base), passed through the model with
``output_hidden_states=True``, and every hidden state is kept as a ``(T, d)`` float32 array.
For ``facebook/wav2vec2-base`` that gives 13 states (the encoder input, then 12 transformer
layers) of 768 dimensions, with ``T == n_model_frames(len(audio))``.

Needs the ``extract`` extra. Install a CPU build of torch first, then transformers::

    pip install torch==2.13.0 transformers

(on Linux, add PyTorch's CPU wheel index to the torch command, otherwise pip may fetch a
multi-GB CUDA build). Importing this module never imports torch; the functions do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..frames import SAMPLE_RATE, n_model_frames

DEFAULT_MODEL = "facebook/wav2vec2-base"
INSTALL_HINT = (
    "Re-extracting features needs torch and transformers. Install a CPU build of torch first, "
    "then transformers, e.g. `pip install torch==2.13.0 transformers` (on Linux use PyTorch's "
    "CPU wheel index for torch to avoid a multi-GB CUDA download), or skip extraction with "
    "`python -m tutorial_utils.io --frame-states` to convert the tutorial's original features."
)


def require_torch() -> tuple[Any, Any]:
    """Import and return ``(torch, transformers)`` or raise ImportError saying how to install."""
    try:
        import torch
        import transformers
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} (missing: {err.name})") from err
    return torch, transformers


def load_model(model_name: str = DEFAULT_MODEL) -> tuple[Any, Any]:
    """Load a pretrained speech model and its feature extractor (downloads on first use).

    Parameters
    ----------
    model_name : str, default "facebook/wav2vec2-base"
        Any Hugging Face model whose forward pass accepts ``output_hidden_states=True``
        (wav2vec 2.0, HuBERT, WavLM, ...).

    Returns
    -------
    (feature_extractor, model)
        The model is in eval mode on the CPU.
    """
    _, transformers = require_torch()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(model_name)
    model = transformers.AutoModel.from_pretrained(model_name)
    model.eval()
    return extractor, model


def hidden_states(audio: np.ndarray, model: Any, feature_extractor: Any = None) -> list[np.ndarray]:
    """All hidden states of one 16 kHz recording.

    Parameters
    ----------
    audio : numpy.ndarray
        1-D float audio at 16 kHz.
    model : transformers.PreTrainedModel
        Speech encoder (e.g. ``Wav2Vec2Model``).
    feature_extractor : transformers feature extractor, optional
        Normalises the audio as the model expects; without one the raw audio is used.

    Returns
    -------
    list of numpy.ndarray
        One ``(T, d)`` float32 array per hidden state (``num_hidden_layers + 1`` of them).
    """
    torch, _ = require_torch()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"Expected 1-D mono audio, got shape {audio.shape}.")
    if feature_extractor is not None:
        inputs = feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        values = inputs["input_values"]
    else:
        values = torch.from_numpy(audio)[None, :]
    with torch.inference_mode():
        output = model(values, output_hidden_states=True)
    if output.hidden_states is None:
        raise ValueError(f"{type(model).__name__} returned no hidden states.")
    return [h[0].detach().to(torch.float32).cpu().numpy() for h in output.hidden_states]


def extract_hidden_states(
    recordings: Iterable[tuple[str, np.ndarray]],
    model: Any,
    feature_extractor: Any = None,
    *,
    check_frames: bool = True,
    progress: bool = True,
) -> dict[int, dict[str, np.ndarray]]:
    """Hidden states of many recordings as ``{layer: {filename: (T, d) float32}}``.

    Parameters
    ----------
    recordings : iterable of (filename, audio)
        16 kHz recordings, processed one at a time.
    model, feature_extractor
        See :func:`hidden_states`.
    check_frames : bool, default True
        Require ``T == n_model_frames(len(audio))`` (true for wav2vec 2.0, HuBERT and WavLM,
        which share the 400-sample / 320-hop convolutional front end).
    progress : bool, default True
        Show a tqdm progress bar.
    """
    from tqdm.auto import tqdm

    items = list(recordings)
    states: dict[int, dict[str, np.ndarray]] = {}
    for filename, audio in tqdm(items, desc="hidden states", unit="rec", disable=not progress):
        layers = hidden_states(audio, model, feature_extractor)
        expected = n_model_frames(len(audio))
        if check_frames and any(h.shape[0] != expected for h in layers):
            raise ValueError(
                f"{filename}: the model gave {layers[0].shape[0]} frames, expected {expected} "
                "(400-sample window, 320-sample hop). Use a model with the wav2vec 2.0 front end "
                "or pass check_frames=False and align the frames yourself."
            )
        for index, array in enumerate(layers):
            states.setdefault(index, {})[filename] = np.ascontiguousarray(array, np.float32)
    return states
