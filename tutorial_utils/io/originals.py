"""Read the original files into plain tables (pickles through :mod:`.unpickle`, values checked
by :mod:`.validate`); anything wrong is one :class:`BadOriginal` naming the file and the fault."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from . import unpickle, validate
from .cache import hidden_state_key
from .download import DownloadFailed

KNOWN_SHA256: dict[str, str] = {}  # name -> sha256 (add those of ema_probing_data/* once seen)


class BadOriginal(DownloadFailed):
    """An original file cannot be used; the message names it and says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, name = Path(path), Path(path).name  # validate's messages start with name
        super().__init__(f"{name} ({path}) cannot be used: {reason.removeprefix(name + ': ')}")


def check_known_hash(name: str, path: Path, sha256: str) -> None:
    """Refuse a file whose name is in :data:`KNOWN_SHA256` with another sha256."""
    if (expected := KNOWN_SHA256.get(name, sha256)) != sha256:
        reason = f"its sha256 is {sha256}, but the tutorial's {name} has {expected}"
        raise BadOriginal(path, f"{reason} (a damaged, incomplete or different file).")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn any failure while reading ``path`` into a :class:`BadOriginal` that says why."""
    try:
        yield
    except Exception as err:  # a damaged or hostile file may raise anything (nothing from it ran)
        head = b"?"
        with contextlib.suppress(OSError), open(path, "rb") as handle:
            head = handle.read(512)
        html = head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
        reason = next(text for fault, text in [
            (isinstance(err, OSError), f"it cannot be opened ({err})."),
            (not head, "it is empty (0 bytes): an interrupted download or copy?"),
            (html, "it is an HTML page, not data (Google Drive's answer to a refused download)."),
            (isinstance(err, EOFError) or "truncated" in str(err) or "exhausted" in str(err),
             "it ends too early (truncated): an interrupted download or copy?"),
            (isinstance(err, zipfile.BadZipFile), f"it is a damaged zip archive: {err}."),
            (isinstance(err, ValueError), str(err)),
            (True, f"it is not a valid file of this kind ({type(err).__name__}: {err})."),
        ] if fault)  # fmt: skip
        raise BadOriginal(path, reason) from err


def read_recordings(path: Path) -> pd.DataFrame:
    """Read and check an ``ema_audio_<P>.pkl``: FILENAME, SENTENCE, AUDIO (float32, 16 kHz)."""
    with _reading(path):
        table, columns = unpickle.load(path), ["FILENAME", "SENTENCE", "AUDIO"]
        if not isinstance(table, pd.DataFrame) or table.empty or {*columns} - {*table.columns}:
            raise ValueError(f"it is not a table of recordings with the columns {columns}.")
        table = table[columns].reset_index(drop=True)
        names = validate.check_filenames(table["FILENAME"], path.name)
        pairs = zip(names, table["AUDIO"], strict=True)
        table["AUDIO"] = [validate.clean_audio(a, f"{path.name}: {n}") for n, a in pairs]
        table["SENTENCE"] = table["SENTENCE"].astype(str)
        return table


def audio_lengths(recordings: pd.DataFrame) -> dict[str, int]:
    """``{filename: n_samples}`` of a recordings table."""
    return dict(zip(recordings["FILENAME"], map(len, recordings["AUDIO"]), strict=True))


def read_labels(path: Path, lengths: Mapping[str, int]) -> pd.DataFrame:
    """Read and check an ``ema_labels_<P>.csv`` against the recordings' lengths."""
    with _reading(path):
        table = pd.read_csv(path, dtype={"FILENAME": str, "SENTENCE": str})
        return validate.check_ema(table, lengths, path.name)


def read_frame_states(path: Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Read and check ``{layer: {filename: frames}}`` → ``{hidden_state_key: (T, d) float32}``."""
    with _reading(path):
        states = unpickle.load(path)
        if not isinstance(states, dict) or not states:
            raise ValueError("it does not hold a {layer: {filename: frames}} dict.")
        for layer, per_file in states.items():
            if type(layer) is not int or layer < 0 or not isinstance(per_file, dict):
                raise ValueError(f"layer {layer!r} holds a {type(per_file).__name__}, not a dict.")
            if unknown := [f for f in per_file if f not in lengths]:
                raise ValueError(f"it has states for {unknown[0]!r}, not among the recordings.")
            for name, frames in per_file.items():
                array = np.ascontiguousarray(frames, np.float32)  # a list of (d,) frames, or (T, d)
                per_file[name] = array[0] if array.ndim == 3 and len(array) == 1 else array
        validate.check_hidden_states(states, lengths, path.name)
        return {hidden_state_key(k, f): a for k, per in states.items() for f, a in per.items()}
