"""Summaries over recordings: means, confidence intervals and peak layers.

Every interval comes from :func:`confidence_interval` (tables: :func:`summarise`, figures:
:func:`errorbar`), so a printed band and a drawn band are the same numbers."""

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd


def confidence_interval(
    values: Iterable[float], level=0.95, method="t", *, n_resamples=2000, seed=0
) -> tuple[float, float, float]:
    """Mean and confidence interval of independent values (e.g. one per recording).

    Parameters
    ----------
    values : iterable of float
        NaNs are dropped.
    level : float, default 0.95
    method : {"t", "bootstrap"}
        Student-t interval, or a seeded percentile bootstrap (:func:`scipy.stats.bootstrap`
        with ``n_resamples``).

    Returns
    -------
    mean, low, high : float
        ``low`` and ``high`` are NaN for fewer than two values or no spread.
    """
    from scipy import stats

    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap'; got {method!r}.")
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    mean = float(arr.mean()) if arr.size else math.nan
    if arr.size < 2 or np.ptp(arr) == 0:
        return mean, math.nan, math.nan
    if method == "t":
        low, high = stats.t.interval(level, arr.size - 1, loc=arr.mean(), scale=stats.sem(arr))
    else:
        rng = np.random.default_rng(seed)
        low, high = stats.bootstrap(
            (arr,), np.mean, confidence_level=level, n_resamples=n_resamples,
            method="percentile", rng=rng,
        ).confidence_interval  # fmt: skip
    return mean, float(low), float(high)


def errorbar(level=0.95, method="t", *, seed=0) -> Callable[[Sequence], tuple[float, float]]:
    """``values -> (low, high)`` of :func:`confidence_interval`, for seaborn's ``errorbar=``,
    e.g. ``plots.cka_by_layer(table, errorbar=stats.errorbar(0.95))``."""
    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap'; got {method!r}.")
    return lambda values: confidence_interval(values, level, method, seed=seed)[1:]


def summarise(
    table: pd.DataFrame, by=("target", "layer"), *, value="value", level=0.95, method="t", seed=0
) -> pd.DataFrame:
    """Mean and confidence interval of ``value`` per group: columns ``*by, mean, low, high, n``.

    The rows of a group are treated as independent. Recordings of two speakers pooled into one
    group are not (they share a speaker), so the pooled band is too narrow by an unknown amount;
    add ``"participant"`` to ``by`` for one band per speaker.
    """
    rows = [
        (*(key if isinstance(key, tuple) else (key,)),
         *confidence_interval(group[value], level, method, seed=seed),
         int(group[value].notna().sum()))
        for key, group in table.groupby(list(by), sort=True)
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n"])


def peak_layers(
    table: pd.DataFrame, *, value="value", unit="filename", level=0.95, n_resamples=2000, seed=0
) -> pd.DataFrame:
    """How sure is "layer L peaks"? A bootstrap over recordings of the layer profile's maximum.

    Each resample draws the units (recordings) with replacement and takes the mean ``value`` per
    layer; a layer's interval is the percentile interval of its resampled means.

    Returns
    -------
    DataFrame
        One row per layer: ``layer, mean, low, high, p_peak, near_peak``. ``p_peak`` is the
        share of resamples in which the layer has the largest mean; ``near_peak`` marks the
        layers whose interval reaches the interval of the observed peak layer.
    """
    wide = table.pivot(index=unit, columns="layer", values=value).sort_index(axis=1)
    scores = wide.to_numpy(dtype=np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("peak_layers needs one finite value per unit and layer; drop the rest.")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(scores), size=(n_resamples, len(scores)))
    means = scores[draws].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
    observed = scores.mean(axis=0)
    top = int(observed.argmax())
    return pd.DataFrame({
        "layer": wide.columns, "mean": observed, "low": low, "high": high,
        "p_peak": np.bincount(means.argmax(axis=1), minlength=scores.shape[1]) / n_resamples,
        "near_peak": high >= low[top],
    })  # fmt: skip
