"""Null baselines against CKA of the broken pairing computed directly."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import nulls as N
from tutorial_utils import targets as T
from tutorial_utils.cka import feature_space_linear_cka
from tutorial_utils.layers import common_length, resample_frames
from tutorial_utils.sentences import sentence_means


@pytest.fixture(scope="module")
def ds(two_speakers):
    return two_speakers


def test_circular_shift_rolls_far():
    x = np.arange(40.0)[:, None]
    rng = np.random.default_rng(3)
    for _ in range(50):
        shifted, offset = N.circular_shift(x, rng, min_fraction=0.2)
        assert 8 <= offset <= 32
        np.testing.assert_array_equal(shifted, np.roll(x, offset, axis=0))
    with pytest.raises(ValueError):
        N.circular_shift(x, rng, min_fraction=0.0)


def test_circular_shift_null_is_cka_with_the_rolled_target_seeded_and_lower(ds, observed):
    null = N.circular_shift_null(ds, "mfcc", n_repeats=3, seed=1)
    pd.testing.assert_frame_equal(null, N.circular_shift_null(ds, "mfcc", n_repeats=3, seed=1))
    assert len(null) == 7 * 3 * 3 and {"baseline", "repeat", "offset"} <= set(null.columns)
    row = null.iloc[-1]
    states, targets = T.aligned_recording(ds, row.participant, row.filename, "mfcc")
    rolled = np.roll(targets["mfcc"], row.offset, axis=0)
    assert row.value == pytest.approx(feature_space_linear_cka(states[row.layer], rolled))
    mfcc = observed[observed["target"] == "MFCC"].groupby("layer")["value"].mean()
    assert mfcc[0] - null.groupby("layer")["value"].mean()[0] > 0.3  # the gap above the null


def test_shifted_recordings_roll_all_targets_of_a_recording_by_one_far_offset(ds):
    recordings = N.shifted_recordings(ds, n_shifts=2, seed=4)
    expected = [(p, f) for p in ds.participants for f in ds.filenames(p, with_hidden_states=True)]
    assert [r["filename"] for r in recordings] == [f for _, f in expected]
    offsets = []
    for (participant, filename), rec in zip(expected, recordings, strict=True):
        layers, observed = T.aligned_recording(ds, participant, filename)
        assert list(rec["versions"]) == ["observed", "shift 1", "shift 2"]
        np.testing.assert_equal(rec["layers"], layers)
        n = len(observed["ema"])
        for version, shifted in rec["versions"].items():
            rolls = (np.roll(observed["ema"], o, axis=0) for o in range(n))
            offset = next(o for o, r in enumerate(rolls) if np.array_equal(r, shifted["ema"]))
            np.testing.assert_array_equal(
                np.roll(observed["mfcc"], offset, axis=0), shifted["mfcc"]
            )
            margin = 0 if version == "observed" else math.ceil(0.1 * n)
            assert margin <= offset <= n - margin and (offset == 0) == (version == "observed")
            offsets.append(offset)
    assert len(set(offsets)) > 2  # drawn, not fixed
    np.testing.assert_equal(N.shifted_recordings(ds, n_shifts=2, seed=4), recordings)


def test_pairings_are_every_other_order_or_distinct_seeded_draws():
    for too_few in (lambda: N.pairings(1), lambda: N.derangement(1, np.random.default_rng(0))):
        with pytest.raises(ValueError):
            too_few()
    every = set(itertools.permutations(range(5))) - {(0, 1, 2, 3, 4)}
    assert len(N.pairings(5)) == 119 and set(N.pairings(5)) == every
    sampled = N.pairings(10, max_count=30, seed=3)
    assert sampled == N.pairings(10, max_count=30, seed=3) != N.pairings(10, max_count=30)
    assert len(set(sampled)) == 30 and tuple(range(10)) not in sampled
    assert all(sorted(p) == list(range(10)) for p in sampled)


def test_mismatched_null_is_cka_with_another_recordings_targets(ds):
    null = N.mismatched_null(ds, "ema", seed=2)
    assert len(null) == 7 * 3 and (null["partner"] != null["filename"]).all()
    assert (null["partner"].str[0] == null["participant"]).all()
    row = null.iloc[0]
    states, _ = T.aligned_recording(ds, row.participant, row.filename, "ema")
    _, targets = T.aligned_recording(ds, row.participant, row.partner, "ema")
    n = min(len(states[0]), len(targets["ema"]))
    expected = feature_space_linear_cka(states[row.layer][:n], targets["ema"][:n])
    assert row.value == pytest.approx(expected)


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("unit", ["sentence", "frame"])
def test_shuffled_diagonal_is_cka_of_every_reordered_pairing(content_speakers, unit, debiased):
    dataset = content_speakers
    shuffled = N.shuffled_diagonal(dataset, "A", "B", unit=unit, debiased=debiased)
    perms = N.pairings(5)
    assert shuffled.shape == (119, 4)
    pairs = dataset.shared_sentences("A", "B")
    n = common_length(dataset, pairs, "A", "B")
    for layer, shuffle in [(0, 0), (2, 7), (1, 118)]:
        files_b = list(pairs.FILENAME_B.iloc[list(perms[shuffle])])
        if unit == "sentence":
            x = sentence_means(dataset, "A", layer, pairs.FILENAME_A)
            expected = feature_space_linear_cka(
                x, sentence_means(dataset, "B", layer, files_b), debiased=debiased
            )
        else:
            expected = np.mean(
                [
                    feature_space_linear_cka(
                        resample_frames(dataset.hidden_state("A", layer, fa), n),
                        resample_frames(dataset.hidden_state("B", layer, fb), n),
                        debiased=debiased,
                    )
                    for fa, fb in zip(pairs.FILENAME_A, files_b, strict=True)
                ]
            )
        assert shuffled.loc[shuffle, layer] == pytest.approx(expected, abs=1e-10)
