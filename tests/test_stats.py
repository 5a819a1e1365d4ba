"""Means and confidence intervals over recordings, against the textbook formulas."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tutorial_utils import stats as S


def _t_interval(values, level):  # mean ± t quantile × s / √n
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return v.mean(), v.mean() - half, v.mean() + half


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_t_interval_is_the_formula_and_the_errorbar(level):
    values = [0.2, 0.4, 0.35, 0.5, np.nan]
    assert S.confidence_interval(values, level) == pytest.approx(_t_interval(values[:4], level))
    assert S.errorbar(level)(values) == pytest.approx(_t_interval(values[:4], level)[1:])


def test_bootstrap_interval_is_seeded_and_the_percentiles_of_resampled_means():
    values = np.random.default_rng(0).normal(size=30)
    first = S.confidence_interval(values, method="bootstrap", seed=4)
    assert first == S.confidence_interval(values, method="bootstrap", seed=4)
    means = np.random.default_rng(1).choice(values, (20000, values.size)).mean(axis=1)
    assert first[1:] == pytest.approx(np.percentile(means, [2.5, 97.5]), abs=0.03)


def test_one_value_or_no_spread_gives_no_interval_and_unknown_methods_are_rejected():
    for values in ([0.3, np.nan], [0.3, 0.3]):
        assert S.confidence_interval(values) == pytest.approx((0.3, np.nan, np.nan), nan_ok=True)
    with pytest.raises(ValueError, match="method"):
        S.confidence_interval([1.0, 2.0], method="normal")
    with pytest.raises(ValueError, match="method"):
        S.errorbar(method="normal")


def test_summarise_is_the_interval_per_group():
    values = np.random.default_rng(2).uniform(size=12)
    table = pd.DataFrame({"target": ["EMA", "MFCC"] * 6, "layer": [0, 1] * 3 + [1, 0] * 3})
    table["value"] = values
    summary = S.summarise(table)
    assert list(summary.columns) == ["target", "layer", "mean", "low", "high", "n"]
    for row in summary.itertuples():
        group = table.query("target == @row.target and layer == @row.layer")["value"]
        assert (row.mean, row.low, row.high) == pytest.approx(_t_interval(group, 0.95))
        assert row.n == 3


def test_peak_layers_is_a_bootstrap_of_the_argmax_over_recordings():
    rng = np.random.default_rng(3)
    profile = np.array([0.1, 0.5, 0.49, 0.2])  # layers 1 and 2 tie within noise, 0 and 3 far
    scores = profile + rng.normal(scale=0.05, size=(12, 4))
    table = pd.DataFrame(
        [(f"r{i:02d}", layer, scores[i, layer]) for i in range(12) for layer in range(4)],
        columns=["filename", "layer", "value"],
    )
    peaks = S.peak_layers(table, n_resamples=500, seed=1).set_index("layer")
    assert peaks["mean"].to_numpy() == pytest.approx(scores.mean(axis=0))
    draws = np.random.default_rng(1).integers(0, 12, size=(500, 12))  # the same resamples
    means = scores[draws].mean(axis=1)
    assert peaks["low"].to_numpy() == pytest.approx(np.quantile(means, 0.025, axis=0))
    assert peaks["p_peak"].to_numpy() == pytest.approx(np.bincount(means.argmax(1), None, 4) / 500)
    assert peaks["near_peak"].tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="one finite value"):
        S.peak_layers(table.drop(index=0))
