"""Do several similarity measures tell the same story about the layers? (chapters 05 and 06)

Every measure is first reduced to its *gap above the null* per layer and target
(:func:`tutorial_utils.stats.null_gap`, columns ``measure, target, layer, observed, null,
gap``). A measure's *layer profile* is its gap over the layers. Two measures agree when they
order the layers alike (Spearman's rank correlation between their profiles), whatever their
scales. :func:`chapter02_claims` checks three statements of chapter 02's CKA story against each
measure's profile, and :func:`summary` says in sentences what the tables show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "chapter02_claims",
    "gap_statistics",
    "layer_profiles",
    "planted_recovery",
    "rank_agreement",
    "recovery_sentence",
    "rescaled_gaps",
    "score_row",
    "summary",
    "top_layers",
]


def score_row(
    layer: int, target: str, version: str, measure: str, value: float, **extra: Any
) -> dict[str, Any]:
    """One row of a scores table: ``layer, target, version, measure``, the ``extra`` columns
    (e.g. ``filename``) and ``value``; the rows whose ``version`` is not ``"observed"`` are
    the null (:func:`tutorial_utils.stats.null_gap`)."""
    row = {"layer": layer, "target": target, "version": version, "measure": measure}
    return row | extra | {"value": float(value)}


def layer_profiles(
    gaps: pd.DataFrame, measures: Sequence[str], targets: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """Each target's gap above the null: layers (rows) by measures (columns, in order).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{target: table}`` in the order of ``targets``.
    """
    return {
        target: gaps[gaps["target"] == target].pivot(
            index="layer", columns="measure", values="gap"
        )[list(measures)]
        for target in targets
    }


def gap_statistics(gaps: pd.DataFrame, target: str, measures: Sequence[str]) -> pd.DataFrame:
    """Per measure (rows, in order), over the layers of one target: the mean and standard
    deviation of the observed values and of the null, and the smallest and largest gap.

    Where the null varies over layers about as much as the observed values, part of the gap
    profile's shape is the null's noise.
    """
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
    """Each measure's gap rescaled to ``[0, 1]`` over the layers of each target (0 at its
    lowest layer, 1 at its highest): the shapes of the profiles, without their scales."""
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
    """Which of chapter 02's statements hold for each measure (rows) on these profiles.

    The statements (columns): the acoustic gap is larger than the articulatory gap at more
    than half of the layers; the last two layers have the smallest acoustic gaps (both below
    every other layer's); the same for the articulatory gaps.
    """
    acoustic_gaps, articulatory_gaps = profiles[acoustic], profiles[articulatory]
    layers = list(acoustic_gaps.index)
    late, rest = layers[-2:], layers[:-2]
    wins = (acoustic_gaps > articulatory_gaps).sum()
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


def _pairs_sentence(target: str, rho: pd.DataFrame, tops: pd.Series) -> str:
    """One target's range of ρ over the pairs of measures, and where the top layers lie."""
    pairs = rho.where(np.triu(~np.eye(len(rho), dtype=bool))).stack().dropna()
    low_pair = pairs.idxmin()
    where = (
        f"all {len(tops)} measures put their top layer at {tops.iloc[0]}"
        if tops.nunique() == 1
        else f"their top layers range over {tops.min()}–{tops.max()} (layer "
        f"{tops.value_counts().idxmax()} for {tops.value_counts().max()} of {len(tops)})"
    )
    return (
        f"{target}: the {len(pairs)} pairs of measures have ρ from {pairs.min():.2f} "
        f"({low_pair[0]} vs {low_pair[1]}) to {pairs.max():.2f}, median {pairs.median():.2f}; "
        f"{where}."
    )


def _claim_sentence(claim: str, holds: pd.Series) -> str:
    """For how many measures one statement holds, and for which it does not."""
    verdict = (
        f"holds for all {len(holds)} measures"
        if holds.all()
        else f"holds for {holds.sum()} of {len(holds)} measures "
        f"(not for: {', '.join(holds.index[~holds])})"
    )
    return f"- '{claim}' {verdict}."


def summary(profiles: Mapping[str, pd.DataFrame], claims: pd.DataFrame) -> list[str]:
    """Sentences for the agreement tables: per target, the range and median of ρ over the
    pairs of measures and the spread of their top layers; per statement of ``claims``
    (:func:`chapter02_claims`), the measures it holds for."""
    rho, tops = rank_agreement(profiles), top_layers(profiles)
    lines = [_pairs_sentence(target, rho[target], tops[target]) for target in profiles]
    return lines + [_claim_sentence(claim, holds) for claim, holds in claims.items()]


def planted_recovery(
    gaps: pd.DataFrame, measures: Sequence[str], planted: pd.DataFrame
) -> pd.DataFrame:
    """On the synthetic sample: Spearman's ρ over layers between each measure (rows) and the
    weight the simulated encoder planted, for the EMA gap and the EMA observed values (against
    the articulatory weight) and for the MFCC gap (against the acoustic weight).

    ``planted`` is :func:`tutorial_utils.sample.ground_truth` (index ``layer``).
    """
    measures = list(measures)
    profiles = layer_profiles(gaps, measures, ["MFCC", "EMA"])
    ema = gaps[gaps["target"] == "EMA"].pivot(index="layer", columns="measure", values="observed")
    return pd.DataFrame(
        {
            "EMA gap vs articulatory": profiles["EMA"].corrwith(
                planted["articulatory"], method="spearman"
            ),
            "EMA observed vs articulatory": ema[measures].corrwith(
                planted["articulatory"], method="spearman"
            ),
            "MFCC gap vs acoustic": profiles["MFCC"].corrwith(
                planted["acoustic"], method="spearman"
            ),
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
