"""tutorial_utils.cka against oracles written from the definitions, and CKA's properties."""

import itertools
import math
import sys
import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group

from tutorial_utils.cka import (
    center_gram,
    choose_route,
    cka,
    cka_matrix,
    feature_space_linear_cka,
    gram_linear,
    gram_rbf,
)

C = sys.modules["tutorial_utils.cka"]  # the module (tutorial_utils.cka is also the function)

# --------------------------------------------------------------------------- oracles, no shortcuts


def centering_matrix(n: int) -> np.ndarray:
    return np.eye(n) - np.ones((n, n)) / n


def hsic_biased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Gretton et al.: tr(K H L H) / (n - 1)²."""
    h = centering_matrix(len(k))
    return float(np.trace(k @ h @ l @ h)) / (len(k) - 1) ** 2


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Song et al. (2012), eq. (5), with the diagonals set to zero."""
    n, one = len(k), np.ones(len(k))
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    term2 = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return float((np.trace(kt @ lt) + term2 - term3) / (n * (n - 3)))


def oracle_cka(k: np.ndarray, l: np.ndarray, debiased: bool = False) -> float:  # noqa: E741
    hsic = hsic_unbiased if debiased else hsic_biased
    return hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))


def oracle_linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    """Linear CKA of the features centred by H first (H K H = (H x)(H x)ᵀ), so that large
    offsets do not cost float64 precision; both HSICs are invariant to that centring."""
    h = centering_matrix(len(x))
    x, y = h @ np.asarray(x, dtype=np.float64), h @ np.asarray(y, dtype=np.float64)
    return oracle_cka(x @ x.T, y @ y.T, debiased)


def related_pair(rng: np.random.Generator, n: int, dx: int, dy: int, dtype=np.float64):
    """Two representations that share a latent signal (so CKA is clearly non-trivial)."""
    latent = rng.standard_normal((n, 3))
    x = latent @ rng.standard_normal((3, dx)) + 0.5 * rng.standard_normal((n, dx))
    y = latent @ rng.standard_normal((3, dy)) + 0.5 * rng.standard_normal((n, dy))
    return x.astype(dtype), y.astype(dtype)


def degenerate_four_stimuli() -> np.ndarray:
    """Three identical stimuli and one other: the debiased self-HSIC is exactly 0."""
    return np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [-3.0, 0.5]])


ROUTES = [  # (x, y, debiased) -> linear CKA, by every route
    lambda x, y, d: cka(gram_linear(x), gram_linear(y), d),
    lambda x, y, d: feature_space_linear_cka(x, y, d),
    lambda x, y, d: cka_matrix([x], [y], debiased=d, route="gram")[0, 0],
    lambda x, y, d: cka_matrix([x], [y], debiased=d, route="feature")[0, 0],
    lambda x, y, d: cka_matrix([x, y], debiased=d, route="gram")[0, 1],
    lambda x, y, d: cka_matrix([x, y], debiased=d, route="feature")[0, 1],
]


def every_route(x, y, debiased=False) -> list[float]:
    return [route(x, y, debiased) for route in ROUTES]


# --------------------------------------------------------------------------- agreement with oracles


@pytest.mark.parametrize(("n", "dx", "dy"), [(6, 3, 5), (12, 40, 7), (50, 10, 20), (200, 8, 16)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("debiased", [False, True])
def test_every_linear_route_matches_the_oracle(n, dx, dy, dtype, debiased):
    x, y = related_pair(np.random.default_rng(n + dx), n, dx, dy, dtype)
    expected = oracle_linear_cka(x, y, debiased)
    np.testing.assert_allclose(every_route(x, y, debiased), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("threshold", [0.5, 2.0])
@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_gram_and_cka_match_the_oracle(threshold, debiased):
    x, y = related_pair(np.random.default_rng(7), 30, 10, 4)

    def oracle_rbf(z, median=np.median):
        sq = np.array([[np.sum((a - b) ** 2) for b in z] for a in z])
        return np.exp(-sq / (2 * threshold**2 * median(sq)))

    kx, ky = oracle_rbf(x), oracle_rbf(y)
    np.testing.assert_allclose(gram_rbf(x, threshold), kx, rtol=0, atol=1e-12)
    got = cka(gram_rbf(x, threshold), gram_rbf(y, threshold), debiased=debiased)
    assert got == pytest.approx(oracle_cka(kx, ky, debiased), abs=1e-10)
    off_diagonal = oracle_rbf(x, lambda sq: np.median(sq[np.triu_indices(len(sq), 1)]))
    np.testing.assert_allclose(gram_rbf(x, threshold, include_diagonal=False), off_diagonal)


def test_gram_linear_is_the_dot_product_matrix_and_refuses_what_float64_cannot_hold():
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32).astype(np.float64)
    expected = np.array([[float(np.dot(a, b)) for b in x] for a in x])
    assert gram_linear(x.astype(np.float32)).dtype == np.float64
    np.testing.assert_allclose(gram_linear(x.astype(np.float32)), expected, atol=1e-12)
    np.testing.assert_allclose(gram_linear(x * 1e100), expected * 1e200, rtol=1e-12)
    np.testing.assert_array_equal(gram_linear(np.zeros((3, 2))), np.zeros((3, 3)))
    for scale in (1e160, 1e-160):
        with pytest.raises(ValueError, match="Rescale x first"):
            gram_linear(x * scale)


@pytest.mark.parametrize("n", [4, 9, 30])
def test_center_gram_is_hkh_and_u_centring_gives_the_unbiased_hsic(n):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal((n, 6)), rng.standard_normal((n, 3))
    k, ell = x @ x.T, y @ y.T
    before = k.copy()
    np.testing.assert_allclose(center_gram(k), centering_matrix(n) @ k @ centering_matrix(n))
    u_k, u_l = center_gram(k, unbiased=True), center_gram(ell, unbiased=True)
    assert np.all(np.diag(u_k) == 0)
    assert np.vdot(u_k, u_l) / (n * (n - 3)) == pytest.approx(hsic_unbiased(k, ell), abs=1e-10)
    np.testing.assert_array_equal(k, before)  # the input is not modified


# --------------------------------------------------------------------------- properties


def test_cka_of_a_representation_with_itself_is_one_and_biased_cka_is_symmetric():
    x, y = related_pair(np.random.default_rng(4), 25, 10, 30)
    np.testing.assert_allclose(every_route(x, x) + every_route(x, x, True), 1.0, atol=1e-12)
    assert cka(gram_rbf(x), gram_rbf(x)) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(every_route(x, y), every_route(y, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariant_to_rotation_scale_and_translation(debiased):
    rng = np.random.default_rng(5)
    x, y = related_pair(rng, 40, 12, 9)
    q, shift = ortho_group.rvs(12, random_state=6), rng.standard_normal(12) * 50
    moved = 2.5 * (x @ q) + shift
    base = feature_space_linear_cka(x, y, debiased)
    assert feature_space_linear_cka(moved, y, debiased) == pytest.approx(base, abs=1e-10)
    rbf = cka(gram_rbf(x), gram_rbf(y), debiased)
    assert cka(gram_rbf(moved), gram_rbf(y), debiased) == pytest.approx(rbf, abs=1e-10)
    # Not invariant to a general invertible map: stretching a noise axis lets noise dominate.
    signal = np.column_stack([y[:, 0], rng.standard_normal(40)])
    assert feature_space_linear_cka(signal * [1.0, 30.0], y[:, :1]) < 0.5 * (
        feature_space_linear_cka(signal, y[:, :1])
    )


def test_small_n_bias_lesson_and_negative_debiased_values_are_kept():
    """Independent noise, n = 10 in 768 dims: biased CKA is near 1, debiased about 0 (sd ~0.2,
    so the mean of 40 draws lies within 0.1 of 0) and sometimes negative."""
    rng = np.random.default_rng(2024)
    pairs = [(rng.standard_normal((10, 768)), rng.standard_normal((10, 768))) for _ in range(40)]
    biased = [feature_space_linear_cka(x, y) for x, y in pairs]
    debiased = [feature_space_linear_cka(x, y, debiased=True) for x, y in pairs]
    assert min(biased) > 0.95 and abs(np.mean(debiased)) < 0.1 and min(debiased) < 0


# --------------------------------------------------------------------------- cka_matrix


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("route", ["auto", "gram", "feature"])
def test_cka_matrix_entries_equal_the_oracle_pair_by_pair(debiased, route):
    rng = np.random.default_rng(11)
    latent = rng.standard_normal((20, 4))
    reps = [latent @ rng.standard_normal((4, d)) + rng.standard_normal((20, d)) for d in (3, 30)]
    others = [rng.standard_normal((20, d)) + latent[:, :1] for d in (5, 50, 2)]
    square = cka_matrix(reps + others, debiased=debiased, route=route)
    labelled = dict(zip("ab", reps, strict=True)), dict(zip("xyz", others, strict=True))
    table = cka_matrix(*labelled, debiased=debiased, route=route)
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["x", "y", "z"]
    cross = table.to_numpy()
    np.testing.assert_array_equal(square, square.T)
    np.testing.assert_array_equal(np.diag(square), 1.0)
    oracle = [[oracle_linear_cka(a, b, debiased) for b in reps + others] for a in reps + others]
    np.testing.assert_allclose(square, oracle, rtol=0, atol=1e-10)
    np.testing.assert_allclose(cross, np.asarray(oracle)[:2, 2:], rtol=0, atol=1e-10)


def test_the_gram_route_writes_no_blas_output_wider_than_a_tile(monkeypatch):
    """OpenBLAS 0.3.31 segfaults on a ~32,760² output: above 2 × BLAS_BLOCK the Grams are tiled."""
    from scipy.linalg import blas

    reps = [np.random.default_rng(0).standard_normal((61, d)) for d in (4, 2, 9)]
    sides, dsyrk = [], blas.dsyrk
    monkeypatch.setattr(blas, "dsyrk", lambda *a, **k: sides.append(k["c"].shape) or dsyrk(*a, **k))
    whole = cka_matrix(reps, route="gram")
    assert sides == [(61, 61)] * 3  # one call each, as before
    monkeypatch.setattr(C, "BLAS_BLOCK", 3)
    sides.clear()
    np.testing.assert_allclose(cka_matrix(reps, route="gram"), whole, rtol=0, atol=1e-12)
    assert len(sides) == 3 * 21 and max(map(max, sides)) == 3


def test_choose_route_prefers_grams_for_few_stimuli_and_avoids_what_does_not_fit():
    dims = [768] * 13
    assert choose_route(1000, dims) == choose_route(3000, dims) == "gram"
    assert choose_route(200_000, [12, 12]) == choose_route(100_000, dims, [12, 12]) == "feature"
    # 13 Gram matrices of 9000 frames need 8.4 GB, the feature cross products 0.8 GB.
    assert choose_route(9000, dims, max_bytes=float("inf")) == "gram"
    assert choose_route(9000, dims) == "feature"
    assert choose_route(9000, dims, max_bytes=1.0) == "gram"  # neither fits: the cheaper


def test_cka_matrix_refuses_up_front_when_memory_is_short(monkeypatch):
    layers = [np.random.default_rng(41).standard_normal((50, 20)) for _ in range(3)]
    monkeypatch.setattr(C, "MEMORY_LIMIT", 10_000.0)
    with pytest.raises(C.NotEnoughMemoryError, match="streaming_cka_matrix") as info:
        cka_matrix(layers)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MemoryError)
    monkeypatch.setattr(C, "MEMORY_LIMIT", None)  # the machine's memory, read before allocating
    huge = [np.broadcast_to(np.float32(1.0), (10_000_000, 768)) for _ in range(13)]  # ~800 GB
    with pytest.raises(MemoryError, match="streaming_cka_matrix"):
        cka_matrix(huge)


# --------------------------------------------------------------------------- precision and range


@pytest.mark.parametrize("debiased", [False, True])
def test_float32_features_with_a_large_offset(debiased):
    """The Grams of float32 features 5000 away from the origin are valid (issue 20: they were
    refused as not PSD): every route gives the oracle's value."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((500, 100)).astype(np.float32)
    y = (2 * x[:, :20] - 5000 + rng.standard_normal((500, 20))).astype(np.float32)
    routes = every_route(x, y, debiased)  # routes[0]: cka(gram_linear(x), gram_linear(y))
    np.testing.assert_allclose(routes, oracle_linear_cka(x, y, debiased), rtol=0, atol=1e-8)
    assert routes[0] == pytest.approx(routes[1], abs=1e-10)  # = feature_space_linear_cka


@pytest.mark.parametrize("scale", [1e150, 1e-150, 1e300, 1e-300])
@pytest.mark.parametrize("debiased", [False, True])
def test_exact_over_the_float64_range(scale, debiased):
    x, y = related_pair(np.random.default_rng(30), 40, 12, 7)
    expected = oracle_linear_cka(x, y, debiased)
    got = [
        cka_matrix([x * scale, y], debiased=debiased, route=r)[0, 1] for r in ("gram", "feature")
    ]
    got.append(feature_space_linear_cka(x * scale, y / scale, debiased))
    if abs(math.log10(scale)) < 200:  # Grams of x * 1e±150 as gram_linear cannot build them
        got.append(cka(gram_linear(x) * scale, gram_linear(y) / scale, debiased=debiased))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    offset = 1e-100 * x + 5e-90  # varies by 1e-100 around a larger offset: not constant
    assert feature_space_linear_cka(offset, y) == pytest.approx(oracle_linear_cka(x, y), abs=1e-6)


# --------------------------------------------------------------------------- validation


def test_rejects_bad_shapes_sizes_and_arguments():
    rng = np.random.default_rng(15)
    x5, x6 = rng.standard_normal((5, 2)), rng.standard_normal((6, 2))
    nan, inf = np.where(np.eye(5, 2) == 1, np.nan, x5), np.where(np.eye(5) == 1, np.inf, 1.0)
    cases = [
        (lambda: feature_space_linear_cka(nan, x5), "NaN or infinite"),
        (lambda: gram_rbf(nan), "NaN or infinite"),
        (lambda: cka_matrix([x5, nan]), "NaN or infinite"),
        (lambda: cka(inf, np.eye(5)), "NaN or infinite"),
        (lambda: gram_linear(np.zeros(5)), "2-D"),
        (lambda: feature_space_linear_cka(np.zeros((4, 3, 2)), np.zeros((4, 3))), "2-D"),
        (lambda: cka_matrix(np.ones((5, 3))), "single array"),
        (lambda: feature_space_linear_cka(x5, x6), "same stimuli"),
        (lambda: cka(np.eye(4) + 1, np.eye(5) + 1), "different numbers of stimuli"),
        (lambda: cka_matrix([x5], [x6]), "same stimuli"),
        (lambda: cka(np.ones((4, 3)), np.eye(4)), "square"),
        (lambda: feature_space_linear_cka(np.ones((1, 3)), np.ones((1, 3))), "at least 2"),
        (lambda: feature_space_linear_cka(x5[:3], x6[:3], debiased=True), "at least 4"),
        (lambda: cka(gram_linear(x5[:3]), gram_linear(x6[:3]), debiased=True), "at least 4"),
        (lambda: cka_matrix([x5[:3]], debiased=True), "at least 4"),
        (lambda: cka_matrix([x5], route="fast"), "route"),
        (lambda: gram_rbf(x5, threshold=0), "threshold"),
        (lambda: cka(rng.standard_normal((5, 5)), np.eye(5)), "not symmetric"),
        (lambda: center_gram(rng.standard_normal((5, 5))), "not symmetric"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert 0 <= feature_space_linear_cka(x5[:3], x6[:3]) <= 1  # 3 stimuli suffice when biased


def test_rejects_grams_that_are_not_positive_semidefinite():
    x, y = related_pair(np.random.default_rng(35), 25, 6, 4)
    gx, gy = gram_linear(x), gram_linear(y)
    distances = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)  # a distance, not a Gram
    for debiased in (False, True):
        for bad in ((-gx, gy), (gx, -gy), (distances, gy), (distances, distances)):
            with pytest.raises(ValueError, match="not positive semi-definite"):
                cka(*bad, debiased=debiased)
    # -D/2 is not PSD itself, but its centred form is x xᵀ centred: a valid kernel.
    assert cka(-distances / 2, gy) == pytest.approx(oracle_linear_cka(x, y), abs=1e-10)


# --------------------------------------------------------------------------- the one policy


def test_policy_constant_raises_for_both_estimators_on_every_route():
    y = np.random.default_rng(39).standard_normal((8, 3))
    constants = (np.full((8, 3), 7.0), np.full((8, 3), 1e-100), np.full((8, 3), np.iinfo(int).min))
    for constant, debiased, route in itertools.product(constants, (False, True), ROUTES):
        with pytest.raises(ValueError, match="constant"):
            route(constant, y, debiased)


def test_policy_debiased_undefined_is_nan_with_a_warning_on_every_route():
    x = degenerate_four_stimuli()
    assert hsic_unbiased(x @ x.T, x @ x.T) == pytest.approx(0.0, abs=1e-12)
    y = np.random.default_rng(40).standard_normal((4, 3))
    with pytest.warns(RuntimeWarning, match="undefined"):
        values = every_route(x, y, debiased=True)
    assert all(math.isnan(v) for v in values)
    with pytest.warns(RuntimeWarning, match="undefined"):
        table = cka_matrix([x, y], debiased=True)
    assert math.isnan(table[0, 0]) and table[1, 1] == 1.0
    with warnings.catch_warnings():  # well-defined inputs emit no warning
        warnings.simplefilter("error")
        every_route(*related_pair(np.random.default_rng(23), 30, 5, 5), debiased=True)
