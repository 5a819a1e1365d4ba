"""Restricted unpickling of the tutorial's downloaded pickles (no torch needed).

The tutorial's original files are pickles: pandas DataFrames (``ema_audio_<P>.pkl``) and
dictionaries of torch tensors (``frame_states_*.pkl``). Unpickling runs whatever the file asks
for, so they are read with :class:`~tutorial_utils.io.unpickler.RestrictedUnpickler`:

* only an allow-list of globals is resolved, and each call is checked
  (:mod:`tutorial_utils.io.pickle_policy`);
* the objects made from a file may allocate at most ``4 × its size + 16 MiB``, charged before
  each allocation (memory bombs are refused, not run);
* state is never applied to a class or function (no class pollution);
* torch tensors become numpy arrays without importing torch
  (:mod:`tutorial_utils.io.torch_format`); the memo entries of large storages are dropped, so
  the real frame-states files (one whole-recording storage per 768-dim frame) unpickle in
  memory bounded by the output.

Errors: :class:`UnsafePickleError` (refused: hostile or outside the allow-list; its subclass
:class:`PickleTooLarge` for memory bombs), :class:`UnsupportedPickleFormat` (a safe format that
is not read, e.g. bfloat16 tensors or protocol-2 pickles), and ``ValueError`` /
``pickle.UnpicklingError`` / ``EOFError`` for files that are simply broken.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import torch_format
from .pickle_policy import Budget, PickleTooLarge, UnsafePickleError, UnsupportedPickleFormat

__all__ = [
    "PickleTooLarge",
    "UnsafePickleError",
    "UnsupportedPickleFormat",
    "load_dataframe",
    "safe_load",
]


def safe_load(path: str | os.PathLike) -> Any:
    """Unpickle a file through the allow-list (torch tensors become numpy arrays).

    Parameters
    ----------
    path : path
        A ``pickle`` file, or a ``torch.save`` zip archive.

    Returns
    -------
    object
        What the file holds, built only from allow-listed types.

    Raises
    ------
    UnsafePickleError
        When the file names a global outside the allow-list, or would allocate more than its
        memory budget; nothing from it is executed.
    UnsupportedPickleFormat
        When the file is in a safe format this loader does not read.
    FileNotFoundError
        When the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    budget = Budget(path.stat().st_size)
    with open(path, "rb") as handle:
        if handle.read(4) == torch_format.ZIP_MAGIC:
            handle.seek(0)
            return torch_format.read_zip(handle, budget)
        handle.seek(0)
        return torch_format.unpickler(handle, budget, depth=0).load()


def load_dataframe(path: str | os.PathLike) -> pd.DataFrame:
    """Unpickle a pandas DataFrame safely (e.g. ``ema_audio_F02.pkl``).

    Raises
    ------
    ValueError
        When the file holds something else (and the errors of :func:`safe_load`).
    """
    obj = safe_load(path)
    if not isinstance(obj, pd.DataFrame):
        raise ValueError(f"{path} holds a {type(obj).__name__}, expected a pandas DataFrame.")
    return obj
