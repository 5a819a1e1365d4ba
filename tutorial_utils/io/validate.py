"""Value checks of the data going into the cache: names, audio, EMA and hidden states.

Each check raises ``ValueError`` naming the file (and recording) and what is wrong, or returns
cleaned values. Integer PCM audio, and float audio holding unscaled 16-bit values, is scaled
to [-1, 1) with a :class:`DataWarning`; everything else that cannot be right is refused.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..frames import EMA_COLUMNS, EMA_TABLE_COLUMNS, FRAME_LENGTH, n_model_frames

EMA_ROW_TOLERANCE = 2
"""EMA rows per recording may differ from its model frame count by this much."""
PARTICIPANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


class DataWarning(UserWarning):
    """Data were converted on the way into the cache (the message says how)."""


def _some(values: Iterable[Any], n: int = 3) -> str:
    values = [repr(v) for v in values]
    return ", ".join(values[:n]) + (f" and {len(values) - n} more" if len(values) > n else "")


def check_participant(name: Any, where: str = "--participants") -> str:
    """A participant id safe as a folder name (e.g. ``F02``), or ValueError."""
    if not isinstance(name, str) or not PARTICIPANT_PATTERN.fullmatch(name):
        raise ValueError(
            f"{where}: {name!r} is not a participant id. Use letters, digits, '_' or '-' only "
            "(e.g. F02 or M02): no path separators, '..', spaces or wildcards."
        )
    return name


def check_filenames(values: Iterable[Any], source: str) -> list[str]:
    """FILENAME values that survive the cache's csv and npz round trip, or ValueError."""
    names = list(values)

    def read_back() -> list:
        csv = pd.DataFrame({"F": names}).to_csv(index=False)
        return pd.read_csv(io.StringIO(csv), dtype=str)["F"].tolist()

    checks = [
        (lambda: [v for v in names if not isinstance(v, str)], "must be text"),
        (lambda: [n for n in names if not n or n != n.strip() or re.search(r"[\x00-\x1f/\\]", n)],
         "are empty or hold spaces at the ends, control characters or path separators"),
        (lambda: [n for n, r in zip(names, read_back(), strict=True) if n != r],
         "read back from a csv file as missing values (pandas treats them as NA)"),
        (lambda: sorted({n for n in names if names.count(n) > 1}), "appear more than once"),
    ]  # fmt: skip
    for find, why in checks:
        if bad := find():
            raise ValueError(f"{source}: FILENAME values {_some(bad)} {why}; rename them.")
    return names


def clean_audio(values: Any, where: str, min_samples: int = FRAME_LENGTH) -> np.ndarray:
    """One recording's 16 kHz audio as 1-D float32, checked (``where``: for messages)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: the audio is not an array of numbers ({err}).") from None
    if array.ndim != 1 or array.dtype.kind not in "fiu":
        raise ValueError(
            f"{where}: the audio is {array.dtype} {array.shape}; expected floats, 1-D mono."
        )
    if array.dtype.kind in "iu":
        scale = {1: 128.0, 2: 32768.0, 4: 2.0**31}.get(array.dtype.itemsize)
        if scale is None or array.dtype == np.int8:
            raise ValueError(f"{where}: the audio has the type {array.dtype}; expected floats.")
        message = f"{where}: {array.dtype} PCM audio divided by {scale:.0f} to floats in [-1, 1)."
        warnings.warn(message, DataWarning, stacklevel=2)
        array = (array.astype(np.float64) - (128.0 if array.dtype == np.uint8 else 0.0)) / scale
    if not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{where}: the audio has {bad} NaN or infinite samples.")
    if array.size < min_samples:
        raise ValueError(
            f"{where}: the audio has {array.size} samples, fewer than one model frame "
            f"({min_samples} samples at 16 kHz)."
        )
    if 1.0 < np.abs(array).max() <= 32768.0 and np.array_equal(array, np.round(array)):
        message = f"{where}: the audio holds unscaled 16-bit PCM values; divided by 32768."
        warnings.warn(message, DataWarning, stacklevel=2)
        array = array / 32768.0
    return array.astype(np.float32)


def check_ema(table: pd.DataFrame, lengths: Mapping[str, int], source: str) -> pd.DataFrame:
    """The EMA table checked against the recordings' lengths (``{filename: n_samples}``)."""
    if tuple(table.columns) != EMA_TABLE_COLUMNS:
        raise ValueError(
            f"{source}: the columns are {list(table.columns)}; expected exactly "
            f"{list(EMA_TABLE_COLUMNS)}. Is it the tutorial's EMA file?"
        )
    if table.empty:
        raise ValueError(f"{source}: there are no rows of EMA data.")
    table = table.copy()
    for column in ("TIMESTEP", *EMA_COLUMNS):
        values = pd.to_numeric(table[column], errors="coerce")
        text = table[column][values.isna() & table[column].notna()]
        if len(text):
            raise ValueError(f"{source}: column {column} has non-numeric values {_some(text)}.")
        bad = int((~np.isfinite(values.to_numpy(dtype=np.float64))).sum())
        if bad:
            raise ValueError(f"{source}: column {column} has {bad} missing or infinite values.")
        table[column] = values
    unknown = sorted(set(table["FILENAME"].astype(str)) - set(lengths))
    if unknown:
        raise ValueError(f"{source}: there are EMA rows for {_some(unknown)}, which have no audio.")
    for name, rows in table["FILENAME"].value_counts(sort=False).items():
        frames = n_model_frames(lengths[name])
        if abs(int(rows) - frames) > EMA_ROW_TOLERANCE:
            raise ValueError(
                f"{source}: {name} has {rows} EMA rows but its audio gives {frames} frames of "
                f"20 ms (more than {EMA_ROW_TOLERANCE} apart); the EMA and audio do not match."
            )
    table["TIMESTEP"] = table["TIMESTEP"].astype(np.int64)
    return table


def check_hidden_states(
    states: Mapping[int, Mapping[str, np.ndarray]], lengths: Mapping[str, int], source: str
) -> None:
    """Hidden states ``{layer: {filename: (T, d)}}``: same files and sizes in every layer,
    finite values, and ``T == n_model_frames(n_samples)`` for every recording."""
    if not states:
        raise ValueError(f"{source}: there are no hidden states.")
    files, dims = set(states[min(states)]), set()
    for layer, per_file in states.items():
        if set(per_file) != files:
            raise ValueError(
                f"{source}: layer {layer} has states for other recordings than layer "
                f"{min(states)} (differing: {_some(sorted(set(per_file) ^ files))})."
            )
        for filename, array in per_file.items():
            where = f"{source}: {filename} layer {layer}"
            if array.ndim != 2 or array.dtype.kind != "f":
                raise ValueError(f"{where} is {array.dtype} {array.shape}; expected (T, d) floats.")
            expected = n_model_frames(lengths[filename])
            if array.shape[0] != expected:
                raise ValueError(
                    f"{source}: {filename}: {array.shape[0]} frames of hidden states but "
                    f"{expected} expected from {lengths[filename]} audio samples; the hidden "
                    "states do not belong to this audio."
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{where} has NaN or infinite values.")
            dims.add(array.shape[1])
    if len(dims) > 1:
        raise ValueError(f"{source}: the hidden states have different sizes {sorted(dims)}.")
