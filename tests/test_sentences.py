"""Sentence means, sentence Grams, the speaker-versus-sentence readout and RSA."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from tutorial_utils import sentences as S


@pytest.fixture(scope="module")
def ds(two_speakers):
    return two_speakers


def test_sentence_means_average_the_frames(ds, content_speakers):
    names = ds.filenames("B")[::-1]
    expected = [ds.hidden_state("B", 2, name).astype(np.float64).mean(axis=0) for name in names]
    np.testing.assert_allclose(S.sentence_means(ds, "B", 2, names), expected)
    assert S.sentence_means(ds, "A", 0).shape == (4, 16)
    with pytest.raises(ValueError, match="No recordings"):
        S.sentence_means(ds, "A", 0, [])
    reps = S.sentence_mean_layers(content_speakers, "A")
    assert list(reps) == list(range(4)) and reps[0].shape == (6, 6)


def test_design_pairs_shared_sentences_and_z_scores_their_means(ds):
    design = S.sentence_design(ds, "A", "B")
    assert design["participant"].tolist() == ["A"] * 3 + ["B"] * 3
    assert design["sentence_id"].tolist()[:3] == design["sentence_id"].tolist()[3:]
    assert len(S.sentence_design(ds, "A", "B", shared_only=False)) == 7
    raw = S.design_means(ds, design, 0, standardise=False)
    np.testing.assert_allclose(raw[:3], S.sentence_means(ds, "A", 0, design["filename"][:3]))
    spread = raw.std(axis=0) > 0
    assert not spread.all()  # layer 0 has features without spread: they become 0
    z = np.where(spread, (raw - raw.mean(axis=0)) / np.where(spread, raw.std(axis=0), 1), 0)
    np.testing.assert_allclose(S.design_means(ds, design, 0), z, rtol=1e-12, atol=1e-12)
    gram = S.sentence_grams(ds, design, layers=[2])[2]
    z = S.design_means(ds, design, 2)
    np.testing.assert_allclose(gram, z @ z.T / z.shape[1])
    assert np.trace(gram) == pytest.approx(6.0)  # every z-scored column has variance 1


def test_block_contrast_on_a_known_matrix():
    design = pd.DataFrame(
        {"participant": ["A", "A", "B", "B"], "sentence_id": ["s1", "s2", "s1", "s2"]}
    )
    gram = np.array([[1, 0.5, 0.2, -1], [0.5, 1, -1, 0.4], [0.2, -1, 1, 0.7], [-1, 0.4, 0.7, 1.0]])
    assert S.block_contrast(gram, design) == pytest.approx(
        {"same_speaker": 0.6, "same_sentence": 0.3, "other": -1.0, "difference": 0.3,
         "same_minus_other_sentence": 1.3}
    )  # fmt: skip


def test_sentence_readout_separates_speaker_and_content(ds):
    readout = S.sentence_readout(ds, "A", "B").set_index("layer")
    columns = ["same_speaker", "same_sentence", "other", "difference", "same_minus_other_sentence"]
    assert list(readout.columns) == columns
    assert readout.loc[2, "same_minus_other_sentence"] > 0  # layer 2 carries the sentence
    assert readout.loc[1, "difference"] > 0 > readout.loc[2, "difference"]  # 1: the speaker


def test_rsa_by_layer_is_spearman_of_correlation_distances_with_model_rdms(ds):
    design = S.sentence_design(ds, "A", "B")
    table = S.rsa_by_layer(ds, design)
    assert len(table) == 6 and set(table["model"]) == {"speaker", "sentence"}
    best = table.loc[table.groupby("model")["value"].idxmax()].set_index("model")["layer"]
    assert best["speaker"] == 1 and best["sentence"] == 2
    speaker = pdist(design[["participant"]].to_numpy(), lambda a, b: float(a[0] != b[0]))
    distances = pdist(S.design_means(ds, design, 0), "correlation")
    value = table.query("layer == 0 and model == 'speaker'")["value"].item()
    assert value == pytest.approx(spearmanr(distances, speaker).statistic)
