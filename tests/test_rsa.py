"""Tests of tutorial_utils.rsa against direct formulas, and the RSA-CKA bridge."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tutorial_utils.cka import feature_space_linear_cka, gram_linear
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
    square = rdm(x, metric, square=True)
    assert square.shape == (7, 7)
    np.testing.assert_allclose(square, square.T)
    np.testing.assert_array_equal(np.diag(square), 0)
    assert square[1, 4] == pytest.approx(DEFINITIONS[metric](x[1].astype(float), x[4]), abs=1e-6)


def test_compare_rdms_methods_match_scipy_on_the_upper_triangle():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 4))
    y = x @ rng.standard_normal((4, 6)) + 0.3 * rng.standard_normal((9, 6))
    a, b = rdm(x), rdm(y)
    assert compare_rdms(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert compare_rdms(a, b, "pearson") == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert compare_rdms(a, b, "kendall") == pytest.approx(stats.kendalltau(a, b).statistic)
    # Square and condensed forms give the same answer.
    square_a = rdm(x, square=True)
    assert compare_rdms(square_a, b) == pytest.approx(compare_rdms(a, b))


def test_rdm_of_identical_geometry_correlates_perfectly():
    x = np.random.default_rng(2).standard_normal((8, 3))
    assert compare_rdms(rdm(x), rdm(2 * x + 1, "correlation")) == pytest.approx(1.0)


def test_bridge_linear_cka_equals_centered_cosine_of_squared_euclidean_rdms():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 30))
    y = x[:, :5] @ rng.standard_normal((5, 7)) + rng.standard_normal((12, 7))
    bridge = compare_rdms(rdm(x, "sqeuclidean"), rdm(y, "sqeuclidean"), "centered_cosine")
    assert bridge == pytest.approx(feature_space_linear_cka(x, y), abs=1e-12)
    # Equivalently: cosine similarity of the double-centred Gram matrices.
    h = np.eye(12) - 1 / 12
    kx, ky = h @ gram_linear(x) @ h, h @ gram_linear(y) @ h
    cosine = np.vdot(kx, ky) / (np.linalg.norm(kx) * np.linalg.norm(ky))
    assert bridge == pytest.approx(cosine, abs=1e-12)
    # The bridge is specific to squared distances: Spearman RSA gives another number.
    assert abs(compare_rdms(rdm(x, "sqeuclidean"), rdm(y, "sqeuclidean")) - bridge) > 1e-3


def test_rdm_validation():
    with pytest.raises(ValueError, match="metric"):
        rdm(np.ones((3, 2)), "manhattan")
    with pytest.raises(ValueError, match="2-D"):
        rdm(np.ones(3))
    with pytest.raises(ValueError, match="at least 2"):
        rdm(np.ones((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        rdm(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="constant"):
        rdm(np.array([[1.0, 1.0], [0.0, 1.0]]), "correlation")
    with pytest.raises(ValueError, match="all zero"):
        rdm(np.array([[0.0, 0.0], [0.0, 1.0]]), "cosine")


def test_compare_rdms_validation():
    a = rdm(np.random.default_rng(4).standard_normal((5, 2)))
    with pytest.raises(ValueError, match="method"):
        compare_rdms(a, a, "cosine")
    with pytest.raises(ValueError, match="different numbers"):
        compare_rdms(a, a[:6])
    with pytest.raises(ValueError, match="zero diagonal"):
        compare_rdms(np.ones((5, 5)), a)
    with pytest.raises(ValueError, match="constant"):
        compare_rdms(np.ones(10), a)


# --------------------------------------------------------------------------- extreme scales


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e160, 1e-160, 1e300])
@pytest.mark.parametrize("metric", ["correlation", "cosine"])
def test_scale_free_metrics_are_exact_at_any_scale(scale, metric):
    x = np.random.default_rng(5).standard_normal((7, 4))
    expected = pairwise(x, DEFINITIONS[metric])
    np.testing.assert_allclose(rdm(x * scale, metric), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("metric", "scale"),
    [
        ("euclidean", 1e200),
        ("euclidean", 1e-200),
        ("euclidean", 1e-290),
        ("sqeuclidean", 1e150),
        ("sqeuclidean", 1e-140),
        ("sqeuclidean", 1e100),
    ],
)
def test_distances_are_exact_where_they_fit_float64(metric, scale):
    x = np.random.default_rng(6).standard_normal((7, 4))
    power = 1 if metric == "euclidean" else 2
    expected = pairwise(x, DEFINITIONS[metric]) * scale**power
    np.testing.assert_allclose(rdm(x * scale, metric), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("metric", "scale"), [("sqeuclidean", 1e200), ("sqeuclidean", 1e-160), ("euclidean", 1.7e308)]
)
def test_distances_that_do_not_fit_float64_are_refused(metric, scale):
    x = np.random.default_rng(7).standard_normal((7, 4))
    x /= np.abs(x).max()
    with pytest.raises(ValueError, match="Rescale x first"):
        rdm(x * scale, metric)


def test_bridge_holds_at_extreme_scales():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((10, 6))
    y = x[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((10, 4))
    expected = feature_space_linear_cka(x, y)
    a, b = rdm(x * 1e150, "sqeuclidean"), rdm(y * 1e-140, "sqeuclidean")
    assert compare_rdms(a, b, "centered_cosine") == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- what is an RDM


@pytest.mark.parametrize("length", [2, 4, 5, 7, 11])
def test_compare_rdms_rejects_vectors_that_cannot_be_condensed_rdms(length):
    vec = np.arange(1.0, length + 1)
    with pytest.raises(ValueError, match=r"not n\(n-1\)/2"):
        compare_rdms(vec, vec)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall", "centered_cosine"])
def test_compare_rdms_rejects_negative_distances(method):
    a = rdm(np.random.default_rng(9).standard_normal((5, 2)))
    bad = a.copy()
    bad[3] = -0.5
    with pytest.raises(ValueError, match="negative"):
        compare_rdms(bad, a, method)
    with pytest.raises(ValueError, match="negative"):
        compare_rdms(a, -distance_square(a), method)


def distance_square(vec):
    from scipy.spatial import distance

    return distance.squareform(vec)


def test_centered_cosine_follows_the_cka_policy():
    # An all-zero RDM is zero after centring, like a constant representation.
    a = rdm(np.random.default_rng(10).standard_normal((5, 2)), "sqeuclidean")
    with pytest.raises(ValueError, match="constant"):
        compare_rdms(np.zeros(10), a, "centered_cosine")
