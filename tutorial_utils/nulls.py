"""Null baselines: what CKA gives when the pairing of stimuli is deliberately broken.

Frames of a recording are autocorrelated, not independent samples, so these baselines keep
the structure of each space and only break the pairing:

* :func:`circular_shift_null` rolls a recording's target in time (chapter 02), and
  :func:`shifted_recordings` gives every recording with rolled targets (chapters 05, 06);
* :func:`mismatched_null` pairs a recording's hidden states with another recording's targets;
* :func:`shuffled_diagonal` pairs each sentence of speaker A with a *different* sentence of
  speaker B (chapter 03), over :func:`derangements`;
* :func:`shuffled_pairing_null` re-pairs the rows of two matrices at random.

All randomness comes from seeded :class:`numpy.random.Generator` objects.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .cka import cka_matrix
from .dataset import Dataset
from .layers import shared_sentence_layers
from .recordings import estimator_name, recording_cka, table_rows, tidy_table
from .targets import TARGETS, aligned_recording, target_keys

__all__ = [
    "circular_shift",
    "circular_shift_null",
    "derangement",
    "derangements",
    "mismatched_null",
    "shifted_recordings",
    "shuffled_diagonal",
    "shuffled_pairing_null",
]


def circular_shift(
    x: np.ndarray, rng: np.random.Generator, min_fraction: float = 0.1
) -> tuple[np.ndarray, int]:
    """Roll the rows of ``x`` by a random offset far from zero.

    The offset is drawn uniformly from ``[m, T - m]`` with ``m = ceil(min_fraction · T)``
    (``min_fraction`` in ``(0, 0.5]``), so no row stays within ``m`` frames of its original
    position (modulo ``T``) while the temporal autocorrelation of ``x`` is kept.

    Returns
    -------
    shifted : numpy.ndarray
        ``np.roll(x, offset, axis=0)``.
    offset : int
    """
    if not 0 < min_fraction <= 0.5:
        raise ValueError(f"min_fraction must be in (0, 0.5]; got {min_fraction}.")
    n = len(x)
    margin = max(1, math.ceil(min_fraction * n))
    if n < 2 * margin:
        raise ValueError(f"{n} frames are too few for a circular shift of at least {margin}.")
    offset = int(rng.integers(margin, n - margin + 1))
    return np.roll(x, offset, axis=0), offset


def circular_shift_null(
    dataset: Dataset,
    targets: str | Iterable[str] = ("mfcc", "ema"),
    *,
    n_repeats: int = 5,
    seed: int = 0,
    min_fraction: float = 0.1,
    participants: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    **estimator: Any,
) -> pd.DataFrame:
    """CKA of each layer with circularly shifted copies of the recording's targets.

    ``n_repeats`` random shifts per recording and target, drawn by a generator seeded with
    ``seed``, each at least ``min_fraction`` of the recording's length (:func:`circular_shift`).
    ``dataset``, ``targets``, ``participants``, ``layers`` and the ``estimator`` options
    (``kernel``, ``debiased``, ``threshold``) are as in
    :func:`tutorial_utils.recordings.layer_target_cka`, whose columns the result has, plus
    ``baseline`` (``"circular shift"``), ``repeat`` and ``offset`` (frames).
    """
    keys = target_keys(targets)
    name = estimator_name(**estimator)
    rng = np.random.default_rng(seed)
    rows = []
    for participant, filename in dataset.pick_recordings(participants):
        states, values = aligned_recording(dataset, participant, filename, keys, layers)
        shifts = {
            (key, repeat): circular_shift(values[key], rng, min_fraction)
            for key in keys
            for repeat in range(n_repeats)
        }
        table = recording_cka(states, {k: x for k, (x, _) in shifts.items()}, **estimator)
        ids = {"participant": participant, "filename": filename, "estimator": name}
        for (key, repeat), column in table.items():
            extra = {
                "baseline": "circular shift",
                "repeat": repeat,
                "offset": shifts[key, repeat][1],
            }
            rows += table_rows(column, **ids, target=TARGETS[key], **extra)
    return tidy_table(rows)


def shifted_recordings(
    dataset: Dataset, targets: Iterable[str] = ("mfcc", "ema"), n_shifts: int = 1, seed: int = 0
) -> list[dict[str, Any]]:
    """Every recording's layers with its observed targets and ``n_shifts`` shifted copies.

    One dict per recording with hidden states (participants and recordings in dataset order):
    ``{"filename", "layers": {layer: (T, d)}, "versions": {"observed": {target: (T, 12)},
    "shift 1": {...}, ...}}``. Each shift rolls all targets of a recording by one offset
    (:func:`circular_shift` of their columns side by side, ``min_fraction=0.1``), drawn in that
    order from a generator seeded with ``seed``: chapter 05's loop, reused by chapter 06.
    """
    keys, rng, recordings = target_keys(targets), np.random.default_rng(seed), []
    for participant in dataset.participants:
        for filename in dataset.filenames(participant, with_hidden_states=True):
            layer_frames, observed = aligned_recording(dataset, participant, filename, keys)
            edges = np.cumsum([observed[k].shape[1] for k in keys])[:-1]
            versions = {"observed": observed}
            for shift in range(n_shifts):
                rolled, _ = circular_shift(np.hstack([observed[k] for k in keys]), rng, 0.1)
                parts = np.split(rolled, edges, axis=1)
                versions[f"shift {shift + 1}"] = dict(zip(keys, parts, strict=True))
            recordings.append({"filename": filename, "layers": layer_frames, "versions": versions})
    return recordings


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` that moves every element (``n >= 2``)."""
    if n < 2:
        raise ValueError(f"A derangement needs at least 2 elements; got {n}.")
    while True:
        perm = rng.permutation(n)
        if np.all(perm != np.arange(n)):
            return perm


def derangements(n: int, max_count: int = 100, seed: int = 0) -> list[tuple[int, ...]]:
    """Permutations of ``range(n)`` that move every element, in a deterministic order.

    All of them when there are at most ``max_count`` (44 for ``n = 5``), otherwise
    ``max_count`` distinct ones drawn with :func:`derangement` from a generator seeded with
    ``seed``.
    """
    if n < 2:
        raise ValueError(f"A derangement needs at least 2 items; got {n}.")
    count = round(math.factorial(n) / math.e)  # the exact number of derangements for n >= 1
    if count <= max_count:
        return [p for p in itertools.permutations(range(n)) if all(i != j for i, j in enumerate(p))]
    rng = np.random.default_rng(seed)
    found: dict[tuple[int, ...], None] = {}
    while len(found) < max_count:
        found.setdefault(tuple(int(i) for i in derangement(n, rng)), None)
    return list(found)


def _truncated(
    states: Mapping[int, np.ndarray], targets: Mapping[str, np.ndarray]
) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
    """Cut layers and targets of two different recordings to the shorter frame count."""
    n = min(len(next(iter(states.values()))), len(next(iter(targets.values()))))
    return {k: x[:n] for k, x in states.items()}, {k: y[:n] for k, y in targets.items()}


def mismatched_null(
    dataset: Dataset,
    targets: str | Iterable[str] = ("mfcc", "ema"),
    *,
    n_repeats: int = 1,
    participants: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    seed: int = 0,
    **estimator: Any,
) -> pd.DataFrame:
    """CKA of each layer with the targets of *another* recording by the same participant.

    Both recordings keep their own temporal structure; the longer one is cut to the shorter
    one's frame count. Partners come from :func:`derangement` (a generator seeded with
    ``seed``, ``n_repeats`` pairings), so no recording is paired with itself. The other
    arguments and the columns are those of :func:`circular_shift_null`, with ``baseline``
    ``"mismatched recording"`` and ``partner`` (the targets' filename) instead of ``offset``.
    """
    keys = target_keys(targets)
    name = estimator_name(**estimator)
    rng = np.random.default_rng(seed)
    rows = []
    for participant in dataset.participants if participants is None else list(participants):
        names = dataset.pick_filenames(participant)
        aligned = [aligned_recording(dataset, participant, n, keys, layers) for n in names]
        for repeat, (i, j) in _repeated_derangements(len(names), n_repeats, rng):
            table = recording_cka(*_truncated(aligned[i][0], aligned[j][1]), **estimator)
            ids = {"participant": participant, "filename": names[i], "estimator": name}
            extra = {"baseline": "mismatched recording", "repeat": repeat, "partner": names[j]}
            for key in keys:
                rows += table_rows(table[key], **ids, target=TARGETS[key], **extra)
    return tidy_table(rows)


def _repeated_derangements(n: int, n_repeats: int, rng: np.random.Generator):
    """``(repeat, (i, j))`` for every repeat and every pair ``i -> j`` of a fresh derangement."""
    for repeat in range(n_repeats):
        for i, j in enumerate(derangement(n, rng)):
            yield repeat, (i, int(j))


def shuffled_pairing_null(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_permutations: int | None = None,
    seed: int = 0,
    debiased: bool = False,
) -> np.ndarray:
    """Linear CKA of ``x`` ``(n, d_x)`` with ``y`` ``(n, d_y)`` after re-pairing ``y``'s rows.

    Row ``i`` of both describes stimulus ``i``. ``n_permutations`` random permutations
    (seeded); by default every non-identity permutation (the exact permutation distribution)
    when ``n <= 7``, else 1000. Returns one CKA value per permutation.
    """
    n = len(x)
    if n_permutations is None and n <= 7:
        perms = [np.array(p) for p in itertools.permutations(range(n))][1:]
    else:
        rng = np.random.default_rng(seed)
        perms = [rng.permutation(n) for _ in range(n_permutations or 1000)]
    shuffled = [np.asarray(y)[p] for p in perms]
    return np.asarray(cka_matrix([x], shuffled, debiased=debiased))[0]


def shuffled_diagonal(
    dataset: Dataset,
    participant_a: str,
    participant_b: str,
    *,
    max_shuffles: int = 100,
    seed: int = 0,
    unit: str = "sentence",
    debiased: bool = False,
    n_frames: int | None = None,
) -> pd.DataFrame:
    """Across-speaker diagonal CKA with every sentence of A paired with another sentence of B.

    The null baseline of :func:`tutorial_utils.layers.across_speaker_cka`'s diagonal: it keeps
    the speakers, layers, number of stimuli and recording lengths, and breaks only the match of
    content. Arguments as there, plus ``max_shuffles`` and ``seed`` for :func:`derangements`.

    Returns
    -------
    pandas.DataFrame
        One row per shuffled pairing (index ``shuffle``), one column per layer.
    """
    reps_a, reps_b = shared_sentence_layers(
        dataset, participant_a, participant_b, unit=unit, n_frames=n_frames
    )
    perms = derangements(len(next(iter(reps_a.values()))), max_shuffles, seed)
    if unit == "sentence":
        rows = _sentence_diagonals(reps_a, reps_b, perms, debiased)
    else:
        rows = _frame_diagonals(reps_a, reps_b, perms, debiased)
    table = pd.DataFrame(np.stack(rows), columns=dataset.layers)
    table.index.name = "shuffle"
    table.columns.name = "layer"
    return table


def _sentence_diagonals(reps_a: dict, reps_b: dict, perms, debiased: bool) -> list[np.ndarray]:
    """Per pairing, the diagonal CKA(A layer l, B layer l) over sentence means, B's rows
    reordered by the pairing: one ``cka_matrix`` call per layer serves every pairing."""
    per_layer = [
        np.asarray(cka_matrix([reps_a[k]], [reps_b[k][list(p)] for p in perms], debiased=debiased))
        for k in reps_a
    ]
    return list(np.concatenate(per_layer).T.astype(float))


def _frame_diagonals(reps_a: dict, reps_b: dict, perms, debiased: bool) -> list[np.ndarray]:
    """Per pairing, the diagonal CKA on resampled frames averaged over the paired sentences.

    CKA of A's sentence ``i`` with B's sentence ``j`` is computed once per layer, for every
    ``(i, j)``; a pairing then only picks its entries.
    """
    pair_cka = np.stack(
        [np.asarray(cka_matrix(reps_a[k], reps_b[k], debiased=debiased)) for k in reps_a],
        axis=-1,
    )
    index = np.arange(pair_cka.shape[0])
    return [pair_cka[index, list(p)].mean(axis=0) for p in perms]
