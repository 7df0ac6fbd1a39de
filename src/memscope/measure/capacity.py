"""Memorized bits, capacity and bits per parameter (Morris et al. 2025, docs/REFERENCE.md section 2).

Estimator. For a sequence x drawn uniformly (S symbols from V), its information content is
H(x) = S*log2(V) bits; a model that assigns it negative log2-likelihood NLL(x) stores
mem(x) = H(x) - NLL(x) bits about it (the uniform distribution is the reference). Dataset memorization is
the sum over the N training sequences, reported two ways:
- signed: sum of mem(x). Since NLL is a code length for the data given the model, the signed sum is the
  honest lower-bound estimate of what the model holds about the dataset; capacity uses it.
- clipped: sum of max(0, mem(x)), the paper's per-sample form; it drops sequences the model predicts
  worse than uniform, so it is never below the signed sum.

First-token convention: every sequence follows a BOS (the newline) that is never scored; all S symbols
are scored, each given the BOS and the symbols before it. Only the BOS is context, so a model cannot know
which training sequence comes next until it has read some of it: even a perfect memorizer pays log2(N)
bits to pick the sequence, and stores at most N*(H(x) - log2 N) bits (`ceiling_bits`), never the full
entropy N*H(x).

Capacity and bits per parameter: see `plateau` and `fit_bits_per_param`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .likelihood import LogitsFn, sequence_nll_bits
from .memorization import uniform_code_bits
from .stats import mean_sd, t_interval, t_quantile

from ..vocab import BOS


@dataclass(frozen=True)
class Memorization:
    """What a model stores about a dataset of N uniform random sequences, in bits."""

    n_sequences: int
    tokens_per_sequence: int
    entropy_bits: float
    """N * S * log2(V): the dataset's information content."""
    ceiling_bits: float
    """N * (S*log2(V) - log2 N): the most any model can store when only the BOS is given."""
    signed_bits: float
    clipped_bits: float
    loss_bits_per_token: float
    """Mean negative log2-likelihood per scored token (the training loss in bits)."""

    def to_dict(self) -> dict:
        return asdict(self)


def signed_memorized_bits(nll_bits: torch.Tensor, reference_bits: float | torch.Tensor) -> torch.Tensor:
    """(N,) bits stored about each sequence: the reference code length minus the model's.

    nll_bits: (N,) negative log2-likelihood of each sequence under the model.
    reference_bits: the uniform reference S*log2(V) (a number), or (N,) per-sequence code lengths of a
        reference model.
    """
    return torch.as_tensor(reference_bits, dtype=torch.float64) - nll_bits.to(torch.float64)


def ceiling_bits(n_sequences: int, entropy_bits_per_sequence: float) -> float:
    """The most a model can store about N distinct sequences given only a BOS: the best such model is
    the empirical distribution, which puts 1/N on each sequence (Gibbs' inequality)."""
    return n_sequences * max(entropy_bits_per_sequence - math.log2(n_sequences), 0.0)


def summarize(nll_bits: torch.Tensor, entropy_bits_per_sequence: float, tokens_per_sequence: int) -> Memorization:
    """Dataset memorization from per-sequence NLLs (bits) under the uniform reference."""
    n = len(nll_bits)
    mem = signed_memorized_bits(nll_bits, entropy_bits_per_sequence)
    return Memorization(
        n_sequences=n, tokens_per_sequence=tokens_per_sequence,
        entropy_bits=n * entropy_bits_per_sequence,
        ceiling_bits=ceiling_bits(n, entropy_bits_per_sequence),
        signed_bits=float(mem.sum()), clipped_bits=float(mem.clamp(min=0).sum()),
        loss_bits_per_token=float(nll_bits.double().sum()) / max(n * tokens_per_sequence, 1))


def sequence_ids(task) -> list[list[int]]:
    """Token ids of each random-tokens sequence with its BOS in front (the BOS is context only)."""
    return [task.vocab.encode(BOS + s) for s in task.sequences]


def dataset_memorization(logits_fn: LogitsFn, task, device: torch.device) -> Memorization:
    """Memorization of a random-tokens task's sequences under a model given as a logits function."""
    nll = sequence_nll_bits(logits_fn, sequence_ids(task), task.block_size, device)
    # the uniform reference over the task's alphabet (its vocab_size symbols, not the BOS): the audit's helper
    return summarize(nll, uniform_code_bits(task.length, task.vocab_size), task.length)


# ----------------------------------------------------------------------------- capacity
@dataclass(frozen=True)
class Plateau:
    """Capacity of one model: the plateau of memorized bits as the dataset grows."""

    capacity_bits: float
    """Max over N of the memorized bits (the paper's rule)."""
    at_n_sequences: int
    plateau_mean_bits: float
    """Mean of the points within `within` of the max: a check on the max's upward noise."""
    reached: bool
    """True when the curve was seen to stop rising: the max is not at the largest N trained, or the last
    two points both lie within `within` of it (levelled off). False: still rising at the grid's edge."""


def plateau(points: list[tuple[int, float]], within: float = 0.05) -> Plateau:
    """points: (n_sequences, memorized_bits) of one model size (one seed, or a mean over seeds)."""
    if not points:
        raise ValueError("no points to take a plateau of")
    pts = sorted(points)
    n_best, best = max(pts, key=lambda p: p[1])
    near = [b for _, b in pts if b >= best - within * abs(best)]
    flat_tail = len(pts) >= 2 and pts[-2][1] >= best - within * abs(best)
    return Plateau(capacity_bits=best, at_n_sequences=n_best, plateau_mean_bits=sum(near) / len(near),
                   reached=n_best < pts[-1][0] or flat_tail)


def slope_through_origin(x: list[float], y: list[float]) -> tuple[float, float | None]:
    """Least squares y = b*x: b and its standard error (None with a single point)."""
    sxx = sum(v * v for v in x)
    b = sum(u * v for u, v in zip(x, y)) / sxx
    if len(x) < 2:
        return b, None
    rss = sum((v - b * u) ** 2 for u, v in zip(x, y))
    return b, math.sqrt(rss / (len(x) - 1) / sxx)


def slope_with_intercept(x: list[float], y: list[float]) -> tuple[float, float, float | None]:
    """Least squares y = a + b*x: b, a and the standard error of b (None with two points or fewer)."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((u - mx) ** 2 for u in x)
    b = sum((u - mx) * (v - my) for u, v in zip(x, y)) / sxx
    a = my - b * mx
    if n < 3:
        return b, a, None
    rss = sum((v - a - b * u) ** 2 for u, v in zip(x, y))
    return b, a, math.sqrt(rss / (n - 2) / sxx)


def fit_bits_per_param(capacities: dict[int, list[tuple[int, float]]]) -> dict:
    """Bits per parameter from capacities: seed -> [(n_params, capacity_bits), one per model size].

    Primary figure (`bits_per_param`): for each seed, the least-squares slope of capacity against
    parameters through the origin; then the mean over seeds with a 95% t-interval (needs two seeds).
    Also: the pooled fit over every (size, seed) point through the origin (interval from the slope's
    standard error) and with an intercept.
    """
    per_seed = {seed: slope_through_origin([p for p, _ in pts], [c for _, c in pts])[0]
                for seed, pts in sorted(capacities.items()) if pts}
    if not per_seed:
        raise ValueError("no capacities to fit")
    slopes = list(per_seed.values())
    mean, _ = mean_sd(slopes)
    ci = t_interval(slopes)
    xs = [float(p) for pts in capacities.values() for p, _ in pts]
    ys = [float(c) for pts in capacities.values() for _, c in pts]
    b0, se0 = slope_through_origin(xs, ys)
    pooled = {"bits_per_param": b0, "ci95": None}
    if se0 is not None:
        h = t_quantile(len(xs) - 1) * se0
        pooled["ci95"] = [b0 - h, b0 + h]
    with_intercept = None
    if len(set(xs)) >= 2:
        b1, a1, se1 = slope_with_intercept(xs, ys)
        with_intercept = {"bits_per_param": b1, "intercept_bits": a1,
                          "ci95": None if se1 is None else [b1 - t_quantile(len(xs) - 2) * se1,
                                                            b1 + t_quantile(len(xs) - 2) * se1]}
    return {"bits_per_param": mean, "ci95": None if ci is None else list(ci),
            "per_seed": {str(s): b for s, b in per_seed.items()}, "n_seeds": len(per_seed),
            "pooled_through_origin": pooled, "pooled_with_intercept": with_intercept}
