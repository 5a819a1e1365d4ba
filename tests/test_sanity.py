"""Tests of tutorial_utils.sanity: noise bias, invariances and planted-profile recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tutorial_utils.sanity import (
    expected_noise_cka,
    invariance_table,
    noise_cka,
    noise_summary,
    planted_profile,
    profile_recovery,
    source_profile,
)

# --------------------------------------------------------------------------- noise vs d/n


@pytest.fixture(scope="module")
def noise() -> pd.DataFrame:
    return noise_cka(n_stimuli=(5, 20, 100), n_features=(12, 768), n_repeats=8, seed=1)


def test_noise_table_is_tidy(noise):
    assert len(noise) == 3 * 2 * 2
    assert set(noise.estimator) == {"biased", "debiased"}
    assert {"n_stimuli", "n_features", "ratio", "mean", "std", "q05", "q95", "expected"} <= set(
        noise.columns
    )
    np.testing.assert_allclose(noise.ratio, noise.n_features / noise.n_stimuli)


def test_noise_is_reproducible_per_cell():
    small = noise_cka(n_stimuli=(20,), n_features=(12,), n_repeats=5, seed=4)
    big = noise_cka(n_stimuli=(5, 20), n_features=(12, 30), n_repeats=5, seed=4)
    cell = big[(big.n_stimuli == 20) & (big.n_features == 12)].reset_index(drop=True)
    pd.testing.assert_frame_equal(small, cell)


def test_biased_noise_cka_rises_with_ratio_and_matches_theory(noise):
    biased = noise[noise.estimator == "biased"].sort_values("ratio")
    assert biased["mean"].is_monotonic_increasing
    np.testing.assert_allclose(biased["mean"], biased["expected"], atol=0.06)
    worst = biased.iloc[-1]
    assert worst.n_stimuli == 5 and worst.n_features == 768 and worst["mean"] > 0.98


def test_debiased_noise_cka_stays_near_zero(noise):
    debiased = noise[noise.estimator == "debiased"]
    assert np.all(np.abs(debiased["mean"]) < 3 * debiased["std"] / np.sqrt(8) + 0.02)
    assert np.all(debiased["expected"] == 0)


def test_expected_noise_cka_formula():
    assert expected_noise_cka(5, 768) == pytest.approx(768 / 773)
    assert expected_noise_cka(100, 100) == pytest.approx(0.5)


def test_noise_needs_four_stimuli():
    with pytest.raises(ValueError, match="4 stimuli"):
        noise_cka(n_stimuli=(3,), n_features=(5,))


# --------------------------------------------------------------------------- invariances


def test_the_rotation_is_scipys_haar_orthogonal_matrix_seeded():
    # invariance_table rotates with scipy.stats.ortho_group, seeded like this.
    q = stats.ortho_group.rvs(7, random_state=np.random.default_rng(2))
    np.testing.assert_allclose(q @ q.T, np.eye(7), atol=1e-12)
    np.testing.assert_array_equal(
        q, stats.ortho_group.rvs(7, random_state=np.random.default_rng(2))
    )
    # It is the QR recipe the tutorial used before, so the printed numbers did not change.
    z = np.random.default_rng(2).standard_normal((7, 7))
    qr_q, qr_r = np.linalg.qr(z)
    np.testing.assert_allclose(q, qr_q * np.sign(np.diag(qr_r)), atol=1e-12)


@pytest.fixture(scope="module")
def invariances() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 10))
    y = x[:, :4] @ rng.standard_normal((4, 3)) + 0.5 * rng.standard_normal((60, 3))
    return invariance_table(x, y, seed=0)


def test_invariant_transforms_leave_cka_unchanged(invariances):
    kept = invariances[invariances.invariant]
    assert len(kept) == 3
    np.testing.assert_allclose(kept.change, 0.0, atol=1e-10)
    np.testing.assert_allclose(kept.cka_with_original, 1.0, atol=1e-10)


def test_general_maps_change_cka(invariances):
    changed = invariances[~invariances.invariant]
    assert "general invertible linear map" in changed.index
    assert np.all(np.abs(changed.change) > 1e-3)
    assert np.all(changed.cka_with_original < 0.999)


def test_invariance_table_columns(invariances):
    assert list(invariances.columns) == [
        "invariant",
        "cka_before",
        "cka_after",
        "change",
        "cka_with_original",
    ]
    assert invariances.cka_before.nunique() == 1


# --------------------------------------------------------------------------- planted profile


def _planted_mixture(seed: int = 0):
    """Layers that mix two sources with known, opposite weight profiles."""
    rng = np.random.default_rng(seed)
    n = 400
    sources = {"a": rng.standard_normal((n, 5)), "b": rng.standard_normal((n, 3))}
    weights = pd.DataFrame({"a": np.linspace(1, 0, 6), "b": np.linspace(0, 1, 6)})
    weights.index.name = "layer"
    maps = {k: rng.standard_normal((v.shape[1], 40)) for k, v in sources.items()}
    layers = {
        layer: sum(weights.loc[layer, k] * sources[k] @ maps[k] for k in sources)
        + 0.3 * rng.standard_normal((n, 40))
        for layer in weights.index
    }
    return layers, sources, weights


def test_source_profile_recovers_a_planted_ordering():
    layers, sources, weights = _planted_mixture()
    profile = source_profile(layers, sources)
    assert list(profile.columns) == ["a", "b"] and profile.index.name == "layer"
    recovery = profile_recovery(profile, weights)
    assert recovery.loc["a", "spearman"] == pytest.approx(1.0)
    assert recovery.loc["b", "spearman"] == pytest.approx(1.0)
    assert recovery.loc["a", "peak_recovered"] == 0
    assert recovery.loc["b", "peak_recovered"] == 5


def test_profile_recovery_flags_a_reversed_profile():
    layers, sources, weights = _planted_mixture()
    profile = source_profile(layers, sources)
    recovery = profile_recovery(profile, weights.rename(columns={"a": "b", "b": "a"}))
    assert np.all(recovery.spearman < -0.9)


def test_profile_recovery_needs_shared_sources():
    with pytest.raises(ValueError):
        profile_recovery(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"y": [1.0, 2.0]}))


def test_planted_profile_refuses_real_data():
    class Real:
        source = "real"

    with pytest.raises(ValueError, match="sample"):
        planted_profile(Real())


def test_planted_profile_on_the_sample_follows_ground_truth():
    sample = pytest.importorskip("tutorial_utils.sample")
    from tutorial_utils import load_dataset

    try:
        dataset = load_dataset("sample")
    except FileNotFoundError as err:  # pragma: no cover - only while the sample is generated
        pytest.skip(str(err))
    profile = planted_profile(dataset)
    truth = sample.ground_truth()
    assert profile.shape == truth.shape
    recovery = profile_recovery(profile, truth)
    assert recovery.loc["content", "spearman"] > 0.5
    assert recovery.loc["acoustic", "spearman"] > 0.5


def test_noise_summary_puts_estimators_side_by_side(noise):
    summary = noise_summary(noise)
    assert summary.shape == (6, 6)
    assert summary.index.names == ["n_features", "n_stimuli"]
    row = summary.loc[(768, 5)]
    assert row["d/n"] == pytest.approx(153.6)
    assert row["biased mean"] > 0.98 and abs(row["debiased mean"]) < 0.5
