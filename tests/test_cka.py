"""Tests of tutorial_utils.cka against textbook formulas and CKA's known properties."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ortho_group
from threadpoolctl import threadpool_limits

from tutorial_utils._checks import blas_threads
from tutorial_utils.cka import (
    center_gram,
    choose_route,
    cka,
    cka_matrix,
    feature_space_linear_cka,
    gram_linear,
    gram_rbf,
)

# --------------------------------------------------------------------------- the oracle
# Written straight from the definitions, with no shortcuts, in float64.


def centering_matrix(n: int) -> np.ndarray:
    return np.eye(n) - np.ones((n, n)) / n


def hsic_biased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Gretton et al.: tr(K H L H) / (n - 1)²."""
    n = k.shape[0]
    h = centering_matrix(n)
    return float(np.trace(k @ h @ l @ h)) / (n - 1) ** 2


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Song et al. (2012), eq. (5), with the diagonals set to zero."""
    n = k.shape[0]
    kt = k - np.diag(np.diag(k))
    lt = l - np.diag(np.diag(l))
    one = np.ones(n)
    term1 = np.trace(kt @ lt)
    term2 = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return float((term1 + term2 - term3) / (n * (n - 3)))


def oracle_cka(k: np.ndarray, l: np.ndarray, debiased: bool = False) -> float:  # noqa: E741
    hsic = hsic_unbiased if debiased else hsic_biased
    return hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))


def oracle_linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA of the features centred by H first (H K H = (H x)(H x)ᵀ).

    Centring the features before the products keeps float64 exact enough for
    inputs with large offsets; both HSICs are invariant to that centring.
    """
    h = centering_matrix(len(x))
    x = h @ np.asarray(x, dtype=np.float64)
    y = h @ np.asarray(y, dtype=np.float64)
    return oracle_cka(x @ x.T, y @ y.T, debiased)


def oracle_rbf_gram(x: np.ndarray, threshold: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    sq = np.array([[np.sum((x[i] - x[j]) ** 2) for j in range(n)] for i in range(n)])
    sigma_sq = threshold**2 * np.median(sq)
    return np.exp(-sq / (2 * sigma_sq))


def related_pair(rng: np.random.Generator, n: int, dx: int, dy: int, dtype=np.float64):
    """Two representations that share a latent signal (so CKA is clearly non-trivial)."""
    latent = rng.standard_normal((n, 3))
    x = latent @ rng.standard_normal((3, dx)) + 0.5 * rng.standard_normal((n, dx))
    y = latent @ rng.standard_normal((3, dy)) + 0.5 * rng.standard_normal((n, dy))
    return x.astype(dtype), y.astype(dtype)


SHAPES = [(6, 3, 5), (12, 40, 7), (50, 10, 20), (30, 200, 150), (200, 8, 16)]
DTYPES = [np.float64, np.float32]


# --------------------------------------------------------------------------- oracle agreement


@pytest.mark.parametrize(("n", "dx", "dy"), SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("debiased", [False, True])
def test_every_linear_route_matches_the_oracle(n, dx, dy, dtype, debiased):
    rng = np.random.default_rng(n * 1000 + dx + dy)
    x, y = related_pair(rng, n, dx, dy, dtype)
    expected = oracle_linear_cka(x, y, debiased)
    assert cka(gram_linear(x), gram_linear(y), debiased=debiased) == pytest.approx(
        expected, abs=1e-10
    )
    assert feature_space_linear_cka(x, y, debiased=debiased) == pytest.approx(expected, abs=1e-10)
    for route in ("gram", "feature"):
        got = cka_matrix([x], [y], debiased=debiased, route=route)
        assert got[0, 0] == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize(("n", "dx", "dy"), SHAPES)
@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_cka_matches_the_oracle(n, dx, dy, threshold, debiased):
    rng = np.random.default_rng(7 + n)
    x, y = related_pair(rng, n, dx, dy)
    kx, ky = oracle_rbf_gram(x, threshold), oracle_rbf_gram(y, threshold)
    np.testing.assert_allclose(gram_rbf(x, threshold), kx, rtol=0, atol=1e-12)
    got = cka(gram_rbf(x, threshold), gram_rbf(y, threshold), debiased=debiased)
    assert got == pytest.approx(oracle_cka(kx, ky, debiased), abs=1e-10)


def test_gram_linear_is_the_dot_product_matrix():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4)).astype(np.float32)
    expected = np.array([[float(np.dot(a, b)) for b in x.astype(np.float64)] for a in x])
    got = gram_linear(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_rbf_median_convention_is_selectable():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 3))
    sq = np.array([[np.sum((a - b) ** 2) for b in x] for a in x])
    off_diagonal = sq[np.triu_indices(9, k=1)]
    expected = np.exp(-sq / (2 * np.median(off_diagonal)))
    np.testing.assert_allclose(gram_rbf(x, include_diagonal=False), expected, atol=1e-12)
    # The default (diagonal zeros included) gives a smaller median, a narrower kernel.
    assert np.median(sq) < np.median(off_diagonal)
    assert not np.allclose(gram_rbf(x), expected)


@pytest.mark.parametrize("n", [4, 5, 9, 30])
def test_center_gram_matches_explicit_formulas(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 6))
    k = x @ x.T
    h = centering_matrix(n)
    np.testing.assert_allclose(center_gram(k), h @ k @ h, atol=1e-12)
    # Double-centring the Gram matrix equals the Gram matrix of centred features.
    xc = x - x.mean(axis=0)
    np.testing.assert_allclose(center_gram(k), xc @ xc.T, atol=1e-12)
    # U-centred inner products reproduce Song et al.'s unbiased HSIC.
    y = rng.standard_normal((n, 3))
    ell = y @ y.T
    u_k, u_l = center_gram(k, unbiased=True), center_gram(ell, unbiased=True)
    assert np.all(np.diag(u_k) == 0)
    assert np.vdot(u_k, u_l) / (n * (n - 3)) == pytest.approx(hsic_unbiased(k, ell), abs=1e-10)


def test_center_gram_does_not_modify_its_input():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 2))
    k = x @ x.T
    before = k.copy()
    center_gram(k)
    center_gram(k, unbiased=True)
    np.testing.assert_array_equal(k, before)


# --------------------------------------------------------------------------- properties


def test_cka_of_a_representation_with_itself_is_one():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((25, 10))
    assert cka(gram_linear(x), gram_linear(x)) == pytest.approx(1.0, abs=1e-12)
    assert cka(gram_linear(x), gram_linear(x), debiased=True) == pytest.approx(1.0, abs=1e-12)
    assert feature_space_linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert cka(gram_rbf(x), gram_rbf(x)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariances_orthogonal_scale_translation(debiased):
    rng = np.random.default_rng(5)
    x, y = related_pair(rng, 40, 12, 9)
    base = feature_space_linear_cka(x, y, debiased)
    q = ortho_group.rvs(12, random_state=6)
    assert feature_space_linear_cka(x @ q, y, debiased) == pytest.approx(base, abs=1e-10)
    assert feature_space_linear_cka(3.7 * x, y, debiased) == pytest.approx(base, abs=1e-10)
    shift = rng.standard_normal(12) * 50
    assert feature_space_linear_cka(x + shift, y, debiased) == pytest.approx(base, abs=1e-10)
    # RBF CKA (median bandwidth) is invariant to the same three transformations.
    rbf = cka(gram_rbf(x), gram_rbf(y), debiased)
    transformed = 2.5 * (x @ q) + shift
    assert cka(gram_rbf(transformed), gram_rbf(y), debiased) == pytest.approx(rbf, abs=1e-10)


def test_not_invariant_to_a_general_invertible_linear_map():
    # x = [signal, noise], y = signal. Stretching the noise axis is invertible but
    # lets the noise dominate x's geometry, so CKA must drop (about 0.71 -> 0.01).
    rng = np.random.default_rng(8)
    signal, noise = rng.standard_normal(200), rng.standard_normal(200)
    x = np.column_stack([signal, noise])
    y = signal[:, None]
    stretch = np.array([[1.0, 0.0], [0.0, 10.0]])
    before = feature_space_linear_cka(x, y)
    after = feature_space_linear_cka(x @ stretch, y)
    assert before > 0.6
    assert after < 0.1


def test_biased_cka_is_symmetric_and_in_unit_interval():
    rng = np.random.default_rng(10)
    for _ in range(20):
        x, y = related_pair(rng, 15, 5, 30)
        value = feature_space_linear_cka(x, y)
        assert 0.0 <= value <= 1.0
        assert value == pytest.approx(feature_space_linear_cka(y, x), abs=1e-12)


def test_small_n_bias_lesson():
    """Independent noise, n=10 stimuli in 768 dims: biased CKA is large, debiased is ~0."""
    rng = np.random.default_rng(2024)
    biased, debiased = [], []
    for _ in range(40):
        x = rng.standard_normal((10, 768))
        y = rng.standard_normal((10, 768))
        biased.append(feature_space_linear_cka(x, y))
        debiased.append(feature_space_linear_cka(x, y, debiased=True))
    # With d >> n both centred Gram matrices are close to multiples of H, so biased
    # CKA is near 1 (about 0.98 here) for unrelated data. Debiased CKA is centred on
    # 0 with a standard deviation of about 0.2 at n = 10, so the mean of 40 draws
    # (standard error about 0.03) must lie within 0.1 of 0.
    assert min(biased) > 0.95
    assert abs(np.mean(debiased)) < 0.1
    assert max(np.abs(debiased)) < min(biased)


# --------------------------------------------------------------------------- cka_matrix


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("route", ["auto", "gram", "feature"])
def test_cka_matrix_entries_equal_pairwise_cka(debiased, route):
    rng = np.random.default_rng(11)
    n = 20
    latent = rng.standard_normal((n, 4))
    reps = [latent @ rng.standard_normal((4, d)) + rng.standard_normal((n, d)) for d in (3, 30, 8)]
    others = [rng.standard_normal((n, d)) + latent[:, :1] for d in (5, 50)]
    self_matrix = cka_matrix(reps, debiased=debiased, route=route)
    cross_matrix = cka_matrix(reps, others, debiased=debiased, route=route)
    assert self_matrix.shape == (3, 3)
    assert cross_matrix.shape == (3, 2)
    np.testing.assert_allclose(self_matrix, self_matrix.T, atol=0)
    np.testing.assert_allclose(np.diag(self_matrix), 1.0, atol=0)
    for i, j in itertools.product(range(3), range(3)):
        expected = cka(gram_linear(reps[i]), gram_linear(reps[j]), debiased=debiased)
        assert self_matrix[i, j] == pytest.approx(expected, abs=1e-10)
    for i, j in itertools.product(range(3), range(2)):
        expected = oracle_linear_cka(reps[i], others[j], debiased)
        assert cross_matrix[i, j] == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("route", ["gram", "feature"])
def test_cka_matrix_centres_in_threads_with_the_same_result_and_messages(route):
    """With several BLAS threads the representations are centred in a thread pool."""
    rng = np.random.default_rng(13)
    reps = {f"layer {i}": rng.standard_normal((40, 7 + i)) + 5.0 * i for i in range(5)}
    constant = dict(reps, flat=np.full((40, 3), 2.0))
    with threadpool_limits(limits=1, user_api="blas"):
        assert blas_threads() == 1
        expected = cka_matrix(reps, debiased=True, route=route)
    with threadpool_limits(limits=3, user_api="blas"):
        assert blas_threads() == 3
        threaded = cka_matrix(reps, debiased=True, route=route)
        with pytest.raises(ValueError, match=r"reps_a\['flat'\].*constant"):
            cka_matrix(constant, route=route)
    pd.testing.assert_frame_equal(threaded, expected, check_exact=True)


def test_cka_matrix_labels_dict_inputs():
    rng = np.random.default_rng(12)
    layers = {layer: rng.standard_normal((15, 6)) for layer in range(4)}
    features = {"mfcc": rng.standard_normal((15, 12)), "ema": rng.standard_normal((15, 12))}
    table = cka_matrix(layers, features)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == [0, 1, 2, 3]
    assert list(table.columns) == ["mfcc", "ema"]
    expected = feature_space_linear_cka(layers[2], features["ema"])
    assert table.loc[2, "ema"] == pytest.approx(expected, abs=1e-12)


def test_choose_route_prefers_grams_when_stimuli_are_few():
    dims = [768] * 13
    assert choose_route(1000, dims) == "gram"
    assert choose_route(3000, dims) == "gram"
    assert choose_route(200_000, [12, 12]) == "feature"
    assert choose_route(100_000, dims, [12, 12]) == "feature"


def test_choose_route_avoids_routes_that_do_not_fit_in_memory():
    dims = [768] * 13
    # 13 Gram matrices of 9000 frames need 8.4 GB; the feature cross products 0.8 GB.
    assert choose_route(9000, dims, max_bytes=float("inf")) == "gram"
    assert choose_route(9000, dims) == "feature"
    # When neither fits, the cheaper one is still used.
    assert choose_route(9000, dims, max_bytes=1.0) == "gram"


# --------------------------------------------------------------------------- precision


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_float32_input_matches_float64_math(offset):
    rng = np.random.default_rng(13)
    x, y = related_pair(rng, 300, 64, 20)
    x32 = (x + offset).astype(np.float32)
    y32 = (y - offset).astype(np.float32)
    # Reference: the same float32 numbers, all arithmetic in float64, from the oracle.
    for debiased in (False, True):
        expected = oracle_linear_cka(x32, y32, debiased)
        assert feature_space_linear_cka(x32, y32, debiased) == pytest.approx(expected, abs=1e-6)
        assert cka(gram_linear(x32), gram_linear(y32), debiased) == pytest.approx(
            expected, abs=1e-6
        )
        for route in ("gram", "feature"):
            got = cka_matrix([x32], [y32], debiased=debiased, route=route)[0, 0]
            assert got == pytest.approx(expected, abs=1e-6)


def test_large_offset_does_not_change_the_result():
    rng = np.random.default_rng(14)
    x, y = related_pair(rng, 200, 32, 16)
    assert feature_space_linear_cka(x + 1e3, y) == pytest.approx(
        feature_space_linear_cka(x, y), abs=1e-9
    )


# --------------------------------------------------------------------------- validation


def test_rejects_non_2d_input():
    with pytest.raises(ValueError, match="2-D"):
        gram_linear(np.zeros(5))
    with pytest.raises(ValueError, match="2-D"):
        feature_space_linear_cka(np.zeros((4, 3, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="single array"):
        cka_matrix(np.ones((5, 3)))


def test_rejects_different_numbers_of_stimuli():
    rng = np.random.default_rng(15)
    with pytest.raises(ValueError, match="same stimuli"):
        feature_space_linear_cka(rng.standard_normal((5, 2)), rng.standard_normal((6, 2)))
    with pytest.raises(ValueError, match="different numbers of stimuli"):
        cka(np.eye(4) + 1, np.eye(5) + 1)
    with pytest.raises(ValueError, match="same stimuli"):
        cka_matrix([rng.standard_normal((5, 2))], [rng.standard_normal((6, 2))])


def test_rejects_too_few_stimuli():
    with pytest.raises(ValueError, match="at least 2"):
        feature_space_linear_cka(np.ones((1, 3)), np.ones((1, 3)))
    rng = np.random.default_rng(16)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    feature_space_linear_cka(x, y)  # three stimuli are enough for the biased estimator
    with pytest.raises(ValueError, match="at least 4"):
        feature_space_linear_cka(x, y, debiased=True)
    with pytest.raises(ValueError, match="at least 4"):
        cka(gram_linear(x), gram_linear(y), debiased=True)
    with pytest.raises(ValueError, match="at least 4"):
        cka_matrix([x, y], debiased=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rejects_nan_and_inf(bad):
    rng = np.random.default_rng(17)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    x[2, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        feature_space_linear_cka(x, y)
    with pytest.raises(ValueError, match="NaN or infinite"):
        gram_rbf(x)
    with pytest.raises(ValueError, match="NaN or infinite"):
        cka_matrix([x, y])
    gram = np.eye(6)
    gram[0, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        cka(gram, np.eye(6))


def test_rejects_constant_representation():
    rng = np.random.default_rng(18)
    y = rng.standard_normal((8, 3))
    constant = np.full((8, 3), 0.1)
    with pytest.raises(ValueError, match="constant"):
        feature_space_linear_cka(constant, y)
    with pytest.raises(ValueError, match="constant"):
        feature_space_linear_cka(constant, y, debiased=True)
    with pytest.raises(ValueError, match="constant"):
        cka(gram_linear(constant), gram_linear(y))
    with pytest.raises(ValueError, match="constant"):
        cka(gram_linear(constant), gram_linear(y), debiased=True)
    with pytest.raises(ValueError, match="constant"):
        cka_matrix([y, constant])


def test_rejects_non_symmetric_gram():
    rng = np.random.default_rng(19)
    gram = rng.standard_normal((5, 5))
    with pytest.raises(ValueError, match="not symmetric"):
        cka(gram, np.eye(5))
    with pytest.raises(ValueError, match="not symmetric"):
        center_gram(gram)
    with pytest.raises(ValueError, match="square"):
        cka(np.ones((4, 3)), np.eye(4))


def test_rejects_bad_route_and_threshold():
    x = np.random.default_rng(20).standard_normal((5, 2))
    with pytest.raises(ValueError, match="route"):
        cka_matrix([x], route="fast")
    with pytest.raises(ValueError, match="threshold"):
        gram_rbf(x, threshold=0)


def test_debiased_negative_values_are_returned_not_hidden():
    rng = np.random.default_rng(21)
    values = [
        feature_space_linear_cka(rng.standard_normal((6, 50)), rng.standard_normal((6, 50)), True)
        for _ in range(30)
    ]
    assert min(values) < 0
    assert all(np.isfinite(values))


def test_undefined_debiased_cka_warns_and_returns_nan():
    # Four stimuli, three of them identical: off the diagonal the linear Gram matrix
    # is a row term plus a column term, which U-centring removes entirely, so the
    # unbiased self-HSIC is exactly 0 although the representation is not constant.
    x = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [-3.0, 0.5]])
    assert hsic_unbiased(x @ x.T, x @ x.T) == pytest.approx(0.0, abs=1e-12)
    y = np.random.default_rng(22).standard_normal((4, 3))
    with pytest.warns(RuntimeWarning, match="undefined"):
        value = feature_space_linear_cka(x, y, debiased=True)
    assert math.isnan(value)
    with pytest.warns(RuntimeWarning, match="undefined"):
        table = cka_matrix([x, y], debiased=True)
    assert math.isnan(table[0, 1]) and math.isnan(table[0, 0])
    assert table[1, 1] == 1.0


def test_well_defined_inputs_emit_no_warnings():
    rng = np.random.default_rng(23)
    x, y = related_pair(rng, 30, 5, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cka_matrix([x, y], debiased=True)
        feature_space_linear_cka(x, y, debiased=True)


# --------------------------------------------------------------------------- scale (issue 11.13)


@pytest.mark.parametrize("scale", [1e77, 1e200, 1e300, 1e-100, 1e-200, 1e-300])
@pytest.mark.parametrize("debiased", [False, True])
def test_feature_space_cka_is_scale_invariant_over_the_float64_range(scale, debiased):
    rng = np.random.default_rng(30)
    x, y = related_pair(rng, 40, 12, 7)
    expected = oracle_linear_cka(x, y, debiased)
    assert feature_space_linear_cka(x * scale, y, debiased) == pytest.approx(expected, abs=1e-10)
    assert feature_space_linear_cka(x * scale, y / scale, debiased) == pytest.approx(
        expected, abs=1e-10
    )
    for route in ("gram", "feature"):
        got = cka_matrix([x * scale, y], debiased=debiased, route=route)[0, 1]
        assert got == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("scale", [1e77, 1e-100, 1e-140])
@pytest.mark.parametrize("debiased", [False, True])
def test_cka_of_finite_grams_is_scale_invariant(scale, debiased):
    rng = np.random.default_rng(31)
    x, y = related_pair(rng, 30, 9, 5)
    expected = oracle_linear_cka(x, y, debiased)
    got = cka(gram_linear(x * scale), gram_linear(y), debiased=debiased)
    assert got == pytest.approx(expected, abs=1e-10)
    # Grams far beyond what gram_linear can build, but finite, work too.
    huge = gram_linear(x) * 1e300
    assert cka(huge, gram_linear(y) * 1e-300, debiased=debiased) == pytest.approx(
        expected, abs=1e-10
    )


@pytest.mark.parametrize("scale", [1e160, 1e200, 1e-160, 1e-300])
def test_gram_linear_refuses_products_that_do_not_fit_float64(scale):
    x = np.random.default_rng(32).standard_normal((5, 3))
    with pytest.raises(ValueError, match="Rescale x first"):
        gram_linear(x * scale)


def test_gram_linear_accepts_the_representable_range_and_zeros():
    x = np.random.default_rng(33).standard_normal((5, 3))
    np.testing.assert_allclose(gram_linear(x * 1e100), (x @ x.T) * 1e200, rtol=1e-12)
    np.testing.assert_array_equal(gram_linear(np.zeros((3, 2))), np.zeros((3, 3)))


def test_tiny_but_varying_representation_is_not_called_constant():
    rng = np.random.default_rng(34)
    x, y = related_pair(rng, 20, 4, 4)
    offset = 1e-100 * x + 5e-90  # varies by 1e-100 around a larger offset: still not constant
    assert feature_space_linear_cka(offset, y) == pytest.approx(oracle_linear_cka(x, y), abs=1e-6)
    with pytest.raises(ValueError, match="constant"):
        feature_space_linear_cka(np.full((20, 4), 1e-100), y)


# --------------------------------------------------------------------------- non-PSD Grams


def test_cka_rejects_a_gram_that_is_not_positive_semidefinite():
    rng = np.random.default_rng(35)
    x, y = related_pair(rng, 25, 6, 4)
    gx, gy = gram_linear(x), gram_linear(y)
    for debiased in (False, True):
        with pytest.raises(ValueError, match="not positive semi-definite"):
            cka(-gx, gy, debiased=debiased)
        with pytest.raises(ValueError, match="not positive semi-definite"):
            cka(gx, -gy, debiased=debiased)
    # Symmetric with a positive diagonal, but one clearly negative eigenvalue in a
    # centred direction (a negative direction along 1 would be removed by centring).
    v = rng.standard_normal(25)
    v -= v.mean()
    v /= np.linalg.norm(v)
    indefinite = np.eye(25) * 2.0 - 2.1 * np.outer(v, v)
    assert np.all(np.diag(indefinite) > 0)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        cka(indefinite, gy)


def test_non_psd_check_above_the_cholesky_size_uses_necessary_conditions(monkeypatch):
    from tutorial_utils import _arrays

    monkeypatch.setattr(_arrays, "PSD_FULL_CHECK_MAX_N", 5)
    rng = np.random.default_rng(37)
    x, y = related_pair(rng, 25, 6, 4)
    gx, gy = gram_linear(x), gram_linear(y)
    assert cka(gx, gy) == pytest.approx(oracle_linear_cka(x, y), abs=1e-10)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        cka(-gx, gy)


def test_conditionally_psd_kernels_are_accepted():
    # -D/2 for squared distances D is not PSD itself, but its centred form is x xᵀ.
    rng = np.random.default_rng(38)
    x, y = related_pair(rng, 20, 5, 3)
    sq = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    assert cka(-sq / 2, gram_linear(y)) == pytest.approx(oracle_linear_cka(x, y), abs=1e-10)


# --------------------------------------------------------------------------- the one policy


def degenerate_four_stimuli() -> np.ndarray:
    """Three identical stimuli and one other: the debiased self-HSIC is exactly 0."""
    return np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [-3.0, 0.5]])


def test_policy_biased_constant_raises_everywhere():
    rng = np.random.default_rng(39)
    y = rng.standard_normal((8, 3))
    constant = np.full((8, 3), 7.0)
    for call in (
        lambda: cka(gram_linear(constant), gram_linear(y)),
        lambda: feature_space_linear_cka(constant, y),
        lambda: cka_matrix([y, constant]),
        lambda: cka_matrix([y], [constant]),
        lambda: cka_matrix([y, constant], route="gram"),
    ):
        with pytest.raises(ValueError, match="constant"):
            call()


def test_policy_debiased_undefined_is_nan_with_a_warning_everywhere():
    x = degenerate_four_stimuli()
    y = np.random.default_rng(40).standard_normal((4, 3))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert math.isnan(cka(gram_linear(x), gram_linear(y), debiased=True))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert math.isnan(feature_space_linear_cka(x, y, debiased=True))
    for route in ("gram", "feature"):
        with pytest.warns(RuntimeWarning, match="undefined"):
            table = cka_matrix([x, y], debiased=True, route=route)
        assert math.isnan(table[0, 1]) and table[1, 1] == 1.0
        with pytest.warns(RuntimeWarning, match="undefined"):
            assert math.isnan(cka_matrix([x], [y], debiased=True, route=route)[0, 0])


def test_cka_from_hsic_is_the_policy():
    from tutorial_utils.hsic import cka_from_hsic

    assert cka_from_hsic(2.0, 4.0, 1.0) == 1.0
    np.testing.assert_allclose(
        cka_from_hsic(np.array([[1.0, 2.0]]), np.array([4.0]), np.array([1.0, 4.0])),
        [[0.5, 0.5]],
    )
    with pytest.raises(ValueError, match="constant"):
        cka_from_hsic(0.0, 0.0, 1.0)
    with pytest.warns(RuntimeWarning, match="undefined"):
        result = cka_from_hsic(
            np.ones((1, 2)), np.array([1.0]), np.array([-1.0, 1.0]), debiased=True
        )
    assert math.isnan(result[0, 0]) and result[0, 1] == 1.0
    with pytest.raises(ValueError, match="overflowed"):
        cka_from_hsic(np.inf, 1.0, 1.0)


# --------------------------------------------------------------------------- memory (issue 11.14)


def test_cka_matrix_refuses_up_front_when_memory_is_short(monkeypatch):
    from tutorial_utils import _memory

    rng = np.random.default_rng(41)
    layers = [rng.standard_normal((50, 20)) for _ in range(3)]
    monkeypatch.setattr(_memory, "MEMORY_LIMIT", 10_000.0)
    with pytest.raises(_memory.NotEnoughMemoryError, match="streaming_cka_matrix") as info:
        cka_matrix(layers)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MemoryError)
    monkeypatch.setattr(_memory, "MEMORY_LIMIT", 10_000_000.0)
    assert cka_matrix(layers).shape == (3, 3)


def test_cka_matrix_estimate_uses_the_machine_memory_before_allocating():
    from tutorial_utils import _memory

    assert 0 < _memory.available_memory()
    # 13 layers of 10 million frames (views of one row: nothing is allocated) need ~800 GB.
    huge = [np.broadcast_to(np.float32(1.0), (10_000_000, 768)) for _ in range(13)]
    with pytest.raises(MemoryError, match="streaming_cka_matrix"):
        cka_matrix(huge)


def test_working_bytes_counts_inputs_and_route():
    from tutorial_utils import _memory
    from tutorial_utils.all_pairs import route_bytes

    n, dims = 1000, [768] * 13
    gram = route_bytes(n, dims, None)["gram"]
    assert gram == 8.0 * n * n * 13
    assert _memory.working_bytes(n, dims, None, gram) == gram + 8.0 * n * 768 * 13


# --------------------------------------------------------------------------- layout


def test_learner_names_stay_importable():
    import tutorial_utils
    from tutorial_utils.cka import cka_matrix as from_cka

    for name in ("gram_linear", "gram_rbf", "center_gram", "cka", "feature_space_linear_cka"):
        assert callable(getattr(tutorial_utils, name))
    assert from_cka is tutorial_utils.cka_matrix
    assert callable(tutorial_utils.streaming_cka_matrix)
    assert tutorial_utils.CKAAccumulator is not None
