"""Forgetting: how much of a memorization measure survives later training, and what replay feeds back.

Conventions:
- Excess exposure (Carlini et al. 2019): a canary's exposure minus the mean exposure of held-out canaries
  of the same form scored by the same model at the same step, so a model's general drift (which moves
  every candidate's likelihood) is not counted as memory; 0 is "no more exposed than a canary never seen".
- Retention (Jagielski et al. 2022, Tirumala et al. 2022): a measure's value after further training as a
  fraction of its value when training on the example stopped, both above the same chance baseline:
  (after - baseline_after) / (before - baseline_before). Undefined (None) when there was too little to
  forget (before - baseline_before < min_gap): a ratio of noise.
- Duplication slope (Carlini et al. 2022, Kandpal et al. 2022): the least-squares slope of a measure on
  log2 of the number of duplicates, i.e. its gain per doubling.
- Replay share: rows of phase-1 tasks over all rows of a phase, from the exact exposure counts.
"""
from __future__ import annotations

import math

import numpy as np


def excess_bits(exposure_bits: list[float], held_out_exposure_bits: list[float]) -> float:
    """Mean exposure of the canaries above the mean exposure of the held-out canaries (bits)."""
    return float(np.mean(exposure_bits) - np.mean(held_out_exposure_bits))


def retention(before: float, after: float, baseline_before: float = 0.0, baseline_after: float = 0.0,
              min_gap: float = 1e-9) -> float | None:
    """(after - baseline_after) / (before - baseline_before); None when before is within min_gap of its
    baseline."""
    gap = before - baseline_before
    if gap < min_gap:
        return None
    return (after - baseline_after) / gap


def duplication_slope(duplicates: list[int], values: list[float]) -> float:
    """Least-squares slope of values on log2(duplicates): the gain per doubling (duplicates >= 1)."""
    if len(set(duplicates)) < 2:
        raise ValueError("a slope needs at least two distinct duplicate counts")
    x = np.log2(np.asarray(duplicates, float))
    y = np.asarray(values, float)
    return float(np.polyfit(x, y, 1)[0])


def uniform_rank_mean_exposure_bits(n_candidates: int) -> float:
    """Expected exposure log2 n - log2 rank of a canary at a uniformly random rank in 1..n: what a canary
    the model never saw should show (tends to 1 / ln 2 = 1.44 bits as n grows)."""
    return math.log2(n_candidates) - math.lgamma(n_candidates + 1) / math.log(2) / n_candidates


def replay_share(phase_counts: list[dict], replay_tasks: set[int]) -> float:
    """Share of a phase's rows that went to the tasks at the given positions (exposures.json's counts)."""
    rows = [sum(t["counts"]) for t in phase_counts]
    total = sum(rows)
    return sum(r for i, r in enumerate(rows) if i in replay_tasks) / total if total else 0.0
