"""Means and confidence intervals over recordings."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tutorial_utils import recordings as R
from tutorial_utils import stats as S


def test_t_interval_matches_scipy():
    values = [0.2, 0.4, 0.35, 0.5]
    mean, low, high = S.confidence_interval(values)
    expected = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(expected)


def test_bootstrap_interval_is_seeded():
    values = np.random.default_rng(0).normal(size=12)
    first = S.confidence_interval(values, method="bootstrap", seed=4)
    assert first == S.confidence_interval(values, method="bootstrap", seed=4)
    assert first[1] < first[0] < first[2]


def test_interval_of_one_value_is_nan():
    mean, low, high = S.confidence_interval([0.3, np.nan])
    assert mean == 0.3 and np.isnan(low) and np.isnan(high)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        S.confidence_interval([1.0, 2.0], method="normal")
    with pytest.raises(ValueError, match="method"):
        S.errorbar(method="normal")


def test_errorbar_is_the_confidence_interval():
    values = [0.2, 0.4, 0.35, 0.5]
    _, low, high = S.confidence_interval(values, 0.9)
    assert S.errorbar(0.9)(values) == (low, high)


def test_summarise_groups(two_speakers):
    observed = R.layer_target_cka(two_speakers, ("mfcc", "ema"))
    summary = S.summarise(observed)
    assert list(summary.columns) == ["target", "layer", "mean", "low", "high", "n"]
    assert len(summary) == 6 and (summary["n"] == 7).all()
    inside = summary.dropna()
    assert ((inside["low"] <= inside["mean"]) & (inside["mean"] <= inside["high"])).all()


def test_null_gap_is_observed_minus_null():
    observed = pd.DataFrame({"target": ["EMA"] * 4, "layer": [0, 0, 1, 1], "value": [1, 3, 2, 2]})
    null = observed.assign(value=[0.5, 0.5, 1.0, 3.0])
    gap = S.null_gap(observed, null)
    assert gap["observed"].tolist() == [2.0, 2.0] and gap["null"].tolist() == [0.5, 2.0]
    assert gap["gap"].tolist() == [1.5, 0.0]
