"""tutorial_utils.rsa against the definitions (loops, scipy's correlations); the CKA bridge."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from tutorial_utils.cka import feature_space_linear_cka
from tutorial_utils.rsa import compare_rdms, rdm


def pairwise(x: np.ndarray, dissimilarity) -> np.ndarray:
    """Condensed upper triangle of dissimilarity(x_i, x_j), i < j, by a plain loop."""
    n = len(x)
    return np.array([dissimilarity(x[i], x[j]) for i in range(n) for j in range(i + 1, n)])


DEFINITIONS = {
    "euclidean": lambda a, b: np.sqrt(np.sum((a - b) ** 2)),
    "sqeuclidean": lambda a, b: np.sum((a - b) ** 2),
    "cosine": lambda a, b: 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)),
    "correlation": lambda a, b: 1 - np.corrcoef(a, b)[0, 1],
}


@pytest.mark.parametrize("metric", sorted(DEFINITIONS))
def test_rdm_matches_the_definition(metric):
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    expected = pairwise(x.astype(np.float64), DEFINITIONS[metric])
    np.testing.assert_allclose(rdm(x, metric), expected, atol=1e-12)
    np.testing.assert_allclose(rdm(x, metric, square=True), distance.squareform(expected))


def test_compare_rdms_methods_match_scipy_on_the_upper_triangle():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 4))
    y = x @ rng.standard_normal((4, 6)) + 0.3 * rng.standard_normal((9, 6))
    a, b = rdm(x), rdm(y)
    assert compare_rdms(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert compare_rdms(a, b, "pearson") == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert compare_rdms(a, b, "kendall") == pytest.approx(stats.kendalltau(a, b).statistic)
    assert compare_rdms(rdm(x, square=True), b) == pytest.approx(compare_rdms(a, b))
    assert compare_rdms(a, rdm(2 * x + 1)) == pytest.approx(1.0)


@pytest.mark.parametrize(("scale_x", "scale_y"), [(1.0, 1.0), (1e150, 1e-140)])
def test_bridge_centered_cosine_of_squared_euclidean_rdms_is_linear_cka(scale_x, scale_y):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 30))
    y = x[:, :5] @ rng.standard_normal((5, 7)) + rng.standard_normal((12, 7))
    a, b = rdm(x * scale_x, "sqeuclidean"), rdm(y * scale_y, "sqeuclidean")
    bridge = compare_rdms(a, b, "centered_cosine")
    h = np.eye(12) - 1 / 12  # the cosine of the double-centred Gram matrices, by definition
    kx, ky = h @ x @ x.T @ h, h @ y @ y.T @ h
    assert bridge == pytest.approx(np.vdot(kx, ky) / (np.linalg.norm(kx) * np.linalg.norm(ky)))
    assert bridge == pytest.approx(feature_space_linear_cka(x, y), abs=1e-12)
    assert abs(compare_rdms(a, b) - bridge) > 1e-3  # Spearman RSA is another number


@pytest.mark.parametrize("scale", [1e200, 1e-160, 1e300])
def test_distances_are_exact_where_they_fit_float64_and_refused_where_not(scale):
    x = np.random.default_rng(5).standard_normal((7, 4))
    x /= np.abs(x).max()
    for metric in ("correlation", "cosine"):  # scale-free
        expected = pairwise(x, DEFINITIONS[metric])
        np.testing.assert_allclose(rdm(x * scale, metric), expected, rtol=1e-10, atol=1e-12)
    if scale < 1e300:
        expected = pairwise(x, DEFINITIONS["euclidean"]) * scale
        np.testing.assert_allclose(rdm(x * scale, "euclidean"), expected, rtol=1e-12)
    for metric, big in (("sqeuclidean", scale), ("euclidean", 1.7e308)):
        with pytest.raises(ValueError, match="Rescale x first"):
            rdm(x * big, metric)


def test_rdm_and_compare_rdms_refuse_bad_input():
    a = rdm(np.random.default_rng(4).standard_normal((5, 2)))
    negative = a.copy()
    negative[3] = -0.5
    cases = [
        (lambda: rdm(np.ones((3, 2)), "manhattan"), "metric"),
        (lambda: rdm(np.ones(3)), "2-D"),
        (lambda: rdm(np.ones((1, 3))), "at least 2"),
        (lambda: rdm(np.array([[1.0, np.nan], [0.0, 1.0]])), "NaN"),
        (lambda: rdm(np.array([[1.0, 1.0], [0.0, 1.0]]), "correlation"), "constant"),
        (lambda: rdm(np.array([[0.0, 0.0], [0.0, 1.0]]), "cosine"), "all zero"),
        (lambda: compare_rdms(a, a, "cosine"), "method"),
        (lambda: compare_rdms(a, a[:6]), "different numbers"),
        (lambda: compare_rdms(np.ones((5, 5)), a), "zero diagonal"),
        (lambda: compare_rdms(np.ones(10), a), "constant"),
        (lambda: compare_rdms(np.arange(1.0, 5.0), np.arange(1.0, 5.0)), r"not n\(n-1\)/2"),
        (lambda: compare_rdms(negative, a, "centered_cosine"), "negative"),
        (lambda: compare_rdms(a, -distance.squareform(a)), "negative"),
        (lambda: compare_rdms(np.zeros(10), a, "centered_cosine"), "constant"),  # the CKA policy
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
