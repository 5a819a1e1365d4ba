"""Read the tutorial's original files, turning anything wrong into one clear message.

``ema_audio_<P>.pkl`` (recordings), ``ema_labels_<P>.csv`` (EMA) and
``frame_states_p*_test.pkl`` (hidden states) are read and checked here. Whatever goes wrong
(an empty or truncated file, an HTML error page saved under the data's name, a damaged zip,
a hostile or unsupported pickle, wrong columns or values) becomes a :class:`BadOriginal` whose
message names the file and says what is wrong, never a traceback.

:data:`KNOWN_SHA256` pins the sha256 of original files whose contents are known in advance.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import validate
from .cache import hidden_state_key
from .download import DownloadFailed
from .pickle_policy import PickleTooLarge, UnsafePickleError, UnsupportedPickleFormat
from .safe_pickle import load_dataframe, safe_load

KNOWN_SHA256: dict[str, str] = {}
"""sha256 of the tutorial's original files, by file name; a listed file must match.

Empty for now: the real files could not be fetched when this was written. To fill it, download
the Drive folder's ``ema_probing_data/`` by hand, check that it converts
(``python -m tutorial_utils.io --from-dir PATH``), then add one line per file from
``sha256sum ema_probing_data/*``, e.g. ``"ema_audio_F02.pkl": "<64 hex digits>",``.
"""


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


def _sniff(path: Path) -> str | None:
    """What the file obviously is instead of data, if anything."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as err:
        return f"it cannot be opened ({err.strerror or err})."
    if not head:
        return "it is empty (0 bytes): an interrupted download or copy?"
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return (
            "it is an HTML page, not data. Google Drive sends such a page instead of the file "
            "when a download is refused (quota, permissions or a virus-scan warning)."
        )
    return None


def _describe(path: Path, err: BaseException) -> str:
    """One sentence about what is wrong, from the exception the reader raised."""
    if isinstance(err, UnsupportedPickleFormat | UnsafePickleError | PickleTooLarge):
        return str(err)
    if isinstance(err, EOFError) or "truncated" in str(err):
        return "it ends too early (truncated): an interrupted download or copy?"
    if isinstance(err, zipfile.BadZipFile):
        return f"it is a damaged zip archive (the torch.save format): {err}."
    if isinstance(err, RecursionError):
        return "it is nested far too deeply to be a data file."
    if isinstance(err, ValueError):
        return str(err)
    return f"it is not a valid file of this kind ({type(err).__name__}: {err})."


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn every failure while reading ``path`` into a :class:`BadOriginal`."""
    try:
        yield
    except BadOriginal:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        zipfile.BadZipFile,
        RecursionError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OverflowError,
        struct.error,
        UnicodeDecodeError,
        MemoryError,
    ) as err:
        raise BadOriginal(path, _sniff(path) or _describe(path, err)) from err


def read_recordings(path: Path) -> pd.DataFrame:
    """Read and check an ``ema_audio_<P>.pkl``: FILENAME, SENTENCE, AUDIO (float32, 16 kHz)."""
    with reading(path):
        table = load_dataframe(path)
        missing = [c for c in ("FILENAME", "SENTENCE", "AUDIO") if c not in table.columns]
        if missing:
            raise ValueError(f"it lacks the columns {missing}; is it the right file?")
        if table.empty:
            raise ValueError("it holds no recordings.")
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
    with reading(path):
        table = pd.read_csv(path, dtype={"FILENAME": str, "SENTENCE": str})
        return validate.check_ema(table, lengths, path.name)


def _stack_frames(frames: Any, where: str) -> np.ndarray:
    """One recording's frames (list of (d,) arrays, or a (T, d) / (1, T, d) array) → (T, d)."""
    if isinstance(frames, list | tuple):
        if not frames:
            raise ValueError(f"{where} has no frames.")
        array = np.stack([np.asarray(f).reshape(-1) for f in frames])
    else:
        array = np.asarray(frames)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise ValueError(f"{where} has shape {array.shape} ({array.dtype}), expected (T, d).")
    return np.ascontiguousarray(array, dtype=np.float32)


def _layer_states(obj: Any, lengths: Mapping[str, int]) -> dict[int, dict[str, np.ndarray]]:
    """``{layer: {filename: frames}}`` → ``{layer: {filename: (T, d) float32}}``, checked."""
    if not isinstance(obj, dict) or not obj:
        raise ValueError("it does not hold a {layer: {filename: frames}} dict.")
    states: dict[int, dict[str, np.ndarray]] = {}
    for layer, per_file in obj.items():
        if not isinstance(layer, int) or isinstance(layer, bool) or layer < 0:
            raise ValueError(f"it has the layer key {layer!r}; expected layer numbers 0, 1, ...")
        if not isinstance(per_file, dict):
            raise ValueError(
                f"layer {layer} holds a {type(per_file).__name__} where a {{filename: frames}} "
                "dict is expected."
            )
        unknown = [f for f in per_file if f not in lengths]
        if unknown:
            raise ValueError(
                f"it has states for {unknown[0]!r}, which is not among the recordings; are the "
                "frame-states and audio files of the same participant?"
            )
        states[layer] = {f: _stack_frames(v, f"{f} layer {layer}") for f, v in per_file.items()}
    return states


def read_frame_states(path: Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Original frame-states pickle → ``{hidden_state_key: (T, d) float32}``, checked."""
    with reading(path):
        states = _layer_states(safe_load(path), lengths)
        validate.check_hidden_states(states, lengths, path.name)
        return {
            hidden_state_key(layer, name): array
            for layer, per_file in states.items()
            for name, array in per_file.items()
        }
