"""Summaries over recordings: means, confidence intervals and the gap to a null baseline.

Every interval in the tutorial comes from :func:`confidence_interval`: tables get it through
:func:`summarise`, figures through :func:`errorbar` (a function seaborn's ``errorbar=``
accepts), so a printed band and a drawn band are the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["confidence_interval", "errorbar", "null_gap", "summarise"]

METHODS = ("t", "bootstrap")


def _interval(arr: np.ndarray, level: float, method: str, n_resamples: int, seed: int):
    """Student-t or percentile-bootstrap interval of the mean of ``arr`` (two or more values)."""
    if method == "t":
        return stats.t.interval(level, arr.size - 1, loc=arr.mean(), scale=stats.sem(arr))
    result = stats.bootstrap(
        (arr,),
        np.mean,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return result.confidence_interval


def confidence_interval(
    values: Iterable[float],
    level: float = 0.95,
    method: str = "t",
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean and confidence interval of independent values (e.g. one per recording).

    Parameters
    ----------
    values : iterable of float
        NaNs are dropped.
    level : float, default 0.95
    method : {"t", "bootstrap"}
        Student-t interval, or a percentile bootstrap (:func:`scipy.stats.bootstrap`).
    n_resamples : int, default 2000
        Bootstrap resamples.
    seed : int, default 0
        Seed of the bootstrap generator.

    Returns
    -------
    mean, low, high : float
        ``low`` and ``high`` are NaN when there are fewer than two values or no spread.
    """
    if method not in METHODS:
        raise ValueError(f"method must be 't' or 'bootstrap'; got {method!r}.")
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(arr.mean())
    if arr.size < 2 or np.ptp(arr) == 0:
        return mean, math.nan, math.nan
    low, high = _interval(arr, level, method, n_resamples, seed)
    return mean, float(low), float(high)


def errorbar(
    level: float = 0.95, method: str = "t", *, seed: int = 0
) -> Callable[[Sequence[float]], tuple[float, float]]:
    """:func:`confidence_interval` as a function of the values, for seaborn's ``errorbar=``.

    Parameters
    ----------
    level, method, seed
        See :func:`confidence_interval`.

    Returns
    -------
    callable
        ``values -> (low, high)``.

    Examples
    --------
    >>> plots.cka_by_layer(table, errorbar=stats.errorbar(0.95))  # doctest: +SKIP
    """
    if method not in METHODS:
        raise ValueError(f"method must be 't' or 'bootstrap'; got {method!r}.")

    def band(values: Sequence[float]) -> tuple[float, float]:
        _, low, high = confidence_interval(values, level, method, seed=seed)
        return low, high

    return band


def summarise(
    table: pd.DataFrame,
    by: Sequence[str] = ("target", "layer"),
    *,
    value: str = "value",
    level: float = 0.95,
    method: str = "t",
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and confidence interval of ``value`` per group.

    Parameters
    ----------
    table : pandas.DataFrame
        A tidy table, e.g. from :func:`tutorial_utils.recordings.layer_target_cka` (one row
        per recording and layer).
    by : sequence of str
        Grouping columns; the rows within a group are treated as independent observations.
        Recordings of two speakers pooled into one group are not independent (recordings of
        one speaker share that speaker), so the pooled band is too narrow by an unknown amount;
        add ``"participant"`` to ``by`` for one band per speaker.
    value : str, default "value"
    level, method, seed
        See :func:`confidence_interval`.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, mean, low, high, n``.
    """
    by = list(by)
    rows = []
    for key, group in table.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mean, low, high = confidence_interval(group[value], level, method, seed=seed)
        n = int(group[value].notna().sum())
        stats_row = {"mean": mean, "low": low, "high": high, "n": n}
        rows.append({**dict(zip(by, key, strict=True)), **stats_row})
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n"])


def null_gap(
    observed: pd.DataFrame, null: pd.DataFrame, by: Sequence[str] = ("target", "layer")
) -> pd.DataFrame:
    """Mean observed CKA, mean null CKA and their difference per group.

    Parameters
    ----------
    observed : pandas.DataFrame
        E.g. :func:`tutorial_utils.recordings.layer_target_cka`.
    null : pandas.DataFrame
        E.g. :func:`tutorial_utils.nulls.circular_shift_null` or
        :func:`tutorial_utils.nulls.mismatched_null`.
    by : sequence of str
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, observed, null, gap``.
    """
    by = list(by)
    table = pd.DataFrame(
        {
            "observed": observed.groupby(by)["value"].mean(),
            "null": null.groupby(by)["value"].mean(),
        }
    )
    table["gap"] = table["observed"] - table["null"]
    return table.reset_index()
