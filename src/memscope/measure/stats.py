"""Means over seeds: mean, sample standard deviation and the Student t interval of the mean.

One copy for every study and measure that reports a spread over seeds (tbtt's tables, capacity's fits).
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
