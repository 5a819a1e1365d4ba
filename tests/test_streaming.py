"""Tests of the streaming accumulator against cka_matrix and the textbook oracle."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from test_cka import degenerate_four_stimuli, oracle_linear_cka

from tutorial_utils import CKAAccumulator, streaming_cka_matrix
from tutorial_utils.cka import cka_matrix


def make_layers(n: int, dims=(4, 30, 7, 50), seed: int = 0, offset: float = 0.0) -> list:
    """Correlated layers (a shared latent) with an optional large common offset."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 5))
    return [
        latent @ rng.standard_normal((5, d)) + rng.standard_normal((n, d)) + offset for d in dims
    ]


def chunked(layers: list, cuts: list[int]) -> list[list[np.ndarray]]:
    """Split every layer at the same frame positions ``cuts`` (0 and n included)."""
    return [[x[a:b] for x in layers] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


UNEVEN = [0, 1, 2, 50, 51, 133, 200, 300]


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_equals_in_memory_cka_matrix_with_uneven_chunks(debiased, offset):
    layers = make_layers(300, offset=offset)
    expected = cka_matrix(layers, debiased=debiased)
    got = streaming_cka_matrix(chunked(layers, UNEVEN), debiased=debiased)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_one_frame_chunks(debiased):
    layers = make_layers(40, dims=(3, 9, 5), seed=1)
    got = streaming_cka_matrix(chunked(layers, list(range(41))), debiased=debiased)
    np.testing.assert_allclose(got, cka_matrix(layers, debiased=debiased), rtol=0, atol=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_matches_the_oracle_pair_by_pair(debiased):
    layers = make_layers(60, dims=(6, 40, 3), seed=2)
    got = streaming_cka_matrix(chunked(layers, [0, 17, 18, 45, 60]), debiased=debiased)
    for i in range(3):
        for j in range(3):
            expected = oracle_linear_cka(layers[i], layers[j], debiased)
            assert got[i, j] == pytest.approx(expected, abs=1e-10)


def test_more_features_than_frames_debiased():
    # d >> n is where debiased CKA differs most from biased.
    layers = make_layers(12, dims=(200, 150), seed=3)
    for debiased in (False, True):
        got = streaming_cka_matrix(chunked(layers, [0, 5, 12]), debiased=debiased)
        expected = oracle_linear_cka(layers[0], layers[1], debiased)
        assert got[0, 1] == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_dict_chunks_give_a_labelled_frame_in_first_step_order(debiased):
    layers = make_layers(90, dims=(5, 8, 6), seed=4)
    names = ["mfcc", 3, "ema"]
    steps = [dict(zip(names, chunk, strict=True)) for chunk in chunked(layers, [0, 30, 31, 90])]
    steps[1] = {key: steps[1][key] for key in reversed(names)}  # key order may change
    got = streaming_cka_matrix(steps, debiased=debiased)
    expected = cka_matrix(dict(zip(names, layers, strict=True)), debiased=debiased)
    assert isinstance(got, pd.DataFrame)
    assert list(got.index) == names and list(got.columns) == names
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-10)


def test_accumulator_is_incremental_and_accepts_generators():
    layers = make_layers(100, dims=(4, 6), seed=5)
    acc = CKAAccumulator()
    acc.update([x[:50] for x in layers]).update(x[50:] for x in layers)
    assert acc.n_frames == 100
    np.testing.assert_allclose(acc.result(), cka_matrix(layers), atol=1e-10)
    first = cka_matrix([x[:50] for x in layers])
    assert not np.allclose(first, acc.result())


@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_extreme_scales(scale):
    layers = make_layers(80, dims=(4, 6), seed=6)
    scaled = [layers[0] * scale, layers[1]]
    got = streaming_cka_matrix(chunked(scaled, [0, 40, 80]))
    np.testing.assert_allclose(got, cka_matrix(layers), atol=1e-10)


# --------------------------------------------------------------------------- precision


@pytest.mark.parametrize("debiased", [False, True])
def test_float32_chunks_are_close_to_float64(debiased):
    layers = [x.astype(np.float32) for x in make_layers(400, seed=7, offset=5.0)]
    exact = cka_matrix(layers, debiased=debiased)
    got = streaming_cka_matrix(
        chunked(layers, [0, 100, 250, 400]), debiased=debiased, precision="float32-chunks"
    )
    assert np.max(np.abs(got - exact)) < 1e-5
    assert not np.array_equal(got, exact)


# --------------------------------------------------------------------------- torch


@pytest.mark.parametrize("debiased", [False, True])
def test_torch_cpu_path_equals_the_numpy_path(debiased):
    torch = pytest.importorskip("torch", reason="torch is optional (extract extra)")
    layers = [x.astype(np.float32) for x in make_layers(200, seed=8, offset=3.0)]
    steps = chunked(layers, [0, 1, 70, 200])
    tensors = [[torch.from_numpy(x) for x in step] for step in steps]
    expected = streaming_cka_matrix(steps, debiased=debiased)
    np.testing.assert_allclose(cka_matrix(layers, debiased=debiased), expected, atol=1e-10)
    got = streaming_cka_matrix(tensors, debiased=debiased)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    fast = streaming_cka_matrix(tensors, debiased=debiased, precision="float32-chunks")
    assert np.max(np.abs(fast - expected)) < 1e-5
    as_dict = [{"a": t[0], "b": t[1]} for t in tensors]
    table = streaming_cka_matrix(as_dict, debiased=debiased)
    assert table.loc["a", "b"] == pytest.approx(expected[0, 1], abs=1e-10)


def test_torch_and_numpy_steps_cannot_be_mixed():
    torch = pytest.importorskip("torch", reason="torch is optional (extract extra)")
    x = np.random.default_rng(9).standard_normal((10, 3))
    acc = CKAAccumulator().update([x])
    with pytest.raises(ValueError, match="differ in kind"):
        acc.update([torch.from_numpy(x)])
    with pytest.raises(ValueError, match="mixes torch tensors"):
        CKAAccumulator().update([x, torch.from_numpy(x)])


# --------------------------------------------------------------------------- policy and errors


def test_constant_layer_raises_for_both_estimators():
    layers = make_layers(30, dims=(3, 4), seed=10)
    constant = np.full((30, 2), 4.2)
    for debiased in (False, True):
        with pytest.raises(ValueError, match="constant"):
            streaming_cka_matrix(chunked([layers[0], constant], [0, 7, 30]), debiased=debiased)


def test_debiased_undefined_is_nan_with_a_warning():
    x = degenerate_four_stimuli()
    y = np.random.default_rng(11).standard_normal((4, 3))
    for cuts in ([0, 4], [0, 1, 2, 3, 4], [0, 3, 4]):
        with pytest.warns(RuntimeWarning, match="undefined"):
            table = streaming_cka_matrix(chunked([x, y], cuts), debiased=True)
        assert math.isnan(table[0, 1]) and math.isnan(table[0, 0]) and table[1, 1] == 1.0


def test_well_defined_inputs_emit_no_warnings():
    layers = make_layers(30, dims=(3, 4), seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        streaming_cka_matrix(chunked(layers, [0, 10, 30]), debiased=True)


def test_too_few_frames():
    x = np.random.default_rng(13).standard_normal((3, 2))
    with pytest.raises(ValueError, match="at least 2"):
        streaming_cka_matrix([[x[:1]]])
    streaming_cka_matrix([[x[:1]], [x[1:]]])  # two frames in total are enough
    with pytest.raises(ValueError, match="at least 4"):
        streaming_cka_matrix([[x]], debiased=True)
    with pytest.raises(ValueError, match="No frames"):
        streaming_cka_matrix([])


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([[np.ones((3, 2))], [np.ones((3, 2)), np.ones((3, 2))]], "has 2 layers"),
        ([[np.ones((3, 2))], [np.ones((3, 5))]], "has 5 features"),
        ([{"a": np.ones((3, 2))}, {"b": np.ones((3, 2))}], "same layers"),
        ([{"a": np.ones((3, 2))}, [np.ones((3, 2))]], "same kind"),
        ([[np.ones((3, 2)), np.ones((4, 2))]], "same, non-zero number of frames"),
        ([[np.ones((0, 2))]], "non-zero number of frames"),
        ([[np.ones(3)]], "2-D"),
        ([np.ones((3, 2))], "wrap a single layer"),
        ([[]], "no layers"),
        ([[np.array([[1.0, np.nan], [0.0, 1.0]])]], "NaN or infinite"),
        ([[np.array([[1.0, np.inf], [0.0, 1.0]])]], "NaN or infinite"),
        ([[np.ones((3, 2), dtype=complex)]], "real numbers"),
    ],
)
def test_bad_steps_are_refused_with_a_clear_message(steps, message):
    with pytest.raises(ValueError, match=message):
        streaming_cka_matrix(steps)


def test_bad_precision():
    with pytest.raises(ValueError, match="precision"):
        CKAAccumulator(precision="float16")
