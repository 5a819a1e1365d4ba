"""The streaming accumulator (tutorial_utils.scale) against cka_matrix and the oracle."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from test_cka import degenerate_four_stimuli, oracle_linear_cka

from tutorial_utils.cka import cka_matrix
from tutorial_utils.scale import CKAAccumulator, streaming_cka_matrix


def make_layers(n: int, dims=(4, 30, 7, 50), seed: int = 0, offset: float = 0.0) -> list:
    """Correlated layers (a shared latent) plus an offset."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 5))
    return [
        latent @ rng.standard_normal((5, d)) + rng.standard_normal((n, d)) + offset for d in dims
    ]


def chunked(layers: list, cuts: list[int]) -> list[list[np.ndarray]]:
    return [[x[a:b] for x in layers] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize(
    ("n", "dims", "cuts", "offset", "scale"),
    [
        (300, (4, 30, 7, 50), [0, 1, 2, 50, 51, 133, 200, 300], 1e3, 1.0),  # uneven, offset
        (40, (3, 9, 5), list(range(41)), 0.0, 1.0),  # one frame per chunk
        (12, (1100, 150), [0, 5, 12], 0.0, 1.0),  # d >> n (debiasing matters); > 1 strip
        (80, (4, 6), [0, 40, 80], 0.0, 1e-150),  # float64's range: CKA ignores scale
        (80, (4, 6), [0, 40, 80], 0.0, 1e150),
    ],
)
def test_equals_the_oracle_and_cka_matrix(debiased, n, dims, cuts, offset, scale):
    layers = make_layers(n, dims, seed=n, offset=offset)
    got = streaming_cka_matrix(chunked([layers[0] * scale, *layers[1:]], cuts), debiased=debiased)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, cka_matrix(layers, debiased=debiased), rtol=0, atol=1e-10)
    oracle = [[oracle_linear_cka(a, b, debiased) for b in layers] for a in layers]
    np.testing.assert_allclose(got, oracle, rtol=0, atol=1e-10)


def test_dict_steps_give_a_labelled_frame_in_first_step_order():
    layers = make_layers(90, dims=(5, 8, 6), seed=4)
    names = ["mfcc", 3, "ema"]
    steps = [dict(zip(names, chunk, strict=True)) for chunk in chunked(layers, [0, 30, 31, 90])]
    steps[1] = {key: steps[1][key] for key in reversed(names)}  # key order may change
    got = streaming_cka_matrix(steps, debiased=True)
    expected = cka_matrix(dict(zip(names, layers, strict=True)), debiased=True)
    assert isinstance(got, pd.DataFrame) and list(got.index) == list(got.columns) == names
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-10)


def test_accumulator_is_incremental_and_accepts_generators():
    layers = make_layers(100, dims=(4, 6), seed=5)
    acc = CKAAccumulator().update([x[:50] for x in layers])
    first = acc.result()
    acc.update(x[50:] for x in layers)
    assert acc.n_frames == 100
    np.testing.assert_allclose(first, cka_matrix([x[:50] for x in layers]), atol=1e-10)
    np.testing.assert_allclose(acc.result(), cka_matrix(layers), atol=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_float32_chunks_are_close_to_float64(debiased):
    layers = [x.astype(np.float32) for x in make_layers(400, seed=7, offset=5.0)]
    exact = cka_matrix(layers, debiased=debiased)
    steps = chunked(layers, [0, 100, 250, 400])
    got = streaming_cka_matrix(steps, debiased=debiased, precision="float32-chunks")
    assert 0 < np.max(np.abs(got - exact)) < 1e-5


@pytest.mark.parametrize("debiased", [False, True])
def test_torch_chunks_equal_the_numpy_path(debiased):
    torch = pytest.importorskip("torch", reason="torch is optional (extract extra)")
    layers = [x.astype(np.float32) for x in make_layers(200, seed=8, offset=3.0)]
    steps = chunked(layers, [0, 1, 70, 200])
    tensors = [[torch.from_numpy(x) for x in step] for step in steps]
    expected = streaming_cka_matrix(steps, debiased=debiased)
    got = streaming_cka_matrix(tensors, debiased=debiased)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    fast = streaming_cka_matrix(tensors, debiased=debiased, precision="float32-chunks")
    assert np.max(np.abs(fast - expected)) < 1e-5
    table = streaming_cka_matrix([{"a": t[0], "b": t[1]} for t in tensors], debiased=debiased)
    assert table.loc["a", "b"] == pytest.approx(expected[0, 1], abs=1e-10)
    with pytest.raises(ValueError, match="mixes torch tensors"):
        CKAAccumulator().update(steps[0]).update(tensors[1])
    with pytest.raises(ValueError, match="mixes torch tensors"):
        CKAAccumulator().update([layers[0], tensors[0][0]])


def test_policy_constant_raises_and_undefined_debiased_is_nan_with_a_warning():
    layers = make_layers(30, dims=(3, 4), seed=10)
    for debiased in (False, True):
        with pytest.raises(ValueError, match="constant"):
            steps = chunked([layers[0], np.full((30, 2), 4.2)], [0, 7, 30])
            streaming_cka_matrix(steps, debiased=debiased)
    x, y = degenerate_four_stimuli(), np.random.default_rng(11).standard_normal((4, 3))
    for cuts in ([0, 4], [0, 1, 2, 3, 4], [0, 3, 4]):
        with pytest.warns(RuntimeWarning, match="undefined"):
            table = streaming_cka_matrix(chunked([x, y], cuts), debiased=True)
        assert math.isnan(table[0, 1]) and math.isnan(table[0, 0]) and table[1, 1] == 1.0
    with warnings.catch_warnings():  # well-defined inputs emit no warning
        warnings.simplefilter("error")
        streaming_cka_matrix(chunked(layers, [0, 10, 30]), debiased=True)


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
        ([[]], "at least one layer"),
        ([[np.array([[1.0, np.nan], [0.0, 1.0]])]], "NaN or infinite"),
        ([[np.ones((3, 2), dtype=complex)]], "real numbers"),
        ([], "No frames"),
        ([[np.ones((3, 2))]], "precision"),
        ([[np.eye(1, 2)]], "at least 2"),  # frames in all
        ([[np.eye(2)], [np.eye(1, 2)]], "at least 4"),  # debiased
    ],
)
def test_bad_steps_are_refused_with_a_clear_message(steps, message):
    precision = "float16" if message == "precision" else "float64"
    with pytest.raises(ValueError, match=message):
        streaming_cka_matrix(steps, precision=precision, debiased=message == "at least 4")
