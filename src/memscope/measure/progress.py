"""Progress measures for training runs: memorized bits against held-out data, and Fourier sparsity.

Memorized bits (the generalization gap in code length). A task with a training set and held-out items of
the same distribution (modular's held-out pairs, TBTT arithmetic's withheld equations) gives each item's
answer a negative log2-likelihood under the model, the prompt given. The held-out items' mean NLL is what
the model would pay for an item it never saw, so each training item's code length below it is information
the model holds about that item, not about the rule: Morris et al. 2025's mem(x) = H(x | reference) -
H(x | model) with the held-out mean as the reference (their Eq. 3 with a generalizing reference model).
Reported two ways, as measure/capacity.py:
- signed: N_train x (mean held-out NLL - mean training NLL) = sum_i (ref - nll_i);
- clipped: sum_i max(0, ref - nll_i), the per-sample form, never below the signed sum.
Both are estimates: the held-out mean stands in for a reference model trained without the item.

Capacity utilization = memorized bits / (parameters x bits per parameter): the share of the model's
capacity that the memorized table takes, with bits per parameter from memscope's own capacity sweep when
its results are found, else Morris et al.'s 3.6 (an estimate measured on uniform random sequences).

Fourier sparsity (Nanda et al. 2023, progress measures for grokking): the token embedding of the p residues,
(p, d), is transformed along the residue axis; the share of its squared norm in the top-k frequencies
(frequency f and p - f together, the cos and sin of one frequency). A generalizing modular-addition model
uses a few key frequencies, so the share rises towards 1 as it groks; random embeddings spread the norm
over all p // 2 + 1 frequencies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .likelihood import LOG2E, LogitsFn

DEFAULT_BITS_PER_PARAM = 3.6
"""Morris et al. 2025's headline capacity, used when no memscope capacity result is found."""
FOURIER_TOP_K = 5
"""Frequencies counted by the sparsity measure (Nanda et al. find 5 key frequencies at p = 113)."""


@torch.no_grad()
def answer_scores(logits_fn: LogitsFn, seqs: list[list[int]], n_answer: list[int], device: torch.device,
                  batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) negative log2-likelihood of each sequence's last n_answer tokens given everything before, and
    (N,) whether each of those tokens is the model's argmax (teacher forced).

    seqs: BOS + prompt + answer token ids; each must fit the model's context (one window, no sliding).
    """
    nll = torch.zeros(len(seqs), dtype=torch.float64)
    correct = torch.zeros(len(seqs), dtype=torch.bool)
    by_len: dict[tuple[int, int], list[int]] = {}
    for i, (s, n) in enumerate(zip(seqs, n_answer)):
        if not 0 < n < len(s):
            raise ValueError(f"sequence {i}: {n} answer tokens of {len(s)}")
        by_len.setdefault((len(s), n), []).append(i)
    for (length, n), rows in sorted(by_len.items()):
        for b in range(0, len(rows), batch_size):
            chunk = rows[b: b + batch_size]
            idx = torch.tensor([seqs[i] for i in chunk], dtype=torch.long, device=device)  # (B, T)
            logits = logits_fn(idx[:, :-1])[:, -n:].float()  # (B, n, V): the answer positions
            targets = idx[:, -n:]  # (B, n)
            tok = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none") * LOG2E  # (B, n)
            nll[chunk] = tok.double().sum(1).cpu()
            correct[chunk] = (logits.argmax(-1) == targets).all(1).cpu()
    return nll, correct


@dataclass(frozen=True)
class Gap:
    """Training vs held-out code lengths of one task's answers, in bits."""

    n_train: int
    n_heldout: int
    train_nll_bits: float
    """Mean over training items."""
    heldout_nll_bits: float
    memorized_bits: float
    """Signed: N_train x (mean held-out NLL - mean training NLL)."""
    memorized_clipped_bits: float
    """Per sample: sum over training items of max(0, mean held-out NLL - NLL)."""


def generalization_gap(train_nll_bits: torch.Tensor, heldout_nll_bits: torch.Tensor) -> Gap:
    """Memorized bits of a training set against held-out items of the same task (module docstring)."""
    if not len(train_nll_bits) or not len(heldout_nll_bits):
        raise ValueError("the gap needs training and held-out items")
    ref = float(heldout_nll_bits.double().mean())
    train = train_nll_bits.double()
    return Gap(len(train), len(heldout_nll_bits), float(train.mean()), ref,
               float((ref - train).sum()), float((ref - train).clamp(min=0).sum()))


def capacity_utilization(memorized_bits: float, n_params: int, bits_per_param: float) -> float:
    """memorized bits / (n_params x bits_per_param): the share of the capacity estimate in use."""
    return memorized_bits / (n_params * bits_per_param)


def fourier_power(embedding: torch.Tensor) -> torch.Tensor:
    """(p // 2 + 1,) squared norm of a (p, d) embedding per frequency 0..p//2 along the residue axis, the
    cos and sin of frequency f (f and p - f) together; sums to p x the squared norm (Parseval)."""
    p = embedding.shape[0]
    spec = torch.fft.rfft(embedding.double(), dim=0).abs().pow(2).sum(1)  # (p // 2 + 1,)
    twice = torch.full_like(spec, 2.0)
    twice[0] = 1.0
    if p % 2 == 0:
        twice[-1] = 1.0  # the Nyquist frequency has no partner
    return spec * twice


def fourier_top_share(embedding: torch.Tensor, k: int = FOURIER_TOP_K) -> float:
    """Share of the embedding's squared norm in its k strongest frequencies (Nanda et al. 2023)."""
    power = fourier_power(embedding)
    total = float(power.sum())
    if total == 0.0 or not math.isfinite(total):
        return float("nan")
    return float(power.sort(descending=True).values[:k].sum()) / total
