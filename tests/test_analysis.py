"""Per-recording CKA, null baselines, lag curves, intervals and sentence readouts."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tutorial_utils import analysis as A
from tutorial_utils.cka import feature_space_linear_cka
from tutorial_utils.dataset import Dataset
from tutorial_utils.frames import EMA_COLUMNS, mfcc_frames, n_model_frames

SENTENCES = ["S18", "S33", "S04", "S52"]


def _recording(rng, participant, sid, n_samples, speaker_vec, sentence_vec):
    """Audio, EMA table and three layers; layer 0 is a padded, scaled copy of the MFCCs."""
    filename = f"{participant}_B01_{sid}_R01_N.mat"
    audio = rng.standard_normal(n_samples).astype(np.float32)
    audio *= np.sin(np.linspace(0, 7, n_samples)) ** 2
    n = n_model_frames(n_samples)
    mfcc = mfcc_frames(audio)
    ema = np.cumsum(rng.standard_normal((n, 12)), axis=0)
    table = pd.DataFrame(ema, columns=list(EMA_COLUMNS))
    table.insert(0, "TIMESTEP", np.arange(n))
    table.insert(0, "SENTENCE", sid)
    table.insert(0, "FILENAME", filename)
    layers = {
        0: np.hstack([3 * mfcc, np.zeros((n, 4), np.float32)]),
        1: np.tile(speaker_vec, (n, 1)) + rng.standard_normal((n, 16)) * 0.1,
        2: np.tile(sentence_vec, (n, 1)) + rng.standard_normal((n, 16)),
    }
    return filename, audio, table, layers


def make_dataset(seed=0):
    """Two speakers: A reads 4 sentences, B the first 3 of them (plus silence-free noise)."""
    rng = np.random.default_rng(seed)
    sentence_vecs = {s: rng.standard_normal(16) * 3 for s in SENTENCES}
    recordings, emas, states = {}, {}, {}
    for participant, sids in (("A", SENTENCES), ("B", SENTENCES[:3])):
        speaker_vec = rng.standard_normal(16) * 3
        rows, tables, per_layer = [], [], {0: {}, 1: {}, 2: {}}
        for i, sid in enumerate(sids):
            n_samples = 8000 + 960 * i
            name, audio, table, layers = _recording(
                rng, participant, sid, n_samples, speaker_vec, sentence_vecs[sid]
            )
            rows.append((name, f"sentence {sid}", audio))
            tables.append(table)
            for layer, x in layers.items():
                per_layer[layer][name] = x.astype(np.float32)
        recordings[participant] = pd.DataFrame(rows, columns=["FILENAME", "SENTENCE", "AUDIO"])
        emas[participant] = pd.concat(tables, ignore_index=True)
        states[participant] = per_layer
    return Dataset(
        source="sample",
        description="test",
        recordings=recordings,
        ema=emas,
        hidden_states=states,
    )


@pytest.fixture(scope="module")
def ds():
    return make_dataset()


@pytest.fixture(scope="module")
def observed(ds):
    return A.layer_feature_cka(ds, ("mfcc", "ema"))


# ------------------------------------------------------------------------------ alignment


def test_aligned_recording_has_one_frame_count(ds):
    name = ds.filenames("A")[1]
    frames, targets = A.aligned_recording(ds, "A", name, ("mfcc", "ema", "mfcc_original"))
    lengths = {len(x) for x in frames.values()} | {len(y) for y in targets.values()}
    assert len(lengths) == 1
    assert set(targets) == {"mfcc", "ema", "mfcc_original"}
    assert all(y.shape[1] == 12 for y in targets.values())


def test_frame_counts_agree(ds):
    table = A.frame_counts(ds)
    assert len(table) == 7
    assert (table["model_frames"] == table["hidden_states"]).all()
    assert (table["mfcc_rows"] == table["model_frames"]).all()
    assert (table["ema_rows"] == table["model_frames"]).all()
    assert table.loc[0, "n_samples"] == 8000 and table.loc[0, "model_frames"] == 24


def test_unknown_feature_is_rejected(ds):
    with pytest.raises(ValueError, match="feature"):
        A.layer_feature_cka(ds, "pitch")


# ------------------------------------------------------------------------------ layer CKA


def test_layer_feature_cka_is_tidy(ds, observed):
    assert list(observed.columns) == [*A.ID_COLUMNS, "value"]
    assert len(observed) == 7 * 3 * 2  # recordings × layers × features
    assert set(observed["measure"]) == {"MFCC", "EMA"}
    assert observed["value"].between(0, 1).all()


def test_copy_of_mfcc_gives_cka_one(observed):
    copy = observed[(observed["layer"] == 0) & (observed["measure"] == "MFCC")]
    np.testing.assert_allclose(copy["value"], 1.0, atol=1e-9)


def test_matches_feature_space_cka(ds, observed):
    name = ds.filenames("B")[2]
    frames, targets = A.aligned_recording(ds, "B", name, "ema")
    expected = feature_space_linear_cka(frames[2], targets["ema"])
    row = observed.query("filename == @name and layer == 2 and measure == 'EMA'")
    assert row["value"].item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kernel", "debiased", "label"),
    [("linear", True, "linear, debiased"), ("rbf", False, "RBF σ=0.5×median")],
)
def test_other_estimators(ds, kernel, debiased, label):
    table = A.layer_feature_cka(
        ds, "mfcc", participants=["B"], kernel=kernel, debiased=debiased, threshold=0.5
    )
    assert set(table["estimator"]) == {label}
    assert len(table) == 3 * 3 and table["value"].notna().all()


def test_rbf_matches_cka_of_rbf_grams(ds):
    from tutorial_utils.cka import cka, gram_rbf

    name = ds.filenames("B")[0]
    frames, targets = A.aligned_recording(ds, "B", name, "ema", layers=[1])
    table = A.layer_similarities(frames, targets, kernel="rbf", debiased=True, threshold=0.7)
    expected = cka(gram_rbf(frames[1], 0.7), gram_rbf(targets["ema"], 0.7), debiased=True)
    assert table.loc[1, "ema"] == pytest.approx(expected)


def test_estimator_name_rejects_unknown_kernel():
    with pytest.raises(ValueError, match="kernel"):
        A.estimator_name("poly")


# ------------------------------------------------------------------------------ nulls


def test_circular_shift_keeps_rows_and_moves_far():
    x = np.arange(40.0)[:, None]
    rng = np.random.default_rng(3)
    for _ in range(50):
        shifted, offset = A.circular_shift(x, rng, min_fraction=0.2)
        assert 8 <= offset <= 32
        np.testing.assert_array_equal(shifted, np.roll(x, offset, axis=0))
    with pytest.raises(ValueError):
        A.circular_shift(x, rng, min_fraction=0.0)


def test_circular_shift_null_is_seeded_and_lower(ds, observed):
    null = A.circular_shift_null(ds, "mfcc", n_repeats=3, seed=1)
    again = A.circular_shift_null(ds, "mfcc", n_repeats=3, seed=1)
    pd.testing.assert_frame_equal(null, again)
    assert len(null) == 7 * 3 * 3
    assert {"baseline", "repeat", "offset"} <= set(null.columns)
    gap = A.null_gap(observed[observed["measure"] == "MFCC"], null)
    assert gap.loc[gap["layer"] == 0, "gap"].item() > 0.3
    np.testing.assert_allclose(gap["gap"], gap["observed"] - gap["null"])


def test_derangement_moves_everything():
    rng = np.random.default_rng(0)
    for n in (2, 3, 7):
        perm = A.derangement(n, rng)
        assert sorted(perm) == list(range(n)) and np.all(perm != np.arange(n))
    with pytest.raises(ValueError):
        A.derangement(1, rng)


def test_mismatched_null_pairs_other_recordings(ds):
    null = A.mismatched_null(ds, "ema", seed=2)
    assert (null["partner"] != null["filename"]).all()
    assert (null["partner"].str[0] == null["participant"]).all()
    assert len(null) == 7 * 3


# ------------------------------------------------------------------------------ lags


def test_lagged_pair_alignment():
    x, y = np.arange(10)[:, None], np.arange(10)[:, None] * 10
    a, b = A.lagged_pair(x, y, 3)
    np.testing.assert_array_equal(b[:, 0], a[:, 0] * 10 + 30)
    a, b = A.lagged_pair(x, y, -2)
    np.testing.assert_array_equal(b[:, 0], a[:, 0] * 10 - 20)
    with pytest.raises(ValueError):
        A.lagged_pair(x, y, 10)


def test_lag_curve_matches_unshifted_and_peaks_at_zero(ds, observed):
    curve = A.lag_curve(ds, 0, "mfcc", lags=range(-2, 3))
    assert set(curve["lag_ms"]) == {-40.0, -20.0, 0.0, 20.0, 40.0}
    at_zero = curve[curve["lag"] == 0].set_index("filename")["value"]
    same = observed.query("layer == 0 and measure == 'MFCC'").set_index("filename")["value"]
    np.testing.assert_allclose(at_zero.sort_index(), same.sort_index())
    means = curve.groupby("lag")["value"].mean()
    assert means.idxmax() == 0


def test_lag_curve_block_cka_matches_cka(ds):
    from tutorial_utils.cka import cka, gram_linear

    name = ds.filenames("A")[0]
    frames, targets = A.aligned_recording(ds, "A", name, "ema", layers=[2])
    x, y = A.lagged_pair(frames[2], targets["ema"], -3)
    curve = A.lag_curve(ds, 2, "ema", participants=["A"], lags=[-3], debiased=True)
    expected = cka(gram_linear(x), gram_linear(y), debiased=True)
    assert curve.loc[curve["filename"] == name, "value"].item() == pytest.approx(expected)


# ------------------------------------------------------------------------------ intervals


def test_t_interval_matches_scipy():
    values = [0.2, 0.4, 0.35, 0.5]
    mean, low, high = A.confidence_interval(values)
    expected = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(expected)


def test_bootstrap_interval_is_seeded():
    values = np.random.default_rng(0).normal(size=12)
    first = A.confidence_interval(values, method="bootstrap", seed=4)
    assert first == A.confidence_interval(values, method="bootstrap", seed=4)
    assert first[1] < first[0] < first[2]


def test_interval_of_one_value_is_nan():
    mean, low, high = A.confidence_interval([0.3, np.nan])
    assert mean == 0.3 and np.isnan(low) and np.isnan(high)


def test_summarise_groups(observed):
    summary = A.summarise(observed)
    assert list(summary.columns) == ["measure", "layer", "mean", "low", "high", "n"]
    assert len(summary) == 6 and (summary["n"] == 7).all()
    inside = summary.dropna()
    assert ((inside["low"] <= inside["mean"]) & (inside["mean"] <= inside["high"])).all()


# ------------------------------------------------------------------------------ sentences


def test_zscore():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    z = A.zscore(x)
    np.testing.assert_allclose(z[:, 0], [-1.2247449, 0, 1.2247449], rtol=1e-6)
    np.testing.assert_array_equal(z[:, 1], 0)


def test_sentence_design_pairs_shared_sentences(ds):
    design = A.sentence_design(ds, "A", "B")
    assert design["participant"].tolist() == ["A"] * 3 + ["B"] * 3
    assert design["sentence_id"].tolist()[:3] == design["sentence_id"].tolist()[3:]
    everything = A.sentence_design(ds, "A", "B", shared_only=False)
    assert len(everything) == 7


def test_block_contrast_on_a_known_matrix():
    design = pd.DataFrame(
        {"participant": ["A", "A", "B", "B"], "sentence_id": ["s1", "s2", "s1", "s2"]}
    )
    gram = np.array([[1, 0.5, 0.2, -1], [0.5, 1, -1, 0.4], [0.2, -1, 1, 0.7], [-1, 0.4, 0.7, 1.0]])
    result = A.block_contrast(gram, design)
    assert result["same_speaker"] == pytest.approx(0.6)
    assert result["same_sentence"] == pytest.approx(0.3)
    assert result["other"] == pytest.approx(-1.0)
    assert result["difference"] == pytest.approx(0.3)


def test_sentence_readout_separates_speaker_and_content(ds):
    readout = A.sentence_readout(ds, "A", "B").set_index("layer")
    assert list(readout.columns) == ["same_speaker", "same_sentence", "other", "difference"]
    assert readout.loc[1, "difference"] > 0  # layer 1 carries the speaker
    assert readout.loc[2, "difference"] < 0  # layer 2 carries the sentence


def test_sentence_grams_are_scaled(ds):
    design = A.sentence_design(ds, "A", "B")
    grams = A.sentence_grams(ds, design, layers=[2])
    assert grams[2].shape == (6, 6)
    # every column of the z-scored means has variance 1, so the trace is n
    assert np.trace(grams[2]) == pytest.approx(6.0)


def test_model_rdms_and_rsa(ds):
    design = A.sentence_design(ds, "A", "B")
    models = A.model_rdms(design)
    assert models["speaker"].sum() == 9 and models["sentence"].sum() == 12
    table = A.rsa_by_layer(ds, design)
    assert len(table) == 6 and set(table["model"]) == {"speaker", "sentence"}
    best = table.loc[table.groupby("model")["value"].idxmax()].set_index("model")["layer"]
    assert best["speaker"] == 1 and best["sentence"] == 2


def test_shuffled_pairing_null_uses_all_permutations():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    values = A.shuffled_pairing_null(x, y)
    assert values.shape == (23,)
    assert np.all((values >= 0) & (values <= 1))
    sampled = A.shuffled_pairing_null(x, y, n_permutations=10, seed=1)
    np.testing.assert_array_equal(sampled, A.shuffled_pairing_null(x, y, n_permutations=10, seed=1))
