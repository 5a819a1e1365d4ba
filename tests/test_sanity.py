"""tutorial_utils.sanity: CKA of noise, invariances and planted-profile recovery."""

import numpy as np
import pandas as pd
import pytest

from tutorial_utils import load_dataset, sample
from tutorial_utils import sanity as S
from tutorial_utils.cka import feature_space_linear_cka


@pytest.fixture(scope="module")
def noise() -> pd.DataFrame:
    return S.noise_cka(n_stimuli=(5, 20, 100), n_features=(12, 768), n_repeats=8, seed=1)


def test_noise_cka_cells_are_seeded_alone_and_summarised_side_by_side(noise):
    assert len(noise) == 3 * 2 * 2 and set(noise.estimator) == {"biased", "debiased"}
    np.testing.assert_allclose(noise.ratio, noise.n_features / noise.n_stimuli)
    cell = noise[(noise.n_stimuli == 20) & (noise.n_features == 12)].reset_index(drop=True)
    alone = S.noise_cka(n_stimuli=(20,), n_features=(12,), n_repeats=8, seed=1)
    pd.testing.assert_frame_equal(alone, cell)
    rng = np.random.default_rng([1, 20, 12])
    pairs = [(rng.standard_normal((20, 12)), rng.standard_normal((20, 12))) for _ in range(8)]
    for row in cell.itertuples():
        values = [feature_space_linear_cka(x, y, row.estimator == "debiased") for x, y in pairs]
        assert (row.mean, row.std) == pytest.approx((np.mean(values), np.std(values, ddof=1)))
        assert (row.q05, row.q95) == pytest.approx(tuple(np.quantile(values, [0.05, 0.95])))
    summary = S.noise_summary(noise)
    assert summary.shape == (6, 6) and summary.index.names == ["n_features", "n_stimuli"]
    assert summary.loc[(768, 5), "d/n"] == pytest.approx(153.6)
    with pytest.raises(ValueError, match="4 stimuli"):
        S.noise_cka(n_stimuli=(3,), n_features=(5,))


def test_biased_noise_cka_follows_d_over_d_plus_n_and_debiased_stays_near_zero(noise):
    assert S.expected_noise_cka(5, 768) == pytest.approx(768 / 773)
    biased = noise[noise.estimator == "biased"].sort_values("ratio")
    assert biased["mean"].is_monotonic_increasing
    np.testing.assert_allclose(biased["mean"], biased["expected"], atol=0.06)
    assert biased.iloc[-1]["mean"] > 0.98
    debiased = noise[noise.estimator == "debiased"]
    assert np.all(np.abs(debiased["mean"]) < 3 * debiased["std"] / np.sqrt(8) + 0.02)
    assert np.all(debiased["expected"] == 0)


def test_invariance_table_separates_what_cka_ignores_from_what_it_sees():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 10))
    y = x[:, :4] @ rng.standard_normal((4, 3)) + 0.5 * rng.standard_normal((60, 3))
    table = S.invariance_table(x, y, seed=0)
    columns = ["invariant", "cka_before", "cka_after", "change", "cka_with_original"]
    assert list(table.columns) == columns and table.invariant.sum() == 3
    np.testing.assert_allclose(table.cka_before, feature_space_linear_cka(x, y), rtol=1e-12)
    kept, changed = table[table.invariant], table[~table.invariant]
    np.testing.assert_allclose(kept.change, 0.0, atol=1e-10)
    np.testing.assert_allclose(kept.cka_with_original, 1.0, atol=1e-10)
    assert "general invertible linear map" in changed.index
    assert np.all(np.abs(changed.change) > 1e-3) and np.all(changed.cka_with_original < 0.999)


def test_profile_recovery_is_the_rank_correlation_over_layers_and_the_peaks():
    layers = [3, 4, 5, 6]
    recovered = pd.DataFrame({"a": [0.9, 0.5, 0.2, 0.1], "b": [0.1, 0.4, 0.2, 0.3]}, index=layers)
    planted = pd.DataFrame({"b": [0.0, 1.0, 2.0, 3.0], "a": [3.0, 2.0, 1.0, 0.0]}, index=layers)
    table = S.profile_recovery(recovered.assign(c=1.0), planted)
    assert table.index.tolist() == ["b", "a"]  # the planted sources the recovered table has
    d = np.array([1, 4, 2, 3]) - np.array([1, 2, 3, 4])  # rank differences of "b"
    assert table.spearman.tolist() == pytest.approx([1 - 6 * np.sum(d**2) / (4 * 15), 1.0])
    assert table.peak_recovered.tolist() == [4, 3] and table.peak_planted.tolist() == [6, 3]
    with pytest.raises(ValueError):
        S.profile_recovery(recovered[["a"]], planted[["b"]])


def test_planted_profile_on_the_sample_follows_ground_truth():
    class Real:
        source = "real"

    with pytest.raises(ValueError, match="sample"):
        S.planted_profile(Real())
    profile = S.planted_profile(load_dataset("sample"))
    truth = sample.ground_truth()
    assert profile.shape == truth.shape and profile.index.name == "layer"
    recovery = S.profile_recovery(profile, truth)
    assert recovery.loc["content", "spearman"] > 0.5
    assert recovery.loc["acoustic", "spearman"] > 0.5
