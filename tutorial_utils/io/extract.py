"""Hidden states of a Hugging Face speech model, on the CPU or a GPU (optional: torch).

As the original tutorial: the model's feature extractor normalises each recording, the model
runs with ``output_hidden_states=True`` on one recording at a time (padding would leak into a
group-norm front end such as wav2vec2-base's), every state kept as ``(T, d)`` float32. GPUs run
in full float32 (not TF32). Needs ``pip install torch==2.13.0 transformers``; importing this
module never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..frames import SAMPLE_RATE

DEFAULT_MODEL = "facebook/wav2vec2-base"
DEVICES = ("auto", "cpu", "cuda")
ALLOW_TF32 = False  # torch's TF32 default moved H100 states by 6.6e-3 (benchmarks/bench_gpu.py)
INSTALL_HINT = (
    "Re-extracting features needs torch and transformers: `pip install torch==2.13.0 "
    "transformers` (on Linux use PyTorch's CPU wheel index for torch), or convert the "
    "tutorial's original features instead with `python -m tutorial_utils.io --frame-states`."
)


class DeviceUnavailable(ValueError):
    """The requested device does not exist here (e.g. ``cuda`` without a GPU)."""


def require_torch() -> tuple[Any, Any]:
    """``(torch, transformers)``, or ImportError saying how to install them."""
    try:
        import torch
        import transformers
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} (missing: {err.name})") from err
    return torch, transformers


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` when torch sees a GPU, else ``"cpu"``; ``"cuda"`` (or
    ``"cuda:N"``) without a GPU raises :class:`DeviceUnavailable`."""
    torch, _ = require_torch()
    name = str(device).strip().lower()
    if name in ("auto", "cpu"):
        return "cuda" if name == "auto" and torch.cuda.is_available() else "cpu"
    if name != "cuda" and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ValueError(f"Unknown device {device!r}; use one of {', '.join(DEVICES)}.")
    if not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"Device {device!r} was requested but torch sees no CUDA GPU (torch "
            f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). Use --device cpu "
            "(or auto), or in Colab pick a GPU runtime (Runtime → Change runtime type)."
        )
    return name


def load_model(model_name: str = DEFAULT_MODEL) -> tuple[Any, Any]:
    """``(feature_extractor, model)`` of a pretrained speech model, in eval mode on the CPU."""
    _, transformers = require_torch()
    extractor = transformers.AutoFeatureExtractor.from_pretrained(model_name)
    return extractor, transformers.AutoModel.from_pretrained(model_name).eval()


def hidden_states(audio: np.ndarray, model: Any, feature_extractor: Any = None) -> list[np.ndarray]:
    """All hidden states of one 16 kHz recording as ``(T, d)`` float32 arrays, from ``model``
    on its device; ``feature_extractor`` (optional) normalises the audio as the model expects."""
    torch, _ = require_torch()
    values = np.asarray(audio, dtype=np.float32)
    if values.ndim != 1:
        raise ValueError(f"Expected 1-D mono audio, got shape {values.shape}.")
    if feature_extractor is not None:
        values = feature_extractor(values, sampling_rate=SAMPLE_RATE, return_tensors="np")
        values = np.asarray(values["input_values"], dtype=np.float32).reshape(-1)
    parameter = next(model.parameters())
    switches = (torch.backends.cudnn, torch.backends.cuda.matmul)
    saved = [switch.allow_tf32 for switch in switches]
    try:
        for switch in switches:
            switch.allow_tf32 = ALLOW_TF32
        with torch.inference_mode():
            batch = torch.from_numpy(values)[None].to(parameter.device, parameter.dtype)
            output = model(batch, output_hidden_states=True)
    finally:
        for switch, value in zip(switches, saved, strict=True):
            switch.allow_tf32 = value
    if output.hidden_states is None:
        raise ValueError(f"{type(model).__name__} returned no hidden states.")
    return [h[0].to(device="cpu", dtype=torch.float32).numpy() for h in output.hidden_states]


def extract_hidden_states(
    recordings: Iterable[tuple[str, np.ndarray]],
    model: Any,
    feature_extractor: Any = None,
    *,
    device: str = "auto",
    progress: bool = True,
) -> dict[int, dict[str, np.ndarray]]:
    """Hidden states of many recordings as ``{layer: {filename: (T, d) float32}}``.

    Parameters
    ----------
    recordings : iterable of (filename, audio)
        16 kHz recordings; the result keeps their order.
    model, feature_extractor
        See :func:`hidden_states`; the model is moved to ``device`` (and left there).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the model runs (:func:`resolve_device`).
    progress : bool, default True
    """
    from tqdm.auto import tqdm

    model.to(resolve_device(device)).eval()
    states: dict[int, dict[str, np.ndarray]] = {}
    for filename, audio in tqdm(list(recordings), desc="hidden states", disable=not progress):
        for layer, array in enumerate(hidden_states(audio, model, feature_extractor)):
            states.setdefault(layer, {})[str(filename)] = array
    return states
