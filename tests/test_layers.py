"""tutorial_utils.layers against CKA computed pair by pair on the content_speakers fixture."""

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import layers as L
from tutorial_utils.cka import cka_matrix, feature_space_linear_cka
from tutorial_utils.nulls import shuffled_diagonal
from tutorial_utils.sentences import sentence_means

N_LAYERS = 4  # layers of the content_speakers fixture (conftest.py)


@pytest.fixture(scope="module")
def dataset(content_speakers):
    return content_speakers


def test_resample_frames_is_linear_interpolation_in_time():
    x = np.random.default_rng(1).standard_normal((13, 5))
    positions = np.linspace(0.0, 12.0, 8)
    expected = np.stack([np.interp(positions, np.arange(13), column) for column in x.T], axis=1)
    np.testing.assert_allclose(L.resample_frames(x, 8), expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(L.resample_frames(x, 13), x)
    for frames, n in [(np.zeros((1, 3)), 5), (np.zeros((4, 3)), 1)]:
        with pytest.raises(ValueError):
            L.resample_frames(frames, n)


@pytest.mark.parametrize("debiased", [False, True])
def test_within_speaker_cka_is_cka_of_sentence_means_or_mean_of_recordings(dataset, debiased):
    table = L.within_speaker_cka(dataset, "A", unit="sentence", debiased=debiased)
    means = [sentence_means(dataset, "A", layer) for layer in range(N_LAYERS)]
    np.testing.assert_allclose(table, cka_matrix(means, debiased=debiased), atol=1e-12)
    assert table.index.name == table.columns.name == "layer"
    frames = L.within_speaker_cka(dataset, "A", unit="frame", debiased=debiased)
    per_recording = []
    for f in dataset.filenames("A"):
        states = [dataset.hidden_state("A", k, f) for k in range(N_LAYERS)]
        cka = [[feature_space_linear_cka(x, y, debiased=debiased) for y in states] for x in states]
        per_recording.append(cka)
    np.testing.assert_allclose(frames, np.mean(per_recording, axis=0), atol=1e-10)
    assert frames.index.name == frames.columns.name == "layer"
    stack = L.per_recording_layer_cka(dataset, "A", filenames=dataset.filenames("A")[:2])
    assert stack.shape == (2, N_LAYERS, N_LAYERS)
    with pytest.raises(ValueError, match="unit"):
        L.within_speaker_cka(dataset, "A", unit="word")


@pytest.mark.parametrize("debiased", [False, True])
def test_across_speaker_cka_pairs_sentences_by_id(dataset, debiased):
    pairs = dataset.shared_sentences("A", "B")
    assert len(pairs) == 5 and L.common_length(dataset, pairs, "A", "B") == 25
    table = L.across_speaker_cka(dataset, "A", "B", unit="sentence", debiased=debiased)
    frames = L.across_speaker_cka(dataset, "A", "B", unit="frame", debiased=debiased, n_frames=20)
    assert (table.index.name, table.columns.name) == ("layer_A", "layer_B")
    for la, lb in [(0, 0), (1, 2), (3, 1)]:
        x = sentence_means(dataset, "A", la, pairs.FILENAME_A)
        y = sentence_means(dataset, "B", lb, pairs.FILENAME_B)
        expected = feature_space_linear_cka(x, y, debiased=debiased)
        assert table.loc[la, lb] == pytest.approx(expected, abs=1e-10)
        per_sentence = [
            feature_space_linear_cka(
                L.resample_frames(dataset.hidden_state("A", la, fa), 20),
                L.resample_frames(dataset.hidden_state("B", lb, fb), 20),
                debiased=debiased,
            )
            for fa, fb in zip(pairs.FILENAME_A, pairs.FILENAME_B, strict=True)
        ]
        assert frames.loc[la, lb] == pytest.approx(np.mean(per_sentence), abs=1e-10)


def test_matched_content_peaks_and_beats_shuffled_pairs(dataset):
    matched = L.across_speaker_cka(dataset, "A", "B", unit="frame", debiased=True)
    assert L.diagonal_peak(matched)["layer"] == 1  # the content layer
    assert L.diagonal_peak(matched)["cka"] == pytest.approx(matched.loc[1, 1])
    shuffled = shuffled_diagonal(dataset, "A", "B", unit="frame", debiased=True)
    table = L.diagonal_table(matched, shuffled)
    null = shuffled.to_numpy()
    assert list(table.columns) == ["matched", "null_mean", "null_max", "p"]
    np.testing.assert_allclose(table[["null_mean", "null_max"]].T, [null.mean(0), null.max(0)])
    np.testing.assert_allclose(table["p"], (1 + (null >= np.diag(matched)).sum(axis=0)) / 120)
    assert table.loc[1, "p"] == pytest.approx(1 / 120)
    assert table.loc[3, "p"] > 0.05  # layer 3 has no content, so no gap


def test_diagonal_peak_block_table_and_mean_over_recordings_on_known_tables():
    m = pd.DataFrame([[0.2, 0.9], [0.1, 0.5]], index=[0, 1], columns=[0, 1])
    assert L.diagonal_peak(m).to_dict() == {"layer": 1, "cka": 0.5}
    for bad in (m.rename(columns={1: 2}), m * np.nan):
        with pytest.raises(ValueError):
            L.diagonal_peak(bad)
    m = pd.DataFrame([[1.0, 0.9, 0.2], [0.9, 1.0, 0.4], [0.2, 0.4, 1.0]])
    table = L.block_table(m, {"low": [0, 1], "high": [2]})
    assert list(zip(table.block_a, table.block_b, strict=True)) == [
        ("low", "low"),
        ("low", "high"),
        ("high", "high"),
    ]
    np.testing.assert_allclose(table["mean"], [0.9, 0.3, np.nan])
    np.testing.assert_allclose(table["min"], [0.9, 0.2, np.nan])
    table = L.mean_over_recordings(np.stack([np.eye(2), np.ones((2, 2))]), [3, 5])
    np.testing.assert_allclose(table, [[1.0, 0.5], [0.5, 1.0]])
    assert list(table.index) == [3, 5] and table.index.name == "layer"
