"""Similarity measures beside CKA: Procrustes, shared neighbours, ridge probing and SVCCA.

Each compares ``x`` (n, d_x) and ``y`` (n, d_y), two representations of the same ``n`` stimuli.
Fitted measures are scored on held-out groups (``groups``: a label per row, GroupKFold; pass the
sentence when speakers share sentences), optionally per ``units`` (e.g. recordings). ``*_pairs``
functions compare every array of one mapping with every array of another.

For centred, Frobenius-normalised ``X``, ``Y`` and the singular values ``σᵢ`` of ``XᵀY``:
Procrustes similarity ``= Σ σᵢ``, distance ``= min_R ‖XR − Y‖_F = sqrt(2 − 2 Σ σᵢ)``, linear
CKA ``= Σ σᵢ² / (‖XᵀX‖_F ‖YᵀY‖_F)``: a few high-variance directions dominate CKA.
"""

import functools
from collections.abc import Mapping, Sequence

import numpy as np

from .cka import as_representation, max_abs

ALPHAS = np.logspace(-2, 6, 9)
"""Ridge penalties searched by the inner cross-validation (inputs are standardised first)."""


@functools.cache
def _thread_pools():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_thread(function):
    """``function`` with one BLAS thread: on these small matrices more threads only wait."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _thread_pools().limit(limits=1):
            return function(*args, **kwargs)

    return wrapper


def _scaled(x, name: str) -> np.ndarray:
    """``as_representation(x)`` divided by the power of two above its largest magnitude: exact,
    and no sum overflows up to 1e308 (every measure here ignores a global scale)."""
    x = as_representation(x, name)
    return np.ldexp(x, -np.frexp(max_abs(x))[1])


def _checked(xs: Mapping, ys: Mapping) -> tuple[dict, dict]:
    """Two mappings of :func:`_scaled` ``(n, d)`` arrays, all with the same rows."""
    xs = {k: _scaled(a, f"xs[{k!r}]") for k, a in xs.items()}
    ys = {k: _scaled(a, f"ys[{k!r}]") for k, a in ys.items()}
    rows = {len(a) for a in [*xs.values(), *ys.values()]}
    if not xs or not ys or len(rows) != 1:
        raise ValueError(f"xs and ys must be non-empty, with equal row counts; got {sorted(rows)}.")
    return xs, ys


def _group_splits(x: np.ndarray, groups: Sequence, n_splits: int) -> list:
    """(train, test) rows of GroupKFold: every group on one side, >= 2 rows tested."""
    from sklearn.model_selection import GroupKFold

    splits = list(GroupKFold(n_splits=n_splits).split(x, groups=groups))
    for _, test in splits:
        if len(test) < 2:  # R² and correlations are undefined on one row
            fix = "Each fold needs >= 2: use fewer n_splits (or inner_splits)."
            raise _undefined("A held-out score", groups, test, fix)
    return splits


_ONE_ROW = "A unit needs >= 2 test rows: merge it with another unit or drop its rows."


def _undefined(what: str, groups: Sequence, test: np.ndarray, fix: str) -> ValueError:
    """The error for a score that test rows cannot define, naming their groups."""
    held_out = sorted(set(np.asarray(groups)[test].tolist()))
    return ValueError(
        f"{what} is undefined on the {len(test)} test row(s) of groups {held_out}. {fix}"
    )


def _centred_unit(x: np.ndarray) -> np.ndarray:
    """``x`` minus its column means, divided by the Frobenius norm of the result."""
    centred = x - x.mean(axis=0)
    if not np.ptp(x, axis=0).any():
        raise ValueError("x is constant across stimuli; it has no configuration to compare.")
    centred /= np.abs(centred).max()
    return centred / np.linalg.norm(centred)


@_one_thread
def procrustes_similarity_pairs(xs: Mapping, ys: Mapping) -> dict[tuple, float]:
    """``{(x_key, y_key): procrustes_similarity(xs[x_key], ys[y_key])}`` for every pair."""
    xs, ys = ({k: _centred_unit(a) for k, a in side.items()} for side in _checked(xs, ys))
    return {
        (kx, ky): float(np.linalg.svd(a.T @ b, compute_uv=False).sum())
        for kx, a in xs.items()
        for ky, b in ys.items()
    }


def procrustes_similarity(x: np.ndarray, y: np.ndarray) -> float:
    """Nuclear norm of ``XᵀY`` for centred, normalised ``X`` and ``Y``: in ``[0, 1]``, 1 for a
    rotated, scaled and shifted copy."""
    return procrustes_similarity_pairs({0: x}, {0: y})[0, 0]


@_one_thread
def procrustes_distance(x: np.ndarray, y: np.ndarray) -> float:
    """``min_R ‖XR − Y‖_F`` over orthogonal ``R`` for centred, normalised ``X`` and ``Y`` (the
    narrower padded with zeros): in ``[0, √2]``, 0 for a rotated, scaled and shifted copy."""
    from scipy.linalg import orthogonal_procrustes

    axes = []
    for side in _checked({0: x}, {0: y}):  # on its principal axes (U S of U S Vᵀ): <= n columns
        u, s, _ = np.linalg.svd(_centred_unit(side[0]), full_matrices=False)
        axes.append(u * s)
    width = max(m.shape[1] for m in axes)
    a, b = (np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in axes)
    rotation, _ = orthogonal_procrustes(a, b)
    return float(np.linalg.norm(a @ rotation - b))


@_one_thread
def neighbour_sets(x: np.ndarray, k: int = 10) -> np.ndarray:
    """Indices ``(n, k)`` of each row's ``k`` nearest neighbours (Euclidean), itself excluded.

    Where distances tie at the ``k``-th (e.g. repeated frames) scikit-learn's search order
    decides. Raises ``ValueError`` when every row's ``k + 1`` nearest are equally far (identical
    rows, one-hot rows): then no row's ``k`` nearest neighbours are defined."""
    from sklearn.neighbors import NearestNeighbors

    x = _scaled(x, "x")  # scikit-learn refuses k outside 1 … n - 1
    search = NearestNeighbors(n_neighbors=k).fit(x)
    distances, found = search.kneighbors()
    rounding = 1e-7 * np.linalg.norm(x, axis=1).max()  # of scikit-learn's distances
    if k < len(x) - 1 and np.ptp(distances, axis=1).max() <= rounding:
        beyond = search.kneighbors(n_neighbors=k + 1)[0][:, -1]
        if np.all(beyond - distances[:, 0] <= rounding):
            raise ValueError(
                f"all rows of x are equally far from their {k + 1} nearest (identical rows?), "
                f"so no row's {k} nearest neighbours are defined: this x has no neighbourhoods."
            )
    return found


def neighbour_overlap(neighbours_x: np.ndarray, neighbours_y: np.ndarray) -> float:
    """Mean share of neighbours two ``(n, k)`` index arrays (:func:`neighbour_sets`) have in
    common, row by row: 1 for identical neighbourhoods, about ``k / (n - 1)`` by chance. Only
    the ``k`` closest stimuli count: a *local* measure, blind to far distances."""
    rows = np.arange(len(neighbours_y))[:, None]
    in_y = np.zeros((len(rows), max(neighbours_x.max(), neighbours_y.max()) + 1), dtype=bool)
    in_y[rows, neighbours_y] = True  # row i: which stimuli are among y's neighbours of i
    return float(in_y[rows, neighbours_x].mean())


@_one_thread
def ridge_scores(
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence,
    *,
    n_splits: int = 3,
    alphas: Sequence[float] = ALPHAS,
    inner_splits: int | None = None,
    units: Sequence | None = None,
) -> np.ndarray:
    """Held-out R² ``(d_y,)`` of a ridge regression from ``x`` to each column of ``y``, averaged
    over ``n_splits`` GroupKFold folds; with ``units`` (a label per row), ``(n_units, d_y)``: the
    R² on each unit's rows (units in sorted order). In a fold the inputs are standardised on the
    training rows, and the penalty is chosen from ``alphas`` there by leave-one-out per target
    column (``inner_splits=None``) or by GroupKFold over the training groups (``inner_splits=k``).

    R² is undefined on one row or for a column constant on the scored rows (e.g. a stuck
    sensor): both raise ``ValueError`` (drop such columns) rather than give NaN or 1."""
    from sklearn import config_context, linear_model, metrics, pipeline, preprocessing

    x, y = (s[0] for s in _checked({0: x}, {0: y}))
    groups, predicted = np.asarray(groups), np.empty_like(y)
    splits = _group_splits(x, groups, n_splits)
    for train, test in splits:
        if inner_splits is None:  # the SVD route when tall (scikit-learn 1.6's choice)
            mode = "svd" if len(train) > x.shape[1] else None
            ridge = linear_model.RidgeCV(alphas=alphas, alpha_per_target=True, gcv_mode=mode)
        else:
            inner = _group_splits(x[train], groups[train], inner_splits)
            ridge = linear_model.RidgeCV(alphas=alphas, cv=inner)
        with config_context(assume_finite=True):  # checked above
            model = pipeline.make_pipeline(preprocessing.StandardScaler(), ridge)
            predicted[test] = model.fit(x[train], y[train]).predict(x[test])
    scored, labels = [test for _, test in splits], np.asarray(units)
    if units is not None:
        scored = [np.flatnonzero(labels == unit) for unit in np.unique(labels)]
    for rows in scored:
        if len(rows) < 2:
            raise _undefined("R²", groups, rows, _ONE_ROW)
        if len(flat := np.flatnonzero(np.ptp(y[rows], axis=0) == 0)):
            fix = "The column is constant there (a stuck sensor?): drop constant columns."
            raise _undefined(f"R² of y column {flat[0]}", groups, rows, fix)
    r2 = [metrics.r2_score(y[rows], predicted[rows], multioutput="raw_values") for rows in scored]
    return np.mean(r2, axis=0) if units is None else np.array(r2)


def ridge_predictivity(x: np.ndarray, y: np.ndarray, groups: Sequence, **options):
    """:func:`ridge_scores` (same options) averaged over the target columns: one number (with
    ``units``, one per unit)."""
    scores = ridge_scores(x, y, groups, **options).mean(axis=-1)
    return scores if scores.ndim else float(scores)


def _whitened_pca(x: np.ndarray, dims: float | int) -> tuple[np.ndarray, np.ndarray]:
    """``mean``, ``projection`` (d, k): ``(x - mean) @ projection`` is ``PCA(dims, whiten=True)``
    up to signs (``dims``: a variance fraction in (0, 1) or a number of components, at most the
    rank), from the eigenvectors of the smaller of ``C Cᵀ`` (``V = Cᵀ U S⁻¹``) and ``Cᵀ C``."""
    from scipy.linalg import eigh

    if not (isinstance(dims, float) and 0 < dims < 1 or isinstance(dims, int) and dims >= 1):
        raise ValueError(f"dims must be a fraction in (0, 1) or a positive int; got {dims!r}.")
    if not np.ptp(x, axis=0).any():
        raise ValueError("x is constant across the (training) rows: it has no direction to keep.")
    mean = x.mean(axis=0)
    centred, n = x - mean, len(x)
    wide = n <= x.shape[1]
    product = centred @ centred.T if wide else centred.T @ centred
    if isinstance(dims, float):
        values, vectors = eigh(product, driver="evd")
        values = np.clip(values, 0.0, None)
        k = int(np.searchsorted(np.cumsum(values[::-1] / values.sum()), dims, side="right")) + 1
    else:  # only the k leading eigenpairs
        k = min(dims, n - 1, len(product))
        values, vectors = eigh(product, subset_by_index=[len(product) - k, len(product) - 1])
    values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    k = int(np.sum(values > values[0] * len(product) * np.finfo(float).eps))  # the rank
    values, vectors = values[:k], vectors[:, :k]
    if wide:
        return mean, centred.T @ (vectors * (np.sqrt(n - 1) / values))
    return mean, vectors * np.sqrt((n - 1) / values)


def svcca_dimensions(x: np.ndarray, dims: float | int = 0.99) -> int:
    """How many principal components of ``x`` SVCCA keeps (``PCA(dims).n_components_``): an int
    ``dims`` above the rank of ``x`` (a constant column lowers it) keeps the rank."""
    return _whitened_pca(_scaled(x, "x"), dims)[1].shape[1]


@_one_thread
def _svcca(xs: Mapping, ys: Mapping, groups, n_splits=3, dims=0.99, units=None) -> dict:
    """SVCCA of every pair, averaged over GroupKFold splits (in sample for ``groups=None``): on
    the training rows each array's whitened PCA ``Z``, and a pair's canonical directions ``u``,
    ``v``, the singular vectors of ``Zxᵀ Zy / (n - 1)``; the score, the mean Pearson r of the
    canonical variates ``Zx u``, ``Zy v`` on the test rows (with ``units``: an array, the score
    on each unit's test rows, units in sorted order)."""
    xs, ys = _checked(xs, ys)
    first = next(iter(xs.values()))
    pairs = set() if units is None or groups is None else {*zip(units, groups, strict=True)}
    if len(pairs) > len({*(units if pairs else ())}):  # scored in several folds: last one kept
        raise ValueError("A unit spans several groups, so it would be scored in several folds: "
                         "use units within groups (recordings within sentences).")  # fmt: skip
    every = [(np.arange(len(first)),) * 2]
    splits = every if groups is None else _group_splits(first, groups, n_splits)
    labels, scores = np.zeros(len(first)) if units is None else np.asarray(units), {}
    for split, (train, test) in enumerate(splits):
        z_train, z_test = [], []
        for side in (xs, ys):
            pcas = {k: _whitened_pca(a[train], dims) for k, a in side.items()}
            z_train.append({k: (a[train] - pcas[k][0]) @ pcas[k][1] for k, a in side.items()})
            z_test.append({k: (a[test] - pcas[k][0]) @ pcas[k][1] for k, a in side.items()})
        for kx in xs:
            for ky in ys:
                cross = z_train[0][kx].T @ z_train[1][ky] / (len(train) - 1)
                u, _, vt = np.linalg.svd(cross, full_matrices=False)
                variates = z_test[0][kx] @ u, z_test[1][ky] @ vt.T
                for unit in np.unique(labels[test]):
                    if (rows := labels[test] == unit).sum() < 2:
                        raise _undefined(f"CCA of {kx!r} and {ky!r}", groups, test[rows], _ONE_ROW)
                    a, b = (v[rows] - v[rows].mean(axis=0) for v in variates)
                    norms = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
                    if norms.min() <= 1e-10 * rows.sum():  # unit variance in training
                        fix = "A canonical variate is constant there: drop constant columns."
                        raise _undefined(f"CCA of {kx!r} and {ky!r}", groups, test[rows], fix)
                    key = split if units is None else unit
                    scores.setdefault((kx, ky), {})[key] = np.mean(np.sum(a * b, 0) / norms)
    if units is None:
        return {pair: float(np.mean(list(s.values()))) for pair, s in scores.items()}
    return {pair: np.array([s[unit] for unit in sorted(s)]) for pair, s in scores.items()}


def svcca(x: np.ndarray, y: np.ndarray, dims: float | int = 0.99) -> float:
    """In-sample SVCCA: the mean canonical correlation of the whitened PCAs keeping ``dims`` (a
    variance fraction or a number of components): 1 for *any* data with as many as rows. An int
    ``dims`` above a side's rank (a stuck sensor lowers it) keeps the rank: see
    :func:`svcca_dimensions`."""
    return _svcca({0: x}, {0: y}, None, 0, dims)[0, 0]


def svcca_pairs(xs: Mapping, ys: Mapping, dims: float | int = 0.99) -> dict[tuple, float]:
    """``{(x_key, y_key): svcca(xs[x_key], ys[y_key])}`` for every pair."""
    return _svcca(xs, ys, None, 0, dims)


def heldout_cca(
    x: np.ndarray, y: np.ndarray, groups: Sequence, *, n_splits=3, dims=0.99, units=None
):
    """SVCCA fitted on training groups (PCAs as in :func:`svcca`, canonical directions), scored
    on held-out ones: the mean correlation of the canonical variate pairs there, over the pairs
    and the GroupKFold folds (with ``units``: per unit, an array)."""
    return _svcca({0: x}, {0: y}, groups, n_splits, dims, units)[0, 0]


def heldout_cca_pairs(xs: Mapping, ys: Mapping, groups: Sequence, **options) -> dict:
    """``{(x_key, y_key): heldout_cca(xs[x_key], ys[y_key], groups, **options)}``, every pair."""
    return _svcca(xs, ys, groups, **options)
