"""Do several similarity measures tell the same story about the layers? (chapters 05 and 06)

Each measure's *layer profile* is its gap above the null over the layers, per target (from
:func:`tutorial_utils.stats.null_gap`: ``measure, target, layer, observed, null, gap``). Two
measures agree when they order the layers alike (Spearman's ρ), whatever their scales."""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def score_row(layer: int, target: str, version: str, measure: str, value: float, **extra) -> dict:
    """One row of a scores table: ``layer, target, version, measure``, the ``extra`` columns
    (e.g. ``filename``) and ``value``; a ``version`` other than "observed" is the null."""
    row = {"layer": layer, "target": target, "version": version, "measure": measure}
    return row | extra | {"value": float(value)}


def layer_profiles(gaps: pd.DataFrame, measures: Sequence, targets: Sequence) -> dict:
    """``{target: gap table}`` in the order of ``targets``: layers (rows) by ``measures``."""
    wide = gaps.pivot(index="layer", columns=["target", "measure"], values="gap")
    return {target: wide[target][list(measures)] for target in targets}


def gap_statistics(gaps: pd.DataFrame, target: str, measures: Sequence[str]) -> pd.DataFrame:
    """Per measure (rows, in order), over the layers of ``target``: mean and standard deviation
    of the observed values and of the null, smallest and largest gap. Where the null varies
    about as much as the observed values, part of the profile's shape is the null's noise."""
    part = gaps[gaps["target"] == target].groupby("measure")
    return pd.DataFrame(
        {
            "observed: mean": part["observed"].mean(),
            "observed: sd": part["observed"].std(),
            "null: mean": part["null"].mean(),
            "null: sd": part["null"].std(),
            "smallest gap": part["gap"].min(),
            "largest gap": part["gap"].max(),
        }
    ).loc[list(measures)]


def rescaled_gaps(gaps: pd.DataFrame) -> pd.Series:
    """Each measure's gap rescaled to 0 (lowest layer) – 1 (highest) per target: the shapes of
    the profiles without their scales."""
    return gaps.groupby(["measure", "target"])["gap"].transform(
        lambda g: (g - g.min()) / (g.max() - g.min())
    )


def rank_agreement(profiles: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Spearman's ρ between every two measures' layer profiles, per target."""
    return {target: wide.corr(method="spearman") for target, wide in profiles.items()}


def top_layers(profiles: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The layer with the largest gap, per measure (rows) and target (columns)."""
    return pd.DataFrame({target: wide.idxmax() for target, wide in profiles.items()})


def chapter02_claims(
    profiles: Mapping[str, pd.DataFrame], acoustic: str = "MFCC", articulatory: str = "EMA"
) -> pd.DataFrame:
    """Which of chapter 02's statements (columns) hold for each measure (rows): the acoustic
    gap beats the articulatory gap at more than half of the layers; the last two layers have
    the smallest acoustic gaps (each below every other layer's); the same for articulatory."""
    layers = list(profiles[acoustic].index)
    late, rest = layers[-2:], layers[:-2]
    wins = (profiles[acoustic] > profiles[articulatory]).sum()
    return pd.DataFrame(
        {
            f"{acoustic} gap > {articulatory} gap at most layers": wins > len(layers) / 2,
            **{
                f"layers {late[0]}–{late[1]} lowest ({target})": profiles[target].loc[late].max()
                < profiles[target].loc[rest].min()
                for target in (acoustic, articulatory)
            },
        }
    )


def summary(profiles: Mapping[str, pd.DataFrame], claims: pd.DataFrame) -> list[str]:
    """Sentences for the tables: per target, the range and median of ρ over the pairs of
    measures and the spread of their top layers; per statement of ``claims``
    (:func:`chapter02_claims`), the measures it holds for."""
    lines = []
    for target, wide in profiles.items():
        rho, tops = wide.corr(method="spearman"), wide.idxmax()
        pairs = rho.where(np.triu(~np.eye(len(rho), dtype=bool))).stack().dropna()
        (a, b), counts = pairs.idxmin(), tops.value_counts()
        where = (
            f"all {len(tops)} measures put their top layer at {tops.iloc[0]}"
            if tops.nunique() == 1
            else f"their top layers range over {tops.min()}–{tops.max()} (layer "
            f"{counts.idxmax()} for {counts.max()} of {len(tops)})"
        )
        lines.append(
            f"{target}: the {len(pairs)} pairs of measures have ρ from {pairs.min():.2f} "
            f"({a} vs {b}) to {pairs.max():.2f}, median {pairs.median():.2f}; {where}."
        )
    for claim, holds in claims.items():
        verdict = (
            f"holds for all {len(holds)} measures"
            if holds.all()
            else f"holds for {holds.sum()} of {len(holds)} measures "
            f"(not for: {', '.join(holds.index[~holds])})"
        )
        lines.append(f"- '{claim}' {verdict}.")
    return lines


def planted_recovery(gaps: pd.DataFrame, measures: Sequence, planted: pd.DataFrame) -> pd.DataFrame:
    """On the sample: Spearman's ρ over layers between each measure (rows) and the weight the
    simulated encoder planted (``planted``: :func:`tutorial_utils.sample.ground_truth`), for the
    EMA gap and EMA observed values (articulatory weight) and the MFCC gap (acoustic weight)."""
    wide = gaps.pivot(index="layer", columns=["target", "measure"], values=["gap", "observed"])
    columns = {
        "EMA gap vs articulatory": ("gap", "EMA", "articulatory"),
        "EMA observed vs articulatory": ("observed", "EMA", "articulatory"),
        "MFCC gap vs acoustic": ("gap", "MFCC", "acoustic"),
    }
    return pd.DataFrame(
        {
            name: wide[value][target][list(measures)].corrwith(planted[weight], method="spearman")
            for name, (value, target, weight) in columns.items()
        }
    )


def recovery_sentence(recovery: pd.DataFrame) -> str:
    """Which measure's EMA gap follows the planted articulatory weight most and least closely
    (:func:`planted_recovery`)."""
    rho = recovery["EMA gap vs articulatory"]
    alone = recovery["EMA observed vs articulatory"][rho.idxmin()]
    return (
        f"The planted articulatory profile is followed most closely by the gap of "
        f"{rho.idxmax()} (ρ = {rho.max():.2f}) and least by that of {rho.idxmin()} "
        f"(ρ = {rho.min():.2f}; its observed values alone: ρ = {alone:.2f})."
    )
