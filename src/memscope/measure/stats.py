"""Means over seeds: mean, sample standard deviation and the Student t interval of the mean.

One copy for every study and measure that reports a spread over seeds (tbtt's tables, capacity's fits,
the grokking, sorting and forgetting tables through `over_seeds`).
"""
from __future__ import annotations

import math
import statistics


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1 in the denominator); sd is None for a single value."""
    if not values:
        raise ValueError("no values to average")
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)  # exact: stdev computes its own mean


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """The two-sided Student t quantile t_{(1 + confidence) / 2, df} (2.776 for df=4 at 95%)."""
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom")
    from scipy import stats  # scipy is slow to import: only when an interval is wanted
    return float(stats.t.ppf((1 + confidence) / 2, df))


def t_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """The t interval of the mean, mean ± t * sd / sqrt(n); None with fewer than two values."""
    mean, sd = mean_sd(values)
    if sd is None:
        return None
    half = t_quantile(len(values) - 1, confidence) * sd / math.sqrt(len(values))
    return mean - half, mean + half


def over_seeds(values: list[float | None]) -> dict:
    """{"n", "mean", "sd", "ci95"} over the values that are defined (None skipped): the mean, the sample sd
    and the 95% t interval as [lo, hi] (None with fewer than two values; all None with no value)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"n": 0, "mean": None, "sd": None, "ci95": None}
    mean, sd = mean_sd(vals)
    ci = t_interval(vals)
    return {"n": len(vals), "mean": mean, "sd": sd, "ci95": None if ci is None else list(ci)}
