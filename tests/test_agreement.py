"""Agreement between measures, against explicit loops, scipy's Spearman and gap profiles built
so that each of chapter 02's claims holds or fails."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tutorial_utils import agreement as A

LAYERS, MEASURES, TARGETS = list(range(6)), ["good", "EMA wins", "late high"], ["MFCC", "EMA"]
PROFILES = {
    ("good", "MFCC"): [0.9, 0.8, 0.7, 0.6, 0.2, 0.1],
    ("good", "EMA"): [0.5, 0.6, 0.4, 0.3, 0.1, 0.0],
    ("EMA wins", "MFCC"): [0.3, 0.3, 0.3, 0.3, 0.1, 0.1],
    ("EMA wins", "EMA"): [0.6, 0.7, 0.8, 0.9, 0.2, 0.0],
    ("late high", "MFCC"): [0.9, 0.8, 0.7, 0.6, 0.95, 0.1],
    ("late high", "EMA"): [0.5, 0.6, 0.4, 0.3, 0.1, 0.0],
}
NULL = np.array([0.3, 0.1, 0.4, 0.1, 0.5, 0.9])  # observed = gap + null, not a monotone map
GAPS = pd.DataFrame(
    [
        {"measure": m, "target": t, "layer": n, "observed": g + NULL[n], "null": NULL[n], "gap": g}
        for (m, t), values in PROFILES.items()
        for n, g in zip(LAYERS, values, strict=True)
    ]
).sample(frac=1, random_state=0)  # any row order


def test_profiles_rescaled_gaps_ranks_and_top_layers_against_loops():
    profiles = A.layer_profiles(GAPS, MEASURES[::-1], TARGETS)
    rho, tops, rescaled = A.rank_agreement(profiles), A.top_layers(profiles), A.rescaled_gaps(GAPS)
    assert list(profiles) == TARGETS
    for t in TARGETS:
        assert list(profiles[t].columns) == MEASURES[::-1] and list(profiles[t].index) == LAYERS
        for a in MEASURES:
            values = np.array(PROFILES[a, t])
            np.testing.assert_array_equal(profiles[t][a], values)
            order = GAPS.query("measure == @a and target == @t").sort_values("layer").index
            np.testing.assert_allclose(rescaled[order], (values - values.min()) / np.ptp(values))
            assert tops.loc[a, t] == np.argmax(values)
            for b in MEASURES:
                assert rho[t].loc[a, b] == pytest.approx(spearmanr(values, PROFILES[b, t])[0])


def test_claims_hold_and_fail_where_built_to_and_the_summary_states_them():
    profiles = A.layer_profiles(GAPS, MEASURES, TARGETS)
    claims = A.chapter02_claims(profiles)
    assert list(claims.index) == MEASURES  # columns: the statements, named in the summary
    assert claims.T.to_numpy().tolist() == [[1, 0, 1], [1, 1, 0], [1, 1, 1]]
    lines = A.summary(profiles, claims)
    rho = [
        spearmanr(PROFILES[a, "EMA"], PROFILES[b, "EMA"])[0] for a, b in combinations(MEASURES, 2)
    ]
    assert lines[1].startswith(f"EMA: the 3 pairs of measures have ρ from {min(rho):.2f}")
    assert f"median {np.median(rho):.2f}" in lines[1]
    assert lines[0].endswith("their top layers range over 0–4 (layer 0 for 2 of 3).")
    assert lines[2:] == [
        "- 'MFCC gap > EMA gap at most layers' holds for 2 of 3 measures (not for: EMA wins).",
        "- 'layers 4–5 lowest (MFCC)' holds for 2 of 3 measures (not for: late high).",
        "- 'layers 4–5 lowest (EMA)' holds for all 3 measures.",
    ]
    same = {t: pd.DataFrame({"a": [0.1, 0.9, 0.2], "b": [0.3, 0.5, 0.4]}) for t in TARGETS}
    assert A.summary(same, A.chapter02_claims(same))[0].endswith(
        "all 2 measures put their top layer at 1."
    )


def test_gap_statistics_are_over_layers_per_measure():
    table = A.gap_statistics(GAPS, "EMA", MEASURES[::-1])
    assert list(table.index) == MEASURES[::-1]
    for m in MEASURES:
        v, o = np.array(PROFILES[m, "EMA"]), np.add(PROFILES[m, "EMA"], NULL)
        expected = [o.mean(), o.std(ddof=1), NULL.mean(), NULL.std(ddof=1), v.min(), v.max()]
        assert table.loc[m].tolist() == pytest.approx(expected)


def test_score_row_puts_extra_columns_before_the_value():
    row = A.score_row(3, "EMA", "shift 1", "CKA", np.float32(0.25), filename="r.mat")
    assert list(row) == ["layer", "target", "version", "measure", "filename", "value"]
    assert row["value"] == 0.25 and type(row["value"]) is float


def test_planted_recovery_is_spearman_with_the_planted_weights():
    planted = pd.DataFrame({"articulatory": [0.1, 0.3, 0.2, 0.6, 0.5, 0.4], "acoustic": LAYERS})
    recovery = A.planted_recovery(GAPS, MEASURES, planted)
    assert list(recovery.index) == MEASURES
    for m in MEASURES:
        ema, weight = PROFILES[m, "EMA"], planted["articulatory"]
        pairs = [(ema, weight), (np.add(ema, NULL), weight), (PROFILES[m, "MFCC"], LAYERS)]
        assert recovery.loc[m].tolist() == pytest.approx([spearmanr(*p)[0] for p in pairs])
    best, worst = recovery["EMA gap vs articulatory"].agg(["idxmax", "idxmin"])
    sentence = A.recovery_sentence(recovery)
    assert f"closely by the gap of {best} " in sentence and f"by that of {worst} " in sentence
