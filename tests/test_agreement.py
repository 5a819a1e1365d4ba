"""Agreement between measures, against explicit loops, scipy's Spearman and stats.peak_layers."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tutorial_utils import agreement as A
from tutorial_utils.stats import peak_layers

LAYERS, MEASURES, TARGETS, FILES = range(6), ["a", "b", "held"], ["MFCC", "EMA"], range(5)
VERSIONS = ["observed", "shift 1", "shift 2", "shift 3"]
_values = np.random.default_rng(0).uniform(size=(3, 2, 6, 4, 5))  # measure target layer ver file
_values[:, :, :, 0] += np.linspace(0, 1, 6)[:, None] ** 2  # observed above the shifts
PER_RECORDING = pd.DataFrame(
    [
        A.score_row(layer, t, v, m, _values[i, j, layer, k, f], filename=f"r{f}")
        for i, m in enumerate(MEASURES)
        for j, t in enumerate(TARGETS)
        for layer in LAYERS
        for k, v in enumerate(VERSIONS)
        for f in FILES
    ]
).sample(frac=1, random_state=0)  # any row order
SCORES = PER_RECORDING.groupby([*A.KEYS, "version"], as_index=False)["value"].mean()


def test_null_summary_and_recording_profiles_against_loops():
    table = A.null_summary(SCORES, held_out=["held"]).set_index(A.KEYS)
    per_file = A.recording_profiles(PER_RECORDING, held_out=["held"]).set_index(A.KEYS)
    for i, m in enumerate(MEASURES):
        for j, t in enumerate(TARGETS):
            for layer in LAYERS:
                v = _values[i, j, layer]
                null = v[1:].mean(axis=1)  # one value per shift: the mean over recordings
                row = table.loc[(m, t, layer)]
                expected = [v[0].mean(), null.mean(), null.std(ddof=1), np.quantile(null, 0.95)]
                assert row[["observed", "null", "null sd", "threshold"]].tolist() == (
                    pytest.approx(expected)
                )
                assert row["above"] == (v[0].mean() > np.quantile(null, 0.95))
                own = v[0] - (0 if m == "held" else v[1:].mean(axis=0))  # each file's profile
                assert row["gap"] == pytest.approx(v[0].mean() - null.mean())
                assert row["profile"] == pytest.approx(own.mean())
                found = per_file.loc[(m, t, layer)].set_index("filename")["value"]
                np.testing.assert_allclose(found[[f"r{f}" for f in FILES]], own)


def test_rank_intervals_are_spearman_of_mean_profiles_and_of_the_same_resamples():
    per_file = A.recording_profiles(PER_RECORDING, held_out=["held"])
    sets = {"all": list(LAYERS), "first 4": [0, 1, 2, 3]}
    table = A.rank_intervals(per_file, sets, n_resamples=40, seed=3)
    profiles = A.layer_profiles(A.null_summary(SCORES, held_out=["held"]), MEASURES, TARGETS)
    wide = per_file.pivot_table(index="filename", columns=["target", "measure", "layer"])["value"]
    draws = np.random.default_rng(3).integers(0, 5, (40, 5))
    order = [pd.unique(per_file[c]) for c in ("target", "measure")]  # first appearance
    assert list(table.index) == [
        (t, f"{a} vs {b}") for t in order[0] for a, b in combinations(order[1], 2)
    ]
    for (t, pair), row in table.iterrows():
        a, b = pair.split(" vs ")
        for name, layers in sets.items():
            assert row[name, "ρ"] == pytest.approx(
                spearmanr(profiles[t][a][layers], profiles[t][b][layers])[0]
            )
            rho = [
                spearmanr(*(wide[t, m][layers].iloc[d].mean() for m in (a, b)))[0] for d in draws
            ]
            assert [row[name, "low"], row[name, "high"]] == pytest.approx(
                np.quantile(rho, [0.025, 0.975])
            )
    assert A.summary(table)[1].startswith(
        f"EMA: ρ between two measures: {table.loc['EMA'][('all', 'ρ')].min():.2f}–"
    )


def test_peak_summary_reads_stats_peak_layers():
    per_file = A.recording_profiles(PER_RECORDING)
    summary = A.peak_summary(per_file, n_resamples=300, seed=2)
    assert list(summary.index) == list(per_file.groupby(["measure", "target"], sort=False).groups)
    for (m, t), row in summary.iterrows():
        part = per_file[(per_file["measure"] == m) & (per_file["target"] == t)]
        peaks = peak_layers(part, n_resamples=300, seed=2)
        assert row["peak"] == peaks.loc[peaks["mean"].idxmax(), "layer"]
        assert row["near-peak"] == A._span(peaks["layer"][peaks["near_peak"]].tolist())
        top = peaks.set_index("layer")["p_peak"].nlargest(1)
        assert row["p_peak"].startswith(f"{top.index[0]}: {top.iloc[0]:.2f}")
    assert A._span([0, 1, 2, 5, 7, 8]) == "0–2, 5, 7–8" and A._span([4]) == "4"


def test_score_row_puts_extra_columns_before_the_value():
    row = A.score_row(3, "EMA", "shift 1", "CKA", np.float32(0.25), filename="r.mat")
    assert list(row) == ["layer", "target", "version", "measure", "filename", "value"]
    assert row["value"] == 0.25 and type(row["value"]) is float


def test_planted_recovery_is_spearman_with_the_planted_weights():
    gaps = A.null_summary(SCORES, held_out=["held"])
    planted = pd.DataFrame({"articulatory": [0.1, 0.3, 0.2, 0.6, 0.5, 0.4], "acoustic": LAYERS})
    recovery = A.planted_recovery(gaps, MEASURES, planted)
    profiles = A.layer_profiles(gaps, MEASURES, TARGETS)
    for m in MEASURES:
        pairs = [(profiles["EMA"][m], planted["articulatory"]), (profiles["MFCC"][m], LAYERS)]
        assert recovery.loc[m].tolist() == pytest.approx([spearmanr(*p)[0] for p in pairs])
