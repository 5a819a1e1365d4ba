"""Layer × layer CKA: which layers of the model represent the stimuli alike? (chapter 03)

Every matrix is linear CKA between layers, on one of two kinds of stimuli: **sentence means**
(one vector per recording, :func:`~tutorial_utils.sentences.sentence_means`: 5–10 stimuli in
768 dimensions, where biased CKA is inflated, hence ``debiased=`` everywhere) or **frames**
(one matrix per recording, averaged over recordings; concatenating them would mix differences
*between* sentences into a frame-level comparison).

Across two speakers, rows are A's layers and columns B's, over the sentences both read.
Frames do not pair by themselves (readings differ in length), so both recordings of a sentence
are resampled linearly in time to one length (:func:`resample_frames`): frame ``t`` of A and of
B then sit at the same *relative* position, a crude alignment that underestimates what e.g.
DTW would give. The null baseline is :func:`tutorial_utils.nulls.shuffled_diagonal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.interpolate import make_interp_spline

from .cka import cka_matrix
from .dataset import Dataset
from .sentences import sentence_mean_layers

__all__ = [
    "UNITS",
    "across_speaker_cka",
    "block_table",
    "common_length",
    "diagonal",
    "diagonal_peak",
    "diagonal_table",
    "mean_over_recordings",
    "per_recording_layer_cka",
    "resample_frames",
    "resampled_layers",
    "shared_sentence_layers",
    "within_speaker_cka",
]

UNITS = ("sentence", "frame")
"""The stimuli of a layer × layer matrix: recordings' sentence means, or frames."""


def _check_unit(unit: str) -> None:
    """Raise unless ``unit`` is one of :data:`UNITS`."""
    if unit not in UNITS:
        raise ValueError(f"unit must be 'sentence' or 'frame'; got {unit!r}.")


def _label(table: pd.DataFrame, row_name: str, column_name: str) -> pd.DataFrame:
    table.index.name = row_name
    table.columns.name = column_name
    return table


def resample_frames(frames: np.ndarray, n_frames: int) -> np.ndarray:
    """Resample a ``(T, d)`` sequence to ``n_frames`` rows by linear interpolation in time.

    Row ``i`` of the result sits at the relative position ``i / (n_frames - 1)`` of the input
    (a degree-1 spline, :func:`scipy.interpolate.make_interp_spline`), so the first and last
    frames are kept exactly. Returns ``(n_frames, d)`` float64.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[0] < 2:
        raise ValueError(f"frames must be (T, d) with T >= 2; got shape {frames.shape}.")
    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2; got {n_frames}.")
    times = np.arange(frames.shape[0], dtype=np.float64)
    line = make_interp_spline(times, frames, k=1, axis=0)
    return line(np.linspace(0.0, frames.shape[0] - 1, int(n_frames)))


def common_length(
    dataset: Dataset, pairs: pd.DataFrame, participant_a: str, participant_b: str
) -> int:
    """Frame count of the shortest recording among two speakers' paired recordings.

    ``pairs`` is :meth:`Dataset.shared_sentences` (columns ``FILENAME_A``, ``FILENAME_B``).
    """
    layer = dataset.layers[0]
    lengths = [dataset.hidden_state(participant_a, layer, f).shape[0] for f in pairs.FILENAME_A]
    lengths += [dataset.hidden_state(participant_b, layer, f).shape[0] for f in pairs.FILENAME_B]
    return int(min(lengths))


def resampled_layers(
    dataset: Dataset, participant: str, filenames: Iterable[str], n_frames: int
) -> dict[int, list[np.ndarray]]:
    """``{layer: [(n_frames, d) per recording]}``: :func:`resample_frames` of every layer."""
    names = list(filenames)
    return {
        layer: [
            resample_frames(dataset.hidden_state(participant, layer, f), n_frames) for f in names
        ]
        for layer in dataset.layers
    }


def per_recording_layer_cka(
    dataset: Dataset,
    participant: str,
    *,
    debiased: bool = False,
    filenames: Sequence[str] | None = None,
) -> np.ndarray:
    """Frame-level layer × layer CKA of each recording separately.

    Returns an array of shape ``(n_recordings, n_layers, n_layers)``; recordings default to
    :meth:`Dataset.pick_filenames`.
    """
    stack = []
    for name in dataset.pick_filenames(participant, filenames):
        states = [dataset.hidden_state(participant, layer, name) for layer in dataset.layers]
        stack.append(np.asarray(cka_matrix(states, debiased=debiased)))
    return np.stack(stack)


def mean_over_recordings(stack: np.ndarray, layer_labels: Sequence[int]) -> pd.DataFrame:
    """Average a ``(n_recordings, n_layers, n_layers)`` stack into one table labelled by layer."""
    table = pd.DataFrame(
        np.mean(stack, axis=0), index=list(layer_labels), columns=list(layer_labels)
    )
    return _label(table, "layer", "layer")


def within_speaker_cka(
    dataset: Dataset,
    participant: str,
    *,
    unit: str = "sentence",
    debiased: bool = False,
    filenames: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Layer × layer CKA within one speaker's recordings (default
    :meth:`Dataset.pick_filenames`), a table with index and columns named ``"layer"``.

    ``unit="sentence"``: one CKA over the recordings' sentence means; ``unit="frame"``: one CKA
    per recording over its frames, averaged (:func:`per_recording_layer_cka`).
    """
    _check_unit(unit)
    if unit == "sentence":
        reps = sentence_mean_layers(dataset, participant, filenames)
        table = cka_matrix(reps, debiased=debiased)
    else:
        stack = per_recording_layer_cka(
            dataset, participant, debiased=debiased, filenames=filenames
        )
        table = mean_over_recordings(stack, dataset.layers)
    return _label(table, "layer", "layer")


def shared_sentence_layers(
    dataset: Dataset,
    participant_a: str,
    participant_b: str,
    *,
    unit: str = "sentence",
    n_frames: int | None = None,
    min_sentences: int = 2,
) -> tuple[dict, dict]:
    """Both speakers' hidden states of the sentences they both read, per layer.

    ``unit="sentence"``: ``{layer: (n_sentences, d)}`` sentence means, row ``i`` of A and of B
    the same sentence. ``unit="frame"``: ``{layer: [(n_frames, d) per sentence]}``, resampled
    to ``n_frames`` (default :func:`common_length`). Raises when the speakers share fewer than
    ``min_sentences`` sentences. Returns the representations of A and of B.
    """
    _check_unit(unit)
    pairs = dataset.shared_sentences(participant_a, participant_b)
    if len(pairs) < min_sentences:
        raise ValueError(
            f"{participant_a} and {participant_b} share {len(pairs)} sentences; too few."
        )
    if unit == "sentence":
        reps_a = sentence_mean_layers(dataset, participant_a, pairs.FILENAME_A)
        return reps_a, sentence_mean_layers(dataset, participant_b, pairs.FILENAME_B)
    length = n_frames or common_length(dataset, pairs, participant_a, participant_b)
    reps_a = resampled_layers(dataset, participant_a, pairs.FILENAME_A, length)
    return reps_a, resampled_layers(dataset, participant_b, pairs.FILENAME_B, length)


def _frame_level_across(reps_a: dict, reps_b: dict, debiased: bool) -> np.ndarray:
    """Mean over shared sentences of the per-sentence layer × layer CKA on resampled frames."""
    n_sentences = len(next(iter(reps_a.values())))
    per_sentence = [
        cka_matrix(
            [x[i] for x in reps_a.values()], [y[i] for y in reps_b.values()], debiased=debiased
        )
        for i in range(n_sentences)
    ]
    return np.mean(per_sentence, axis=0)


def across_speaker_cka(
    dataset: Dataset,
    participant_a: str,
    participant_b: str,
    *,
    unit: str = "sentence",
    debiased: bool = False,
    n_frames: int | None = None,
) -> pd.DataFrame:
    """Layer × layer CKA between two speakers reading the same sentences.

    Rows are A's layers (index ``"layer_<A>"``), columns B's (``"layer_<B>"``).
    ``unit="sentence"``: the stimuli are the shared sentences' means, matched by sentence id.
    ``unit="frame"``: both recordings of each shared sentence are resampled to ``n_frames``
    frames (default :func:`common_length`), CKA is computed per sentence and averaged (see
    :func:`shared_sentence_layers`).
    """
    speakers = {"participant_a": participant_a, "participant_b": participant_b}
    reps_a, reps_b = shared_sentence_layers(
        dataset, **speakers, unit=unit, n_frames=n_frames, min_sentences=4 if debiased else 2
    )
    if unit == "sentence":
        table = cka_matrix(reps_a, reps_b, debiased=debiased)
    else:
        values = _frame_level_across(reps_a, reps_b, debiased)
        table = pd.DataFrame(values, index=dataset.layers, columns=dataset.layers)
    return _label(table, f"layer_{participant_a}", f"layer_{participant_b}")


def diagonal(matrix: pd.DataFrame) -> pd.Series:
    """The diagonal of a square layer × layer table (layer ``l`` of A vs layer ``l`` of B).

    Returns a Series named ``"cka"`` indexed by layer.
    """
    if list(matrix.index) != list(matrix.columns):
        raise ValueError("matrix must have the same layer labels on rows and columns.")
    values = np.diag(matrix.to_numpy())
    return pd.Series(values, index=pd.Index(matrix.index, name="layer"), name="cka")


def diagonal_peak(matrix: pd.DataFrame) -> pd.Series:
    """``layer`` (int) and ``cka`` (float) where the diagonal is highest (first on ties, nan
    ignored)."""
    diag = diagonal(matrix)
    if diag.isna().all():
        raise ValueError("The diagonal is all nan; there is no peak.")
    layer = diag.idxmax()
    return pd.Series({"layer": int(layer), "cka": float(diag[layer])}, dtype=object)


def diagonal_table(matrix: pd.DataFrame, shuffled: pd.DataFrame) -> pd.DataFrame:
    """Matched diagonal of ``matrix`` (:func:`across_speaker_cka`) next to its ``shuffled``
    baseline (:func:`tutorial_utils.nulls.shuffled_diagonal`, same ``unit`` and ``debiased``).

    Returns
    -------
    pandas.DataFrame
        Indexed by layer; columns ``matched``, ``shuffled_mean``, ``shuffled_max``,
        ``shuffled_sd`` (standard deviation over shuffles, ``ddof=1``), ``gap`` (matched minus
        shuffled mean), ``gap_sd`` (the gap in units of ``shuffled_sd``: comparable across
        layers and estimators whose baselines scatter differently) and ``p`` = (1 + #shuffles
        ≥ matched) / (1 + #shuffles), whose smallest possible value is 1 / (1 + #shuffles).
    """
    matched = diagonal(matrix)
    null = shuffled[matched.index]
    exceed = (null.to_numpy() >= matched.to_numpy()[None, :]).sum(axis=0)
    table = pd.DataFrame(
        {
            "matched": matched,
            "shuffled_mean": null.mean(axis=0).to_numpy(),
            "shuffled_max": null.max(axis=0).to_numpy(),
            "shuffled_sd": null.std(axis=0, ddof=1).to_numpy(),
        },
        index=matched.index,
    )
    table["gap"] = table["matched"] - table["shuffled_mean"]
    table["gap_sd"] = table["gap"] / table["shuffled_sd"]
    table["p"] = (1 + exceed) / (1 + len(null))
    return table


def block_table(matrix: pd.DataFrame, blocks: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    """Mean and minimum CKA within and between named groups of layers.

    ``blocks`` names groups of layers, e.g. ``{"0-10": range(11), "11-12": [11, 12]}``. Returns
    one row per pair of blocks (``block_a``, ``block_b``; a block with itself included) with the
    ``mean`` and ``min`` CKA over their layer pairs of ``matrix``; the unit diagonal of a block
    with itself is left out (a one-layer block with itself gives nan).
    """
    rows = []
    names = list(blocks)
    for i, name_a in enumerate(names):
        for name_b in names[i:]:
            a, b = list(blocks[name_a]), list(blocks[name_b])
            values = matrix.loc[a, b].to_numpy(dtype=float)
            if name_a == name_b:
                values = values[~np.eye(len(a), dtype=bool)]
            defined = values[np.isfinite(values)]
            mean = float(defined.mean()) if defined.size else np.nan
            low = float(defined.min()) if defined.size else np.nan
            rows.append({"block_a": name_a, "block_b": name_b, "mean": mean, "min": low})
    return pd.DataFrame(rows)
