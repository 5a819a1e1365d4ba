"""tutorial_utils.measures against textbook formulas, brute force and scikit-learn."""

import numpy as np
import pytest
import sklearn.model_selection
from scipy.spatial.distance import cdist
from scipy.stats import ortho_group
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tutorial_utils import measures
from tutorial_utils.cka import feature_space_linear_cka

rng = np.random.default_rng


def smooth(n_recordings: int = 8, length: int = 40, dims: int = 6, seed: int = 0):
    """Autocorrelated frames of several 'recordings' (decaying spectrum) and their labels."""
    steps = rng(seed).standard_normal((n_recordings * length, dims)) * np.linspace(1, 0.1, dims)
    frames = np.concatenate([np.cumsum(part, axis=0) for part in np.split(steps, n_recordings)])
    return frames, np.repeat([f"rec{i}" for i in range(n_recordings)], length)


def normalised(x: np.ndarray) -> np.ndarray:
    return (centred := x - x.mean(axis=0)) / np.sqrt(np.sum(centred**2))


def test_procrustes_of_a_rotated_scaled_shifted_or_embedded_copy_is_exact():
    x = rng(0).standard_normal((50, 6))
    y = 3.5 * x @ ortho_group.rvs(6, random_state=1) + 7.0
    assert measures.procrustes_distance(x, y) == pytest.approx(0.0, abs=1e-6)
    for scaled in (x * 1e200, x * 1e-200):  # rescaled before any square: exact at every scale
        assert measures.procrustes_similarity(scaled, y) == pytest.approx(1.0, abs=1e-12)
        assert measures.procrustes_distance(scaled, y) == pytest.approx(0.0, abs=1e-6)
    wide = x[:, :3] @ ortho_group.rvs(8, random_state=2)[:3]  # 3 orthonormal rows in 8 dims
    assert measures.procrustes_distance(x[:, :3], wide) == pytest.approx(0.0, abs=1e-6)
    assert measures.procrustes_distance(wide, x[:, :3]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "measure",
    [measures.procrustes_similarity, measures.procrustes_distance, measures.svcca,
     lambda x, y: measures.neighbour_sets(x, 3),
     lambda x, y: measures.ridge_scores(x, y, np.arange(40) // 8)],
)  # fmt: skip
def test_measures_are_scale_free_up_to_the_largest_float(measure):
    x = rng(0).standard_normal((40, 3))  # at 1e308 column sums overflow unless rescaled exactly
    y = x @ rng(1).standard_normal((3, 3))
    huge = x / np.abs(x).max() * 1e308
    np.testing.assert_allclose(measure(huge, y), measure(x, y), rtol=1e-9, atol=1e-12)


def test_procrustes_matches_the_brute_force_svd_solution_and_shares_cka_singular_values():
    gen = rng(3)
    x = gen.standard_normal((30, 5))
    y = x[:, :2] @ gen.standard_normal((2, 9)) + gen.standard_normal((30, 9))
    a, b = np.pad(normalised(x), ((0, 0), (0, 4))), normalised(y)  # x zero-padded to y's width
    u, sigma, vt = np.linalg.svd(a.T @ b)
    brute = np.linalg.norm(a @ (u @ vt) - b)  # R = U Vᵀ solves min ‖AR − B‖ (Schönemann)
    assert measures.procrustes_distance(x, y) == pytest.approx(brute, rel=1e-10)
    similarity = measures.procrustes_similarity(x, y)
    assert similarity == pytest.approx(sigma.sum(), rel=1e-12)
    assert similarity == pytest.approx(1 - brute**2 / 2, rel=1e-10) and 0 <= similarity <= 1
    cka = np.sum(sigma**2) / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))
    assert feature_space_linear_cka(x, y) == pytest.approx(cka, rel=1e-10)
    xs, ys = {"a": x, "b": gen.standard_normal((30, 40))}, {("obs", 1): y, ("null", 2): y[::-1]}
    table = measures.procrustes_similarity_pairs(xs, ys)
    assert list(table) == [(kx, ky) for kx in xs for ky in ys]
    for (kx, ky), value in table.items():
        assert value == measures.procrustes_similarity(xs[kx], ys[ky])


def brute_force_neighbours(x: np.ndarray, k: int) -> list[set[int]]:
    distances = cdist(x, x)
    np.fill_diagonal(distances, np.inf)
    return [set(np.argsort(row, kind="stable")[:k]) for row in distances]


def test_neighbour_sets_and_their_overlap_match_a_brute_force_search():
    gen = rng(8)
    x = gen.standard_normal((50, 3))
    sets, overlap = measures.neighbour_sets, measures.neighbour_overlap
    assert [set(row) for row in sets(x, k=6)] == brute_force_neighbours(x, 6)
    for k, noise in [(1, 0.1), (5, 0.5), (12, 2.0), (49, 1.0)]:
        a = brute_force_neighbours(x, k)
        b = brute_force_neighbours(x + noise * gen.standard_normal(x.shape), k)
        expected = np.mean([len(r & s) / k for r, s in zip(a, b, strict=True)])
        arrays = [np.array([sorted(row) for row in found]) for found in (a, b)]
        assert overlap(*arrays) == pytest.approx(expected, abs=1e-15)
    assert overlap(sets(x, 10), sets(2 * x + 1, 10)) == 1.0  # the same space, rescaled
    gens = [(rng(s), rng(s + 100)) for s in range(5)]  # independent spaces: chance, k / (n - 1)
    chance = [overlap(sets(a.random((300, 5)), 10), sets(b.random((300, 8)), 10)) for a, b in gens]
    assert np.mean(chance) == pytest.approx(10 / 299, abs=0.01)


def ridge_fit(z, y, alpha):
    """Ridge regression with a free intercept, in closed form: a function of new rows."""
    z_mean, y_mean = z.mean(axis=0), y.mean(axis=0)
    zc = z - z_mean
    w = np.linalg.solve(zc.T @ zc + alpha * np.eye(z.shape[1]), zc.T @ (y - y_mean))
    return lambda rows: y_mean + (rows - z_mean) @ w


def closed_form_ridge_scores(x, y, groups, alphas):
    """Held-out R² per one-recording-out fold: inputs standardised on the training rows, each
    column's penalty chosen from ``alphas`` by refitting without each row (leave-one-out)."""
    per_fold = []
    for held_out in np.unique(groups):
        train, test = groups != held_out, groups == held_out
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        z, z_test, y_train = (x[train] - mean) / std, (x[test] - mean) / std, y[train]
        loo = [
            sum((y_train[i] - ridge_fit(np.delete(z, i, 0), np.delete(y_train, i, 0), a)(z[i])) ** 2
                for i in range(len(z)))
            for a in alphas
        ]  # fmt: skip
        chosen = np.asarray(alphas)[np.argmin(loo, axis=0)]
        predicted = np.column_stack(
            [ridge_fit(z, y_train[:, c], a)(z_test) for c, a in enumerate(chosen)]
        )
        residual = np.sum((y[test] - predicted) ** 2, axis=0)
        per_fold.append(1 - residual / np.sum((y[test] - y[test].mean(axis=0)) ** 2, axis=0))
    return np.array(per_fold)


@pytest.mark.parametrize(
    ("dims", "alphas"), [(3, [0.1, 3.0, 100.0, 1e4]), (40, [0.1, 3.0, 100.0, 1e4]), (5, [10.0])]
)
def test_ridge_matches_closed_form_ridge_with_explicit_leave_one_out(dims, alphas):
    x, groups = smooth(n_recordings=3, length=12, dims=dims, seed=12)
    y = x[:, :2] ** 2 @ rng(13).standard_normal((2, 3)) + 3 * rng(14).standard_normal((36, 3))
    expected = closed_form_ridge_scores(x, y, groups, alphas)
    scores = measures.ridge_scores(x, y, groups, alphas=alphas)  # 3 folds: one recording out
    np.testing.assert_allclose(scores, expected.mean(axis=0), rtol=1e-8, atol=1e-10)
    per_unit = measures.ridge_scores(x, y, groups, alphas=alphas, units=groups)
    np.testing.assert_allclose(per_unit, expected, rtol=1e-8, atol=1e-10)  # a unit per fold
    predictivity = measures.ridge_predictivity(x, y, groups, alphas=alphas)
    assert predictivity == pytest.approx(np.mean(expected))


def test_ridge_noise_scores_at_most_zero_a_linear_map_near_one_and_columns_stack():
    x, groups = smooth(dims=10, seed=3)
    y = x @ rng(4).standard_normal((10, 3)) + 0.1 * rng(5).standard_normal((len(x), 3))
    noise, _ = smooth(dims=4, seed=2)
    assert measures.ridge_scores(x, noise, groups).mean() < 0.02
    assert measures.ridge_predictivity(x, y, groups) > 0.95
    assert measures.ridge_predictivity(x, y, groups, inner_splits=3) > 0.95
    stacked = measures.ridge_scores(x, np.hstack([y, noise]), groups)
    separate = [measures.ridge_scores(x, y, groups), measures.ridge_scores(x, noise, groups)]
    np.testing.assert_allclose(stacked, np.concatenate(separate), rtol=1e-10, atol=1e-12)


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
    calls = []

    class Spy(GroupKFold):
        def split(self, X, y=None, groups=None):
            for train, test in super().split(X, y, groups):
                calls.append((np.asarray(groups), train, test))
                yield train, test

    monkeypatch.setattr(sklearn.model_selection, "GroupKFold", Spy)
    x, groups = smooth(n_recordings=7, dims=5, seed=18)
    run(x, x[:, :2] + 0.1, groups)
    outer_tested = []
    for labels, train, test in calls:
        assert not set(labels[train]) & set(labels[test])
        if len(labels) == len(x):
            outer_tested.append(test)
    assert sorted(np.concatenate(outer_tested)) == list(range(len(x)))  # each row tested once


def sklearn_pca(x: np.ndarray, dims: float | int) -> PCA:
    """The reference: scikit-learn's whitened PCA with an exact SVD."""
    return PCA(min(dims, len(x) - 1, x.shape[1]) if isinstance(dims, int) else dims,
               whiten=True, svd_solver="full").fit(x)  # fmt: skip


def sklearn_svcca(x, y, groups, n_splits, dims, units=None):
    """SVCCA written out with scikit-learn's PCA refitted for every pair and fold; in sample
    (``groups=None``) the mean of the canonical correlations; with ``units``, per unit."""
    splits = GroupKFold(n_splits).split(x, groups=groups) if groups is not None else None
    per_fold = []
    for train, test in splits or [(np.arange(len(x)),) * 2]:
        pca_x, pca_y = sklearn_pca(x[train], dims), sklearn_pca(y[train], dims)
        cross = pca_x.transform(x[train]).T @ pca_y.transform(y[train]) / (len(train) - 1)
        u, sigma, vt = np.linalg.svd(cross, full_matrices=False)
        if splits is None:
            return float(sigma.mean())
        a, b = pca_x.transform(x[test]) @ u, pca_y.transform(y[test]) @ vt.T
        labels = np.zeros(len(test)) if units is None else units[test]
        for unit in np.unique(labels):
            a_u, b_u = a[labels == unit], b[labels == unit]
            r = [np.corrcoef(a_u[:, i], b_u[:, i])[0, 1] for i in range(a.shape[1])]
            per_fold.append((unit, np.mean(r)))
    if units is not None:
        return np.array([r for _, r in sorted(per_fold)])
    return float(np.mean([r for _, r in per_fold]))


@pytest.mark.parametrize("shape", [(60, 90), (120, 15)], ids=["fewer rows", "more rows"])
@pytest.mark.parametrize("dims", [0.99, 0.8, 7, 200])
def test_whitened_pca_is_scikit_learns_up_to_signs(shape, dims):
    x = smooth(1, *shape, seed=1)[0] + 3.0
    mean, projection = measures._whitened_pca(x, dims)
    reference = sklearn_pca(x, dims)
    assert measures.svcca_dimensions(x, dims) == reference.n_components_ == projection.shape[1]
    for rows in (x, smooth(1, 25, shape[1], seed=2)[0]):
        ours, theirs = (rows - mean) @ projection, reference.transform(rows)
        np.testing.assert_allclose(ours * np.sign(np.sum(ours * theirs, axis=0)), theirs, atol=1e-9)


def test_svcca_keeping_every_dimension_is_classical_cca_and_ignores_linear_maps():
    gen = rng(12)
    x = gen.standard_normal((200, 5))
    y = x[:, :3] @ gen.standard_normal((3, 4)) + gen.standard_normal((200, 4))
    qx, _ = np.linalg.qr(x - x.mean(axis=0))  # textbook CCA: singular values of Q_xᵀ Q_y
    qy, _ = np.linalg.qr(y - y.mean(axis=0))
    expected = np.linalg.svd(qx.T @ qy, compute_uv=False).mean()
    assert measures.svcca(x, y, dims=5) == pytest.approx(expected, rel=1e-10)
    mixed = x @ gen.standard_normal((5, 5)) + 5
    assert measures.svcca(mixed, y, dims=5) == pytest.approx(expected, rel=1e-10)
    stuck = np.column_stack([y, np.full(200, 2.0)])  # a stuck sensor: dims above the rank keep it
    assert measures.svcca_dimensions(stuck, 5) == 4
    assert measures.svcca(x, stuck, dims=5) == pytest.approx(expected, rel=1e-10)


def test_heldout_cca_of_a_linear_map_is_one_and_in_sample_cca_can_mean_nothing():
    x, groups = smooth(dims=6, seed=14)
    y = np.column_stack([x @ rng(15).standard_normal((6, 4)), np.ones(len(x))])  # one stuck
    assert measures.heldout_cca(x, y, groups, dims=6) == pytest.approx(1.0, abs=1e-6)
    x, groups = smooth(n_recordings=6, length=20, dims=150, seed=16)
    y, _ = smooth(n_recordings=6, length=20, dims=4, seed=17)  # independent
    assert measures.svcca(x, y, dims=119) == pytest.approx(1.0, abs=1e-6)  # rank of 120 frames
    assert abs(measures.heldout_cca(x, y, groups, dims=119)) < 0.3


@pytest.mark.parametrize("dims", [0.99, 12])
def test_svcca_pairs_equal_scikit_learn_refitted_for_every_pair(dims):
    groups = np.repeat(np.arange(6), 25)
    xs = {layer: smooth(1, 150, 200, seed=layer)[0] for layer in range(2)}  # rows < columns
    ys = {"mixed": xs[0][:, :10] @ rng(4).standard_normal((10, 6)), "own": smooth(1, 150, 6, 5)[0]}
    held_out = measures.heldout_cca_pairs(xs, ys, groups, n_splits=3, dims=dims)
    in_sample = measures.svcca_pairs(xs, ys, dims=dims)
    assert list(held_out) == list(in_sample) == [(kx, ky) for kx in xs for ky in ys]
    for (kx, ky), value in held_out.items():
        assert value == pytest.approx(sklearn_svcca(xs[kx], ys[ky], groups, 3, dims), abs=1e-10)
        assert value == measures.heldout_cca(xs[kx], ys[ky], groups, n_splits=3, dims=dims)
        expected = sklearn_svcca(xs[kx], ys[ky], None, 0, dims)
        assert in_sample[kx, ky] == pytest.approx(expected, abs=1e-10)
        assert in_sample[kx, ky] == measures.svcca(xs[kx], ys[ky], dims=dims)


def test_scores_per_unit_are_scored_on_each_units_rows_of_the_out_of_fold_fits():
    x, units = smooth(n_recordings=6, dims=5, seed=21)
    sentences = np.array([f"s{int(u[3:]) // 2}" for u in units])  # two recordings a sentence
    y = x[:, :3] @ rng(22).standard_normal((3, 4)) + rng(23).standard_normal((len(x), 4))
    ridge = make_pipeline(StandardScaler(), RidgeCV(measures.ALPHAS, alpha_per_target=True))
    predicted = cross_val_predict(ridge, x, y, groups=sentences, cv=GroupKFold(3))
    expected = [r2_score(y[units == u], predicted[units == u], multioutput="raw_values")
                for u in sorted(set(units))]  # fmt: skip
    found = measures.ridge_scores(x, y, sentences, units=units)
    np.testing.assert_allclose(found, expected, rtol=1e-8)
    assert measures.ridge_predictivity(x, y, sentences, units=units) == pytest.approx(
        np.mean(expected, axis=1)
    )
    cca = measures.heldout_cca(x, y, sentences, dims=4, units=units)
    np.testing.assert_allclose(cca, sklearn_svcca(x, y, sentences, 3, 4, units), atol=1e-10)


def test_bad_inputs_are_refused_with_a_message():
    x, groups = smooth(n_recordings=3, dims=4)
    flat = np.where(groups[:, None] == "rec0", 1.0, x)  # a sensor stuck in recording rec0
    one_row = np.r_[np.zeros(len(x) - 1), 1]  # a unit of one row: not a constant column
    last_alone = np.where(np.arange(len(x)) == len(x) - 1, "last", groups)  # within its group
    bad = {
        "2-D": lambda: measures.procrustes_similarity(x[:, 0], x),
        "equal row counts; got \\[119, 120\\]": lambda: measures.ridge_scores(x, x[:-1], groups),
        "non-empty": lambda: measures.heldout_cca_pairs({}, {0: x}, groups),
        "NaN": lambda: measures.svcca(np.where(x > 3, np.nan, x), x),
        "constant": lambda: measures.procrustes_similarity(np.ones((10, 3)), x[:10]),
        "dims must be": lambda: measures.svcca(x, x, dims=1.5),
        "number of groups: 3": lambda: measures.ridge_scores(x, x, groups, n_splits=5),
        "1 test row": lambda: measures.ridge_scores(x, x, np.arange(120), n_splits=120),
        "on the 1 test": lambda: measures.heldout_cca(x, x, np.arange(120), n_splits=120),
        "column 0 .* groups \\['rec0'\\]": lambda: measures.ridge_scores(x, flat, groups),
        "CCA of 0 and 0 .* \\['rec0'\\]": lambda: measures.heldout_cca(x, flat[:, :1], groups),
        "A unit needs >= 2 test rows": lambda: measures.ridge_scores(x, x, groups, units=one_row),
        "A unit spans several groups": lambda: measures.heldout_cca(x, x, groups, units=one_row),
        "CCA .* A unit needs >= 2": lambda: measures.heldout_cca(x, x, groups, units=last_alone),
        "no direction": lambda: measures.svcca(np.ones((10, 3)), x[:10]),
        "n_neighbors": lambda: measures.neighbour_sets(x, 0),
        "n_neighbors < n_samples_fit": lambda: measures.neighbour_sets(x, 120),
        "no row's 3 nearest": lambda: measures.neighbour_sets(np.ones((10, 3)), 3),
        "no row's 2 nearest": lambda: measures.neighbour_sets(np.eye(10), 2),  # one-hot rows
    }
    for message, call in bad.items():
        with pytest.raises(ValueError, match=message):
            call()
