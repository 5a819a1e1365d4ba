"""The original files read into plain tables and checked once, where they enter the cache:
pickles through :mod:`.unpickle`, the EMA csv with pandas. Anything wrong is one
:class:`BadOriginal` naming the file and the fault (and the recording, where there is one)."""

from __future__ import annotations

import contextlib
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..frames import EMA_COLUMNS, EMA_TABLE_COLUMNS, FRAME_LENGTH, n_model_frames
from . import unpickle
from .cache import hidden_state_key

KNOWN_SHA256: dict[str, str] = {}  # name -> sha256 (add those of ema_probing_data/* once seen)
EMA_ROW_TOLERANCE = 2  # EMA rows per recording may differ from its frame count by this much
FILENAME = re.compile(r"[\w.-]+", re.ASCII)


class BadOriginal(ValueError):
    """An original file cannot be used; the message names it and says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path.name} ({path}) cannot be used: {reason}")


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn any failure while reading ``path`` into a :class:`BadOriginal` that says why."""
    try:
        yield
    except Exception as err:  # a damaged or hostile file may raise anything (nothing from it ran)
        try:
            with open(path, "rb") as handle:
                head = handle.read(64).lstrip().lower()
        except OSError:
            head = None
        text = str(err)
        reason = (
            f"it cannot be opened ({err})." if head is None
            else "it is empty (0 bytes): an interrupted download or copy?" if not head
            else "it is an HTML page, not data (Google Drive's answer to a refused download)."
            if head.startswith((b"<!doctype html", b"<html"))
            else "it ends too early (truncated): an interrupted download or copy?"
            if isinstance(err, EOFError) or "truncated" in text or "exhausted" in text
            else f"it is a damaged zip archive: {err}." if isinstance(err, zipfile.BadZipFile)
            else text if isinstance(err, ValueError)
            else f"it is not a valid file of this kind ({type(err).__name__}: {err})."
        )  # fmt: skip
        raise BadOriginal(path, reason) from err


def read_recordings(path: Path) -> pd.DataFrame:
    """Read and check an ``ema_audio_<P>.pkl``: FILENAME, SENTENCE, AUDIO (float32, 16 kHz)."""
    with reading(path):
        table, columns = unpickle.load(path), ["FILENAME", "SENTENCE", "AUDIO"]
        if not isinstance(table, pd.DataFrame) or table.empty or {*columns} - {*table.columns}:
            raise ValueError(f"it is not a table of recordings with the columns {columns}.")
        table = table[columns].reset_index(drop=True)
        names = table["FILENAME"].tolist()
        bad = [n for n in names if type(n) is not str or not FILENAME.fullmatch(n)]
        if bad := bad or sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(
                f"FILENAME values {bad[:3]} are not unique names of letters, digits, '_', '.' "
                "and '-'; rename them."
            )
        for name, values in zip(names, table["AUDIO"], strict=True):
            audio = np.asarray(values)
            if not (audio.ndim == 1 and audio.dtype.kind == "f" and audio.size >= FRAME_LENGTH):
                raise ValueError(
                    f"the audio of {name} is {audio.dtype} {audio.shape}; expected 1-D floats, "
                    f"at least one model frame ({FRAME_LENGTH} samples at 16 kHz)."
                )
            if bad := int(np.count_nonzero(~np.isfinite(audio))):
                raise ValueError(f"the audio of {name} has {bad} NaN or infinite samples.")
        table["AUDIO"] = [np.asarray(values, np.float32) for values in table["AUDIO"]]
        return table.astype({"SENTENCE": str})


def read_labels(path: Path, lengths: Mapping[str, int]) -> pd.DataFrame:
    """Read and check an ``ema_labels_<P>.csv`` against the audio lengths ``{filename: n}``."""
    with reading(path):
        table = pd.read_csv(path, dtype={"FILENAME": str, "SENTENCE": str})
        if tuple(table.columns) != EMA_TABLE_COLUMNS or table.empty:
            raise ValueError(
                f"it has {len(table)} rows of the columns {list(table.columns)}; expected rows "
                f"of exactly {list(EMA_TABLE_COLUMNS)}. Is it the tutorial's EMA file?"
            )
        for column in ("TIMESTEP", *EMA_COLUMNS):
            table[column] = values = pd.to_numeric(table[column], errors="coerce")
            if bad := int((~np.isfinite(values.to_numpy(np.float64))).sum()):
                raise ValueError(f"column {column} has {bad} missing or non-numeric values.")
        if unknown := [n for n in dict.fromkeys(table["FILENAME"]) if n not in lengths]:
            raise ValueError(f"there are EMA rows for {unknown[:3]}, which have no audio.")
        for name, rows in table["FILENAME"].value_counts(sort=False).items():
            if abs(rows - (frames := n_model_frames(lengths[name]))) > EMA_ROW_TOLERANCE:
                raise ValueError(
                    f"{name} has {rows} EMA rows but its audio gives {frames} frames of 20 ms; "
                    "the EMA and audio do not match."
                )
        return table.astype({"TIMESTEP": np.int64})


def check_states(states: Mapping, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Hidden states ``{layer: {filename: (T, d)}}`` checked (the same recordings in every layer,
    with audio, one size d, finite, ``T == n_model_frames(n_samples)``), keyed for the cache."""
    files, dims = set(next(iter(states.values()))), set()
    for layer, per_file in states.items():
        if set(per_file) != files or not files <= set(lengths):
            odd = sorted(set(per_file) ^ files or files - set(lengths))
            raise ValueError(f"layer {layer} has states of other recordings ({odd[:3]}).")
        for name, array in per_file.items():
            frames = n_model_frames(lengths[name])
            if array.ndim != 2 or array.shape[0] != frames or not np.isfinite(array).all():
                raise ValueError(
                    f"{name}, layer {layer}: the hidden states are {array.shape} (finite: "
                    f"{np.isfinite(array).all()}); its {lengths[name]} audio samples give "
                    f"{frames} frames. They must be finite and belong to this audio."
                )
            dims.add(array.shape[1])
    if len(dims) > 1:
        raise ValueError(f"the hidden states have different sizes {sorted(dims)}.")
    return {
        hidden_state_key(k, f): a for k, per_file in states.items() for f, a in per_file.items()
    }


def read_frame_states(path: Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Read and check a ``frame_states_p*_test.pkl`` (``{layer: {filename: frames}}``)."""
    with reading(path):
        states = unpickle.load(path)
        if (
            not isinstance(states, dict)
            or not states
            or not all(type(k) is int and k >= 0 and isinstance(v, dict) for k, v in states.items())
        ):
            raise ValueError("it does not hold a {layer: {filename: frames}} dict.")
        for per_file in states.values():
            for name, frames in per_file.items():  # a list of (d,) frames, (T, d) or (1, T, d)
                array = np.ascontiguousarray(frames, np.float32)
                per_file[name] = array[0] if array.ndim == 3 and len(array) == 1 else array
        return check_states(states, lengths)
