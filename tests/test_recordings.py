"""Per-recording CKA of every layer with every target."""

import numpy as np
import pytest

from tutorial_utils import recordings as R
from tutorial_utils import targets as T
from tutorial_utils.cka import cka, feature_space_linear_cka, gram_linear, gram_rbf


@pytest.fixture(scope="module")
def ds(two_speakers):
    return two_speakers


def test_layer_target_cka_is_a_tidy_table_of_feature_space_cka(ds, observed):
    assert list(observed.columns) == [*R.ID_COLUMNS, "value"]
    assert len(observed) == 7 * 3 * 2  # recordings × layers × targets
    assert set(observed["target"]) == {"MFCC", "EMA"} and observed["value"].between(0, 1).all()
    copy = observed[(observed["layer"] == 0) & (observed["target"] == "MFCC")]
    np.testing.assert_allclose(copy["value"], 1.0, atol=1e-9)  # layer 0 is a copy of the MFCCs
    name = ds.filenames("B")[2]
    frames, targets = T.aligned_recording(ds, "B", name, "ema")
    row = observed.query("filename == @name and layer == 2 and target == 'EMA'")
    assert row["value"].item() == pytest.approx(feature_space_linear_cka(frames[2], targets["ema"]))
    with pytest.raises(ValueError, match="target"):
        R.layer_target_cka(ds, "pitch")
    with pytest.raises(ValueError, match="kernel"):
        R.layer_target_cka(ds, kernel="poly")


@pytest.mark.parametrize(
    ("kernel", "debiased", "label"),
    [
        ("linear", True, "linear, debiased"),
        ("rbf", False, "RBF σ=0.7×median"),
        ("rbf", True, "RBF σ=0.7×median, debiased"),
    ],
)
def test_other_estimators_are_cka_of_their_grams(ds, kernel, debiased, label):
    table = R.layer_target_cka(
        ds, "ema", participants=["B"], kernel=kernel, debiased=debiased, threshold=0.7
    )
    assert set(table["estimator"]) == {label}
    assert len(table) == 3 * 3 and table["value"].notna().all()
    name = ds.filenames("B")[0]
    frames, targets = T.aligned_recording(ds, "B", name, "ema", layers=[1])
    gram = gram_rbf if kernel == "rbf" else lambda x, _: gram_linear(x)
    expected = cka(gram(frames[1], 0.7), gram(targets["ema"], 0.7), debiased=debiased)
    value = table.query("filename == @name and layer == 1")["value"].item()
    assert value == pytest.approx(expected)


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
