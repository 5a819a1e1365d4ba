"""Read the tutorial's original files into plain tables; anything wrong is one clear message.

``ema_audio_<P>.pkl`` (recordings), ``ema_labels_<P>.csv`` (EMA) and ``frame_states_p*_test.pkl``
(hidden states) are read (pickles through :mod:`.unpickle`) and checked (:mod:`.validate`).
Whatever goes wrong (an empty, truncated or HTML file, a damaged zip, a hostile or unsupported
pickle, wrong columns or values) becomes a :class:`BadOriginal` naming the file and the fault.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import unpickle, validate
from .cache import hidden_state_key
from .download import DownloadFailed

KNOWN_SHA256: dict[str, str] = {}
"""sha256 of the tutorial's original files by name (a listed file must match). Empty: the real
files could not be fetched yet. To fill it, download the Drive's ``ema_probing_data/`` by hand,
check that ``python -m tutorial_utils.io --from-dir PATH`` converts it, and add one
``"<name>": "<sha256>"`` line per file from ``sha256sum ema_probing_data/*``."""


class BadOriginal(DownloadFailed):
    """An original file cannot be used; the message names it and says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason.removeprefix(f"{self.path.name}: ")
        super().__init__(f"{self.path.name} ({self.path}) cannot be used: {self.reason}")


def check_known_hash(name: str, path: Path, sha256: str) -> None:
    """Refuse a file whose name is in :data:`KNOWN_SHA256` with another sha256."""
    expected = KNOWN_SHA256.get(name)
    if expected is not None and expected != sha256:
        raise BadOriginal(
            path,
            f"its sha256 is {sha256}, but the tutorial's {name} has {expected} (a damaged, "
            "incomplete or different file).",
        )


def _fault(path: Path, err: Exception) -> str:
    """What is wrong with ``path``, from its first bytes and the error reading it raised."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as error:
        return f"it cannot be opened ({error.strerror or error})."
    if not head:
        return "it is empty (0 bytes): an interrupted download or copy?"
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return (
            "it is an HTML page, not data. Google Drive sends such a page instead of the file "
            "when a download is refused (quota, permissions or a virus-scan warning)."
        )
    if isinstance(err, EOFError) or "truncated" in str(err) or "exhausted" in str(err):
        return "it ends too early (truncated): an interrupted download or copy?"
    if isinstance(err, zipfile.BadZipFile):
        return f"it is a damaged zip archive (the torch.save format): {err}."
    if isinstance(err, RecursionError):
        return "it is nested far too deeply to be a data file."
    if isinstance(err, ValueError):
        return str(err)
    return f"it is not a valid file of this kind ({type(err).__name__}: {err})."


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn every failure while reading ``path`` into a :class:`BadOriginal`."""
    try:
        yield
    except BadOriginal:
        raise
    except Exception as err:  # a damaged or hostile file can raise anything; none runs code
        raise BadOriginal(path, _fault(path, err)) from err


def read_recordings(path: Path) -> pd.DataFrame:
    """Read and check an ``ema_audio_<P>.pkl``: FILENAME, SENTENCE, AUDIO (float32, 16 kHz)."""
    with _reading(path):
        table = unpickle.load(path)
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"it holds a {type(table).__name__}, not a pandas DataFrame.")
        missing = [c for c in ("FILENAME", "SENTENCE", "AUDIO") if c not in table.columns]
        if missing or table.empty:
            raise ValueError(f"it lacks the columns {missing} or rows; is it the right file?")
        table = table[["FILENAME", "SENTENCE", "AUDIO"]].reset_index(drop=True)
        names = validate.check_filenames(table["FILENAME"], path.name)
        table["AUDIO"] = [
            validate.clean_audio(a, f"{path.name}: {n}")
            for n, a in zip(names, table["AUDIO"], strict=True)
        ]
        table["SENTENCE"] = table["SENTENCE"].astype(str)
        return table


def audio_lengths(recordings: pd.DataFrame) -> dict[str, int]:
    """``{filename: n_samples}`` of a recordings table."""
    pairs = zip(recordings["FILENAME"], recordings["AUDIO"], strict=True)
    return {name: int(audio.size) for name, audio in pairs}


def read_labels(path: Path, lengths: Mapping[str, int]) -> pd.DataFrame:
    """Read and check an ``ema_labels_<P>.csv`` against the recordings' lengths."""
    with _reading(path):
        table = pd.read_csv(path, dtype={"FILENAME": str, "SENTENCE": str})
        return validate.check_ema(table, lengths, path.name)


def _frames(frames: Any, where: str) -> np.ndarray:
    """One recording's frames (a list of (d,) arrays, or a (T, d) / (1, T, d) array) → (T, d)."""
    if isinstance(frames, list | tuple):
        array = np.stack([np.asarray(f).reshape(-1) for f in frames]) if frames else np.empty(0)
    else:
        array = np.asarray(frames)
        array = array[0] if array.ndim == 3 and array.shape[0] == 1 else array
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise ValueError(f"{where} has shape {array.shape} ({array.dtype}), expected (T, d).")
    return np.ascontiguousarray(array, dtype=np.float32)


def read_frame_states(path: Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Original frame-states pickle ``{layer: {filename: frames}}`` → ``{hidden_state_key:
    (T, d) float32}``, checked."""
    with _reading(path):
        obj = unpickle.load(path)
        if not isinstance(obj, dict) or not obj:
            raise ValueError("it does not hold a {layer: {filename: frames}} dict.")
        states = {}
        for layer, per_file in obj.items():
            if type(layer) is not int or layer < 0:
                raise ValueError(f"it has the layer key {layer!r}; expected layers 0, 1, ...")
            if not isinstance(per_file, dict):
                kind = type(per_file).__name__
                raise ValueError(f"layer {layer} holds a {kind}, not a {{filename: frames}} dict.")
            unknown = [f for f in per_file if f not in lengths]
            if unknown:
                raise ValueError(
                    f"it has states for {unknown[0]!r}, which is not among the recordings; are "
                    "the frame-states and audio files of the same participant?"
                )
            states[layer] = {f: _frames(v, f"{f} layer {layer}") for f, v in per_file.items()}
        validate.check_hidden_states(states, lengths, path.name)
        return {hidden_state_key(k, f): a for k, per in states.items() for f, a in per.items()}
