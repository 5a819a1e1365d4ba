"""Sentence means: one vector per recording, and what they say about speaker and sentence (01).

A recording's *sentence mean* at a layer is the average of its hidden-state frames: one
``d``-dimensional vector per recording. Chapter 01 puts two speakers' readings of the same
sentences side by side (a *design*: all of speaker A's recordings, then B's in the same
sentence order), z-scores every feature across those recordings and asks per layer whether
the recordings group by speaker or by sentence: with Gram matrices (:func:`sentence_readout`)
and with RSA against two model RDMs (:func:`rsa_by_layer`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from .dataset import Dataset, sentence_id
from .rsa import compare_rdms, rdm

__all__ = [
    "block_contrast",
    "design_means",
    "model_rdms",
    "rsa_by_layer",
    "sentence_design",
    "sentence_grams",
    "sentence_mean_layers",
    "sentence_means",
    "sentence_readout",
    "zscore",
]


def sentence_means(
    dataset: Dataset, participant: str, layer: int, filenames: Iterable[str] | None = None
) -> np.ndarray:
    """Mean over frames of each recording's hidden states at ``layer``.

    Parameters
    ----------
    dataset : Dataset
    participant : str
    layer : int
    filenames : iterable of str, optional
        Recordings in the wanted row order; default :meth:`Dataset.pick_filenames`.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_recordings, d)`` float64.
    """
    names = dataset.pick_filenames(participant, filenames)
    if not names:
        raise ValueError("No recordings given to average.")
    states = [dataset.hidden_state(participant, layer, name) for name in names]
    return np.stack([x.astype(np.float64).mean(axis=0) for x in states])


def sentence_mean_layers(
    dataset: Dataset, participant: str, filenames: Iterable[str] | None = None
) -> dict[int, np.ndarray]:
    """:func:`sentence_means` of every layer: ``{layer: (n, d)}``.

    ``filenames`` give the row order; default :meth:`Dataset.pick_filenames`.
    """
    names = dataset.pick_filenames(participant, filenames)
    return {layer: sentence_means(dataset, participant, layer, names) for layer in dataset.layers}


def zscore(x: np.ndarray) -> np.ndarray:
    """Z-score each column across rows (:func:`scipy.stats.zscore`); columns without spread
    become 0."""
    x = np.asarray(x, dtype=np.float64)
    spread = np.ptp(x, axis=0) > 0
    z = np.zeros_like(x)
    z[:, spread] = stats.zscore(x[:, spread], axis=0)
    return z


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
        ``i`` of B are the same sentence); otherwise every recording with hidden states.

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
        parts = [(p, dataset.pick_filenames(p)) for p in (participant_a, participant_b)]
    rows = []
    for participant, names in parts:
        for name in names:
            sid = sentence_id(name)
            rows.append((participant, name, sid, f"{participant} {sid.split('_')[-1]}"))
    if not rows:
        raise ValueError(f"{participant_a!r} and {participant_b!r} share no sentences.")
    return pd.DataFrame(rows, columns=["participant", "filename", "sentence_id", "label"])


def design_means(
    dataset: Dataset, design: pd.DataFrame, layer: int, *, standardise: bool = True
) -> np.ndarray:
    """Sentence means of a ``design`` (:func:`sentence_design`) at one layer, in its row order.

    With ``standardise`` (the default) every feature is z-scored across the recordings of the
    design, both speakers together; otherwise these are the raw :func:`sentence_means`.
    Returns an ``(n_recordings, d)`` float64 array.
    """
    blocks = [
        sentence_means(dataset, participant, layer, group["filename"])
        for participant, group in design.groupby("participant", sort=False)
    ]
    means = np.concatenate(blocks)
    return zscore(means) if standardise else means


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
        z = design_means(dataset, design, layer)
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
        sentence, two speakers), ``other`` (different speaker and sentence),
        ``difference = same_speaker - same_sentence`` (positive: speaker dominates; negative:
        content dominates; it compares within-speaker with cross-speaker pairs) and
        ``same_minus_other_sentence = same_sentence - other`` (cross-speaker pairs only, so the
        speaker difference is the same on both sides: positive when the layer brings the same
        sentence together across speakers).
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
    result["same_minus_other_sentence"] = result["same_sentence"] - result["other"]
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
        Columns ``layer, same_speaker, same_sentence, other, difference,
        same_minus_other_sentence`` (:func:`block_contrast`).
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

    Parameters
    ----------
    dataset : Dataset
    design : pandas.DataFrame
        From :func:`sentence_design`.
    layers : iterable of int, optional
        Default: all layers.
    metric, method : str
        Passed to :func:`tutorial_utils.rsa.rdm` and :func:`tutorial_utils.rsa.compare_rdms`.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer, model, value`` (``model`` is ``"speaker"`` or ``"sentence"``).
    """
    layers = dataset.layers if layers is None else [int(layer) for layer in layers]
    models = model_rdms(design)
    rows = []
    for layer in layers:
        layer_rdm = rdm(design_means(dataset, design, layer), metric)
        for name, model in models.items():
            value = compare_rdms(layer_rdm, model, method)
            rows.append({"layer": layer, "model": name, "value": value})
    return pd.DataFrame(rows)
