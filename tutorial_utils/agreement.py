"""Do several similarity measures tell the same story about the layers? (chapters 05 and 06)

Scores: a ``value`` per ``measure, target, layer, version`` (per ``filename``); each ``version``
but "observed" is one circular shift, a draw of the null. A *layer profile* is the gap above the
null's mean, or for a held-out score the score (its null is a threshold, not an offset)."""

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from .stats import peak_layers

KEYS = ["measure", "target", "layer"]


def score_row(layer: int, target: str, version: str, measure: str, value: float, **extra) -> dict:
    """One row of a scores table: ``layer, target, version, measure``, the ``extra`` columns
    (e.g. ``filename``) and ``value``; a ``version`` other than "observed" is the null."""
    row = {"layer": layer, "target": target, "version": version, "measure": measure}
    return row | extra | {"value": float(value)}


def null_summary(scores: pd.DataFrame, held_out: Sequence = (), level=0.95) -> pd.DataFrame:
    """Per ``measure, target, layer``: the ``observed`` value; the ``null`` mean, ``null sd`` and
    ``level`` quantile (``threshold``) over the shifts; ``above`` (observed > threshold);
    ``gap`` (observed − null); ``profile`` (the gap, or for ``held_out`` measures observed)."""
    null = scores[scores["version"] != "observed"].groupby(KEYS)["value"]
    table = pd.DataFrame({
        "observed": scores[scores["version"] == "observed"].groupby(KEYS)["value"].mean(),
        "null": null.mean(), "null sd": null.std(), "threshold": null.quantile(level),
    }).reset_index()  # fmt: skip
    table["above"] = table["observed"] > table["threshold"]
    table["gap"] = table["observed"] - table["null"]
    table["profile"] = table["gap"].where(~table["measure"].isin(held_out), table["observed"])
    return table


def recording_profiles(per_recording: pd.DataFrame, held_out: Sequence = ()) -> pd.DataFrame:
    """:func:`null_summary`'s ``profile`` per recording: its observed value minus the mean of
    its shifts (``held_out`` measures: the observed value). Columns ``*KEYS, filename, value``;
    the mean over recordings is the profile."""
    keys, shifted = [*KEYS, "filename"], per_recording["version"] != "observed"
    observed = per_recording[~shifted].set_index(keys)["value"]
    null = per_recording[shifted].groupby(keys)["value"].mean().reindex(observed.index)
    kept = ~observed.index.get_level_values("measure").isin(held_out)
    return (observed - null.where(kept, 0.0)).reset_index()


def layer_profiles(gaps: pd.DataFrame, measures: Sequence, targets: Sequence) -> dict:
    """``{target: profile table}`` in the order of ``targets``: layers (rows) by ``measures``."""
    wide = gaps.pivot(index="layer", columns=["target", "measure"], values="profile")
    return {target: wide[target][list(measures)] for target in targets}


def rank_intervals(
    profiles: pd.DataFrame, layer_sets: Mapping, *, level=0.95, n_resamples=1000, seed=0
) -> pd.DataFrame:
    """Spearman's ρ between every two measures' mean profiles over each set of layers
    (``{name: layers}``), per target, with a percentile bootstrap interval over recordings
    (``profiles``: :func:`recording_profiles`). Rows ``target, pair`` (in order of appearance);
    columns ``(name, ρ | low | high)``."""
    from scipy.stats import rankdata

    wide = profiles.pivot_table(index="filename", columns=["target", "measure", "layer"])["value"]
    n, rows = len(wide), {}
    draws = np.vstack([np.arange(n), np.random.default_rng(seed).integers(0, n, (n_resamples, n))])
    means = pd.DataFrame(wide.to_numpy()[draws].mean(axis=1), columns=wide.columns)
    for target in pd.unique(profiles["target"]):
        for a, b in combinations(pd.unique(profiles["measure"]), 2):
            for name, layers in layer_sets.items():
                ranks = (rankdata(means[target, m][list(layers)], axis=1) for m in (a, b))
                p, q = (r - r.mean(axis=1, keepdims=True) for r in ranks)
                rho = np.sum(p * q, axis=1) / np.sqrt(np.sum(p * p, axis=1) * np.sum(q * q, axis=1))
                low, high = np.quantile(rho[1:], [(1 - level) / 2, (1 + level) / 2])
                rows.setdefault((target, f"{a} vs {b}"), {}).update(
                    {(name, "ρ"): rho[0], (name, "low"): low, (name, "high"): high}
                )
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["target", "pair"])


def _span(layers: Sequence[int]) -> str:
    """``[2, 3, 4, 7]`` → ``"2–4, 7"``."""
    runs = np.split(np.asarray(layers), np.flatnonzero(np.diff(layers) > 1) + 1)
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def peak_summary(profiles: pd.DataFrame, **options) -> pd.DataFrame:
    """Per measure and target of :func:`recording_profiles`, from a bootstrap over recordings
    (:func:`tutorial_utils.stats.peak_layers`, ``options``): the ``peak`` layer, the
    ``near-peak`` layers and ``p_peak`` of the three layers that peak most often."""
    rows = {}
    for key, part in profiles.groupby(["measure", "target"], sort=False):
        peaks = peak_layers(part, **options).set_index("layer")
        top = peaks["p_peak"].nlargest(3)
        top = ", ".join(f"{layer}: {p:.2f}" for layer, p in top[top >= 0.005].items())
        near = _span(peaks.index[peaks["near_peak"]])
        rows[key] = {"peak": peaks["mean"].idxmax(), "near-peak": near, "p_peak": top}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["measure", "target"])


def summary(intervals: pd.DataFrame) -> list[str]:
    """Per target of :func:`rank_intervals`: the range of ρ over the pairs of measures, for
    each set of layers."""
    names = dict.fromkeys(intervals.columns.get_level_values(0))
    return [f"{target}: ρ between two measures: " + ", ".join(
                f"{p[n, 'ρ'].min():.2f}–{p[n, 'ρ'].max():.2f} over {n}" for n in names)
            for target, p in intervals.groupby(level="target", sort=False)]  # fmt: skip


def planted_recovery(gaps: pd.DataFrame, measures: Sequence, planted: pd.DataFrame) -> pd.DataFrame:
    """On the sample: Spearman's ρ over layers between each measure's profile (rows) and the
    weight the simulated encoder planted (:func:`tutorial_utils.sample.ground_truth`): EMA
    against the articulatory weight, MFCC against the acoustic one."""
    wide = gaps.pivot(index="layer", columns=["target", "measure"], values="profile")
    pairs = {
        "EMA vs articulatory": ("EMA", "articulatory"),
        "MFCC vs acoustic": ("MFCC", "acoustic"),
    }
    return pd.DataFrame({
        name: wide[target][list(measures)].corrwith(planted[weight], method="spearman")
        for name, (target, weight) in pairs.items()
    })  # fmt: skip
