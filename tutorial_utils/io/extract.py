"""Hidden states of a Hugging Face speech model, on the CPU or a GPU (optional: torch).

This mirrors how the original tutorial made its features: the audio is normalised by the
model's feature extractor (``Wav2Vec2Processor`` / ``Wav2Vec2FeatureExtractor``: zero mean,
unit variance per recording for wav2vec2-base), passed through the model with
``output_hidden_states=True``, and every hidden state is kept as a ``(T, d)`` float32 array.
For ``facebook/wav2vec2-base`` that gives 13 states (the encoder input, then 12 transformer
layers) of 768 dimensions, with ``T == n_model_frames(len(audio))``.

Devices and batching
--------------------
``device="auto"`` (the default) runs on CUDA when ``torch.cuda.is_available()``, else on the
CPU; ``"cuda"`` on a machine without a GPU raises ``devices.DeviceUnavailable``. Recordings
are sorted by length and run in batches of similar length (by default only on a GPU: on the
CPU batches were slower), zero-padded, with the attention mask, but only for models whose
convolutional front end normalises each frame on its own (``config.feat_extract_norm ==
"layer"``, e.g. wav2vec2-large-lv60, hubert-large; their feature extractors have
``return_attention_mask=True``). Models with a group-norm front end
(``"group"``: wav2vec2-base, hubert-base, wavlm-base) normalise each channel over the whole
time axis, so padding changes every frame (by O(1) on a random model, mask or not): they run
one recording at a time, whatever ``batch_size`` says. Batched valid frames equal
one-at-a-time frames to float rounding (< 1e-6 on a random layer-norm model).

GPU in Google Colab: *Runtime → Change runtime type → T4 GPU* (torch with CUDA and
transformers are preinstalled), then ``python -m tutorial_utils.io --device cuda`` or
``extract_hidden_states(..., device="cuda")``; outputs always return as float32 numpy arrays.
On a GPU the model runs in full float32, not TF32 (see :data:`ALLOW_TF32`), so the hidden
states agree with the CPU's to float rounding.

Needs the ``extract`` extra. Install a CPU build of torch first, then transformers::

    pip install torch==2.13.0 transformers

(on Linux, add PyTorch's CPU wheel index to the torch command, otherwise pip may fetch a
multi-GB CUDA build). Importing this module never imports torch; the functions do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..frames import SAMPLE_RATE, n_model_frames
from .devices import require_torch, resolve_device, tf32

DEFAULT_MODEL = "facebook/wav2vec2-base"
DEFAULT_BATCH_SIZE = 8
"""Most recordings per forward pass on a GPU (only for models that can batch, see
:func:`can_batch`). On the CPU the default is one: there padded batches were slower, 0.56–0.85×
the speed of one recording at a time (``benchmarks/bench_extract.py``, 2 cores)."""
ALLOW_TF32 = False
"""Let CUDA round float32 convolutions and matrix products to TF32 during extraction.

Off by default: on an H100, torch's default (TF32 convolutions) moved the hidden states of a
random base-sized Wav2Vec2 by up to 6.6e-3 from the CPU's (largest magnitude 7.2); in full
float32 by 1.6e-5 (``benchmarks/bench_gpu.py``). Set it to True to trade that for speed."""


def can_batch(model: Any) -> bool:
    """True when padded batches give the same valid frames as one recording at a time.

    That holds for the wav2vec 2.0 family with a layer-norm front end
    (``model.config.feat_extract_norm == "layer"``) run with an attention mask; a group-norm
    front end (wav2vec2-base) mixes padding into every frame, and unknown models are not
    trusted either.
    """
    config = getattr(model, "config", None)
    return getattr(config, "feat_extract_norm", None) == "layer"


def default_batch_size(device: str) -> int:
    """:data:`DEFAULT_BATCH_SIZE` on a CUDA device, 1 on the CPU."""
    return DEFAULT_BATCH_SIZE if str(device).startswith("cuda") else 1


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
        The model is in eval mode on the CPU (extraction moves it to its device).
    """
    _, transformers = require_torch()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(model_name)
    model = transformers.AutoModel.from_pretrained(model_name)
    model.eval()
    return extractor, model


def _input_values(audio: np.ndarray, feature_extractor: Any) -> np.ndarray:
    """One recording normalised as the model expects (1-D float32, unpadded)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"Expected 1-D mono audio, got shape {audio.shape}.")
    if feature_extractor is None:
        return audio
    inputs = feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="np")
    return np.asarray(inputs["input_values"], dtype=np.float32).reshape(-1)


def _forward(model: Any, values: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
    """Hidden states of a batch of normalised recordings, padded frames trimmed.

    One recording goes in as is; several are zero-padded to the longest and passed with an
    attention mask (1 = real sample), and each output is cut to its own number of frames.
    """
    torch, _ = require_torch()
    parameter = next(model.parameters())
    batch = torch.zeros(len(values), max(v.size for v in values), dtype=parameter.dtype)
    mask = torch.zeros(batch.shape, dtype=torch.long)
    for row, array in enumerate(values):
        batch[row, : array.size] = torch.from_numpy(array)
        mask[row, : array.size] = 1
    kwargs = {"attention_mask": mask.to(parameter.device)} if len(values) > 1 else {}
    with torch.inference_mode(), tf32(torch, ALLOW_TF32):
        output = model(batch.to(parameter.device), output_hidden_states=True, **kwargs)
    if output.hidden_states is None:
        raise ValueError(f"{type(model).__name__} returned no hidden states.")
    states = [h.to(device="cpu", dtype=torch.float32).numpy() for h in output.hidden_states]
    if len(values) == 1:
        return [[h[0] for h in states]]
    frames = model._get_feat_extract_output_lengths(mask.sum(-1)).tolist()
    return [[np.ascontiguousarray(h[row, :n]) for h in states] for row, n in enumerate(frames)]


def hidden_states(audio: np.ndarray, model: Any, feature_extractor: Any = None) -> list[np.ndarray]:
    """All hidden states of one 16 kHz recording, on the device the model is on.

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
    return _forward(model, [_input_values(audio, feature_extractor)])[0]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of recordings grouped into batches of similar length (shortest first).

    Parameters
    ----------
    lengths : sequence of int
        Number of samples of each recording.
    batch_size : int
        Most recordings per batch (>= 1).
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + int(batch_size)] for i in range(0, len(order), int(batch_size))]


def _check_frames(filename: str, layers: list[np.ndarray], n_samples: int) -> None:
    expected = n_model_frames(n_samples)
    if any(h.shape[0] != expected for h in layers):
        raise ValueError(
            f"{filename}: the model gave {layers[0].shape[0]} frames, expected {expected} "
            "(400-sample window, 320-sample hop). Use a model with the wav2vec 2.0 front end "
            "or pass check_frames=False and align the frames yourself."
        )


def iter_hidden_states(
    recordings: Iterable[tuple[str, np.ndarray]],
    model: Any,
    feature_extractor: Any = None,
    *,
    device: str = "auto",
    batch_size: int | None = None,
    check_frames: bool = True,
    progress: bool = True,
) -> Iterator[tuple[str, list[np.ndarray]]]:
    """Yield ``(filename, [one (T, d) float32 array per hidden state])`` recording by recording.

    Recordings come out in batch order (shortest first), so a caller can write each one to
    disk (see :mod:`tutorial_utils.io.store`) and never hold a corpus in memory. Parameters as
    in :func:`extract_hidden_states`. The model is moved to ``device`` and left there.
    """
    from tqdm.auto import tqdm

    items = [(str(name), _input_values(audio, feature_extractor)) for name, audio in recordings]
    device = resolve_device(device)
    model.to(device).eval()
    if batch_size is None:
        batch_size = default_batch_size(device)
    size = int(batch_size) if can_batch(model) else 1
    batches = length_batches([values.size for _, values in items], size)
    label = f"hidden states (batches of <= {size})" if size > 1 else "hidden states"
    with tqdm(total=len(items), desc=label, unit="rec", disable=not progress) as bar:
        for batch in batches:
            outputs = _forward(model, [items[i][1] for i in batch])
            for i, layers in zip(batch, outputs, strict=True):
                if check_frames:
                    _check_frames(items[i][0], layers, items[i][1].size)
                yield items[i][0], layers
            bar.update(len(batch))


def extract_hidden_states(
    recordings: Iterable[tuple[str, np.ndarray]],
    model: Any,
    feature_extractor: Any = None,
    *,
    device: str = "auto",
    batch_size: int | None = None,
    check_frames: bool = True,
    progress: bool = True,
) -> dict[int, dict[str, np.ndarray]]:
    """Hidden states of many recordings as ``{layer: {filename: (T, d) float32}}``.

    Parameters
    ----------
    recordings : iterable of (filename, audio)
        16 kHz recordings; the result keeps their order.
    model, feature_extractor
        See :func:`hidden_states`. The model is moved to ``device``.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the model runs (:func:`resolve_device`); outputs always come back to the host.
    batch_size : int, optional
        Most recordings of similar length per forward pass, used only when
        :func:`can_batch` says padding is harmless (layer-norm front end with an attention
        mask); group-norm models such as wav2vec2-base run one recording at a time. Default
        :func:`default_batch_size`: 8 on a GPU, 1 on the CPU (where batches were slower).
    check_frames : bool, default True
        Require ``T == n_model_frames(len(audio))`` (true for wav2vec 2.0, HuBERT and WavLM,
        which share the 400-sample / 320-hop convolutional front end).
    progress : bool, default True
        Show a tqdm progress bar.
    """
    items = list(recordings)
    per_file = dict(
        iter_hidden_states(
            items,
            model,
            feature_extractor,
            device=device,
            batch_size=batch_size,
            check_frames=check_frames,
            progress=progress,
        )
    )
    states: dict[int, dict[str, np.ndarray]] = {}
    for filename, _ in items:
        for index, array in enumerate(per_file[str(filename)]):
            states.setdefault(index, {})[str(filename)] = array
    return states
