"""Tests of tutorial_utils.measures against independent formulas and textbook properties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import ortho_group
from sklearn.cross_decomposition import CCA

from tutorial_utils import measures
from tutorial_utils.cka import feature_space_linear_cka


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def smooth_recordings(n_recordings: int = 8, length: int = 40, dims: int = 6, seed: int = 0):
    """Autocorrelated random frames of several 'recordings' and their recording labels."""
    gen = rng(seed)
    steps = gen.standard_normal((n_recordings * length, dims))
    frames = np.concatenate([np.cumsum(part, axis=0) for part in np.split(steps, n_recordings)])
    groups = np.repeat([f"rec{i}" for i in range(n_recordings)], length)
    return frames, groups


def normalised(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0)
    return centred / np.sqrt(np.sum(centred**2))


# --------------------------------------------------------------------------- Procrustes


def test_procrustes_of_a_rotated_scaled_shifted_copy_is_zero():
    x = rng(0).standard_normal((50, 6))
    y = 3.5 * x @ ortho_group.rvs(6, random_state=1) + 7.0
    assert measures.procrustes_distance(x, y) == pytest.approx(0.0, abs=1e-6)
    assert measures.procrustes_similarity(x, y) == pytest.approx(1.0, abs=1e-12)


def test_procrustes_of_a_copy_embedded_in_more_dimensions_is_zero():
    x = rng(1).standard_normal((40, 3))
    embedding = ortho_group.rvs(8, random_state=2)[:3]  # 3 orthonormal rows in 8 dimensions
    y = x @ embedding
    assert measures.procrustes_distance(x, y) == pytest.approx(0.0, abs=1e-6)
    assert measures.procrustes_distance(y, x) == pytest.approx(0.0, abs=1e-6)


def test_procrustes_distance_matches_the_brute_force_svd_solution():
    gen = rng(3)
    x, y = gen.standard_normal((30, 5)), gen.standard_normal((30, 9))
    a = np.pad(normalised(x), ((0, 0), (0, 4)))  # zero-pad x to y's width
    b = normalised(y)
    u, _, vt = np.linalg.svd(a.T @ b)
    brute = np.linalg.norm(a @ (u @ vt) - b)  # R = U Vᵀ solves min ‖AR − B‖ (Schönemann)
    assert measures.procrustes_distance(x, y) == pytest.approx(brute, rel=1e-10)
    similarity = measures.procrustes_similarity(x, y)
    assert similarity == pytest.approx(1 - brute**2 / 2, rel=1e-10)
    assert 0 <= similarity <= 1


def test_procrustes_and_linear_cka_share_the_singular_values_of_the_cross_product():
    gen = rng(4)
    x = gen.standard_normal((60, 20))
    y = x[:, :4] @ gen.standard_normal((4, 7)) + gen.standard_normal((60, 7))
    a, b = normalised(x), normalised(y)
    sigma = np.linalg.svd(a.T @ b, compute_uv=False)
    cka = np.sum(sigma**2) / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))
    assert measures.procrustes_similarity(x, y) == pytest.approx(sigma.sum(), rel=1e-12)
    assert feature_space_linear_cka(x, y) == pytest.approx(cka, rel=1e-10)


def test_procrustes_similarity_pairs_equal_the_function_pair_by_pair():
    gen = rng(5)
    xs = {"a": gen.standard_normal((40, 30)), "b": gen.standard_normal((40, 4))}
    ys = {(v, t): gen.standard_normal((40, 6)) + 2 for v in ("obs", "null") for t in "xy"}
    table = measures.procrustes_similarity_pairs(xs, ys)
    assert list(table) == [(kx, ky) for kx in xs for ky in ys]
    for (kx, ky), value in table.items():
        assert value == measures.procrustes_similarity(xs[kx], ys[ky])


def test_procrustes_rejects_a_constant_representation():
    with pytest.raises(ValueError, match="constant"):
        measures.procrustes_similarity(np.ones((10, 3)), rng(0).standard_normal((10, 3)))


# --------------------------------------------------------------------------- neighbours


def brute_force_neighbours(x: np.ndarray, k: int) -> list[set[int]]:
    distances = cdist(x, x)
    np.fill_diagonal(distances, np.inf)
    return [set(np.argsort(row, kind="stable")[:k]) for row in distances]


def test_neighbour_sets_match_a_brute_force_search():
    x = rng(5).standard_normal((80, 7))
    found = measures.neighbour_sets(x, k=6)
    assert found.shape == (80, 6)
    assert [set(row) for row in found] == brute_force_neighbours(x, 6)


def test_mutual_knn_of_identical_sets_is_one_and_is_scale_free():
    x = rng(6).standard_normal((100, 12))
    assert measures.mutual_knn(x, x, k=10) == 1.0
    assert measures.mutual_knn(x, 2.0 * x + 1.0, k=10) == 1.0


def test_mutual_knn_of_independent_sets_is_near_chance():
    n, k = 300, 10
    values = [
        measures.mutual_knn(rng(s).standard_normal((n, 5)), rng(s + 100).standard_normal((n, 8)), k)
        for s in range(5)
    ]
    assert np.mean(values) == pytest.approx(k / (n - 1), abs=0.01)


def test_mutual_knn_matches_the_overlap_of_brute_force_neighbour_sets():
    gen = rng(7)
    x = gen.standard_normal((60, 4))
    y = x + 0.5 * gen.standard_normal((60, 4))
    sets_x, sets_y = brute_force_neighbours(x, 5), brute_force_neighbours(y, 5)
    expected = np.mean([len(a & b) / 5 for a, b in zip(sets_x, sets_y, strict=True)])
    assert measures.mutual_knn(x, y, k=5) == pytest.approx(expected)


def test_neighbour_overlap_counts_the_shared_indices_of_each_row():
    gen = rng(8)
    x = gen.standard_normal((50, 3))
    for k, noise in [(1, 0.1), (5, 0.5), (12, 2.0), (49, 1.0)]:
        a = measures.neighbour_sets(x, k)
        b = measures.neighbour_sets(x + noise * gen.standard_normal(x.shape), k)
        by_sets = np.mean([len(set(r) & set(s)) / k for r, s in zip(a, b, strict=True)])
        broadcast = (a[:, :, None] == b[:, None, :]).any(axis=2).mean()
        assert measures.neighbour_overlap(a, b) == pytest.approx(by_sets, abs=1e-15)
        assert measures.neighbour_overlap(a, b) == broadcast


@pytest.mark.parametrize("k", [0, 20, 25])
def test_mutual_knn_rejects_k_outside_one_to_n_minus_one(k):
    x = rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match="k must be between 1 and n - 1 = 19"):
        measures.mutual_knn(x, x, k=k)


# --------------------------------------------------------------------------- ridge


def test_ridge_on_pure_noise_scores_at_most_zero_held_out():
    x, groups = smooth_recordings(dims=30, seed=1)
    y, _ = smooth_recordings(dims=4, seed=2)  # independent of x
    scores = measures.ridge_scores(x, y, groups)
    assert scores.shape == (4,)
    assert scores.mean() < 0.02
    assert measures.ridge_predictivity(x, y, groups) == pytest.approx(scores.mean())


def test_ridge_recovers_a_noisy_linear_map():
    x, groups = smooth_recordings(dims=10, seed=3)
    y = x @ rng(4).standard_normal((10, 3)) + 0.1 * rng(5).standard_normal((len(x), 3))
    assert measures.ridge_predictivity(x, y, groups) > 0.95
    assert measures.ridge_predictivity(x, y, groups, score="pearson") > 0.97
    assert measures.ridge_predictivity(x, y, groups, inner_splits=3) > 0.95


def loo_ridge_errors(z: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Squared leave-one-out errors per column, refitting ridge (free intercept) n times."""
    errors = np.empty_like(y)
    for i in range(len(z)):
        keep = np.arange(len(z)) != i
        z_mean, y_mean = z[keep].mean(axis=0), y[keep].mean(axis=0)
        zc = z[keep] - z_mean
        weights = np.linalg.solve(zc.T @ zc + alpha * np.eye(z.shape[1]), zc.T @ (y[keep] - y_mean))
        errors[i] = (y[i] - y_mean - (z[i] - z_mean) @ weights) ** 2
    return errors


def closed_form_ridge_scores(x, y, groups, alphas):
    """Held-out R² of one-recording-out folds: inputs standardised on the training rows, the
    penalty of each column chosen from ``alphas`` by explicit leave-one-out, closed-form fit."""
    per_fold = []
    for held_out in np.unique(groups):
        train, test = groups != held_out, groups == held_out
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        z_train, z_test = (x[train] - mean) / std, (x[test] - mean) / std  # z_train: mean 0
        loo = np.array([loo_ridge_errors(z_train, y[train], a).mean(axis=0) for a in alphas])
        chosen = np.asarray(alphas)[loo.argmin(axis=0)]
        predicted = np.empty_like(y[test])
        for column, alpha in enumerate(chosen):
            gram = z_train.T @ z_train + alpha * np.eye(x.shape[1])
            weights = np.linalg.solve(gram, z_train.T @ y[train, column])
            predicted[:, column] = z_test @ weights + y[train, column].mean()
        residual = np.sum((y[test] - predicted) ** 2, axis=0)
        per_fold.append(1 - residual / np.sum((y[test] - y[test].mean(axis=0)) ** 2, axis=0))
    return np.mean(per_fold, axis=0)


@pytest.mark.parametrize("dims", [3, 40], ids=["more rows than columns", "more columns than rows"])
def test_ridge_penalty_choice_matches_explicit_leave_one_out(dims):
    x, groups = smooth_recordings(n_recordings=3, length=12, dims=dims, seed=12)
    y = x[:, :2] @ rng(13).standard_normal((2, 3)) + 3 * rng(14).standard_normal((len(x), 3))
    alphas = [0.1, 3.0, 100.0, 1e4]
    expected = closed_form_ridge_scores(x, y, groups, alphas)
    scores = measures.ridge_scores(x, y, groups, alphas=alphas)
    np.testing.assert_allclose(scores, expected, rtol=1e-8, atol=1e-10)


def test_ridge_with_one_penalty_matches_the_closed_form_solution():
    x, groups = smooth_recordings(n_recordings=6, dims=5, seed=6)
    y = x[:, :2] ** 2 + rng(7).standard_normal((len(x), 2))
    alpha = 10.0
    # six folds for six recordings: leave one recording out; one penalty, so no choice to make
    expected = closed_form_ridge_scores(x, y, groups, alphas=[alpha])
    scores = measures.ridge_scores(x, y, groups, n_splits=6, alphas=[alpha])
    np.testing.assert_allclose(scores, expected, rtol=1e-8)


def test_ridge_columns_are_independent_so_targets_can_be_stacked():
    x, groups = smooth_recordings(dims=8, seed=8)
    y1 = x[:, :3] @ rng(9).standard_normal((3, 2)) + rng(10).standard_normal((len(x), 2))
    y2, _ = smooth_recordings(dims=3, seed=11)
    stacked = measures.ridge_scores(x, np.hstack([y1, y2]), groups)
    separate = np.concatenate(
        [measures.ridge_scores(x, y1, groups), measures.ridge_scores(x, y2, groups)]
    )
    np.testing.assert_allclose(stacked, separate, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- CCA


def qr_canonical_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Textbook CCA: singular values of Q_xᵀ Q_y for the QR factors of the centred data."""
    qx, _ = np.linalg.qr(x - x.mean(axis=0))
    qy, _ = np.linalg.qr(y - y.mean(axis=0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def test_svcca_keeping_every_dimension_is_classical_cca():
    gen = rng(12)
    x = gen.standard_normal((200, 5))
    y = x[:, :3] @ gen.standard_normal((3, 4)) + gen.standard_normal((200, 4))
    expected = qr_canonical_correlations(x, y)
    assert measures.svcca(x, y, dims=5) == pytest.approx(expected.mean(), rel=1e-10)
    first = CCA(n_components=1, scale=False, max_iter=5000, tol=1e-12).fit(x, y)
    u, v = first.transform(x, y)
    assert expected[0] == pytest.approx(np.corrcoef(u[:, 0], v[:, 0])[0, 1], abs=1e-6)


def test_svcca_is_invariant_to_invertible_linear_maps():
    gen = rng(13)
    x = gen.standard_normal((100, 4))
    y = x @ gen.standard_normal((4, 3)) + gen.standard_normal((100, 3))
    mixed = x @ gen.standard_normal((4, 4)) + 5
    assert measures.svcca(mixed, y, dims=4) == pytest.approx(measures.svcca(x, y, dims=4))


def test_heldout_cca_of_a_linear_map_is_one():
    x, groups = smooth_recordings(dims=6, seed=14)
    y = x @ rng(15).standard_normal((6, 4))
    assert measures.heldout_cca(x, y, groups, dims=6) == pytest.approx(1.0, abs=1e-6)
    assert measures.heldout_cca(x, y, groups) == pytest.approx(1.0, abs=0.02)  # 99% variance


def test_in_sample_cca_is_meaningless_with_as_many_dimensions_as_frames():
    x, groups = smooth_recordings(n_recordings=6, length=20, dims=150, seed=16)
    y, _ = smooth_recordings(n_recordings=6, length=20, dims=4, seed=17)  # independent
    assert measures.svcca(x, y, dims=119) == pytest.approx(1.0, abs=1e-6)  # rank of 120 frames
    assert abs(measures.heldout_cca(x, y, groups, dims=119)) < 0.3


# --------------------------------------------------------------------------- grouped splits


class SpyGroupKFold(measures.GroupKFold):
    """GroupKFold that records every split it hands out."""

    calls: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def split(self, X, y=None, groups=None):
        for train, test in super().split(X, y, groups):
            SpyGroupKFold.calls.append((np.asarray(groups), train, test))
            yield train, test


@pytest.mark.parametrize(
    "run",
    [
        lambda x, y, g: measures.ridge_scores(x, y, g, inner_splits=2),
        lambda x, y, g: measures.ridge_scores(y, x, g),
        lambda x, y, g: measures.heldout_cca(x, y, g, dims=3),
    ],
    ids=["ridge, grouped inner CV", "ridge, reverse", "held-out CCA"],
)
def test_no_recording_is_on_both_sides_of_any_split(monkeypatch, run):
    SpyGroupKFold.calls = []
    monkeypatch.setattr(measures, "GroupKFold", SpyGroupKFold)
    x, groups = smooth_recordings(n_recordings=7, dims=5, seed=18)
    run(x, x[:, :2] + 0.1, groups)
    assert SpyGroupKFold.calls
    outer_tested = []
    for labels, train, test in SpyGroupKFold.calls:
        assert not set(labels[train]) & set(labels[test])
        if len(labels) == len(x):
            outer_tested.append(test)
    assert sorted(np.concatenate(outer_tested)) == list(range(len(x)))  # each row tested once


# --------------------------------------------------------------------------- validation


def test_validation_messages():
    x, groups = smooth_recordings(n_recordings=3, dims=4)
    with pytest.raises(ValueError, match="2-D array"):
        measures.procrustes_similarity(x[:, 0], x)
    with pytest.raises(ValueError, match="same stimuli: 120 vs 119 rows"):
        measures.mutual_knn(x, x[:-1])
    with pytest.raises(ValueError, match="at least 5 recordings; got 3"):
        measures.ridge_scores(x, x, groups, n_splits=5)
    with pytest.raises(ValueError, match="one label per row"):
        measures.heldout_cca(x, x, groups[:-1])
    with pytest.raises(ValueError, match="NaN"):
        measures.svcca(np.where(x > 3, np.nan, x), x)
    with pytest.raises(ValueError, match="score must be"):
        measures.ridge_scores(x, x, groups, score="mse")
    with pytest.raises(ValueError, match="dims must be"):
        measures.svcca(x, x, dims=1.5)
