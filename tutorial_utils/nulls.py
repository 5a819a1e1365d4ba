"""Null baselines: each keeps the structure of both spaces and breaks only the pairing of
stimuli: targets rolled in time (:func:`circular_shift_null`, :func:`shifted_recordings`),
another recording's targets (:func:`mismatched_null`), the other speaker's sentences in
another order (:func:`shuffled_diagonal`). All randomness is seeded."""

import functools
import itertools
import math

import numpy as np
import pandas as pd

from .cka import cka_matrix
from .dataset import Dataset
from .layers import shared_sentence_layers
from .recordings import estimator_name, recording_cka, table_rows, tidy_table
from .targets import TARGETS, aligned_recording, target_keys


def circular_shift(x: np.ndarray, rng: np.random.Generator, min_fraction=0.1) -> tuple:
    """``(np.roll(x, offset, axis=0), offset)`` for an offset drawn uniformly from
    ``[m, T - m]``, ``m = ceil(min_fraction · T)`` (``min_fraction`` in ``(0, 0.5]``): no row
    stays within ``m`` frames of its place (modulo ``T``), the autocorrelation is kept."""
    if not 0 < min_fraction <= 0.5:
        raise ValueError(f"min_fraction must be in (0, 0.5]; got {min_fraction}.")
    n = len(x)
    margin = max(1, math.ceil(min_fraction * n))
    if n < 2 * margin:
        raise ValueError(f"{n} frames are too few for a circular shift of at least {margin}.")
    offset = int(rng.integers(margin, n - margin + 1))
    return np.roll(x, offset, axis=0), offset


def circular_shift_null(
    dataset: Dataset, targets=("mfcc", "ema"), *, n_repeats=5, seed=0, min_fraction=0.1, **estimator
) -> pd.DataFrame:
    """CKA of each layer with ``n_repeats`` circularly shifted copies of each target
    (:func:`circular_shift`, one generator seeded with ``seed``), per recording. Arguments and
    columns as :func:`tutorial_utils.recordings.layer_target_cka`, plus ``baseline``
    (``"circular shift"``), ``repeat`` and ``offset`` (frames)."""
    keys, rng, rows = target_keys(targets), np.random.default_rng(seed), []
    fixed = {"estimator": estimator_name(**estimator), "baseline": "circular shift"}
    for participant, filename in dataset.pick_recordings():
        states, values = aligned_recording(dataset, participant, filename, keys)
        shifts = {
            (key, repeat): circular_shift(values[key], rng, min_fraction)
            for key in keys
            for repeat in range(n_repeats)
        }
        table = recording_cka(states, {k: x for k, (x, _) in shifts.items()}, **estimator)
        ids = {"participant": participant, "filename": filename, **fixed}
        for (key, repeat), column in table.items():
            offset = shifts[key, repeat][1]
            rows += table_rows(column, **ids, target=TARGETS[key], repeat=repeat, offset=offset)
    return tidy_table(rows)


def shifted_recordings(dataset: Dataset, targets=("mfcc", "ema"), n_shifts=1, seed=0) -> list:
    """Per recording with hidden states: ``{"filename", "layers": {layer: (T, d)}, "versions":
    {"observed": {target: (T, k)}, "shift 1": {...}, ...}}``, each shift rolling all targets of
    the recording by one offset (:func:`circular_shift`, ``min_fraction=0.1``) drawn in that
    order from one generator seeded with ``seed``."""
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


def pairings(n: int, max_count: int = 1000, seed: int = 0) -> list[tuple[int, ...]]:
    """Reorderings of ``range(n)`` other than the identity, in a deterministic order: all
    ``n! - 1`` when there are at most ``max_count`` (119 for ``n = 5``; with the identity, every
    pairing an exact permutation test ranks), else ``max_count`` distinct seeded draws."""
    if n < 2:
        raise ValueError(f"A pairing to shuffle needs at least 2 elements; got {n}.")
    if math.factorial(n) - 1 <= max_count:
        return list(itertools.permutations(range(n)))[1:]  # the first is the identity
    rng, found = np.random.default_rng(seed), {}
    while len(found) < max_count:
        perm = tuple(int(i) for i in rng.permutation(n))
        if perm != tuple(range(n)):
            found.setdefault(perm, None)
    return list(found)


def mismatched_null(
    dataset: Dataset, targets=("mfcc", "ema"), *, n_repeats=1, seed=0, **estimator
) -> pd.DataFrame:
    """CKA of each layer with the targets of *another* recording by the same participant
    (partners from ``n_repeats`` seeded :func:`derangement` draws), both cut to the shorter one.
    Arguments and columns as :func:`circular_shift_null`, with ``baseline`` ``"mismatched
    recording"`` and ``partner`` (the targets' filename) instead of ``offset``."""
    keys, rng, rows = target_keys(targets), np.random.default_rng(seed), []
    fixed = {"estimator": estimator_name(**estimator), "baseline": "mismatched recording"}
    for participant in dataset.participants:
        names = dataset.pick_filenames(participant)
        aligned = [aligned_recording(dataset, participant, f, keys) for f in names]
        for repeat in range(n_repeats):
            for i, j in enumerate(derangement(len(names), rng)):
                states, values = aligned[i][0], aligned[j][1]
                n = min(len(next(iter(states.values()))), len(next(iter(values.values()))))
                cut = {k: x[:n] for k, x in states.items()}, {k: y[:n] for k, y in values.items()}
                table = recording_cka(*cut, **estimator)
                ids = {"participant": participant, "filename": names[i], **fixed}
                for key in keys:
                    row = {"target": TARGETS[key], "repeat": repeat, "partner": names[j]}
                    rows += table_rows(table[key], **ids, **row)
    return tidy_table(rows)


def shuffled_diagonal(
    dataset: Dataset, a: str, b: str, *, max_shuffles=1000, seed=0, unit="sentence", debiased=False
) -> pd.DataFrame:
    """The null of :func:`tutorial_utils.layers.across_speaker_cka`'s diagonal (same arguments):
    A's sentences paired with B's in every other order (:func:`pairings`), which breaks only
    the match of content. One row per pairing (index ``shuffle``), one column per layer."""
    reps_a, reps_b = shared_sentence_layers(dataset, a, b, unit=unit)
    perms = [list(p) for p in pairings(len(reps_a[dataset.layers[0]]), max_shuffles, seed)]
    ckas = functools.partial(cka_matrix, debiased=debiased)
    if unit == "sentence":  # one CKA over the sentences per pairing, B's rows reordered
        rows = np.stack([ckas([reps_a[k]], [reps_b[k][p] for p in perms])[0] for k in reps_a], 1)
    else:  # CKA of A's sentence i with B's sentence j once per layer; a pairing averages
        pair_cka = np.stack([ckas(reps_a[k], reps_b[k]) for k in reps_a], axis=-1)
        rows = np.stack([pair_cka[np.arange(len(p)), p].mean(axis=0) for p in perms])
    table = pd.DataFrame(rows.astype(float), columns=dataset.layers)
    return table.rename_axis(index="shuffle", columns="layer")
