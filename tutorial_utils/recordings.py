"""Per recording: CKA of every layer with every target (chapter 02).

:func:`layer_target_cka` takes each recording's hidden states and targets (MFCCs, EMA) on one
frame grid (:func:`tutorial_utils.targets.aligned_recording`), computes CKA of every layer with
every target, one recording at a time, and :func:`lag_curve` repeats it with the target shifted
in time.

The tables are *tidy* (one row per number) with the columns

``participant, filename, layer, target, estimator, value``

where ``estimator`` names the kernel and the HSIC estimator (``"linear"``,
``"linear, debiased"``, ``"RBF σ=1×median"``). Every CKA value comes from
:mod:`tutorial_utils.cka`, so undefined values follow its one policy: a constant
representation raises ``ValueError``; a debiased self-HSIC ≤ 0 gives ``nan`` with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .cka import cka, cka_matrix, gram_linear, gram_rbf
from .dataset import Dataset
from .frames import FRAME_HOP, SAMPLE_RATE
from .targets import TARGETS, aligned_recording, target_keys

__all__ = [
    "estimator_name",
    "lag_curve",
    "lagged_pair",
    "layer_target_cka",
    "recording_cka",
    "table_rows",
    "tidy_table",
]

ID_COLUMNS = ["participant", "filename", "layer", "target", "estimator"]
FRAME_MS = 1000 * FRAME_HOP / SAMPLE_RATE


def estimator_name(kernel: str = "linear", debiased: bool = False, threshold: float = 1.0) -> str:
    """Label of an estimator, as used in the ``estimator`` column (and a check of its options).

    ``kernel`` is ``"linear"`` or ``"rbf"``; ``debiased`` picks the debiased HSIC estimator;
    ``threshold`` is the RBF bandwidth as a fraction of the median distance (ignored for
    ``"linear"``). These three are the ``**estimator`` options of this module.
    """
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be 'linear' or 'rbf'; got {kernel!r}.")
    name = "linear" if kernel == "linear" else f"RBF σ={threshold:g}×median"
    return f"{name}, debiased" if debiased else name


def recording_cka(
    hidden_states: Mapping[int, np.ndarray], targets: Mapping[object, np.ndarray], **estimator: Any
) -> pd.DataFrame:
    """CKA between each layer's hidden states and each target over the same frames.

    ``hidden_states`` are ``{layer: (T, d)}``, ``targets`` ``{label: (T, k)}`` over the same
    frames. ``estimator`` holds ``kernel``, ``debiased`` and ``threshold`` as in
    :func:`estimator_name`: linear CKA (:func:`~tutorial_utils.cka.cka_matrix`, the default) or
    CKA of RBF Gram matrices (:func:`~tutorial_utils.cka.cka`) with bandwidth ``threshold`` ×
    the median distance, biased or debiased. Returns a table with the layers as index and the
    target labels as columns.
    """
    estimator_name(**estimator)
    kernel = estimator.get("kernel", "linear")
    debiased, threshold = estimator.get("debiased", False), estimator.get("threshold", 1.0)
    if kernel == "linear":
        return cka_matrix(dict(hidden_states), dict(targets), debiased=debiased)
    target_grams = {label: gram_rbf(y, threshold) for label, y in targets.items()}
    table = pd.DataFrame(index=list(hidden_states), columns=list(targets), dtype=float)
    for layer, x in hidden_states.items():
        gram_x = gram_rbf(x, threshold)
        for label, gram_y in target_grams.items():
            table.loc[layer, label] = cka(gram_x, gram_y, debiased=debiased)
    return table


def table_rows(scores: pd.Series, **columns: object) -> list[dict]:
    """Tidy rows, one per layer of ``scores`` (indexed by layer), plus the given columns."""
    return [{**columns, "layer": int(layer), "value": float(v)} for layer, v in scores.items()]


def tidy_table(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame: the id columns first, then any others, ``value`` last."""
    table = pd.DataFrame(rows)
    first = [c for c in ID_COLUMNS if c in table.columns]
    rest = [c for c in table.columns if c not in first and c != "value"]
    return table[[*first, *rest, "value"]]


def layer_target_cka(
    dataset: Dataset,
    targets: str | Iterable[str] = ("mfcc", "ema"),
    *,
    participants: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    kernel: str = "linear",
    debiased: bool = False,
    threshold: float = 1.0,
) -> pd.DataFrame:
    """Per-recording CKA between every layer and one or more targets.

    Parameters
    ----------
    dataset : Dataset
    targets : str or iterable of str, default ("mfcc", "ema")
        Keys of :data:`TARGETS`.
    participants : iterable of str, optional
        Default: all participants (recordings as :meth:`Dataset.pick_recordings`).
    layers : iterable of int, optional
        Default: all layers.
    kernel, debiased, threshold
        See :func:`recording_cka`.

    Returns
    -------
    pandas.DataFrame
        The tidy columns of the module docstring; one row per recording, layer and target.
    """
    keys = target_keys(targets)
    options = {"kernel": kernel, "debiased": debiased, "threshold": threshold}
    ids = {"estimator": estimator_name(**options)}
    rows = []
    for participant, filename in dataset.pick_recordings(participants):
        states, values = aligned_recording(dataset, participant, filename, keys, layers)
        table = recording_cka(states, values, **options)
        ids |= {"participant": participant, "filename": filename}
        for key in keys:
            rows += table_rows(table[key], **ids, target=TARGETS[key])
    return tidy_table(rows)


def _lag_slices(n: int, lag: int) -> tuple[slice, slice]:
    """Rows of x and y that meet when row ``t`` of x is paired with row ``t + lag`` of y."""
    if abs(lag) >= n:
        raise ValueError(f"|lag| = {abs(lag)} must be smaller than the {n} frames.")
    if lag >= 0:
        return slice(0, n - lag), slice(lag, n)
    return slice(-lag, n), slice(0, n + lag)


def lagged_pair(x: np.ndarray, y: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair row ``t`` of ``x`` with row ``t + lag`` of ``y``, dropping rows without a partner.

    A positive ``lag`` compares each row of ``x`` with a *later* row of ``y``; both results
    have ``min(len(x), len(y)) - |lag|`` rows.
    """
    rows_x, rows_y = _lag_slices(min(len(x), len(y)), int(lag))
    return x[rows_x], y[rows_y]


def lag_curve(
    dataset: Dataset,
    layer: int,
    target: str = "ema",
    *,
    participants: Iterable[str] | None = None,
    lags: Iterable[int] = range(-10, 11),
    debiased: bool = False,
) -> pd.DataFrame:
    """Linear CKA between one layer and a target shifted in time, per recording and lag.

    Each recording's two linear Gram matrices are built once; a lag only selects a block of
    each (the frames that still have a partner, see :func:`lagged_pair`).

    Parameters
    ----------
    dataset : Dataset
    layer : int
    target : {"mfcc", "mfcc_original", "ema"}, default "ema"
    participants : iterable of str, optional
    lags : iterable of int, default -10 … 10
        Shifts in frames (20 ms each); at lag ``k`` model frame ``t`` meets target row
        ``t + k``, so positive lags compare the model with targets from later in time.
    debiased : bool, default False

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, filename, layer, target, estimator, lag, lag_ms, value``.
    """
    (key,) = target_keys(target)
    ids = {
        "layer": int(layer),
        "target": TARGETS[key],
        "estimator": estimator_name("linear", debiased),
    }
    rows = []
    for participant, filename in dataset.pick_recordings(participants):
        states, values = aligned_recording(dataset, participant, filename, key, [layer])
        gram_x, gram_y = gram_linear(states[int(layer)]), gram_linear(values[key])
        for lag in (int(k) for k in lags):
            rows_x, rows_y = _lag_slices(len(gram_x), lag)
            value = cka(gram_x[rows_x, rows_x], gram_y[rows_y, rows_y], debiased=debiased)
            where = {"participant": participant, "filename": filename, **ids, "lag": lag}
            rows.append({**where, "lag_ms": lag * FRAME_MS, "value": value})
    return pd.DataFrame(rows)
