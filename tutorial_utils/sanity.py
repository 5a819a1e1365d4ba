"""Sanity checks for CKA: what it ignores, what it invents, whether it finds a planted answer.

:func:`invariance_table` (rotations, isotropic scaling and translation leave CKA unchanged),
:func:`noise_cka` (independent noise: biased CKA near ``d / (d + n)``, debiased near 0) and
:func:`planted_profile` (the synthetic sample's layers mix sources with known weights).
"""

import numpy as np
import pandas as pd

from .cka import cka_matrix
from .dataset import Dataset
from .sample import planted_sources


def expected_noise_cka(n_stimuli: int, n_features: int) -> float:
    """About the biased linear CKA of two independent ``(n, d)`` standard normal matrices:
    ``d / (d + n)`` (their expected centred Grams are both ``d H``; Wishart moments)."""
    return n_features / (n_features + n_stimuli)


def noise_cka(
    n_stimuli=(5, 10, 25, 50, 100, 200), n_features=(12, 768), *, n_repeats=20, seed=0
) -> pd.DataFrame:
    """Biased and debiased CKA of ``n_repeats`` independent pairs of ``(n, d)`` standard normal
    matrices for every ``n`` of ``n_stimuli`` (at least 4) and ``d`` of ``n_features``, each
    cell drawn from its own generator seeded with ``(seed, n, d)``. One row per (n, d,
    estimator): ``n_stimuli``, ``n_features``, ``ratio`` (d / n), ``estimator``, ``mean``,
    ``std``, ``q05``, ``q95`` (over repeats) and ``expected`` (:func:`expected_noise_cka`, or 0)."""
    if min(n_stimuli) < 4:
        raise ValueError("Debiased CKA needs at least 4 stimuli; use n_stimuli >= 4.")
    rows = []
    for n in map(int, n_stimuli):
        for d in map(int, n_features):
            rng = np.random.default_rng([seed, n, d])
            values = np.empty((n_repeats, 2))
            for r in range(n_repeats):
                x, y = rng.standard_normal((n, d)), rng.standard_normal((n, d))
                values[r] = cka_matrix([x], [y])[0, 0], cka_matrix([x], [y], debiased=True)[0, 0]
            for v, estimator in zip(values.T, ("biased", "debiased"), strict=True):
                rows.append(
                    {
                        "n_stimuli": n, "n_features": d, "ratio": d / n, "estimator": estimator,
                        "mean": v.mean(), "std": v.std(ddof=1) if n_repeats > 1 else 0.0,
                        "q05": np.quantile(v, 0.05), "q95": np.quantile(v, 0.95),
                        "expected": expected_noise_cka(n, d) if estimator == "biased" else 0.0,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def noise_summary(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`noise_cka` table with one row per ``(n_features, n_stimuli)``: ``d/n``,
    ``biased mean``, ``biased std``, ``d/(d+n)``, ``debiased mean``, ``debiased std``."""
    wide = table.pivot(index=["n_features", "n_stimuli"], columns="estimator")
    columns = [("ratio", "biased"), ("mean", "biased"), ("std", "biased"),
               ("expected", "biased"), ("mean", "debiased"), ("std", "debiased")]  # fmt: skip
    names = ["d/n", "biased mean", "biased std", "d/(d+n)", "debiased mean", "debiased std"]
    return wide[columns].set_axis(names, axis=1)


def invariance_table(x: np.ndarray, y: np.ndarray, *, seed=0, condition=100.0) -> pd.DataFrame:
    """Linear CKA of ``x`` (n, d) with ``y`` before and after seeded transforms ``T`` of ``x``
    (``condition``: largest / smallest scale of the per-feature and general maps). Indexed by
    ``transform``: ``invariant`` (theory), ``cka_before``, ``cka_after`` (CKA(T(x), y)),
    ``change`` and ``cka_with_original`` (CKA(x, T(x)), 1 when the transform is ignored)."""
    from scipy.stats import ortho_group  # a Haar-distributed random rotation

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dim, rng = x.shape[1], np.random.default_rng(seed)
    rotation = ortho_group.rvs(dim, random_state=np.random.default_rng(seed))
    shift = rng.normal(0.0, 10.0, size=dim)
    per_feature = np.exp(rng.uniform(0.0, np.log(condition), size=dim))
    general = ortho_group.rvs(dim, random_state=np.random.default_rng(seed + 1))
    general = general @ (np.geomspace(1.0, condition, dim)[:, None] * rotation)
    transforms = {
        "orthogonal rotation": (True, x @ rotation),
        "isotropic scaling (x 3.7)": (True, 3.7 * x),
        "translation (add a constant vector)": (True, x + shift),
        "per-feature scaling": (False, x * per_feature),
        "general invertible linear map": (False, x @ general),
    }
    before = float(cka_matrix([x], [y])[0, 0])
    rows = []
    for name, (invariant, moved) in transforms.items():
        after = float(cka_matrix([moved], [y])[0, 0])
        rows.append(
            {
                "transform": name, "invariant": invariant, "cka_before": before,
                "cka_after": after, "change": after - before,
                "cka_with_original": float(cka_matrix([x], [moved])[0, 0]),
            }
        )  # fmt: skip
    return pd.DataFrame(rows).set_index("transform")


def planted_profile(dataset: Dataset, participants=None, *, debiased=False) -> pd.DataFrame:
    """Linear CKA of each layer of the synthetic sample with each planted source, over the
    pooled frames of ``participants`` (default all; the speaker source is constant within a
    recording, so only pooling makes it visible): index ``layer``, a column per source."""
    if dataset.source != "sample":
        raise ValueError(
            "Only the synthetic sample has planted sources; load it with load_dataset('sample')."
        )
    layers: dict[int, list] = {layer: [] for layer in dataset.layers}
    sources: dict[str, list] = {}
    for participant in participants or dataset.participants:
        for name in dataset.pick_filenames(participant):
            planted = planted_sources(dataset, participant, name)
            n = min(len(v) for v in planted.values())
            n = min(n, dataset.hidden_state(participant, dataset.layers[0], name).shape[0])
            for layer in dataset.layers:
                layers[layer].append(dataset.hidden_state(participant, layer, name)[:n])
            for source, values in planted.items():
                sources.setdefault(source, []).append(values[:n])
    table = cka_matrix(
        {k: np.concatenate(v) for k, v in layers.items()},
        {k: np.concatenate(v) for k, v in sources.items()},
        debiased=debiased,
    )
    return table.rename_axis(index="layer", columns="source")


def profile_recovery(recovered: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """Per source both have (layers × sources, e.g. :func:`planted_profile` and
    :func:`tutorial_utils.sample.ground_truth`): ``spearman`` (rank correlation over layers),
    ``p_value``, ``peak_recovered`` and ``peak_planted`` (layer of the maximum)."""
    from scipy.stats import spearmanr

    sources = [s for s in planted.columns if s in recovered.columns]
    if not sources:
        raise ValueError("recovered and planted share no source columns.")
    rows = []
    for source in sources:
        a, b = recovered[source].loc[planted.index], planted[source]
        rho, p_value = spearmanr(a, b)
        rows.append(
            {
                "source": source, "spearman": float(rho), "p_value": float(p_value),
                "peak_recovered": int(a.idxmax()), "peak_planted": int(b.idxmax()),
            }
        )  # fmt: skip
    return pd.DataFrame(rows).set_index("source")
