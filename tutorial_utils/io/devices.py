"""Where extraction runs (CPU or CUDA) and in what float precision; torch is optional.

Importing this module never imports torch: :func:`require_torch` does, on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "DEVICES",
    "INSTALL_HINT",
    "DeviceUnavailable",
    "require_torch",
    "resolve_device",
    "tf32",
]

DEVICES = ("auto", "cpu", "cuda")
INSTALL_HINT = (
    "Re-extracting features needs torch and transformers. Install a CPU build of torch first, "
    "then transformers, e.g. `pip install torch==2.13.0 transformers` (on Linux use PyTorch's "
    "CPU wheel index for torch to avoid a multi-GB CUDA download), or skip extraction with "
    "`python -m tutorial_utils.io --frame-states` to convert the tutorial's original features."
)


class DeviceUnavailable(ValueError):
    """The requested device does not exist here (e.g. ``cuda`` without a GPU)."""


def require_torch() -> tuple[Any, Any]:
    """Import and return ``(torch, transformers)`` or raise ImportError saying how to install.

    torch and transformers are the optional ``extract`` dependency: they are imported here,
    on first use, never when this module is imported.
    """
    try:
        import torch
        import transformers
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} (missing: {err.name})") from err
    return torch, transformers


def resolve_device(device: str = "auto") -> str:
    """The torch device to run on: ``"auto"`` → ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or "cuda:N"

    Raises
    ------
    DeviceUnavailable
        For ``"cuda"`` when ``torch.cuda.is_available()`` is False (says what to do instead).
    ValueError
        For any other name.
    """
    torch, _ = require_torch()
    name = str(device).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"Device {device!r} was requested but torch sees no CUDA GPU (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). Use "
                "--device cpu (or auto), or in Colab pick a GPU runtime (Runtime → Change "
                "runtime type) and run again."
            )
        return name
    raise ValueError(f"Unknown device {device!r}; use one of {', '.join(DEVICES)} (or cuda:N).")


@contextmanager
def tf32(torch: Any, allowed: bool) -> Iterator[None]:
    """Set torch's TF32 switches (cuDNN convolutions, CUDA matrix products), then restore them."""
    switches = (torch.backends.cudnn, torch.backends.cuda.matmul)
    saved = [switch.allow_tf32 for switch in switches]
    try:
        for switch in switches:
            switch.allow_tf32 = allowed
        yield
    finally:
        for switch, value in zip(switches, saved, strict=True):
            switch.allow_tf32 = value
