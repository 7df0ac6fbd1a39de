"""Membership inference: per-sample attack scores and how well they tell members from non-members.

Every score is oriented so that higher means "more likely a member":
- loss (Yeom et al. 2018): minus the mean negative log2-likelihood per scored token.
- reference (Carlini et al. 2022, "ref" / likelihood ratio with one reference model): the target's
  log-likelihood minus the reference's, per character of the text, so models with different tokenizers
  compare; with no reference model the uniform distribution over the samples' alphabet stands in.
- zlib (Carlini et al. 2021): minus the ratio of the model's mean negative log2-likelihood per token to
  the sample's zlib-compressed length in bits. Carlini et al.'s code divides the log-perplexity (mean NLL
  per token, nats) by the zlib length in bytes, and Shi et al. 2024's min-k code does the same; the units
  here (bits over bits) scale every score by one constant, so the ranking is theirs. Text the model finds
  easy but zlib does not is suspect.
- min-k% (Shi et al. 2024): the mean log2-probability of the k% least likely tokens (k = 20).

Metrics follow the field's practice (Carlini et al. 2022):
- ROC AUC;
- the true-positive rate at a false-positive rate below 1% and 0.1%, read as LiRA's code reads it,
  `tpr[np.where(fpr < x)[0][-1]]` (strictly below x). With n non-members the smallest non-zero FPR is
  1/n (`fpr_resolution`); when 1/n >= x only zero false positives are below x, and the figure is the TPR
  at 0 FPR (`tpr_at_*_fpr_is_at_zero_fpr`);
- the best F1 of the member class over every threshold, accept-all included, so it is never below the
  accept-all F1 2m/(2m+n) for m members and n non-members (`best_f1_chance`: 2/3 on a balanced set).
  A chance-level attack scores that floor, not 0.5. (Morris et al. 2025 call F1 0.5 chance: the F1 of
  a guess that labels members at random on a balanced set, precision = recall = 1/2; it is not the
  best F1 over thresholds and is not comparable with it.)
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

MIN_K_FRACTION = 0.2


def zlib_bits(text: str) -> int:
    """Length of the text's zlib compression (level 9, UTF-8, zlib format: header and checksum included,
    as in Carlini et al. 2021's code) in bits."""
    return 8 * len(zlib.compress(text.encode("utf-8"), 9))


def zlib_ratio(mean_nll_bits: float, text: str) -> float:
    """The model's mean negative log2-likelihood per token over the text's zlib length in bits (Carlini et
    al. 2021: log-perplexity / zlib entropy): length-normalised on the model's side, as theirs is."""
    return mean_nll_bits / zlib_bits(text)


def min_k_logprob_bits(token_nll_bits: torch.Tensor, fraction: float = MIN_K_FRACTION) -> float:
    """Mean log2-probability of the `fraction` least likely tokens (at least one), Shi et al.'s min-k%."""
    if token_nll_bits.numel() == 0:
        return 0.0
    k = max(1, int(token_nll_bits.numel() * fraction))
    return -float(token_nll_bits.double().topk(k).values.mean())


def attack_scores(token_nll_bits: list[torch.Tensor], texts: list[str],
                  ref_nll_bits: np.ndarray) -> dict[str, np.ndarray]:
    """Each attack's (N,) scores, higher = more likely a member.

    token_nll_bits: per sample, the target's (T,) per-token negative log2-probabilities.
    ref_nll_bits: (N,) each sample's total negative log2-likelihood under the reference.
    """
    nll = np.array([float(t.double().sum()) for t in token_nll_bits])
    n_tokens = np.array([max(t.numel(), 1) for t in token_nll_bits])
    n_chars = np.array([max(len(t), 1) for t in texts])
    return {
        "loss": -nll / n_tokens,
        "reference": (ref_nll_bits - nll) / n_chars,
        "zlib": -np.array([zlib_ratio(b, t) for b, t in zip(nll / n_tokens, texts)]),
        "min_k": np.array([min_k_logprob_bits(t) for t in token_nll_bits]),
    }


@dataclass(frozen=True)
class Roc:
    """ROC points from the strictest threshold to the loosest, (0, 0) first and (1, 1) last."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    """Score threshold of each point after the first: predict member when score >= threshold."""


def roc_curve(member_scores, nonmember_scores) -> Roc:
    """Exact ROC over every distinct score; tied scores move together (one diagonal step)."""
    pos, neg = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(labels)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return Roc(np.r_[0.0, fp / max(len(neg), 1)], np.r_[0.0, tp / max(len(pos), 1)], scores[last_of_tie])


def auc(roc: Roc) -> float:
    """Area under the ROC (trapezoids): the chance a random member outscores a random non-member, ties
    counting half (the Mann-Whitney statistic)."""
    return float(np.sum(np.diff(roc.fpr) * (roc.tpr[1:] + roc.tpr[:-1]) / 2))


def tpr_at_fpr(roc: Roc, max_fpr: float) -> float:
    """Highest true-positive rate of a threshold whose false-positive rate is strictly below max_fpr
    (LiRA's `tpr[np.where(fpr < x)[0][-1]]`); the ROC's first point (0, 0) always qualifies."""
    if not max_fpr > 0:
        raise ValueError(f"max_fpr={max_fpr}: no false-positive rate is below it")
    # k/n and the literal x are both the double nearest their value, so k/n == x compares equal when n*x
    # is whole; the tolerance only guards a last-bit difference from that
    return float(roc.tpr[roc.fpr < max_fpr * (1 - 1e-12)].max())


def best_f1_chance(n_members: int, n_nonmembers: int) -> float:
    """The accept-all F1, 2m/(2m+n): the floor of best_f1, which a chance-level attack scores."""
    return 2 * n_members / (2 * n_members + n_nonmembers) if n_members else 0.0


def best_f1(roc: Roc, n_members: int, n_nonmembers: int) -> float:
    """Best F1 of the member class over all thresholds, accept-all included (floor: best_f1_chance)."""
    tp, fp = roc.tpr * n_members, roc.fpr * n_nonmembers
    fn = n_members - tp
    denom = 2 * tp + fp + fn
    return float(np.max(np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)))


FPR_LEVELS = {"1pct": 0.01, "0.1pct": 0.001}


def attack_metrics(member_scores, nonmember_scores) -> dict:
    """ROC AUC, TPR at FPR < 1% and < 0.1% with the FPR resolution 1/n, best F1 with its chance floor
    (the ROC itself under `roc` for figures)."""
    roc = roc_curve(member_scores, nonmember_scores)
    m, n = len(member_scores), len(nonmember_scores)
    resolution = 1 / n if n else None
    out = {"auc": auc(roc)}
    for name, x in FPR_LEVELS.items():
        out[f"tpr_at_{name}_fpr"] = tpr_at_fpr(roc, x)
    out["fpr_resolution"] = resolution
    for name, x in FPR_LEVELS.items():
        out[f"tpr_at_{name}_fpr_is_at_zero_fpr"] = resolution is None or resolution >= x
    out.update(best_f1=best_f1(roc, m, n), best_f1_chance=best_f1_chance(m, n), roc=roc)
    return out


def fpr_caveat(n_nonmembers: int) -> str:
    """One line on what TPR at a low FPR means with this many non-members."""
    if not n_nonmembers:
        return "no non-members: no false-positive rate"
    r = 1 / n_nonmembers
    zero = [f"{100 * x:g}%" for x in FPR_LEVELS.values() if r >= x]
    head = f"FPR resolution 1/{n_nonmembers:,} = {r:.2g} (TPR read at FPR strictly below the level)"
    return head + (f"; TPR at {' and '.join(zero)} FPR is the TPR at 0 FPR" if zero else "")


def auc_interval(member_scores, nonmember_scores, seed: int = 0, n_resamples: int = 2000,
                 confidence: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the ROC AUC, members and non-members resampled separately (the
    stratified bootstrap of the AUC, as in pROC's `ci.auc(method="bootstrap")`); None with fewer than two
    of either. The AUC of a resample is the Mann-Whitney probability P(member > non-member) + P(tie)/2,
    which equals the trapezoid area of its ROC."""
    m, n = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    if len(m) < 2 or len(n) < 2:
        return None
    rng = np.random.default_rng(seed)
    mi = rng.integers(0, len(m), (n_resamples, len(m)))
    ni = rng.integers(0, len(n), (n_resamples, len(n)))
    aucs = np.empty(n_resamples)
    for b in range(n_resamples):
        a, c = m[mi[b]][:, None], n[ni[b]][None, :]
        aucs[b] = (a > c).mean() + 0.5 * (a == c).mean()
    lo, hi = np.quantile(aucs, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def headline(metrics: dict[str, dict], intervals: dict[str, tuple[float, float] | None]) -> dict:
    """The audit's first line: the strongest attack (highest AUC), its AUC with the bootstrap interval and
    its TPR at FPR < 1%, and one sentence on what they mean (chance is AUC 0.5)."""
    name = max(metrics, key=lambda k: metrics[k]["auc"])
    auc_value, ci = metrics[name]["auc"], intervals.get(name)
    tpr = metrics[name]["tpr_at_1pct_fpr"]
    if ci is None:
        sentence = "too few members or non-members to put an interval on the AUC"
    elif ci[0] > 0.5:
        sentence = (f"members are distinguishable from non-members (AUC {auc_value:.2f}, 95% interval "
                    f"{ci[0]:.2f}-{ci[1]:.2f}, above chance 0.5)")
    elif ci[1] < 0.5:
        sentence = (f"the attack ranks non-members above members (AUC {auc_value:.2f}, 95% interval "
                    f"{ci[0]:.2f}-{ci[1]:.2f}, below chance 0.5)")
    else:
        sentence = (f"members are not distinguishable from non-members at this sample size (AUC "
                    f"{auc_value:.2f}, 95% interval {ci[0]:.2f}-{ci[1]:.2f} includes chance 0.5)")
    return {"attack": name, "auc": auc_value, "auc_interval": list(ci) if ci else None,
            "auc_interval_method": "stratified percentile bootstrap over samples, 95%, 2,000 resamples",
            "tpr_at_1pct_fpr": tpr, "sentence": sentence}
