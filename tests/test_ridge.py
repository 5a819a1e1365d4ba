"""The leave-one-out ridge of ``tutorial_utils._ridge`` against scikit-learn's RidgeCV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tutorial_utils import _ridge, measures

ALPHAS = measures.ALPHAS

# (rows, input columns, target columns): X Xᵀ with fewer rows than columns; Xᵀ X otherwise,
# its errors either from residuals (few targets) or expanded (more targets than columns).
SHAPES = {"gram": (40, 70, 5), "covariance": (90, 12, 6), "expanded": (90, 6, 40)}


def data(rows: int, columns: int, targets: int, seed: int = 0):
    gen = np.random.default_rng(seed)
    x = np.cumsum(gen.standard_normal((rows, columns)), axis=0) * gen.uniform(0.1, 10, columns)
    y = x[:, :3] @ gen.standard_normal((3, targets)) + 5 * gen.standard_normal((rows, targets))
    return x + 4.0, y - 2.0


def sklearn_ridge(alphas=ALPHAS) -> object:
    """The reference: the pipeline measures.ridge_scores used before _ridge existed."""
    return make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_predictions_equal_the_scikit_learn_pipeline(shape):
    x, y = data(*shape)
    y[:, 1] *= 1e-3  # a column whose best penalty differs
    train, test = slice(0, 2 * len(x) // 3), slice(2 * len(x) // 3, None)
    expected = sklearn_ridge().fit(x[train], y[train]).predict(x[test])
    np.testing.assert_allclose(
        _ridge.predict(x[train], y[train], x[test], ALPHAS), expected, rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_leave_one_out_errors_equal_scikit_learn_and_a_refit_without_each_row(shape):
    x, y = data(*shape, seed=1)
    alphas = [0.1, 10.0, 1000.0]
    z = StandardScaler().fit_transform(x)
    centred = z - z.mean(axis=0)
    errors = _ridge.loo_squared_errors(_ridge.decompose(centred), y - y.mean(axis=0), alphas)
    ridge = RidgeCV(alphas=alphas, alpha_per_target=True, store_cv_results=True).fit(z, y)
    np.testing.assert_allclose(errors, ridge.cv_results_.sum(axis=0).T, rtol=1e-8)
    # and by brute force for the middle penalty: refit without each row, predict it
    by_hand = np.zeros(y.shape[1])
    for i in range(len(z)):
        keep = np.arange(len(z)) != i
        zk = z[keep] - z[keep].mean(axis=0)
        coef = np.linalg.solve(zk.T @ zk + 10.0 * np.eye(z.shape[1]), zk.T @ y[keep])
        predicted = (z[i] - z[keep].mean(axis=0)) @ coef + y[keep].mean(axis=0)
        by_hand += (y[i] - predicted) ** 2
    np.testing.assert_allclose(errors[1], by_hand, rtol=1e-8)


def test_constant_columns_are_handled_as_by_scikit_learn():
    x, y = data(60, 8, 4, seed=2)
    x[:, 2], y[:, 3] = 7.0, 0.3  # a constant input and a constant target
    train, test = slice(0, 40), slice(40, None)
    expected = sklearn_ridge().fit(x[train], y[train]).predict(x[test])
    predicted = _ridge.predict(x[train], y[train], x[test], ALPHAS)
    np.testing.assert_allclose(predicted, expected, rtol=1e-9, atol=1e-12)


def test_r2_columns_equal_scikit_learn_also_for_constant_columns():
    gen = np.random.default_rng(3)
    y = gen.standard_normal((30, 4))
    y[:, 2] = y[:, 3] = 1.5  # constant: predicted exactly (R² 1) or not (R² 0)
    predicted = y + 0.3 * gen.standard_normal((30, 4))
    predicted[:, 2] = 1.5
    expected = r2_score(y, predicted, multioutput="raw_values")
    np.testing.assert_array_equal(expected[2:], [1.0, 0.0])
    np.testing.assert_allclose(_ridge.r2_columns(y, predicted), expected, rtol=1e-12)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_ridge_scores_equal_the_scikit_learn_path_fold_by_fold(direction):
    x, y = data(120, 50, 3, seed=4)
    if direction == "backward":  # few inputs, many targets: the expanded errors
        x, y = y, x
    groups = np.repeat(np.arange(6), 20)
    expected = []
    for train, test in GroupKFold(n_splits=3).split(x, groups=groups):
        predicted = sklearn_ridge().fit(x[train], y[train]).predict(x[test])
        expected.append(r2_score(y[test], predicted, multioutput="raw_values"))
    scores = measures.ridge_scores(x, y, groups, n_splits=3)
    np.testing.assert_allclose(scores, np.mean(expected, axis=0), rtol=1e-9, atol=1e-12)
