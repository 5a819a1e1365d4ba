"""Sentence means: one vector per recording, and what they say about speaker and sentence (01).

A *sentence mean* is the average of a recording's hidden-state frames at a layer. A *design*
puts two speakers' readings of the same sentences side by side; per layer, do the z-scored
means group by speaker or by sentence? With Gram matrices (:func:`sentence_readout`) and with
RSA against two model RDMs (:func:`rsa_by_layer`).
"""

import math

import numpy as np
import pandas as pd

from .dataset import Dataset, sentence_id
from .rsa import compare_rdms, rdm


def sentence_means(dataset: Dataset, participant: str, layer: int, filenames=None) -> np.ndarray:
    """``(n_recordings, d)`` float64: the mean over frames of each recording's hidden states
    at ``layer``, rows in the order of ``filenames`` (default :meth:`Dataset.pick_filenames`)."""
    names = dataset.pick_filenames(participant, filenames)
    if not names:
        raise ValueError("No recordings given to average.")
    states = [dataset.hidden_state(participant, layer, name) for name in names]
    return np.stack([x.astype(np.float64).mean(axis=0) for x in states])


def sentence_mean_layers(dataset: Dataset, participant: str, filenames=None) -> dict:
    """:func:`sentence_means` of every layer: ``{layer: (n, d)}``."""
    names = dataset.pick_filenames(participant, filenames)
    return {layer: sentence_means(dataset, participant, layer, names) for layer in dataset.layers}


def sentence_design(dataset: Dataset, a: str, b: str, *, shared_only=True) -> pd.DataFrame:
    """Recordings of speakers ``a`` and ``b``, A's first (``shared_only``: the sentences both
    read, in A's order; else all with hidden states): ``participant, filename, sentence_id,
    label``."""
    if shared_only:
        shared = dataset.shared_sentences(a, b)
        parts = [(a, shared["FILENAME_A"]), (b, shared["FILENAME_B"])]
    else:
        parts = [(p, dataset.pick_filenames(p)) for p in (a, b)]
    rows = [
        (participant, name, sentence_id(name), f"{participant} {sentence_id(name).split('_')[-1]}")
        for participant, names in parts
        for name in names
    ]
    if not rows:
        raise ValueError(f"{a!r} and {b!r} share no sentences.")
    return pd.DataFrame(rows, columns=["participant", "filename", "sentence_id", "label"])


def design_means(dataset: Dataset, design: pd.DataFrame, layer: int, *, standardise=True):
    """Sentence means ``(n, d)`` of a :func:`sentence_design`'s rows at one layer; with
    ``standardise``, every feature z-scored across them (:func:`scipy.stats.zscore`; features
    without spread become 0)."""
    rows = zip(design["participant"], design["filename"], strict=True)
    states = (dataset.hidden_state(participant, layer, name) for participant, name in rows)
    means = np.stack([x.astype(np.float64).mean(axis=0) for x in states])
    if not standardise:
        return means
    from scipy.stats import zscore

    spread = np.ptp(means, axis=0) > 0
    z = np.zeros_like(means)
    z[:, spread] = zscore(means[:, spread], axis=0)
    return z


def sentence_grams(dataset: Dataset, design: pd.DataFrame, layers=None) -> dict:
    """``{layer: Z Zᵀ / d}`` for the z-scored sentence means ``Z`` (n, d) of a design: an entry
    is the average product of two recordings' z-scores (about 1 on the diagonal)."""
    grams = {}
    for layer in dataset.layers if layers is None else [int(layer) for layer in layers]:
        z = design_means(dataset, design, layer)
        grams[layer] = z @ z.T / z.shape[1]
    return grams


def block_contrast(gram: np.ndarray, design: pd.DataFrame) -> dict[str, float]:
    """Mean of ``gram`` (design order) over pairs of recordings: ``same_speaker``,
    ``same_sentence`` (two speakers), ``other``, ``difference = same_speaker - same_sentence``
    (positive: speaker dominates), ``same_minus_other_sentence = same_sentence - other``
    (cross-speaker pairs only: positive when the layer brings a sentence together)."""
    speaker = design["participant"].to_numpy()
    sentence = design["sentence_id"].to_numpy()
    same_spk = speaker[:, None] == speaker[None, :]
    same_sent = sentence[:, None] == sentence[None, :]
    masks = {
        "same_speaker": same_spk & ~np.eye(len(design), dtype=bool),
        "same_sentence": same_sent & ~same_spk,
        "other": ~same_sent & ~same_spk,
    }
    result = {k: float(gram[m].mean()) if m.any() else math.nan for k, m in masks.items()}
    result["difference"] = result["same_speaker"] - result["same_sentence"]
    result["same_minus_other_sentence"] = result["same_sentence"] - result["other"]
    return result


def sentence_readout(dataset: Dataset, a: str, b: str, layers=None) -> pd.DataFrame:
    """Per layer, :func:`block_contrast` of the :func:`sentence_grams` of the shared sentences:
    columns ``layer, same_speaker, same_sentence, other, difference,
    same_minus_other_sentence``."""
    design = sentence_design(dataset, a, b)
    grams = sentence_grams(dataset, design, layers)
    return pd.DataFrame([{"layer": k, **block_contrast(g, design)} for k, g in grams.items()])


def rsa_by_layer(
    dataset: Dataset, design: pd.DataFrame, layers=None, *, metric="correlation", method="spearman"
) -> pd.DataFrame:
    """RSA of each layer's RDM of z-scored sentence means (``metric``, :func:`rdm`) with two
    categorical model RDMs (0 for pairs sharing the speaker / the sentence, else 1), compared
    by ``method`` (:func:`compare_rdms`). Columns ``layer, model, value``."""
    upper = np.triu_indices(len(design), k=1)
    models = {}
    for name, column in (("speaker", "participant"), ("sentence", "sentence_id")):
        labels = design[column].to_numpy()
        models[name] = (labels[:, None] != labels[None, :]).astype(np.float64)[upper]
    rows = []
    for layer in dataset.layers if layers is None else [int(layer) for layer in layers]:
        layer_rdm = rdm(design_means(dataset, design, layer), metric)
        for name, model in models.items():
            value = compare_rdms(layer_rdm, model, method)
            rows.append({"layer": layer, "model": name, "value": value})
    return pd.DataFrame(rows)
