"""Sanity checks for CKA: what it ignores, what it invents, whether it finds a planted answer.

* :func:`invariance_table`: CKA before and after transforming one representation (unchanged by
  rotations, isotropic scaling and translation; changed by per-feature scaling and general
  linear maps).
* :func:`noise_cka`: biased and debiased CKA of *independent* noise as ``d / n`` grows; biased
  CKA is close to ``d / (d + n)`` (:func:`expected_noise_cka`), debiased CKA stays near 0.
* :func:`planted_profile` and :func:`profile_recovery`: on the synthetic sample, whose layers mix
  four sources with known weights (:func:`tutorial_utils.sample.ground_truth`), CKA of each
  layer with each source should follow the planted weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .cka import cka_matrix
from .dataset import Dataset
from .sample import planted_sources

__all__ = [
    "expected_noise_cka",
    "invariance_table",
    "noise_cka",
    "noise_summary",
    "planted_profile",
    "profile_recovery",
    "source_profile",
]


def expected_noise_cka(n_stimuli: int, n_features: int) -> float:
    """Approximate biased linear CKA between two independent Gaussian noise matrices.

    For ``X`` and ``Y`` with i.i.d. standard normal entries, both ``(n, d)``, the expected
    centred Gram matrix is ``d H``, so the cross term does not vanish; Wishart moments give
    ``E[CKA] ≈ d / (d + n)``, i.e. ``r / (1 + r)`` with ``r = d / n``.

    Parameters
    ----------
    n_stimuli : int
    n_features : int

    Returns
    -------
    float
    """
    return n_features / (n_features + n_stimuli)


def _noise_repeats(n: int, d: int, n_repeats: int, seed: int) -> np.ndarray:
    """``(n_repeats, 2)`` biased and debiased CKA of independent noise pairs."""
    rng = np.random.default_rng([seed, n, d])
    values = np.empty((n_repeats, 2))
    for r in range(n_repeats):
        x, y = rng.standard_normal((n, d)), rng.standard_normal((n, d))
        values[r] = cka_matrix([x], [y])[0, 0], cka_matrix([x], [y], debiased=True)[0, 0]
    return values


def noise_cka(
    n_stimuli: Sequence[int] = (5, 10, 25, 50, 100, 200),
    n_features: Sequence[int] = (12, 768),
    *,
    n_repeats: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Biased and debiased CKA of pure noise over a grid of stimuli and feature counts.

    Each cell of the grid draws ``n_repeats`` independent pairs of ``(n, d)`` standard normal
    matrices. The generator of a cell is seeded with ``(seed, n, d)``, so a cell's numbers do
    not depend on the rest of the grid.

    Parameters
    ----------
    n_stimuli : sequence of int, default (5, 10, 25, 50, 100, 200)
        Numbers of stimuli ``n`` (at least 4, for the debiased estimator).
    n_features : sequence of int, default (12, 768)
        Numbers of features ``d`` (12 like EMA or MFCCs, 768 like a Wav2Vec2 layer).
    n_repeats : int, default 20
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (n, d, estimator) with columns ``n_stimuli``, ``n_features``,
        ``ratio`` (d / n), ``estimator`` ("biased" / "debiased"), ``mean``, ``std``, ``q05``,
        ``q95`` (over repeats) and ``expected`` (:func:`expected_noise_cka` for biased, 0 for
        debiased).
    """
    if min(n_stimuli) < 4:
        raise ValueError("Debiased CKA needs at least 4 stimuli; use n_stimuli >= 4.")
    rows = []
    for n in n_stimuli:
        for d in n_features:
            values = _noise_repeats(int(n), int(d), n_repeats, seed)
            for column, estimator in enumerate(("biased", "debiased")):
                v = values[:, column]
                rows.append(
                    {
                        "n_stimuli": int(n),
                        "n_features": int(d),
                        "ratio": d / n,
                        "estimator": estimator,
                        "mean": v.mean(),
                        "std": v.std(ddof=1) if n_repeats > 1 else 0.0,
                        "q05": np.quantile(v, 0.05),
                        "q95": np.quantile(v, 0.95),
                        "expected": expected_noise_cka(n, d) if column == 0 else 0.0,
                    }
                )
    return pd.DataFrame(rows)


def noise_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per ``(n_features, n_stimuli)`` of a :func:`noise_cka` table, both estimators
    side by side: ``d/n``, ``biased mean``, ``biased std``, ``d/(d+n)``, ``debiased mean``,
    ``debiased std``."""
    keys = ["n_features", "n_stimuli"]
    biased = table[table.estimator == "biased"].set_index(keys)
    debiased = table[table.estimator == "debiased"].set_index(keys)
    return pd.DataFrame(
        {
            "d/n": biased["ratio"],
            "biased mean": biased["mean"],
            "biased std": biased["std"],
            "d/(d+n)": biased["expected"],
            "debiased mean": debiased["mean"],
            "debiased std": debiased["std"],
        }
    ).sort_index()


def _haar_orthogonal(dim: int, seed: int) -> np.ndarray:
    """A random ``(dim, dim)`` orthogonal matrix, Haar distributed and seeded."""
    return stats.ortho_group.rvs(dim, random_state=np.random.default_rng(seed))


def _transforms(dim: int, seed: int, condition: float) -> dict[str, tuple[bool, object]]:
    """Name → (CKA should be invariant, function of x) for the invariance demonstration."""
    rng = np.random.default_rng(seed)
    rotation = _haar_orthogonal(dim, seed)
    shift = rng.normal(0.0, 10.0, size=dim)
    per_feature = np.exp(rng.uniform(0.0, np.log(condition), size=dim))
    spectrum = np.geomspace(1.0, condition, dim)
    general = _haar_orthogonal(dim, seed + 1) @ (spectrum[:, None] * rotation)
    return {
        "orthogonal rotation": (True, lambda x: x @ rotation),
        "isotropic scaling (x 3.7)": (True, lambda x: 3.7 * x),
        "translation (add a constant vector)": (True, lambda x: x + shift),
        "per-feature scaling": (False, lambda x: x * per_feature),
        "general invertible linear map": (False, lambda x: x @ general),
    }


def invariance_table(
    x: np.ndarray, y: np.ndarray, *, seed: int = 0, condition: float = 100.0
) -> pd.DataFrame:
    """Linear CKA of ``x`` with ``y`` before and after transforming ``x``.

    Parameters
    ----------
    x : ndarray, shape (n, d)
        The representation that is transformed (e.g. one layer's frames of a recording).
    y : ndarray, shape (n, d_y)
        A fixed reference over the same stimuli (e.g. the recording's MFCCs).
    seed : int, default 0
        Seeds the random rotation, shift and scalings.
    condition : float, default 100
        Ratio of the largest to the smallest scale factor of the per-feature scaling (at most)
        and of the general linear map (exactly).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``transform``; columns ``invariant`` (what theory says), ``cka_before``
        (CKA(x, y)), ``cka_after`` (CKA(T(x), y)), ``change`` (after minus before) and
        ``cka_with_original`` (CKA(x, T(x)), 1 when the transform is ignored).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    before = float(cka_matrix([x], [y])[0, 0])
    rows = []
    for name, (invariant, transform) in _transforms(x.shape[1], seed, condition).items():
        moved = transform(x)
        after = float(cka_matrix([moved], [y])[0, 0])
        rows.append(
            {
                "transform": name,
                "invariant": invariant,
                "cka_before": before,
                "cka_after": after,
                "change": after - before,
                "cka_with_original": float(cka_matrix([x], [moved])[0, 0]),
            }
        )
    return pd.DataFrame(rows).set_index("transform")


def source_profile(
    layers: Mapping[int, np.ndarray],
    sources: Mapping[str, np.ndarray],
    *,
    debiased: bool = False,
) -> pd.DataFrame:
    """Linear CKA of every layer ``{layer: (n, d)}`` with every source ``{source: (n, k)}``
    over the same ``n`` frames: a table with index ``layer`` and one column per source."""
    table = cka_matrix(dict(layers), dict(sources), debiased=debiased)
    table.index.name = "layer"
    table.columns.name = "source"
    return table


def _pooled(dataset: Dataset, participants: Sequence[str]) -> tuple[dict, dict]:
    """Frames of every layer and every planted source, concatenated over recordings."""
    layer_parts: dict[int, list] = {layer: [] for layer in dataset.layers}
    source_parts: dict[str, list] = {}
    for participant in participants:
        for name in dataset.pick_filenames(participant):
            planted = planted_sources(dataset, participant, name)
            n = min(len(v) for v in planted.values())
            n = min(n, dataset.hidden_state(participant, dataset.layers[0], name).shape[0])
            for layer in dataset.layers:
                layer_parts[layer].append(dataset.hidden_state(participant, layer, name)[:n])
            for source, values in planted.items():
                source_parts.setdefault(source, []).append(values[:n])
    layers = {k: np.concatenate(v) for k, v in layer_parts.items()}
    sources = {k: np.concatenate(v) for k, v in source_parts.items()}
    return layers, sources


def planted_profile(
    dataset: Dataset,
    participants: Sequence[str] | None = None,
    *,
    debiased: bool = False,
) -> pd.DataFrame:
    """CKA between each simulated layer and each planted source of the synthetic sample.

    The frames of all recordings of ``participants`` are pooled into one set of stimuli. Pooling
    (rather than one CKA per recording) is needed for the ``speaker`` source: the speaker vector
    is constant within a recording, so only differences between speakers make it visible.

    ``dataset`` must be the synthetic sample (``load_dataset("sample")``); ``participants``
    default to all. Returns a table with index ``layer`` and one column per planted source.
    """
    if dataset.source != "sample":
        raise ValueError(
            "Only the synthetic sample has planted sources; load it with load_dataset('sample')."
        )
    layers, sources = _pooled(dataset, participants or dataset.participants)
    return source_profile(layers, sources, debiased=debiased)


def profile_recovery(recovered: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """How well a recovered layer profile follows the planted one, per source.

    ``recovered`` (e.g. :func:`planted_profile`) and ``planted`` (e.g.
    :func:`tutorial_utils.sample.ground_truth`) have layers as index and sources as columns.
    Returns a table indexed by source: ``spearman`` (rank correlation over layers),
    ``p_value``, ``peak_recovered`` and ``peak_planted`` (layer of the maximum).
    """
    sources = [s for s in planted.columns if s in recovered.columns]
    if not sources:
        raise ValueError("recovered and planted share no source columns.")
    rows = []
    for source in sources:
        a = recovered[source].loc[planted.index]
        b = planted[source]
        rho, p_value = stats.spearmanr(a, b)
        rows.append(
            {
                "source": source,
                "spearman": float(rho),
                "p_value": float(p_value),
                "peak_recovered": int(a.idxmax()),
                "peak_planted": int(b.idxmax()),
            }
        )
    return pd.DataFrame(rows).set_index("source")
