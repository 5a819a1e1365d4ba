"""Per recording: CKA of every layer with every target (chapter 02).

Each recording's hidden states and targets (MFCCs, EMA) are put on one frame grid
(:func:`tutorial_utils.targets.aligned_recording`); :func:`layer_target_cka` computes CKA of
every layer with every target, one recording at a time. Its table is tidy, one row per number:
``participant, filename, layer, target, estimator, value``; ``estimator`` names the kernel and
the HSIC estimator (``"linear"``, ``"linear, debiased"``, ``"RBF σ=1×median"``). Undefined
values follow :mod:`tutorial_utils.cka`'s one policy.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from .cka import cka, cka_matrix, gram_rbf
from .dataset import Dataset
from .targets import TARGETS, aligned_recording, target_keys

ID_COLUMNS = ["participant", "filename", "layer", "target", "estimator"]


def estimator_name(kernel: str = "linear", debiased: bool = False, threshold: float = 1.0) -> str:
    """The ``estimator`` label of the options ``kernel`` ("linear" or "rbf"), ``debiased`` and
    ``threshold`` (RBF bandwidth as a fraction of the median distance); checks ``kernel``."""
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be 'linear' or 'rbf'; got {kernel!r}.")
    name = "linear" if kernel == "linear" else f"RBF σ={threshold:g}×median"
    return f"{name}, debiased" if debiased else name


def recording_cka(hidden_states: Mapping, targets: Mapping, **estimator: Any) -> pd.DataFrame:
    """CKA of each layer ``{layer: (T, d)}`` with each target ``{label: (T, k)}`` (same frames),
    layers × labels; ``estimator``: ``kernel``, ``debiased``, ``threshold`` as in
    :func:`estimator_name`."""
    estimator_name(**estimator)
    debiased, threshold = estimator.get("debiased", False), estimator.get("threshold", 1.0)
    if estimator.get("kernel", "linear") == "linear":
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
    return table[[*first, *(c for c in table.columns if c not in first and c != "value"), "value"]]


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
    """Per-recording CKA (:meth:`Dataset.pick_recordings`) of every layer (default all) with
    each target (keys of :data:`~tutorial_utils.targets.TARGETS`), estimator options as in
    :func:`estimator_name`: the tidy table of the module docstring."""
    keys = target_keys(targets)
    options = {"kernel": kernel, "debiased": debiased, "threshold": threshold}
    name, rows = estimator_name(**options), []
    for participant, filename in dataset.pick_recordings(participants):
        states, values = aligned_recording(dataset, participant, filename, keys, layers)
        table = recording_cka(states, values, **options)
        ids = {"participant": participant, "filename": filename, "estimator": name}
        for key in keys:
            rows += table_rows(table[key], **ids, target=TARGETS[key])
    return tidy_table(rows)
