"""Layer × layer CKA: which layers of the model represent the stimuli alike? (chapter 03)

The stimuli are **sentence means** (one vector per recording: 5–10 stimuli in 768 dimensions,
where biased CKA is inflated, hence ``debiased=``) or **frames** (one CKA per recording,
averaged: pooling recordings would mix differences *between* sentences into the comparison).
Across two speakers (rows A's layers, columns B's) the frames of both readings of a sentence are
resampled linearly to one length (:func:`resample_frames`), a crude alignment.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .cka import cka_matrix
from .dataset import Dataset
from .sentences import sentence_mean_layers, sentence_means


def resample_frames(frames: np.ndarray, n_frames: int) -> np.ndarray:
    """``(T, d)`` frames interpolated linearly in time to ``(n_frames, d)`` float64: row ``i`` at
    the relative position ``i / (n_frames - 1)``."""
    from scipy.interpolate import make_interp_spline

    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or len(frames) < 2 or n_frames < 2:
        raise ValueError(f"need (T, d) frames, T >= 2 and n_frames >= 2; got {frames.shape}.")
    line = make_interp_spline(np.arange(len(frames), dtype=np.float64), frames, k=1, axis=0)
    return line(np.linspace(0.0, len(frames) - 1, int(n_frames)))


def common_length(dataset: Dataset, pairs: pd.DataFrame, a: str, b: str) -> int:
    """Frame count of the shortest recording of ``pairs`` (:meth:`Dataset.shared_sentences`
    of speakers ``a`` and ``b``)."""
    layer = dataset.layers[0]
    lengths = [dataset.hidden_state(a, layer, f).shape[0] for f in pairs.FILENAME_A]
    lengths += [dataset.hidden_state(b, layer, f).shape[0] for f in pairs.FILENAME_B]
    return int(min(lengths))


def per_recording_layer_cka(
    dataset: Dataset, participant: str, *, debiased: bool = False, filenames=None
) -> np.ndarray:
    """Frame-level layer × layer CKA of each recording (default :meth:`Dataset.pick_filenames`)
    separately: ``(n_recordings, n_layers, n_layers)``."""
    names = dataset.pick_filenames(participant, filenames)
    states = ([dataset.hidden_state(participant, k, f) for k in dataset.layers] for f in names)
    return np.stack([cka_matrix(layers, debiased=debiased) for layers in states])


def mean_over_recordings(stack: np.ndarray, layer_labels: Sequence[int]) -> pd.DataFrame:
    """Average a ``(n_recordings, n_layers, n_layers)`` stack into one table labelled by layer."""
    labels = list(layer_labels)
    table = pd.DataFrame(np.mean(stack, axis=0), index=labels, columns=labels)
    return table.rename_axis(index="layer", columns="layer")


def within_speaker_cka(
    dataset: Dataset, participant: str, *, unit="sentence", debiased=False, filenames=None
) -> pd.DataFrame:
    """Layer × layer CKA within one speaker's recordings (default :meth:`Dataset.pick_filenames`)
    over their sentence means (``unit="sentence"``) or per recording over frames, averaged."""
    if unit not in ("sentence", "frame"):
        raise ValueError(f"unit must be 'sentence' or 'frame'; got {unit!r}.")
    if unit == "frame":
        stack = per_recording_layer_cka(
            dataset, participant, debiased=debiased, filenames=filenames
        )
        return mean_over_recordings(stack, dataset.layers)
    table = cka_matrix(sentence_mean_layers(dataset, participant, filenames), debiased=debiased)
    return table.rename_axis(index="layer", columns="layer")


def shared_sentence_layers(
    dataset: Dataset, a: str, b: str, *, unit="sentence", n_frames=None, min_sentences=2
) -> tuple[dict, dict]:
    """Both speakers' ``{layer: (n_sentences, d)}`` sentence means of the sentences they both
    read (item ``i`` of A and of B the same sentence), or for ``unit="frame"`` ``{layer:
    [(n_frames, d) per sentence]}`` resampled to ``n_frames`` (default :func:`common_length`)."""
    if unit not in ("sentence", "frame"):
        raise ValueError(f"unit must be 'sentence' or 'frame'; got {unit!r}.")
    pairs = dataset.shared_sentences(a, b)
    if len(pairs) < min_sentences:
        raise ValueError(f"{a} and {b} share {len(pairs)} sentences.")
    n, reps = n_frames or common_length(dataset, pairs, a, b), []
    for p, names in ((a, pairs.FILENAME_A), (b, pairs.FILENAME_B)):
        if unit == "sentence":
            reps.append({k: sentence_means(dataset, p, k, names) for k in dataset.layers})
        else:
            frames = {k: [dataset.hidden_state(p, k, f) for f in names] for k in dataset.layers}
            reps.append({k: [resample_frames(x, n) for x in xs] for k, xs in frames.items()})
    return reps[0], reps[1]


def across_speaker_cka(
    dataset: Dataset, a: str, b: str, *, unit="sentence", debiased=False, n_frames=None
) -> pd.DataFrame:
    """Layer × layer CKA between two speakers (rows ``"layer_<A>"``, columns ``"layer_<B>"``)
    over the shared sentences' means, or for ``unit="frame"`` per shared sentence over its
    frames resampled to ``n_frames`` (:func:`shared_sentence_layers`), averaged."""
    options = {"unit": unit, "n_frames": n_frames, "min_sentences": 4 if debiased else 2}
    reps_a, reps_b = shared_sentence_layers(dataset, a, b, **options)
    if unit == "sentence":
        table = cka_matrix(reps_a, reps_b, debiased=debiased)
    else:
        layers, per_sentence = dataset.layers, []
        for i in range(len(reps_a[layers[0]])):  # one layer × layer CKA per shared sentence
            xs, ys = [reps_a[k][i] for k in layers], [reps_b[k][i] for k in layers]
            per_sentence.append(cka_matrix(xs, ys, debiased=debiased))
        table = pd.DataFrame(np.mean(per_sentence, axis=0), index=layers, columns=layers)
    return table.rename_axis(index=f"layer_{a}", columns=f"layer_{b}")


def diagonal(matrix: pd.DataFrame) -> pd.Series:
    """The diagonal of a square layer × layer table: a Series ``"cka"`` indexed by ``"layer"``."""
    if list(matrix.index) != list(matrix.columns):
        raise ValueError("matrix must have the same layer labels on rows and columns.")
    index = pd.Index(matrix.index, name="layer")
    return pd.Series(np.diag(matrix.to_numpy()), index=index, name="cka")


def diagonal_peak(matrix: pd.DataFrame) -> pd.Series:
    """``layer`` (int) and ``cka`` where the diagonal is highest (first on ties, nan ignored)."""
    diag = diagonal(matrix)
    if diag.isna().all():
        raise ValueError("The diagonal is all nan; there is no peak.")
    layer = diag.idxmax()
    return pd.Series({"layer": int(layer), "cka": float(diag[layer])}, dtype=object)


def diagonal_table(matrix: pd.DataFrame, shuffled: pd.DataFrame) -> pd.DataFrame:
    """The diagonal of ``matrix`` (:func:`across_speaker_cka`) beside its ``shuffled`` baseline
    (:func:`tutorial_utils.nulls.shuffled_diagonal`), by layer: ``matched``, ``null_mean``,
    ``null_max`` and the permutation p-value ``p`` = (1 + #shuffles ≥ matched) / (1 + #shuffles)."""
    matched = diagonal(matrix)
    null = shuffled[matched.index]
    table = pd.DataFrame({"matched": matched}, index=matched.index)
    table["null_mean"] = null.mean(axis=0).to_numpy()
    table["null_max"] = null.max(axis=0).to_numpy()
    exceed = (null.to_numpy() >= matched.to_numpy()[None, :]).sum(axis=0)
    table["p"] = (1 + exceed) / (1 + len(null))
    return table


def block_table(matrix: pd.DataFrame, blocks: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    """``mean`` and ``min`` of ``matrix`` (nan ignored) over the layer pairs of two named groups
    of layers (``blocks``, e.g. ``{"0-10": range(11), "11-12": [11, 12]}``), one row per pair
    ``block_a``, ``block_b``; a block with itself leaves out its unit diagonal."""
    rows, names = [], list(blocks)
    for i, name_a in enumerate(names):
        for name_b in names[i:]:
            a, b = list(blocks[name_a]), list(blocks[name_b])
            values = matrix.loc[a, b].to_numpy(dtype=float)
            if name_a == name_b:
                values = values[~np.eye(len(a), dtype=bool)]
            values = values[np.isfinite(values)]
            mean, low = (values.mean(), values.min()) if values.size else (np.nan, np.nan)
            rows.append({"block_a": name_a, "block_b": name_b, "mean": mean, "min": low})
    return pd.DataFrame(rows)
