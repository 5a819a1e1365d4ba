"""Null baselines: circular shift, mismatched recording, derangements, shuffled pairing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import nulls as N
from tutorial_utils import stats as S
from tutorial_utils import targets as T
from tutorial_utils.cka import feature_space_linear_cka
from tutorial_utils.layers import common_length, resample_frames
from tutorial_utils.sentences import sentence_means

N_LAYERS = 4  # layers of the content_speakers fixture


@pytest.fixture(scope="module")
def ds(two_speakers):
    return two_speakers


def test_circular_shift_keeps_rows_and_moves_far():
    x = np.arange(40.0)[:, None]
    rng = np.random.default_rng(3)
    for _ in range(50):
        shifted, offset = N.circular_shift(x, rng, min_fraction=0.2)
        assert 8 <= offset <= 32
        np.testing.assert_array_equal(shifted, np.roll(x, offset, axis=0))
    with pytest.raises(ValueError):
        N.circular_shift(x, rng, min_fraction=0.0)


def test_circular_shift_null_is_seeded_and_lower(ds, observed):
    null = N.circular_shift_null(ds, "mfcc", n_repeats=3, seed=1)
    again = N.circular_shift_null(ds, "mfcc", n_repeats=3, seed=1)
    pd.testing.assert_frame_equal(null, again)
    assert len(null) == 7 * 3 * 3
    assert {"baseline", "repeat", "offset"} <= set(null.columns)
    gap = S.null_gap(observed[observed["target"] == "MFCC"], null)
    assert gap.loc[gap["layer"] == 0, "gap"].item() > 0.3
    np.testing.assert_allclose(gap["gap"], gap["observed"] - gap["null"])


def _shared_offset(observed, shifted):
    """The one roll that maps every observed target onto its shifted copy, else None."""
    n = len(observed["mfcc"])
    for offset in range(n):
        if all(np.array_equal(np.roll(observed[k], offset, axis=0), shifted[k]) for k in observed):
            return offset
    return None


def test_shifted_recordings_roll_all_targets_of_a_recording_by_one_far_offset(ds):
    recordings = N.shifted_recordings(ds, n_shifts=2, seed=4)
    expected = [(p, f) for p in ds.participants for f in ds.filenames(p, with_hidden_states=True)]
    assert [r["filename"] for r in recordings] == [f for _, f in expected]
    offsets = []
    for (participant, filename), rec in zip(expected, recordings, strict=True):
        layers, observed = T.aligned_recording(ds, participant, filename)
        assert list(rec["versions"]) == ["observed", "shift 1", "shift 2"]
        for layer, x in layers.items():
            np.testing.assert_array_equal(rec["layers"][layer], x)
        for key, values in observed.items():
            np.testing.assert_array_equal(rec["versions"]["observed"][key], values)
        n, margin = len(observed["ema"]), math.ceil(0.1 * len(observed["ema"]))
        for version in ("shift 1", "shift 2"):
            offset = _shared_offset(observed, rec["versions"][version])
            assert offset is not None and margin <= offset <= n - margin
            offsets.append(offset)
    assert len(set(offsets)) > 1  # drawn, not fixed
    again = N.shifted_recordings(ds, n_shifts=2, seed=4)
    for a, b in zip(recordings, again, strict=True):
        for version, targets in a["versions"].items():
            for key, values in targets.items():
                np.testing.assert_array_equal(values, b["versions"][version][key])


def test_derangement_moves_everything():
    rng = np.random.default_rng(0)
    for n in (2, 3, 7):
        perm = N.derangement(n, rng)
        assert sorted(perm) == list(range(n)) and np.all(perm != np.arange(n))
    with pytest.raises(ValueError):
        N.derangement(1, rng)


def test_mismatched_null_pairs_other_recordings(ds):
    null = N.mismatched_null(ds, "ema", seed=2)
    assert (null["partner"] != null["filename"]).all()
    assert (null["partner"].str[0] == null["participant"]).all()
    assert len(null) == 7 * 3


def test_shuffled_pairing_null_uses_all_permutations():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    values = N.shuffled_pairing_null(x, y)
    assert values.shape == (23,)
    assert np.all((values >= 0) & (values <= 1))
    sampled = N.shuffled_pairing_null(x, y, n_permutations=10, seed=1)
    np.testing.assert_array_equal(sampled, N.shuffled_pairing_null(x, y, n_permutations=10, seed=1))


def test_derangements_enumerates_all_small_cases():
    perms = N.derangements(5)
    assert len(perms) == 44 == round(math.factorial(5) / math.e)
    assert len(set(perms)) == 44
    assert all(all(i != j for i, j in enumerate(p)) for p in perms)


def test_derangements_samples_large_cases_reproducibly():
    first = N.derangements(10, max_count=30, seed=3)
    assert first == N.derangements(10, max_count=30, seed=3)
    assert len(set(first)) == 30
    assert all(sorted(p) == list(range(10)) for p in first)
    assert all(all(i != j for i, j in enumerate(p)) for p in first)


def test_derangements_draw_with_derangement():
    """The sampled derangements are the distinct draws of the one random derangement."""
    rng = np.random.default_rng(3)
    draws: dict[tuple[int, ...], None] = {}
    while len(draws) < 30:
        draws.setdefault(tuple(int(i) for i in N.derangement(10, rng)), None)
    assert N.derangements(10, max_count=30, seed=3) == list(draws)


@pytest.mark.parametrize("debiased", [False, True])
def test_shuffled_sentence_diagonal_is_cka_of_every_reordered_pairing(content_speakers, debiased):
    dataset = content_speakers
    shuffled = N.shuffled_diagonal(dataset, "A", "B", unit="sentence", debiased=debiased)
    pairs = dataset.shared_sentences("A", "B")
    for layer in (0, 2):
        x = sentence_means(dataset, "A", layer, pairs.FILENAME_A)
        y = sentence_means(dataset, "B", layer, pairs.FILENAME_B)
        expected = [
            feature_space_linear_cka(x, y[list(perm)], debiased=debiased)
            for perm in N.derangements(5)
        ]
        np.testing.assert_allclose(shuffled[layer], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("unit", ["sentence", "frame"])
def test_shuffled_diagonal_uses_mismatched_pairs(content_speakers, unit):
    dataset = content_speakers
    shuffled = N.shuffled_diagonal(dataset, "A", "B", unit=unit, debiased=True)
    assert shuffled.shape == (44, N_LAYERS)
    # Recompute one shuffled pairing directly.
    perm = N.derangements(5)[7]
    pairs = dataset.shared_sentences("A", "B")
    files_b = list(pairs.FILENAME_B.iloc[list(perm)])
    if unit == "sentence":
        x = sentence_means(dataset, "A", 2, pairs.FILENAME_A)
        y = sentence_means(dataset, "B", 2, files_b)
        expected = feature_space_linear_cka(x, y, debiased=True)
    else:
        n = common_length(dataset, pairs, "A", "B")
        expected = np.mean(
            [
                feature_space_linear_cka(
                    resample_frames(dataset.hidden_state("A", 2, fa), n),
                    resample_frames(dataset.hidden_state("B", 2, fb), n),
                    debiased=True,
                )
                for fa, fb in zip(pairs.FILENAME_A, files_b, strict=True)
            ]
        )
    assert shuffled.loc[7, 2] == pytest.approx(expected, abs=1e-10)
