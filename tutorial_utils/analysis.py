"""Computations the notebooks orchestrate: per-recording CKA, null baselines, sentence readouts.

Everything here works on a :class:`tutorial_utils.dataset.Dataset` (real data or the synthetic
sample) and returns plain numpy arrays or *tidy* pandas DataFrames (one row per number), so the
notebooks only choose what to compute, print and plot.

The per-recording tables share the columns

``participant, filename, layer, measure, estimator, value``

where ``measure`` names the feature space a layer is compared with (``"MFCC"``, ``"EMA"``, ...)
and ``estimator`` names the kernel and the HSIC estimator (``"linear"``, ``"linear, debiased"``,
``"RBF σ=1×median"``). Null tables add ``baseline`` and ``repeat`` columns.

Frames within a recording are strongly autocorrelated, so they are not independent samples. The
null baselines therefore keep the temporal structure of both spaces and only break their
alignment: a circular shift of the feature matrix in time, or pairing a recording with another
recording's features. All randomness comes from seeded :class:`numpy.random.Generator` objects.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .cka import center_gram, cka_matrix, gram_linear, gram_rbf
from .dataset import Dataset, sentence_id
from .frames import (
    FRAME_HOP,
    SAMPLE_RATE,
    ema_frames,
    mfcc_frames,
    mfcc_frames_original,
    n_model_frames,
    trim_to_common_length,
)
from .rsa import compare_rdms, rdm

__all__ = [
    "FEATURES",
    "aligned_recording",
    "block_contrast",
    "circular_shift",
    "circular_shift_null",
    "confidence_interval",
    "derangement",
    "estimator_name",
    "feature_frames",
    "frame_counts",
    "lag_curve",
    "lagged_pair",
    "layer_feature_cka",
    "layer_similarities",
    "mismatched_null",
    "model_rdms",
    "null_gap",
    "rsa_by_layer",
    "sentence_design",
    "sentence_grams",
    "sentence_means",
    "sentence_readout",
    "shuffled_pairing_null",
    "summarise",
    "zscore",
]

FEATURES = {"mfcc": "MFCC", "mfcc_original": "MFCC (original recipe)", "ema": "EMA"}
"""Feature spaces a layer can be compared with, and their labels in the tables."""

ID_COLUMNS = ["participant", "filename", "layer", "measure", "estimator"]
FRAME_MS = 1000 * FRAME_HOP / SAMPLE_RATE


# --------------------------------------------------------------------------------------------
# Features of one recording on the model frame grid
# --------------------------------------------------------------------------------------------


def _check_feature(feature: str) -> str:
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {sorted(FEATURES)}; got {feature!r}.")
    return feature


def feature_frames(
    dataset: Dataset, participant: str, filename: str, feature: str = "mfcc"
) -> np.ndarray:
    """Feature matrix of one recording, one row per model frame.

    Parameters
    ----------
    dataset : Dataset
    participant, filename : str
        The recording.
    feature : {"mfcc", "mfcc_original", "ema"}
        ``"mfcc"``: 12 MFCCs on the Wav2Vec2 grid (:func:`~tutorial_utils.frames.mfcc_frames`);
        ``"mfcc_original"``: the original chapter's recipe; ``"ema"``: the 12 sensor
        coordinates (mm).

    Returns
    -------
    numpy.ndarray
        Shape ``(T', 12)`` float32; ``T'`` may differ from the model's frame count by a frame or
        two (use :func:`aligned_recording` to get matching lengths).
    """
    _check_feature(feature)
    n_frames = dataset.hidden_state(participant, dataset.layers[0], filename).shape[0]
    if feature == "ema":
        return ema_frames(dataset.ema(participant), filename, n_frames)
    audio = dataset.audio(participant, filename)
    if feature == "mfcc_original":
        return mfcc_frames_original(audio, n_frames, sr=dataset.sample_rate)
    return mfcc_frames(audio, sr=dataset.sample_rate)


def _feature_keys(features: str | Iterable[str]) -> list[str]:
    keys = [features] if isinstance(features, str) else list(features)
    if not keys:
        raise ValueError("Give at least one feature.")
    return [_check_feature(k) for k in keys]


def aligned_recording(
    dataset: Dataset,
    participant: str,
    filename: str,
    features: str | Iterable[str] = ("mfcc", "ema"),
    layers: Iterable[int] | None = None,
) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
    """Hidden states of each layer and feature matrices, all trimmed to one frame count.

    Parameters
    ----------
    dataset : Dataset
    participant, filename : str
    features : str or iterable of str, default ("mfcc", "ema")
        Keys of :data:`FEATURES`.
    layers : iterable of int, optional
        Default: all layers of the dataset.

    Returns
    -------
    layer_frames : dict of int to numpy.ndarray
        ``{layer: (T, d)}``.
    targets : dict of str to numpy.ndarray
        ``{feature: (T, 12)}``; row ``t`` belongs to model frame ``t``.
    """
    keys = _feature_keys(features)
    layers = dataset.layers if layers is None else [int(layer) for layer in layers]
    targets = [feature_frames(dataset, participant, filename, k) for k in keys]
    frames = [dataset.hidden_state(participant, layer, filename) for layer in layers]
    trimmed = trim_to_common_length(*targets, *frames)
    n = len(keys)
    return dict(zip(layers, trimmed[n:], strict=True)), dict(zip(keys, trimmed[:n], strict=True))


def frame_counts(dataset: Dataset, participants: Iterable[str] | None = None) -> pd.DataFrame:
    """How many frames each stream has, per recording.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, filename, n_samples, duration_s, model_frames`` (from the
        formula ``floor((N - 400) / 320) + 1``), ``hidden_states`` (rows stored for layer 0),
        ``mfcc_rows`` (grid-aligned MFCCs), ``ema_rows`` (EMA table rows) and
        ``original_hop`` (the original recipe's stretched hop ``N // T`` in samples).
    """
    rows = []
    for participant, filename in _recordings(dataset, participants):
        audio = dataset.audio(participant, filename)
        ema = dataset.ema(participant)
        hidden = dataset.hidden_state(participant, dataset.layers[0], filename).shape[0]
        rows.append(
            {
                "participant": participant,
                "filename": filename,
                "n_samples": audio.size,
                "duration_s": round(audio.size / dataset.sample_rate, 3),
                "model_frames": n_model_frames(audio.size),
                "hidden_states": hidden,
                "mfcc_rows": len(mfcc_frames(audio, sr=dataset.sample_rate)),
                "ema_rows": int((ema["FILENAME"] == filename).sum()),
                "original_hop": audio.size // hidden,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# CKA of every layer against feature matrices
# --------------------------------------------------------------------------------------------


def estimator_name(kernel: str = "linear", debiased: bool = False, threshold: float = 1.0) -> str:
    """Label of a kernel/estimator combination, as used in the ``estimator`` column."""
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be 'linear' or 'rbf'; got {kernel!r}.")
    name = "linear" if kernel == "linear" else f"RBF σ={threshold:g}×median"
    return f"{name}, debiased" if debiased else name


def layer_similarities(
    layer_frames: Mapping[int, np.ndarray],
    targets: Mapping[object, np.ndarray],
    *,
    kernel: str = "linear",
    debiased: bool = False,
    threshold: float = 1.0,
) -> pd.DataFrame:
    """CKA between each layer's frames and each target matrix over the same frames.

    Parameters
    ----------
    layer_frames : mapping of int to numpy.ndarray
        ``{layer: (T, d)}``.
    targets : mapping of label to numpy.ndarray
        ``{label: (T, k)}`` features of the same frames.
    kernel : {"linear", "rbf"}
        Linear CKA, or CKA of RBF Gram matrices with bandwidth ``threshold`` × median distance.
    debiased : bool
        Use the debiased HSIC estimator.
    threshold : float
        RBF bandwidth as a fraction of the median distance (ignored for ``"linear"``).

    Returns
    -------
    pandas.DataFrame
        Index: layers; columns: target labels.
    """
    estimator_name(kernel, debiased, threshold)
    if kernel == "linear":
        return cka_matrix(dict(layer_frames), dict(targets), debiased=debiased)
    centred = {
        label: center_gram(gram_rbf(y, threshold), unbiased=debiased)
        for label, y in targets.items()
    }
    table = pd.DataFrame(index=list(layer_frames), columns=list(targets), dtype=float)
    for layer, x in layer_frames.items():
        cx = center_gram(gram_rbf(x, threshold), unbiased=debiased)
        for label, cy in centred.items():
            table.loc[layer, label] = _centred_cosine(cx, cy)
    return table


def _centred_cosine(cx: np.ndarray, cy: np.ndarray) -> float:
    """CKA from two already centred Gram matrices: the cosine of the two matrices.

    Equal to :func:`tutorial_utils.cka.cka` of the uncentred matrices (with ``unbiased``
    centring for the debiased estimator, whose normaliser cancels in the ratio), but each matrix
    is centred and validated only once, which matters when one matrix meets many others.
    ``nan`` when a self-similarity is not positive (possible for the debiased estimator).
    """
    self_x, self_y = np.vdot(cx, cx), np.vdot(cy, cy)
    if self_x <= 0 or self_y <= 0:
        return math.nan
    return float(np.vdot(cx, cy) / math.sqrt(self_x * self_y))


def _rows(participant: str, filename: str, estimator: str, scores: pd.Series) -> list[dict]:
    """Tidy rows for one recording and one feature; ``scores`` is indexed by layer."""
    return [
        {
            "participant": participant,
            "filename": filename,
            "layer": int(layer),
            "estimator": estimator,
            "value": float(value),
        }
        for layer, value in scores.items()
    ]


def _recordings(dataset: Dataset, participants: Iterable[str] | None) -> list[tuple[str, str]]:
    """(participant, filename) of every recording that has hidden states."""
    chosen = dataset.participants if participants is None else list(participants)
    pairs = []
    for p in chosen:
        pairs += [(p, name) for name in dataset.filenames(p, with_hidden_states=True)]
    return pairs


def _tidy(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    first = [c for c in ID_COLUMNS if c in table.columns]
    rest = [c for c in table.columns if c not in first and c != "value"]
    return table[[*first, *rest, "value"]]


def layer_feature_cka(
    dataset: Dataset,
    features: str | Iterable[str] = ("mfcc", "ema"),
    *,
    participants: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    kernel: str = "linear",
    debiased: bool = False,
    threshold: float = 1.0,
) -> pd.DataFrame:
    """Per-recording CKA between every layer and one or more feature spaces.

    Parameters
    ----------
    dataset : Dataset
    features : str or iterable of str, default ("mfcc", "ema")
        Keys of :data:`FEATURES`, see :func:`feature_frames`.
    participants : iterable of str, optional
        Default: all participants.
    layers : iterable of int, optional
        Default: all layers.
    kernel, debiased, threshold
        See :func:`layer_similarities`.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, filename, layer, measure, estimator, value``; one row per
        recording, layer and feature.
    """
    keys = _feature_keys(features)
    estimator = estimator_name(kernel, debiased, threshold)
    rows = []
    for participant, filename in _recordings(dataset, participants):
        frames, targets = aligned_recording(dataset, participant, filename, keys, layers)
        table = layer_similarities(
            frames, targets, kernel=kernel, debiased=debiased, threshold=threshold
        )
        for key in keys:
            rows += [
                r | {"measure": FEATURES[key]}
                for r in _rows(participant, filename, estimator, table[key])
            ]
    return _tidy(rows)


# --------------------------------------------------------------------------------------------
# Null baselines that keep the temporal structure
# --------------------------------------------------------------------------------------------


def circular_shift(
    x: np.ndarray, rng: np.random.Generator, min_fraction: float = 0.1
) -> tuple[np.ndarray, int]:
    """Roll the rows of ``x`` by a random offset far from zero.

    The offset is drawn uniformly from ``[m, T - m]`` with ``m = ceil(min_fraction · T)``, so
    no row stays within ``m`` frames of its original position (modulo ``T``) while the
    temporal autocorrelation of ``x`` is kept.

    Parameters
    ----------
    x : numpy.ndarray
        ``(T, k)`` frames.
    rng : numpy.random.Generator
        Seeded generator.
    min_fraction : float, default 0.1
        Smallest offset as a fraction of ``T`` (must be in ``(0, 0.5]``).

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
    features: str | Iterable[str] = ("mfcc", "ema"),
    *,
    participants: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    n_repeats: int = 5,
    seed: int = 0,
    min_fraction: float = 0.1,
    kernel: str = "linear",
    debiased: bool = False,
    threshold: float = 1.0,
) -> pd.DataFrame:
    """CKA of each layer with circularly shifted copies of the recording's features.

    Parameters
    ----------
    dataset, features, participants, layers, kernel, debiased, threshold
        As in :func:`layer_feature_cka`.
    n_repeats : int, default 5
        Random shifts per recording and feature.
    seed : int, default 0
        Seed of the generator that draws the offsets.
    min_fraction : float, default 0.1
        Smallest shift as a fraction of the recording's length (see :func:`circular_shift`).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`layer_feature_cka` plus ``baseline`` (``"circular shift"``),
        ``repeat`` and ``offset`` (frames).
    """
    keys = _feature_keys(features)
    estimator = estimator_name(kernel, debiased, threshold)
    rng = np.random.default_rng(seed)
    rows = []
    for participant, filename in _recordings(dataset, participants):
        frames, targets = aligned_recording(dataset, participant, filename, keys, layers)
        shifted, offsets = {}, {}
        for key in keys:
            for repeat in range(n_repeats):
                shifted[key, repeat], offsets[key, repeat] = circular_shift(
                    targets[key], rng, min_fraction
                )
        table = layer_similarities(
            frames, shifted, kernel=kernel, debiased=debiased, threshold=threshold
        )
        for (key, repeat), column in table.items():
            extra = {
                "measure": FEATURES[key],
                "baseline": "circular shift",
                "repeat": repeat,
                "offset": offsets[key, repeat],
            }
            rows += [r | extra for r in _rows(participant, filename, estimator, column)]
    return _tidy(rows)


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` that moves every element (``n >= 2``)."""
    if n < 2:
        raise ValueError(f"A derangement needs at least 2 elements; got {n}.")
    while True:
        perm = rng.permutation(n)
        if np.all(perm != np.arange(n)):
            return perm


def _truncated(
    frames: Mapping[int, np.ndarray], targets: Mapping[str, np.ndarray]
) -> tuple[dict[int, np.ndarray], dict[str, np.ndarray]]:
    """Cut layers and targets of two different recordings to the shorter frame count."""
    n = min(len(next(iter(frames.values()))), len(next(iter(targets.values()))))
    return {k: x[:n] for k, x in frames.items()}, {k: y[:n] for k, y in targets.items()}


def mismatched_null(
    dataset: Dataset,
    features: str | Iterable[str] = ("mfcc", "ema"),
    *,
    participants: Iterable[str] | None = None,
    layers: Iterable[int] | None = None,
    n_repeats: int = 1,
    seed: int = 0,
    kernel: str = "linear",
    debiased: bool = False,
    threshold: float = 1.0,
) -> pd.DataFrame:
    """CKA of each layer with the features of *another* recording by the same participant.

    Both recordings keep their own temporal structure; the longer one is truncated to the
    shorter one's frame count. Partners come from a seeded derangement, so no recording is
    paired with itself.

    Parameters
    ----------
    dataset, features, participants, layers, kernel, debiased, threshold
        As in :func:`layer_feature_cka`.
    n_repeats : int, default 1
        Number of random pairings.
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`layer_feature_cka` plus ``baseline`` (``"mismatched
        recording"``), ``repeat`` and ``partner`` (the filename the features come from).
    """
    keys = _feature_keys(features)
    estimator = estimator_name(kernel, debiased, threshold)
    rng = np.random.default_rng(seed)
    chosen = dataset.participants if participants is None else list(participants)
    rows = []
    for participant in chosen:
        names = [f for _, f in _recordings(dataset, [participant])]
        aligned = [aligned_recording(dataset, participant, n, keys, layers) for n in names]
        for repeat in range(n_repeats):
            for i, j in enumerate(derangement(len(names), rng)):
                frames, targets = _truncated(aligned[i][0], aligned[j][1])
                table = layer_similarities(
                    frames, targets, kernel=kernel, debiased=debiased, threshold=threshold
                )
                for key in keys:
                    extra = {
                        "measure": FEATURES[key],
                        "baseline": "mismatched recording",
                        "repeat": repeat,
                        "partner": names[j],
                    }
                    table_rows = _rows(participant, names[i], estimator, table[key])
                    rows += [r | extra for r in table_rows]
    return _tidy(rows)


def null_gap(
    observed: pd.DataFrame, null: pd.DataFrame, by: Sequence[str] = ("measure", "layer")
) -> pd.DataFrame:
    """Mean observed CKA, mean null CKA and their difference per group.

    Parameters
    ----------
    observed : pandas.DataFrame
        Output of :func:`layer_feature_cka`.
    null : pandas.DataFrame
        Output of :func:`circular_shift_null` or :func:`mismatched_null`.
    by : sequence of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, observed, null, gap``.
    """
    by = list(by)
    table = pd.DataFrame(
        {
            "observed": observed.groupby(by)["value"].mean(),
            "null": null.groupby(by)["value"].mean(),
        }
    )
    table["gap"] = table["observed"] - table["null"]
    return table.reset_index()


# --------------------------------------------------------------------------------------------
# Lag curve
# --------------------------------------------------------------------------------------------


def _lag_slices(n: int, lag: int) -> tuple[slice, slice]:
    """Rows of x and y that meet when row ``t`` of x is paired with row ``t + lag`` of y."""
    if abs(lag) >= n:
        raise ValueError(f"|lag| = {abs(lag)} must be smaller than the {n} frames.")
    if lag >= 0:
        return slice(0, n - lag), slice(lag, n)
    return slice(-lag, n), slice(0, n + lag)


def lagged_pair(x: np.ndarray, y: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair row ``t`` of ``x`` with row ``t + lag`` of ``y``, dropping rows without a partner.

    A positive ``lag`` compares each row of ``x`` with a *later* row of ``y``.

    Returns
    -------
    x_part, y_part : numpy.ndarray
        Both with ``min(len(x), len(y)) - |lag|`` rows.
    """
    rows_x, rows_y = _lag_slices(min(len(x), len(y)), int(lag))
    return x[rows_x], y[rows_y]


def lag_curve(
    dataset: Dataset,
    layer: int,
    feature: str = "ema",
    *,
    participants: Iterable[str] | None = None,
    lags: Iterable[int] = range(-10, 11),
    debiased: bool = False,
) -> pd.DataFrame:
    """Linear CKA between one layer and a feature shifted in time, per recording and lag.

    Each recording's two linear Gram matrices are built once; a lag only selects a block of
    each (the frames that still have a partner), so the curve is cheap.

    Parameters
    ----------
    dataset : Dataset
    layer : int
    feature : {"mfcc", "mfcc_original", "ema"}, default "ema"
    participants : iterable of str, optional
    lags : iterable of int, default -10 … 10
        Shifts in frames (20 ms each); at lag ``k`` model frame ``t`` meets feature row
        ``t + k``, so positive lags compare the model with features from later in time.
    debiased : bool, default False

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, filename, layer, measure, estimator, lag, lag_ms, value``.
    """
    key = _check_feature(feature)
    estimator = estimator_name("linear", debiased)
    rows = []
    for participant, filename in _recordings(dataset, participants):
        frames, targets = aligned_recording(dataset, participant, filename, key, [layer])
        gram_x, gram_y = gram_linear(frames[int(layer)]), gram_linear(targets[key])
        for lag in (int(k) for k in lags):
            rows_x, rows_y = _lag_slices(len(gram_x), lag)
            value = _centred_cosine(
                center_gram(gram_x[rows_x, rows_x], unbiased=debiased),
                center_gram(gram_y[rows_y, rows_y], unbiased=debiased),
            )
            rows.append(
                {
                    "participant": participant,
                    "filename": filename,
                    "layer": int(layer),
                    "measure": FEATURES[key],
                    "estimator": estimator,
                    "lag": lag,
                    "lag_ms": lag * FRAME_MS,
                    "value": value,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Confidence intervals over recordings
# --------------------------------------------------------------------------------------------


def confidence_interval(
    values: Iterable[float],
    level: float = 0.95,
    method: str = "t",
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean and confidence interval of independent values (e.g. one per recording).

    Parameters
    ----------
    values : iterable of float
        NaNs are dropped.
    level : float, default 0.95
    method : {"t", "bootstrap"}
        Student-t interval, or a percentile bootstrap (:func:`scipy.stats.bootstrap`).
    n_resamples : int, default 2000
        Bootstrap resamples.
    seed : int, default 0
        Seed of the bootstrap generator.

    Returns
    -------
    mean, low, high : float
        ``low`` and ``high`` are NaN when there are fewer than two values or no spread.
    """
    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap'; got {method!r}.")
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(arr.mean())
    if arr.size < 2 or np.ptp(arr) == 0:
        return mean, math.nan, math.nan
    if method == "t":
        low, high = stats.t.interval(level, arr.size - 1, loc=mean, scale=stats.sem(arr))
    else:
        result = stats.bootstrap(
            (arr,),
            np.mean,
            confidence_level=level,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = result.confidence_interval
    return mean, float(low), float(high)


def summarise(
    table: pd.DataFrame,
    by: Sequence[str] = ("measure", "layer"),
    *,
    value: str = "value",
    level: float = 0.95,
    method: str = "t",
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and confidence interval of ``value`` per group.

    Parameters
    ----------
    table : pandas.DataFrame
        A tidy table, e.g. from :func:`layer_feature_cka` (one row per recording and layer).
    by : sequence of str
        Grouping columns; the rows within a group are treated as independent observations.
    value : str, default "value"
    level, method, seed
        See :func:`confidence_interval`.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, mean, low, high, n``.
    """
    rows = []
    for key, group in table.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mean, low, high = confidence_interval(group[value], level, method, seed=seed)
        n = int(group[value].notna().sum())
        rows.append(
            {**dict(zip(by, key, strict=True)), "mean": mean, "low": low, "high": high, "n": n}
        )
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n"])


# --------------------------------------------------------------------------------------------
# Sentence-level view: mean vectors of two speakers' recordings
# --------------------------------------------------------------------------------------------


def zscore(x: np.ndarray) -> np.ndarray:
    """Z-score each column across rows (columns without spread become 0)."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std(axis=0)
    centred = x - x.mean(axis=0)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)


def sentence_design(
    dataset: Dataset, participant_a: str, participant_b: str, *, shared_only: bool = True
) -> pd.DataFrame:
    """Recordings of two speakers in a fixed order: all of A's, then all of B's.

    Parameters
    ----------
    dataset : Dataset
    participant_a, participant_b : str
    shared_only : bool, default True
        Keep only the sentences both speakers read (in A's order, so row ``i`` of A and row
        ``i`` of B are the same sentence).

    Returns
    -------
    pandas.DataFrame
        Columns ``participant, filename, sentence_id, label`` (label like ``"SYN-F S18"``).
    """
    if shared_only:
        shared = dataset.shared_sentences(participant_a, participant_b)
        parts = [
            (participant_a, shared["FILENAME_A"].tolist()),
            (participant_b, shared["FILENAME_B"].tolist()),
        ]
    else:
        parts = [
            (p, dataset.filenames(p, with_hidden_states=True))
            for p in (participant_a, participant_b)
        ]
    rows = []
    for participant, names in parts:
        for name in names:
            sid = sentence_id(name)
            rows.append((participant, name, sid, f"{participant} {sid.split('_')[-1]}"))
    if not rows:
        raise ValueError(f"{participant_a!r} and {participant_b!r} share no sentences.")
    return pd.DataFrame(rows, columns=["participant", "filename", "sentence_id", "label"])


def sentence_means(dataset: Dataset, design: pd.DataFrame, layer: int) -> np.ndarray:
    """Frame-averaged hidden states of the design's recordings at one layer, z-scored.

    Each recording becomes the mean of its frames; every feature is then z-scored across the
    recordings of the design (both speakers together).

    Returns
    -------
    numpy.ndarray
        ``(n_recordings, d)`` float64, rows in design order.
    """
    blocks = [
        dataset.sentence_means(p, layer, group["filename"])
        for p, group in design.groupby("participant", sort=False)
    ]
    return zscore(np.concatenate(blocks))


def sentence_grams(
    dataset: Dataset, design: pd.DataFrame, layers: Iterable[int] | None = None
) -> dict[int, np.ndarray]:
    """Linear Gram matrix of the z-scored sentence means per layer, divided by the dimension.

    Dividing ``Z Zᵀ`` by the number of features ``d`` makes an entry the average product of
    two recordings' z-scores: about 1 on the diagonal, positive for recordings on the same
    side of the mean, negative for opposite sides.

    Returns
    -------
    dict of int to numpy.ndarray
        ``{layer: (n, n)}``.
    """
    layers = dataset.layers if layers is None else [int(layer) for layer in layers]
    grams = {}
    for layer in layers:
        z = sentence_means(dataset, design, layer)
        grams[layer] = z @ z.T / z.shape[1]
    return grams


def block_contrast(gram: np.ndarray, design: pd.DataFrame) -> dict[str, float]:
    """Mean similarity of same-speaker pairs versus same-sentence pairs.

    Parameters
    ----------
    gram : numpy.ndarray
        ``(n, n)`` similarity matrix in design order.
    design : pandas.DataFrame
        From :func:`sentence_design`.

    Returns
    -------
    dict
        ``same_speaker`` (distinct recordings of one speaker), ``same_sentence`` (one
        sentence, two speakers), ``other`` (different speaker and sentence) and
        ``difference = same_speaker - same_sentence`` (positive: speaker dominates; negative:
        content dominates).
    """
    speaker = design["participant"].to_numpy()
    sentence = design["sentence_id"].to_numpy()
    same_spk = speaker[:, None] == speaker[None, :]
    same_sent = sentence[:, None] == sentence[None, :]
    off_diag = ~np.eye(len(design), dtype=bool)
    masks = {
        "same_speaker": same_spk & off_diag,
        "same_sentence": same_sent & ~same_spk,
        "other": ~same_sent & ~same_spk,
    }
    result = {k: float(gram[m].mean()) if m.any() else math.nan for k, m in masks.items()}
    result["difference"] = result["same_speaker"] - result["same_sentence"]
    return result


def sentence_readout(
    dataset: Dataset,
    participant_a: str,
    participant_b: str,
    layers: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Per layer: same-speaker vs same-sentence similarity of z-scored sentence means.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer, same_speaker, same_sentence, other, difference``.
    """
    design = sentence_design(dataset, participant_a, participant_b)
    grams = sentence_grams(dataset, design, layers)
    rows = [{"layer": layer, **block_contrast(g, design)} for layer, g in grams.items()]
    return pd.DataFrame(rows)


def model_rdms(design: pd.DataFrame) -> dict[str, np.ndarray]:
    """Categorical model RDMs (condensed): 0 for pairs sharing the speaker / sentence, else 1."""
    result = {}
    for name, column in (("speaker", "participant"), ("sentence", "sentence_id")):
        labels = design[column].to_numpy()
        square = (labels[:, None] != labels[None, :]).astype(np.float64)
        result[name] = square[np.triu_indices(len(labels), k=1)]
    return result


def rsa_by_layer(
    dataset: Dataset,
    design: pd.DataFrame,
    layers: Iterable[int] | None = None,
    *,
    metric: str = "correlation",
    method: str = "spearman",
) -> pd.DataFrame:
    """RSA of each layer's sentence-mean RDM with the speaker and sentence model RDMs.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer, model, value`` (``model`` is ``"speaker"`` or ``"sentence"``).
    """
    layers = dataset.layers if layers is None else [int(layer) for layer in layers]
    models = model_rdms(design)
    rows = []
    for layer in layers:
        layer_rdm = rdm(sentence_means(dataset, design, layer), metric)
        for name, model in models.items():
            value = compare_rdms(layer_rdm, model, method)
            rows.append({"layer": layer, "model": name, "value": value})
    return pd.DataFrame(rows)


def shuffled_pairing_null(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_permutations: int | None = None,
    seed: int = 0,
    debiased: bool = False,
) -> np.ndarray:
    """Linear CKA between ``x`` and ``y`` with the rows of ``y`` re-paired at random.

    With few stimuli (e.g. 5 sentences) every non-identity permutation is used when
    ``n_permutations`` is None, which gives the exact permutation distribution.

    Parameters
    ----------
    x, y : numpy.ndarray
        ``(n, d_x)`` and ``(n, d_y)``, row ``i`` of both describing stimulus ``i``.
    n_permutations : int, optional
        Number of random permutations; default: all ``n! - 1`` when ``n <= 7``, else 1000.
    seed : int, default 0
    debiased : bool, default False

    Returns
    -------
    numpy.ndarray
        CKA values, one per permutation.
    """
    n = len(x)
    if n_permutations is None and n <= 7:
        perms = [np.array(p) for p in itertools.permutations(range(n))][1:]
    else:
        rng = np.random.default_rng(seed)
        perms = [rng.permutation(n) for _ in range(n_permutations or 1000)]
    shuffled = [np.asarray(y)[p] for p in perms]
    return np.asarray(cka_matrix([x], shuffled, debiased=debiased))[0]
