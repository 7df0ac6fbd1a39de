"""Statistics of paired outcomes: accuracy before and after a rewrite, the drop, consistency, McNemar's
test, and the memorization gap, each with a bootstrap interval over items.

Conventions:
- Intervals: the percentile bootstrap (Efron & Tibshirani 1993, ch. 13): B resamples of the items with
  replacement (pairs kept together), the 2.5% and 97.5% quantiles of the statistic, from a seeded numpy
  generator; the gap resamples seen and held-out items independently (a stratified bootstrap).
- McNemar's exact test (McNemar 1947; the exact conditional form of Fagerland, Lydersen & Laake 2013):
  b = items right before and wrong after the rewrite, c = wrong before and right after; two-sided p of
  b ~ Binomial(b + c, 1/2), i.e. scipy.stats.binomtest(b, b + c, 0.5).pvalue; p = 1 when b + c = 0.
- drop = acc_original - acc_rewritten; relative drop = drop / acc_original (None when acc_original = 0).
- memorization gap = drop(seen items) - drop(held-out items).
"""
from __future__ import annotations

import numpy as np

N_RESAMPLES = 2000
CONFIDENCE = 0.95


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest  # scipy is slow to import
    return float(binomtest(b, b + c, 0.5).pvalue)


def _stats(o: np.ndarray, r: np.ndarray) -> dict[str, np.ndarray]:
    """Per resample row (..., n): the statistics of outcome arrays o (original) and r (rewritten)."""
    acc_o, acc_r = o.mean(-1), r.mean(-1)
    drop = acc_o - acc_r
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(acc_o > 0, drop / np.where(acc_o > 0, acc_o, 1), np.nan)
    return {"acc_original": acc_o, "acc_rewritten": acc_r, "drop": drop, "relative_drop": rel}


def _interval(samples: np.ndarray, confidence: float) -> list[float] | None:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return None
    a = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [a, 1 - a])
    return [float(lo), float(hi)]


def _value(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def bootstrap_indices(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, n, size=(n_resamples, n))


def percentile_interval(values, statistic=np.mean, n_resamples: int = N_RESAMPLES, seed: int = 0,
                        confidence: float = CONFIDENCE) -> list[float] | None:
    """The percentile bootstrap interval of statistic(values) (module docstring)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None
    idx = bootstrap_indices(x.size, n_resamples, np.random.default_rng(seed))
    return _interval(np.apply_along_axis(statistic, 1, x[idx]), confidence)


def paired_summary(original: list[bool], rewritten: list[bool], consistent: list[bool | None] | None = None,
                   n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE) -> dict:
    """Accuracy original / rewritten, drop, relative drop and consistency with intervals, and McNemar."""
    o, r = np.asarray(original, dtype=float), np.asarray(rewritten, dtype=float)
    if o.shape != r.shape:
        raise ValueError("original and rewritten outcomes differ in length")
    n = int(o.size)
    out: dict = {"n": n}
    if n == 0:
        return out
    idx = bootstrap_indices(n, n_resamples, np.random.default_rng(seed))
    point, boot = _stats(o, r), _stats(o[idx], r[idx])
    for key in point:
        out[key] = {"value": _value(point[key]), "ci": _interval(boot[key], confidence)}
    cons = [c for c in (consistent or []) if c is not None]
    if consistent is not None and len(cons) == n:
        c = np.asarray(cons, dtype=float)
        out["consistency"] = {"value": float(c.mean()), "ci": _interval(c[idx].mean(-1), confidence)}
    b = int(((o == 1) & (r == 0)).sum())
    c_ = int(((o == 0) & (r == 1)).sum())
    out["mcnemar"] = {"b": b, "c": c_, "p": mcnemar_exact(b, c_)}
    return out


def memorization_gap(original: list[bool], rewritten: list[bool], seen: list[bool],
                     n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE) -> dict | None:
    """drop(seen) - drop(held out) with a stratified percentile bootstrap interval; None without both groups."""
    o, r, s = (np.asarray(x) for x in (original, rewritten, seen))
    o, r, s = o.astype(float), r.astype(float), s.astype(bool)
    if s.all() or (~s).all():
        return None
    rng = np.random.default_rng(seed)
    drops, boots = [], []
    for group in (s, ~s):
        go, gr = o[group], r[group]
        idx = bootstrap_indices(go.size, n_resamples, rng)
        drops.append(go.mean() - gr.mean())
        boots.append(go[idx].mean(-1) - gr[idx].mean(-1))
    return {"value": float(drops[0] - drops[1]), "ci": _interval(boots[0] - boots[1], confidence),
            "drop_seen": float(drops[0]), "drop_held_out": float(drops[1]),
            "n_seen": int(s.sum()), "n_held_out": int((~s).sum())}


def summarize_outcomes(original: list[bool], rewritten: list[bool], consistent: list[bool | None],
                       seen: list[bool | None], rewritten_seen: list[bool | None] | None = None,
                       n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict:
    """All items, then, where the items carry both kinds, by provenance (`seen`: the original was in
    training) and by the rewrite's own provenance, with the gap between the two groups."""
    out = {"all": paired_summary(original, rewritten, consistent, n_resamples, seed)}
    for key, flags in (("seen", seen), ("rewritten_seen", rewritten_seen)):
        if flags is None or any(f is None for f in flags) or len(set(flags)) < 2:
            continue
        groups = {}
        for label, want in (("seen", True), ("held_out", False)):
            pick = [i for i, f in enumerate(flags) if f is want]
            groups[label] = paired_summary([original[i] for i in pick], [rewritten[i] for i in pick],
                                           [consistent[i] for i in pick], n_resamples, seed)
        out[f"by_{key}"] = groups
        out[f"gap_{key}"] = memorization_gap(original, rewritten, flags, n_resamples, seed)
    return out
