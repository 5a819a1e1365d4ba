"""Layer × layer CKA: which layers of the model represent the stimuli alike?

Every function here returns a 13 × 13 table (rows and columns are layer indices) of linear CKA
values, computed one of two ways:

* **sentence means** — each recording becomes one vector (its frames averaged per layer), so the
  stimuli are the ``n`` recordings (5–10 in this tutorial) described by 768 features. This is
  the original chapter's view. With ``n`` this small, *biased* CKA is strongly inflated (see
  :mod:`tutorial_utils.sanity`), so each function takes ``debiased=`` and the notebooks show both.
* **frames** — the stimuli are the 20 ms frames of a recording. Within one speaker we compute a
  13 × 13 matrix *per recording* and average the matrices over recordings (we do not concatenate
  recordings: pooling would mix differences *between* sentences into a frame-level comparison,
  and per-recording matrices give a spread for free).

Across two speakers the rows are speaker A's layers and the columns speaker B's layers, and the
stimuli must be *the same* for both: the sentences both read. Sentence means pair naturally
(sentence ``i`` of A with sentence ``i`` of B). Frames do not, because the two speakers' readings
differ in length and timing. We resample every recording to one common number of frames by
linear interpolation in time (default: the length of the shortest recording involved), so that
frame ``t`` of A and frame ``t`` of B sit at the same *relative* position in the sentence. That is
a crude alignment — speaking rate is not constant within a sentence — so the frame-level
across-speaker numbers are a lower bound on what a better (e.g. DTW) alignment would give.

A shuffled-pairing baseline (:func:`shuffled_diagonal`) pairs each sentence of A with a
*different* sentence of B and recomputes the diagonal; the gap between the matched and the
shuffled diagonal is the part of the across-speaker similarity that is about the sentence.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .cka import center_gram, cka_matrix, gram_linear
from .dataset import Dataset

__all__ = [
    "block_table",
    "across_speaker_cka",
    "common_length",
    "derangements",
    "diagonal",
    "diagonal_peak",
    "diagonal_table",
    "mean_over_recordings",
    "per_recording_layer_cka",
    "resample_frames",
    "sentence_mean_layers",
    "shuffled_diagonal",
    "within_speaker_cka",
]

UNITS = ("sentence", "frame")


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unit must be 'sentence' or 'frame'; got {unit!r}.")


def _label(table: pd.DataFrame, row_name: str, column_name: str) -> pd.DataFrame:
    table.index.name = row_name
    table.columns.name = column_name
    return table


# --------------------------------------------------------------------------- building blocks


def sentence_mean_layers(
    dataset: Dataset, participant: str, filenames: Sequence[str] | None = None
) -> dict[int, np.ndarray]:
    """One mean vector per recording and layer.

    Parameters
    ----------
    dataset : Dataset
    participant : str
    filenames : sequence of str, optional
        Recordings in the wanted row order; default all of the participant's recordings.

    Returns
    -------
    dict of int to ndarray
        ``{layer: (n_recordings, d) float64}``.
    """
    names = (
        dataset.filenames(participant, with_hidden_states=True)
        if filenames is None
        else list(filenames)
    )
    return {layer: dataset.sentence_means(participant, layer, names) for layer in dataset.layers}


def resample_frames(frames: np.ndarray, n_frames: int) -> np.ndarray:
    """Resample a ``(T, d)`` sequence to ``n_frames`` rows by linear interpolation in time.

    Row ``i`` of the result sits at the relative position ``i / (n_frames - 1)`` of the input,
    so the first and last frames are kept exactly.

    Parameters
    ----------
    frames : ndarray, shape (T, d)
    n_frames : int
        Number of output rows (at least 2).

    Returns
    -------
    ndarray, shape (n_frames, d), float64
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[0] < 2:
        raise ValueError(f"frames must be (T, d) with T >= 2; got shape {frames.shape}.")
    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2; got {n_frames}.")
    position = np.linspace(0.0, frames.shape[0] - 1, int(n_frames))
    left = np.minimum(np.floor(position).astype(int), frames.shape[0] - 2)
    weight = (position - left)[:, None]
    return (1.0 - weight) * frames[left] + weight * frames[left + 1]


def common_length(
    dataset: Dataset, pairs: pd.DataFrame, participant_a: str, participant_b: str
) -> int:
    """Frame count of the shortest recording among the paired recordings of two speakers.

    Parameters
    ----------
    dataset : Dataset
    pairs : pandas.DataFrame
        Output of :meth:`Dataset.shared_sentences` (columns ``FILENAME_A``, ``FILENAME_B``).
    participant_a, participant_b : str

    Returns
    -------
    int
    """
    layer = dataset.layers[0]
    lengths = [dataset.hidden_state(participant_a, layer, f).shape[0] for f in pairs.FILENAME_A]
    lengths += [dataset.hidden_state(participant_b, layer, f).shape[0] for f in pairs.FILENAME_B]
    return int(min(lengths))


def derangements(n: int, max_count: int = 100, seed: int = 0) -> list[tuple[int, ...]]:
    """Permutations of ``range(n)`` that move every element.

    All of them when there are at most ``max_count`` (44 for ``n = 5``), otherwise
    ``max_count`` distinct ones drawn at random with a seeded generator.

    Parameters
    ----------
    n : int
        Number of items (at least 2).
    max_count : int, default 100
    seed : int, default 0

    Returns
    -------
    list of tuple of int
        In a deterministic order.
    """
    if n < 2:
        raise ValueError(f"A derangement needs at least 2 items; got {n}.")
    count = round(math.factorial(n) / math.e)  # the exact number of derangements for n >= 1
    if count <= max_count:
        return [p for p in itertools.permutations(range(n)) if all(i != j for i, j in enumerate(p))]
    rng = np.random.default_rng(seed)
    found: dict[tuple[int, ...], None] = {}
    while len(found) < max_count:
        perm = tuple(int(i) for i in rng.permutation(n))
        if all(i != j for i, j in enumerate(perm)):
            found.setdefault(perm, None)
    return list(found)


# --------------------------------------------------------------------------- within a speaker


def per_recording_layer_cka(
    dataset: Dataset,
    participant: str,
    *,
    debiased: bool = False,
    filenames: Sequence[str] | None = None,
) -> np.ndarray:
    """Frame-level layer × layer CKA of each recording separately.

    Parameters
    ----------
    dataset : Dataset
    participant : str
    debiased : bool, default False
    filenames : sequence of str, optional
        Default all of the participant's recordings.

    Returns
    -------
    ndarray, shape (n_recordings, n_layers, n_layers)
    """
    names = (
        dataset.filenames(participant, with_hidden_states=True)
        if filenames is None
        else list(filenames)
    )
    stack = []
    for name in names:
        frames = [dataset.hidden_state(participant, layer, name) for layer in dataset.layers]
        stack.append(np.asarray(cka_matrix(frames, debiased=debiased)))
    return np.stack(stack)


def mean_over_recordings(stack: np.ndarray, layer_labels: Sequence[int]) -> pd.DataFrame:
    """Average a stack of per-recording layer × layer matrices into one labelled table.

    Parameters
    ----------
    stack : ndarray, shape (n_recordings, n_layers, n_layers)
        E.g. from :func:`per_recording_layer_cka`.
    layer_labels : sequence of int
        Layer indices for the rows and columns.

    Returns
    -------
    pandas.DataFrame
        Index and columns named ``"layer"``.
    """
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
    """Layer × layer CKA within one speaker's recordings.

    Parameters
    ----------
    dataset : Dataset
    participant : str
    unit : {"sentence", "frame"}, default "sentence"
        ``"sentence"``: stimuli are the recordings' mean vectors (one CKA over ``n`` recordings).
        ``"frame"``: stimuli are the frames of one recording; the per-recording matrices are
        averaged (see :func:`per_recording_layer_cka`).
    debiased : bool, default False
    filenames : sequence of str, optional
        Default all of the participant's recordings.

    Returns
    -------
    pandas.DataFrame
        ``n_layers × n_layers``, index and columns named ``"layer"``.
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


# --------------------------------------------------------------------------- across speakers


def _centred_gram(frames: np.ndarray, debiased: bool) -> np.ndarray:
    """Flattened centred linear Gram matrix of one ``(n, d)`` representation.

    Biased: the Gram matrix of the centred features (``H K H``). Debiased: the U-centred Gram
    matrix of Song et al. (see :func:`tutorial_utils.cka.center_gram`). Either way, the CKA of
    two representations is the cosine of their flattened centred Grams.
    """
    return center_gram(gram_linear(frames), unbiased=debiased).ravel()


def _cosines(flat_a: np.ndarray, flat_b: np.ndarray) -> np.ndarray:
    """All pairwise cosines between the rows of two stacks of flattened centred Grams."""
    norms = np.outer(np.linalg.norm(flat_a, axis=1), np.linalg.norm(flat_b, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (flat_a @ flat_b.T) / norms


def _centred_grams(frames: list[np.ndarray], n_frames: int, debiased: bool) -> np.ndarray:
    """Flattened centred Gram matrices of resampled recordings: shape (n_rec, n_frames²)."""
    return np.stack([_centred_gram(resample_frames(x, n_frames), debiased) for x in frames])


def _frame_grams(
    dataset: Dataset, participant: str, filenames: Sequence[str], n_frames: int, debiased: bool
) -> dict[int, np.ndarray]:
    """``{layer: (n_rec, n_frames²)}`` centred Grams of one speaker's resampled recordings."""
    return {
        layer: _centred_grams(
            [dataset.hidden_state(participant, layer, f) for f in filenames], n_frames, debiased
        )
        for layer in dataset.layers
    }


def _frame_cross(grams_a: dict, grams_b: dict, perm: Sequence[int]) -> np.ndarray:
    """Per-sentence CKA of A's layers vs B's layers, averaged over sentences.

    Sentence ``i`` of A is paired with sentence ``perm[i]`` of B.
    """
    layers_a, layers_b = list(grams_a), list(grams_b)
    result = np.zeros((len(layers_a), len(layers_b)))
    for i, j in enumerate(perm):
        flat_a = np.stack([grams_a[la][i] for la in layers_a])
        flat_b = np.stack([grams_b[lb][j] for lb in layers_b])
        result += _cosines(flat_a, flat_b)
    return result / len(perm)


def _pair_diagonals(grams_a: dict, grams_b: dict) -> np.ndarray:
    """CKA of A's layer ``l`` in sentence ``i`` with B's layer ``l`` in sentence ``j``.

    Returns an array of shape ``(n_a, n_b, n_layers)``; any pairing of sentences is then a
    lookup, which makes the shuffled baseline cheap.
    """
    return np.stack([_cosines(grams_a[layer], grams_b[layer]) for layer in grams_a], axis=-1)


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

    Parameters
    ----------
    dataset : Dataset
    participant_a, participant_b : str
        Rows are A's layers, columns B's layers.
    unit : {"sentence", "frame"}, default "sentence"
        ``"sentence"``: stimuli are the shared sentences (mean vectors), matched by sentence id.
        ``"frame"``: both recordings of each shared sentence are resampled to ``n_frames`` frames
        (linear interpolation in time), CKA is computed per sentence and averaged.
    debiased : bool, default False
    n_frames : int, optional
        Common length for ``unit="frame"``; default the shortest recording involved.

    Returns
    -------
    pandas.DataFrame
        ``n_layers × n_layers``; index named ``"layer_<A>"``, columns ``"layer_<B>"``.
    """
    _check_unit(unit)
    pairs = dataset.shared_sentences(participant_a, participant_b)
    if len(pairs) < (4 if debiased else 2):
        raise ValueError(
            f"{participant_a} and {participant_b} share {len(pairs)} sentences; too few."
        )
    if unit == "sentence":
        reps_a = sentence_mean_layers(dataset, participant_a, pairs.FILENAME_A)
        reps_b = sentence_mean_layers(dataset, participant_b, pairs.FILENAME_B)
        table = cka_matrix(reps_a, reps_b, debiased=debiased)
    else:
        length = n_frames or common_length(dataset, pairs, participant_a, participant_b)
        grams_a = _frame_grams(dataset, participant_a, pairs.FILENAME_A, length, debiased)
        grams_b = _frame_grams(dataset, participant_b, pairs.FILENAME_B, length, debiased)
        values = _frame_cross(grams_a, grams_b, range(len(pairs)))
        table = pd.DataFrame(values, index=dataset.layers, columns=dataset.layers)
    return _label(table, f"layer_{participant_a}", f"layer_{participant_b}")


def _sentence_diagonal(reps_a: dict, reps_b: dict, perm: Sequence[int], debiased: bool):
    """Diagonal CKA(A layer l, B layer l) with B's sentences reordered by ``perm``."""
    order = list(perm)
    values = []
    for layer in reps_a:
        matrix = cka_matrix([reps_a[layer]], [reps_b[layer][order]], debiased=debiased)
        values.append(float(np.asarray(matrix)[0, 0]))
    return np.array(values)


def shuffled_diagonal(
    dataset: Dataset,
    participant_a: str,
    participant_b: str,
    *,
    unit: str = "sentence",
    debiased: bool = False,
    n_frames: int | None = None,
    max_shuffles: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Across-speaker diagonal CKA when every sentence of A is paired with another sentence of B.

    This is the null baseline for :func:`across_speaker_cka`'s diagonal: it keeps everything
    (speakers, layers, number of stimuli, recording lengths) except the match of content.

    Parameters
    ----------
    dataset : Dataset
    participant_a, participant_b : str
    unit : {"sentence", "frame"}, default "sentence"
    debiased : bool, default False
    n_frames : int, optional
        Common length for ``unit="frame"``; default the shortest recording involved.
    max_shuffles : int, default 100
        All derangements are used when there are at most this many (44 for 5 sentences),
        otherwise this many random ones (see :func:`derangements`).
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        One row per shuffled pairing, one column per layer.
    """
    _check_unit(unit)
    pairs = dataset.shared_sentences(participant_a, participant_b)
    perms = derangements(len(pairs), max_shuffles, seed)
    if unit == "sentence":
        reps_a = sentence_mean_layers(dataset, participant_a, pairs.FILENAME_A)
        reps_b = sentence_mean_layers(dataset, participant_b, pairs.FILENAME_B)
        rows = [_sentence_diagonal(reps_a, reps_b, p, debiased) for p in perms]
    else:
        length = n_frames or common_length(dataset, pairs, participant_a, participant_b)
        grams_a = _frame_grams(dataset, participant_a, pairs.FILENAME_A, length, debiased)
        grams_b = _frame_grams(dataset, participant_b, pairs.FILENAME_B, length, debiased)
        cosines = _pair_diagonals(grams_a, grams_b)
        index = np.arange(len(pairs))
        rows = [cosines[index, list(p)].mean(axis=0) for p in perms]
    table = pd.DataFrame(np.stack(rows), columns=dataset.layers)
    table.index.name = "shuffle"
    table.columns.name = "layer"
    return table


# --------------------------------------------------------------------------- reading out


def diagonal(matrix: pd.DataFrame) -> pd.Series:
    """The diagonal of a layer × layer table (layer ``l`` of A vs layer ``l`` of B).

    Parameters
    ----------
    matrix : pandas.DataFrame
        Square table with the same layer labels on both axes.

    Returns
    -------
    pandas.Series
        Indexed by layer.
    """
    if list(matrix.index) != list(matrix.columns):
        raise ValueError("matrix must have the same layer labels on rows and columns.")
    values = np.diag(matrix.to_numpy())
    return pd.Series(values, index=pd.Index(matrix.index, name="layer"), name="cka")


def diagonal_peak(matrix: pd.DataFrame) -> pd.Series:
    """Where the diagonal of a layer × layer table is highest.

    Parameters
    ----------
    matrix : pandas.DataFrame

    Returns
    -------
    pandas.Series
        ``layer`` (int) and ``cka`` (float) of the maximum (first one on ties, nan ignored).
    """
    diag = diagonal(matrix)
    if diag.isna().all():
        raise ValueError("The diagonal is all nan; there is no peak.")
    layer = diag.idxmax()
    return pd.Series({"layer": int(layer), "cka": float(diag[layer])}, dtype=object)


def diagonal_table(matrix: pd.DataFrame, shuffled: pd.DataFrame) -> pd.DataFrame:
    """Matched diagonal next to its shuffled-pairing baseline, per layer.

    Parameters
    ----------
    matrix : pandas.DataFrame
        Output of :func:`across_speaker_cka`.
    shuffled : pandas.DataFrame
        Output of :func:`shuffled_diagonal` (same ``unit`` and ``debiased``).

    Returns
    -------
    pandas.DataFrame
        Indexed by layer; columns ``matched``, ``shuffled_mean``, ``shuffled_max``, ``gap``
        (matched minus shuffled mean) and ``p`` = (1 + #shuffles ≥ matched) / (1 + #shuffles).
    """
    matched = diagonal(matrix)
    null = shuffled[matched.index]
    exceed = (null.to_numpy() >= matched.to_numpy()[None, :]).sum(axis=0)
    table = pd.DataFrame(
        {
            "matched": matched,
            "shuffled_mean": null.mean(axis=0).to_numpy(),
            "shuffled_max": null.max(axis=0).to_numpy(),
        },
        index=matched.index,
    )
    table["gap"] = table["matched"] - table["shuffled_mean"]
    table["p"] = (1 + exceed) / (1 + len(null))
    return table


def block_table(matrix: pd.DataFrame, blocks: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    """Mean and minimum CKA within and between named groups of layers.

    Parameters
    ----------
    matrix : pandas.DataFrame
        A layer × layer table (e.g. from :func:`within_speaker_cka`).
    blocks : mapping of str to sequence of int
        E.g. ``{"0-10": range(11), "11-12": [11, 12]}``.

    Returns
    -------
    pandas.DataFrame
        One row per pair of blocks (``block_a``, ``block_b``, a block with itself included) with
        the ``mean`` and ``min`` CKA over the layer pairs; the unit diagonal of a block with
        itself is left out (a one-layer block with itself gives nan).
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
            rows.append(
                {
                    "block_a": name_a,
                    "block_b": name_b,
                    "mean": float(defined.mean()) if defined.size else np.nan,
                    "min": float(defined.min()) if defined.size else np.nan,
                }
            )
    return pd.DataFrame(rows)
