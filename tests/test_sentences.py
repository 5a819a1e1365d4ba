"""Sentence means, sentence Grams, the speaker-versus-sentence readout and RSA."""

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import sentences as S


@pytest.fixture(scope="module")
def ds(two_speakers):
    return two_speakers


def test_sentence_means_average_the_frames(ds):
    names = ds.filenames("B")[::-1]
    means = S.sentence_means(ds, "B", 2, names)
    expected = [ds.hidden_state("B", 2, name).astype(np.float64).mean(axis=0) for name in names]
    np.testing.assert_allclose(means, expected)
    assert S.sentence_means(ds, "A", 0).shape == (4, 16)
    with pytest.raises(ValueError, match="No recordings"):
        S.sentence_means(ds, "A", 0, [])


def test_sentence_mean_layers_shapes(content_speakers):
    reps = S.sentence_mean_layers(content_speakers, "A")
    assert list(reps) == list(range(4))
    assert reps[0].shape == (6, 6)


def test_zscore():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    z = S.zscore(x)
    np.testing.assert_allclose(z[:, 0], [-1.2247449, 0, 1.2247449], rtol=1e-6)
    np.testing.assert_array_equal(z[:, 1], 0)


def test_sentence_design_pairs_shared_sentences(ds):
    design = S.sentence_design(ds, "A", "B")
    assert design["participant"].tolist() == ["A"] * 3 + ["B"] * 3
    assert design["sentence_id"].tolist()[:3] == design["sentence_id"].tolist()[3:]
    everything = S.sentence_design(ds, "A", "B", shared_only=False)
    assert len(everything) == 7


def test_design_means_standardise_the_raw_means(ds):
    design = S.sentence_design(ds, "A", "B")
    raw = S.design_means(ds, design, 1, standardise=False)
    np.testing.assert_allclose(raw[:3], S.sentence_means(ds, "A", 1, design["filename"][:3]))
    np.testing.assert_allclose(S.design_means(ds, design, 1), S.zscore(raw))


def test_block_contrast_on_a_known_matrix():
    design = pd.DataFrame(
        {"participant": ["A", "A", "B", "B"], "sentence_id": ["s1", "s2", "s1", "s2"]}
    )
    gram = np.array([[1, 0.5, 0.2, -1], [0.5, 1, -1, 0.4], [0.2, -1, 1, 0.7], [-1, 0.4, 0.7, 1.0]])
    result = S.block_contrast(gram, design)
    assert result["same_speaker"] == pytest.approx(0.6)
    assert result["same_sentence"] == pytest.approx(0.3)
    assert result["other"] == pytest.approx(-1.0)
    assert result["difference"] == pytest.approx(0.3)
    assert result["same_minus_other_sentence"] == pytest.approx(1.3)


def test_sentence_readout_separates_speaker_and_content(ds):
    readout = S.sentence_readout(ds, "A", "B").set_index("layer")
    assert list(readout.columns) == [
        "same_speaker",
        "same_sentence",
        "other",
        "difference",
        "same_minus_other_sentence",
    ]
    assert readout.loc[2, "same_minus_other_sentence"] > 0  # layer 2 carries the sentence
    assert readout.loc[1, "difference"] > 0  # layer 1 carries the speaker
    assert readout.loc[2, "difference"] < 0  # layer 2 carries the sentence


def test_sentence_grams_are_scaled(ds):
    design = S.sentence_design(ds, "A", "B")
    grams = S.sentence_grams(ds, design, layers=[2])
    assert grams[2].shape == (6, 6)
    # every column of the z-scored means has variance 1, so the trace is n
    assert np.trace(grams[2]) == pytest.approx(6.0)


def test_model_rdms_and_rsa(ds):
    design = S.sentence_design(ds, "A", "B")
    models = S.model_rdms(design)
    assert models["speaker"].sum() == 9 and models["sentence"].sum() == 12
    table = S.rsa_by_layer(ds, design)
    assert len(table) == 6 and set(table["model"]) == {"speaker", "sentence"}
    best = table.loc[table.groupby("model")["value"].idxmax()].set_index("model")["layer"]
    assert best["speaker"] == 1 and best["sentence"] == 2
