"""SVCCA with each side's whitened PCA fitted once, against scikit-learn's PCA pair by pair."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.model_selection import GroupKFold

from tutorial_utils import _cca, measures


def smooth(n_rows: int, dims: int, seed: int) -> np.ndarray:
    """Autocorrelated random rows with a decaying spectrum (as hidden states have)."""
    gen = np.random.default_rng(seed)
    return np.cumsum(gen.standard_normal((n_rows, dims)), axis=0) * np.linspace(1, 0.1, dims)


def sklearn_pca(x: np.ndarray, dims: float | int) -> PCA:
    """The reference: scikit-learn's whitened PCA with an exact (full) SVD."""
    if isinstance(dims, int):
        dims = min(dims, *x.shape)  # as many as the data allow
    return PCA(dims, whiten=True, svd_solver="full").fit(x)


def sklearn_heldout_cca(x, y, groups, n_splits, dims) -> float:
    """Held-out SVCCA written out with scikit-learn's PCA, refitted for every pair and fold."""
    per_fold = []
    for train, test in GroupKFold(n_splits=n_splits).split(x, groups=groups):
        pca_x, pca_y = sklearn_pca(x[train], dims), sklearn_pca(y[train], dims)
        cross = pca_x.transform(x[train]).T @ pca_y.transform(y[train]) / (len(train) - 1)
        u, _, vt = np.linalg.svd(cross, full_matrices=False)
        a, b = pca_x.transform(x[test]) @ u, pca_y.transform(y[test]) @ vt.T
        per_fold.append(np.mean([np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(a.shape[1])]))
    return float(np.mean(per_fold))


def sklearn_svcca(x, y, dims) -> float:
    zx, zy = sklearn_pca(x, dims).transform(x), sklearn_pca(y, dims).transform(y)
    return float(np.linalg.svd(zx.T @ zy / (len(x) - 1), compute_uv=False).mean())


@pytest.mark.parametrize("shape", [(60, 90), (120, 15)], ids=["fewer rows", "more rows"])
@pytest.mark.parametrize("dims", [0.99, 0.8, 7])
def test_whitened_pca_matches_scikit_learn_up_to_signs(shape, dims):
    x = smooth(*shape, seed=1) + 3.0
    new_rows = smooth(25, shape[1], seed=2)
    ours, reference = _cca.whitened_pca(x, dims), sklearn_pca(x, dims)
    assert ours.projection.shape[1] == reference.n_components_
    signs = np.sign(np.sum(ours.scores * reference.transform(x), axis=0))
    np.testing.assert_allclose(ours.scores * signs, reference.transform(x), atol=1e-9)
    np.testing.assert_allclose(ours.transform(x), ours.scores, atol=1e-9)
    np.testing.assert_allclose(
        ours.transform(new_rows) * signs, reference.transform(new_rows), atol=1e-9
    )
    np.testing.assert_allclose(np.cov(ours.scores.T), np.eye(len(signs)), atol=1e-9)


@pytest.mark.parametrize("shape", [(60, 90), (120, 15)], ids=["fewer rows", "more rows"])
def test_svcca_dimensions_are_those_of_scikit_learn_pca(shape):
    x = smooth(*shape, seed=10)
    for fraction in (0.5, 0.9, 0.99, 0.999):
        expected = PCA(fraction).fit(x).n_components_
        assert measures.svcca_dimensions(x, dims=fraction) == expected
        assert _cca.whitened_pca(x, fraction).projection.shape[1] == expected
    assert measures.svcca_dimensions(x, dims=7) == 7


def test_a_number_of_components_is_capped_at_the_rank_of_the_centred_rows():
    x = smooth(20, 50, seed=3)  # 20 centred rows have rank 19
    assert _cca.whitened_pca(x, 40).projection.shape == (50, 19)
    assert _cca.whitened_pca(x.T, 40).projection.shape == (20, 20)
    with pytest.raises(ValueError, match="dims must be"):
        _cca.whitened_pca(x, 0)


def test_heldout_cca_pairs_equal_scikit_learn_refitted_for_every_pair():
    groups = np.repeat(np.arange(6), 25)
    xs = {layer: smooth(150, 200, seed=layer) for layer in range(3)}  # fewer training rows
    ys = {
        "mixed": xs[0][:, :10] @ np.random.default_rng(4).standard_normal((10, 6)),
        "own": smooth(150, 6, seed=5),
    }
    for dims in (0.99, 12):
        table = measures.heldout_cca_pairs(xs, ys, groups, n_splits=3, dims=dims)
        assert list(table) == [(kx, ky) for kx in xs for ky in ys]
        for (kx, ky), value in table.items():
            expected = sklearn_heldout_cca(xs[kx], ys[ky], groups, 3, dims)
            assert value == pytest.approx(expected, abs=1e-10)
            single = measures.heldout_cca(xs[kx], ys[ky], groups, n_splits=3, dims=dims)
            assert single == value


def test_svcca_pairs_equal_scikit_learn_pair_by_pair():
    xs = {"wide": smooth(80, 120, seed=6), "narrow": smooth(80, 9, seed=7)}
    ys = {
        "a": xs["narrow"] @ np.random.default_rng(8).standard_normal((9, 4)),
        "b": smooth(80, 5, 9),
    }
    table = measures.svcca_pairs(xs, ys, dims=0.95)
    for (kx, ky), value in table.items():
        assert value == pytest.approx(sklearn_svcca(xs[kx], ys[ky], 0.95), abs=1e-10)
        assert measures.svcca(xs[kx], ys[ky], dims=0.95) == value


def test_pairs_reject_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="equal row counts; got \\[10, 12\\]"):
        measures.svcca_pairs({0: np.ones((10, 3))}, {0: np.ones((12, 3))})
    with pytest.raises(ValueError, match="non-empty"):
        measures.heldout_cca_pairs({}, {0: np.ones((12, 3))}, np.arange(12) % 3)
