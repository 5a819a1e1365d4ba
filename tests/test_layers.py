"""Tests of tutorial_utils.layers against direct CKA computations on a tiny dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tutorial_utils.cka import cka_matrix, feature_space_linear_cka
from tutorial_utils.dataset import Dataset
from tutorial_utils.layers import (
    across_speaker_cka,
    block_table,
    common_length,
    diagonal,
    diagonal_peak,
    diagonal_table,
    mean_over_recordings,
    per_recording_layer_cka,
    resample_frames,
    within_speaker_cka,
)
from tutorial_utils.nulls import shuffled_diagonal
from tutorial_utils.sentences import sentence_means

N_LAYERS = 4  # layers of the content_speakers fixture (conftest.py)


@pytest.fixture(scope="module")
def dataset(content_speakers) -> Dataset:
    return content_speakers


# --------------------------------------------------------------------------- building blocks


def test_resample_keeps_identity_endpoints_and_lines():
    x = np.random.default_rng(0).standard_normal((7, 3))
    np.testing.assert_allclose(resample_frames(x, 7), x)
    y = resample_frames(x, 4)
    np.testing.assert_allclose(y[[0, -1]], x[[0, -1]])
    ramp = np.arange(10.0)[:, None] * np.array([[1.0, -2.0]])
    np.testing.assert_allclose(resample_frames(ramp, 19), np.linspace(0, 9, 19)[:, None] * [1, -2])


def test_resample_rejects_bad_input():
    with pytest.raises(ValueError):
        resample_frames(np.zeros((1, 3)), 5)
    with pytest.raises(ValueError):
        resample_frames(np.zeros((4, 3)), 1)


def test_resample_is_linear_interpolation_in_time():
    """The spline gives the numbers of plain linear interpolation (the chapter's printed values)."""
    x = np.random.default_rng(1).standard_normal((13, 5))
    positions = np.linspace(0.0, 12.0, 8)
    expected = np.stack([np.interp(positions, np.arange(13), column) for column in x.T], axis=1)
    np.testing.assert_allclose(resample_frames(x, 8), expected, rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- within a speaker


@pytest.mark.parametrize("debiased", [False, True])
def test_within_sentence_matches_cka_matrix(dataset, debiased):
    table = within_speaker_cka(dataset, "A", unit="sentence", debiased=debiased)
    means = [sentence_means(dataset, "A", layer) for layer in range(N_LAYERS)]
    np.testing.assert_allclose(table.to_numpy(), cka_matrix(means, debiased=debiased), atol=1e-12)
    assert table.index.name == table.columns.name == "layer"


@pytest.mark.parametrize("debiased", [False, True])
def test_within_frames_is_the_mean_of_per_recording_matrices(dataset, debiased):
    table = within_speaker_cka(dataset, "A", unit="frame", debiased=debiased)
    expected = np.mean(
        [
            cka_matrix(
                [dataset.hidden_state("A", layer, f) for layer in range(N_LAYERS)],
                debiased=debiased,
            )
            for f in dataset.filenames("A")
        ],
        axis=0,
    )
    np.testing.assert_allclose(table.to_numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(np.diag(table), 1.0)
    np.testing.assert_allclose(table.to_numpy(), table.to_numpy().T, atol=1e-12)


def test_per_recording_stack_shape(dataset):
    stack = per_recording_layer_cka(dataset, "B", filenames=dataset.filenames("B")[:2])
    assert stack.shape == (2, N_LAYERS, N_LAYERS)


def test_unknown_unit_is_rejected(dataset):
    with pytest.raises(ValueError, match="unit"):
        within_speaker_cka(dataset, "A", unit="word")


# --------------------------------------------------------------------------- across speakers


def test_common_length_is_the_shortest_paired_recording(dataset):
    pairs = dataset.shared_sentences("A", "B")
    assert len(pairs) == 5
    assert common_length(dataset, pairs, "A", "B") == 25


@pytest.mark.parametrize("debiased", [False, True])
def test_across_sentence_pairs_by_sentence_id(dataset, debiased):
    table = across_speaker_cka(dataset, "A", "B", unit="sentence", debiased=debiased)
    pairs = dataset.shared_sentences("A", "B")
    for la, lb in [(0, 0), (1, 2), (3, 1)]:
        x = sentence_means(dataset, "A", la, pairs.FILENAME_A)
        y = sentence_means(dataset, "B", lb, pairs.FILENAME_B)
        assert table.loc[la, lb] == pytest.approx(
            feature_space_linear_cka(x, y, debiased=debiased), abs=1e-10
        )
    assert table.index.name == "layer_A" and table.columns.name == "layer_B"


@pytest.mark.parametrize("debiased", [False, True])
def test_across_frames_resamples_then_averages(dataset, debiased):
    table = across_speaker_cka(dataset, "A", "B", unit="frame", debiased=debiased, n_frames=20)
    pairs = dataset.shared_sentences("A", "B")
    for la, lb in [(1, 1), (0, 2)]:
        values = [
            feature_space_linear_cka(
                resample_frames(dataset.hidden_state("A", la, fa), 20),
                resample_frames(dataset.hidden_state("B", lb, fb), 20),
                debiased=debiased,
            )
            for fa, fb in zip(pairs.FILENAME_A, pairs.FILENAME_B, strict=True)
        ]
        assert table.loc[la, lb] == pytest.approx(np.mean(values), abs=1e-10)


def test_content_layer_is_the_across_speaker_peak(dataset):
    table = across_speaker_cka(dataset, "A", "B", unit="frame")
    peak = diagonal_peak(table)
    assert peak["layer"] == 1
    assert peak["cka"] == pytest.approx(table.loc[1, 1])


def test_matched_content_beats_shuffled_pairs(dataset):
    matched = across_speaker_cka(dataset, "A", "B", unit="frame", debiased=True)
    shuffled = shuffled_diagonal(dataset, "A", "B", unit="frame", debiased=True)
    table = diagonal_table(matched, shuffled)
    assert list(table.columns) == [
        "matched",
        "shuffled_mean",
        "shuffled_max",
        "shuffled_sd",
        "gap",
        "gap_sd",
        "p",
    ]
    null = shuffled.to_numpy()
    sd = np.sqrt(((null - null.mean(axis=0)) ** 2).sum(axis=0) / (len(null) - 1))
    np.testing.assert_allclose(table["shuffled_sd"], sd)
    np.testing.assert_allclose(table["gap_sd"], (np.diag(matched) - null.mean(axis=0)) / sd)
    assert table.loc[1, "gap"] > 0.2
    assert table.loc[1, "p"] == pytest.approx(1 / 45)
    assert table.loc[3, "p"] > 0.05  # layer 3 has no content, so no gap


# --------------------------------------------------------------------------- reading out


def test_diagonal_and_peak():
    m = pd.DataFrame([[0.2, 0.9], [0.1, 0.5]], index=[0, 1], columns=[0, 1])
    np.testing.assert_allclose(diagonal(m), [0.2, 0.5])
    assert diagonal_peak(m)["layer"] == 1
    with pytest.raises(ValueError):
        diagonal(m.rename(columns={1: 2}))
    with pytest.raises(ValueError):
        diagonal_peak(m * np.nan)


def test_block_table_means_and_minima():
    m = pd.DataFrame(
        [[1.0, 0.9, 0.2], [0.9, 1.0, 0.4], [0.2, 0.4, 1.0]], index=[0, 1, 2], columns=[0, 1, 2]
    )
    table = block_table(m, {"low": [0, 1], "high": [2]})
    assert list(table.block_a) == ["low", "low", "high"]
    assert list(table.block_b) == ["low", "high", "high"]
    np.testing.assert_allclose(table["mean"], [0.9, 0.3, np.nan])
    np.testing.assert_allclose(table["min"], [0.9, 0.2, np.nan])


def test_mean_over_recordings_labels_layers():
    stack = np.stack([np.eye(2), np.ones((2, 2))])
    table = mean_over_recordings(stack, [3, 5])
    np.testing.assert_allclose(table.to_numpy(), [[1.0, 0.5], [0.5, 1.0]])
    assert list(table.index) == [3, 5] and table.index.name == "layer"
