"""Agreement between measures: profiles, rank correlations, top layers and chapter 02's claims,
checked against explicit loops, scipy's Spearman and profiles built to make each claim hold
or fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tutorial_utils import agreement as A

LAYERS = list(range(6))
# Gap profiles (layers 0-5) built so that each measure passes or fails chosen claims.
PROFILES = {
    ("good", "MFCC"): [0.9, 0.8, 0.7, 0.6, 0.2, 0.1],
    ("good", "EMA"): [0.5, 0.6, 0.4, 0.3, 0.1, 0.0],
    ("EMA wins", "MFCC"): [0.3, 0.3, 0.3, 0.3, 0.1, 0.1],
    ("EMA wins", "EMA"): [0.6, 0.7, 0.8, 0.9, 0.2, 0.0],
    ("late high", "MFCC"): [0.9, 0.8, 0.7, 0.6, 0.95, 0.1],
    ("late high", "EMA"): [0.5, 0.6, 0.4, 0.3, 0.1, 0.0],
}
MEASURES = ["good", "EMA wins", "late high"]


@pytest.fixture
def gaps():
    rng = np.random.default_rng(0)
    rows = [
        {"measure": m, "target": t, "layer": layer, "observed": g + 0.2, "null": 0.2, "gap": g}
        for (m, t), values in PROFILES.items()
        for layer, g in zip(LAYERS, values, strict=True)
    ]
    return pd.DataFrame(rows).sample(frac=1, random_state=rng.integers(1000))  # any row order


def _profiles(gaps):
    return A.layer_profiles(gaps, MEASURES, ["MFCC", "EMA"])


def test_layer_profiles_are_the_gaps_by_layer_and_measure_in_order(gaps):
    profiles = A.layer_profiles(gaps, MEASURES[::-1], ["MFCC", "EMA"])
    assert list(profiles) == ["MFCC", "EMA"]
    for target, table in profiles.items():
        assert list(table.columns) == MEASURES[::-1] and list(table.index) == LAYERS
        for measure in MEASURES:
            np.testing.assert_array_equal(table[measure], PROFILES[measure, target])


def test_rescaled_gaps_run_from_0_to_1_per_measure_and_target(gaps):
    rescaled = A.rescaled_gaps(gaps)
    for (measure, target), part in gaps.groupby(["measure", "target"]):
        values = np.array(PROFILES[measure, target])
        expected = (values - values.min()) / (values.max() - values.min())
        np.testing.assert_allclose(rescaled.loc[part.sort_values("layer").index], expected)


def test_rank_agreement_and_top_layers_are_spearman_and_argmax(gaps):
    rho, tops = A.rank_agreement(_profiles(gaps)), A.top_layers(_profiles(gaps))
    for target in ("MFCC", "EMA"):
        for a in MEASURES:
            assert tops.loc[a, target] == int(np.argmax(PROFILES[a, target]))
            for b in MEASURES:
                expected = spearmanr(PROFILES[a, target], PROFILES[b, target]).statistic
                assert rho[target].loc[a, b] == pytest.approx(expected)


def test_chapter02_claims_hold_and_fail_where_the_profiles_were_built_to(gaps):
    expected = pd.DataFrame(
        {
            "MFCC gap > EMA gap at most layers": [True, False, True],
            "layers 4–5 lowest (MFCC)": [True, True, False],
            "layers 4–5 lowest (EMA)": [True, True, True],
        },
        index=pd.Index(MEASURES, name="measure"),
    )
    pd.testing.assert_frame_equal(A.chapter02_claims(_profiles(gaps)), expected)


def test_summary_states_the_tables(gaps):
    lines = A.summary(_profiles(gaps), A.chapter02_claims(_profiles(gaps)))
    rho = A.rank_agreement(_profiles(gaps))["EMA"]
    pairs = [rho.loc[a, b] for i, a in enumerate(MEASURES) for b in MEASURES[i + 1 :]]
    assert lines[1].startswith(f"EMA: the 3 pairs of measures have ρ from {min(pairs):.2f}")
    assert f"median {np.median(pairs):.2f}" in lines[1]
    assert lines[0].endswith("their top layers range over 0–4 (layer 0 for 2 of 3).")
    assert lines[2] == "- 'MFCC gap > EMA gap at most layers' holds for 2 of 3 measures " + (
        "(not for: EMA wins)."
    )
    assert lines[4] == "- 'layers 4–5 lowest (EMA)' holds for all 3 measures."
    table = pd.DataFrame({"a": [0.1, 0.9, 0.2], "b": [0.3, 0.5, 0.4]})
    profiles = {"MFCC": table, "EMA": table}
    assert A.summary(profiles, A.chapter02_claims(profiles))[0] == (
        "MFCC: the 1 pairs of measures have ρ from 1.00 (a vs b) to 1.00, median 1.00; "
        "all 2 measures put their top layer at 1."
    )


def test_gap_statistics_are_over_layers_per_measure(gaps):
    table = A.gap_statistics(gaps, "EMA", MEASURES[::-1])
    assert list(table.index) == MEASURES[::-1]
    for measure in MEASURES:
        values = np.array(PROFILES[measure, "EMA"])
        expected = [values.mean() + 0.2, values.std(ddof=1), 0.2, 0, values.min(), values.max()]
        assert table.loc[measure].tolist() == pytest.approx(expected)


def test_score_row_puts_extra_columns_before_the_value():
    row = A.score_row(3, "EMA", "shift 1", "CKA", np.float32(0.25), filename="r.mat")
    assert list(row) == ["layer", "target", "version", "measure", "filename", "value"]
    assert row["value"] == 0.25 and type(row["value"]) is float


def test_planted_recovery_is_spearman_with_the_planted_weights(gaps):
    planted = pd.DataFrame(
        {"articulatory": [0.1, 0.3, 0.2, 0.6, 0.5, 0.4], "acoustic": [6, 5, 4, 3, 2, 1]},
        index=pd.Index(LAYERS, name="layer"),
    )
    recovery = A.planted_recovery(gaps, MEASURES, planted)
    assert list(recovery.index) == MEASURES
    for m in MEASURES:
        ema, mfcc = PROFILES[m, "EMA"], PROFILES[m, "MFCC"]
        expected = [
            spearmanr(ema, planted["articulatory"]).statistic,
            spearmanr([g + 0.2 for g in ema], planted["articulatory"]).statistic,
            spearmanr(mfcc, planted["acoustic"]).statistic,
        ]
        assert recovery.loc[m].tolist() == pytest.approx(expected)
    best = recovery["EMA gap vs articulatory"].idxmax()
    assert A.recovery_sentence(recovery).startswith(
        f"The planted articulatory profile is followed most closely by the gap of {best} "
    )
