"""Hidden states of a speech model as the original tutorial extracted them: each recording run
on its own (padding would leak into a group-norm front end), in full float32 (no TF32)."""

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..frames import FRAME_LENGTH, SAMPLE_RATE

DEFAULT_MODEL = "facebook/wav2vec2-base"
DEVICES = ("auto", "cpu", "cuda")
ALLOW_TF32 = False  # torch's TF32 default moved H100 states by 6.6e-3 (benchmarks/bench_gpu.py)


def require_torch() -> tuple[Any, Any]:
    """``(torch, transformers)``, or ImportError saying how to install them."""
    try:
        import torch
        import transformers
    except ImportError as err:
        raise ImportError(
            f"Re-extracting features needs torch and transformers (missing: {err.name}): `pip "
            "install torch==2.13.0 transformers` with a GPU; for the CPU only (a far smaller "
            "download) `pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`"
            " then `pip install transformers` (see the README); or use --frame-states."
        ) from err
    return torch, transformers


def resolve_device(device: str = "auto") -> str:
    """``"auto"``: ``"cuda"`` if torch sees a GPU, else ``"cpu"``; ValueError for a missing GPU."""
    torch, _ = require_torch()
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device 'cuda' was requested but torch sees no CUDA GPU (torch "
                         f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). Use "
                         "--device cpu (or auto), or in Colab pick a GPU runtime (Runtime → "
                         "Change runtime type).")  # fmt: skip
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def load_model(model_name: str = DEFAULT_MODEL) -> tuple[Any, Any]:
    """``(feature_extractor, model)`` of a pretrained speech model, in eval mode on the CPU."""
    _, transformers = require_torch()
    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(model_name)
        return extractor, transformers.AutoModel.from_pretrained(model_name).eval()
    except Exception as err:  # a wrong name or folder, no network, a pickle torch refuses, ...
        why = f"{type(err).__name__}: {str(err).strip().partition(chr(10))[0].partition('. ')[0]}"
        raise ValueError(f"Could not load the model {model_name!r} ({why[:200]}). --model takes a "
                         f"Hugging Face id such as {DEFAULT_MODEL} (downloaded once) or a folder "
                         "written by save_pretrained.") from err  # fmt: skip


def extract_hidden_states(recordings: Iterable[tuple[str, np.ndarray]], model: Any,
                          feature_extractor: Any = None, *, device: str = "auto",
                          progress: bool = True) -> dict[int, dict[str, np.ndarray]]:  # fmt: skip
    """``{layer: {filename: (T, d) float32}}`` of ``(filename, 16 kHz audio)`` pairs, in order,
    from ``model`` on ``device`` (:data:`DEVICES`); ``feature_extractor`` normalises the audio."""
    torch, _ = require_torch()
    from tqdm.auto import tqdm

    recordings = [(str(f), np.asarray(a, np.float32)) for f, a in recordings]
    if odd := [f for f, a in recordings if a.ndim != 1 or not np.isfinite(a).all()]:
        raise ValueError(f"{', '.join(odd)}: the audio must be one channel of finite samples; "
                         "average the channels and remove NaNs first.")  # fmt: skip
    if short := [f"{f} ({a.size} samples)" for f, a in recordings if a.size < FRAME_LENGTH]:
        raise ValueError(f"{', '.join(short)}: shorter than one model frame ({FRAME_LENGTH} "
                         "samples at 16 kHz, 25 ms); leave it out.")  # fmt: skip
    parameter = next(model.to(device := resolve_device(device)).eval().parameters())
    saved = {s: s.allow_tf32 for s in (torch.backends.cudnn, torch.backends.cuda.matmul)}
    states: dict[int, dict[str, np.ndarray]] = {}
    try:
        for switch in saved:
            switch.allow_tf32 = ALLOW_TF32
        for filename, values in tqdm(recordings, desc="hidden states", disable=not progress):
            if feature_extractor is not None:
                values = feature_extractor(values, sampling_rate=SAMPLE_RATE, return_tensors="np")
                values = np.asarray(values["input_values"], dtype=np.float32).reshape(-1)
            try:
                with torch.inference_mode():
                    batch = torch.from_numpy(values)[None].to(parameter.device, parameter.dtype)
                    output = model(batch, output_hidden_states=True)
            except RuntimeError as err:  # torch.OutOfMemoryError and CUDA errors are ones
                why = f"{type(err).__name__}: {str(err).strip().partition(chr(10))[0][:200]}"
                what = f"{values.size / SAMPLE_RATE:.1f} s, {device}; {why}"
                raise ValueError(f"The model failed on {filename} ({what}): free memory (close "
                                 "other notebooks) or, after a CUDA error, restart the runtime, "
                                 "and run again; or use --device cpu.") from err  # fmt: skip
            for layer, h in enumerate(output.hidden_states):
                states.setdefault(layer, {})[filename] = h[0].cpu().float().numpy()
    finally:
        for switch, value in saved.items():
            switch.allow_tf32 = value
    return states
