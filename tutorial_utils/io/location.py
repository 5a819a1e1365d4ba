"""Where the real-data cache lives, and how a later session finds it again.

The data command records each cache it completes in :func:`pointer_file`, so
``load_dataset()`` finds a cache written to, say, Google Drive in the next Colab session
without any environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_data_dir", "find_data_dir", "pointer_file", "remember_data_dir"]


def pointer_file() -> Path:
    """Where the data command records the last cache it completed, so that
    :func:`default_data_dir` finds it in later sessions:
    ``~/.config/speech-cka-tutorial/data_dir`` (under ``$XDG_CONFIG_HOME`` when set)."""
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "speech-cka-tutorial" / "data_dir"


def remember_data_dir(data_dir: str | os.PathLike) -> Path:
    """Record ``data_dir`` (absolute) in :func:`pointer_file`; returns the pointer's path."""
    pointer = pointer_file()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(f"{Path(data_dir).expanduser().resolve()}\n")
    return pointer


def find_data_dir() -> tuple[Path, str]:
    """The default cache directory and where it comes from, in this order:

    ``"env"``: ``$TUTORIAL_DATA_DIR``; ``"pointer"``: the directory recorded in
    :func:`pointer_file` by the data command; ``"checkout"``: ``<repo>/data`` in a source
    checkout; ``"user"``: ``~/.cache/speech-cka-tutorial`` (a pip-installed package, e.g. in
    Colab, must not write into site-packages).
    """
    env = os.environ.get("TUTORIAL_DATA_DIR")
    if env:
        return Path(env).expanduser(), "env"
    try:
        recorded = pointer_file().read_text().strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if recorded:
        return Path(recorded), "pointer"
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "data", "checkout"
    return Path.home() / ".cache" / "speech-cka-tutorial", "user"


def default_data_dir() -> Path:
    """Cache directory used when none is given; see :func:`find_data_dir`."""
    return find_data_dir()[0]
