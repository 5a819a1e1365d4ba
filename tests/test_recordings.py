"""Per-recording CKA of every layer with every target, and the lag curve."""

import numpy as np
import pytest

from tutorial_utils import recordings as R
from tutorial_utils import targets as T
from tutorial_utils.cka import cka, feature_space_linear_cka, gram_linear, gram_rbf


@pytest.fixture(scope="module")
def ds(two_speakers):
    return two_speakers


def test_unknown_target_is_rejected(ds):
    with pytest.raises(ValueError, match="target"):
        R.layer_target_cka(ds, "pitch")


def test_layer_target_cka_is_tidy(ds, observed):
    assert list(observed.columns) == [*R.ID_COLUMNS, "value"]
    assert len(observed) == 7 * 3 * 2  # recordings × layers × targets
    assert set(observed["target"]) == {"MFCC", "EMA"}
    assert observed["value"].between(0, 1).all()


def test_copy_of_mfcc_gives_cka_one(observed):
    copy = observed[(observed["layer"] == 0) & (observed["target"] == "MFCC")]
    np.testing.assert_allclose(copy["value"], 1.0, atol=1e-9)


def test_matches_feature_space_cka(ds, observed):
    name = ds.filenames("B")[2]
    frames, targets = T.aligned_recording(ds, "B", name, "ema")
    expected = feature_space_linear_cka(frames[2], targets["ema"])
    row = observed.query("filename == @name and layer == 2 and target == 'EMA'")
    assert row["value"].item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kernel", "debiased", "label"),
    [("linear", True, "linear, debiased"), ("rbf", False, "RBF σ=0.5×median")],
)
def test_other_estimators(ds, kernel, debiased, label):
    table = R.layer_target_cka(
        ds, "mfcc", participants=["B"], kernel=kernel, debiased=debiased, threshold=0.5
    )
    assert set(table["estimator"]) == {label}
    assert len(table) == 3 * 3 and table["value"].notna().all()


def test_rbf_matches_cka_of_rbf_grams(ds):
    name = ds.filenames("B")[0]
    frames, targets = T.aligned_recording(ds, "B", name, "ema", layers=[1])
    table = R.recording_cka(frames, targets, kernel="rbf", debiased=True, threshold=0.7)
    expected = cka(gram_rbf(frames[1], 0.7), gram_rbf(targets["ema"], 0.7), debiased=True)
    assert table.loc[1, "ema"] == pytest.approx(expected)


def test_estimator_name_rejects_unknown_kernel():
    with pytest.raises(ValueError, match="kernel"):
        R.estimator_name("poly")


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_constant_target_raises(kernel):
    states = {0: np.random.default_rng(0).standard_normal((12, 5))}
    with pytest.raises(ValueError):
        R.recording_cka(states, {"flat": np.ones((12, 3))}, kernel=kernel)


def test_undefined_debiased_cka_is_nan_with_a_warning():
    # Three identical stimuli of four: the unbiased self-HSIC of x is exactly 0 (see test_cka).
    x = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [-3.0, 0.5]])
    states = {0: np.random.default_rng(22).standard_normal((4, 3))}
    with pytest.warns(RuntimeWarning, match="undefined"):
        table = R.recording_cka(states, {"x": x}, debiased=True)
    assert np.isnan(table.loc[0, "x"])


def test_lagged_pair_alignment():
    x, y = np.arange(10)[:, None], np.arange(10)[:, None] * 10
    a, b = R.lagged_pair(x, y, 3)
    np.testing.assert_array_equal(b[:, 0], a[:, 0] * 10 + 30)
    a, b = R.lagged_pair(x, y, -2)
    np.testing.assert_array_equal(b[:, 0], a[:, 0] * 10 - 20)
    with pytest.raises(ValueError):
        R.lagged_pair(x, y, 10)


def test_lag_curve_matches_unshifted_and_peaks_at_zero(ds, observed):
    curve = R.lag_curve(ds, 0, "mfcc", lags=range(-2, 3))
    assert set(curve["lag_ms"]) == {-40.0, -20.0, 0.0, 20.0, 40.0}
    at_zero = curve[curve["lag"] == 0].set_index("filename")["value"]
    same = observed.query("layer == 0 and target == 'MFCC'").set_index("filename")["value"]
    np.testing.assert_allclose(at_zero.sort_index(), same.sort_index())
    means = curve.groupby("lag")["value"].mean()
    assert means.idxmax() == 0


def test_lag_curve_block_cka_matches_cka(ds):
    name = ds.filenames("A")[0]
    frames, targets = T.aligned_recording(ds, "A", name, "ema", layers=[2])
    x, y = R.lagged_pair(frames[2], targets["ema"], -3)
    curve = R.lag_curve(ds, 2, "ema", participants=["A"], lags=[-3], debiased=True)
    expected = cka(gram_linear(x), gram_linear(y), debiased=True)
    assert curve.loc[curve["filename"] == name, "value"].item() == pytest.approx(expected)
