"""Per-sequence log-likelihoods in bits, batched, for any causal LM given as a logits function.

Convention: a sequence's first token is its context (a BOS, e.g. the newline before each random-tokens
sequence) and is never scored; every later token is scored given all tokens before it. A sequence longer
than the model's context is scored with a sliding window: each window holds up to `block_size` tokens,
scores only the tokens no earlier window scored, and gives each of them at least block_size // 2 tokens of
context (the first window excepted), as in Hugging Face's perplexity guide.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch.nn import functional as F

from ..progress import progress

LogitsFn = Callable[[torch.Tensor], torch.Tensor]
"""idx (B, T) token ids -> logits (B, T, V)."""

LOG2E = 1.0 / math.log(2.0)


def _windows(n_tokens: int, block_size: int) -> list[tuple[int, int, int]]:
    """(start, end, first_scored) spans over a sequence of n_tokens: inputs idx[start:end] predict
    idx[start+1:end+1]; targets from position first_scored on are scored."""
    if n_tokens - 1 <= block_size:
        return [(0, n_tokens - 1, 1)]
    stride = max(1, block_size // 2)
    spans, scored_to = [(0, block_size, 1)], block_size + 1  # targets 1..block_size
    while scored_to < n_tokens:
        end = min(scored_to - 1 + stride, n_tokens - 1)
        start = max(0, end - block_size)
        spans.append((start, end, scored_to))
        scored_to = end + 1
    return spans


@torch.no_grad()
def token_nll_bits(logits_fn: LogitsFn, seqs: list[list[int]], block_size: int, device: torch.device,
                   batch_size: int = 256, desc: str | None = None) -> list[torch.Tensor]:
    """For each sequence, the (len - 1,) negative log2-probabilities of its tokens 1.. given their prefix.

    Windows of equal length are batched together (no padding enters a forward pass). desc: label of a
    progress bar over the batches (shown only when stderr is a terminal).
    """
    out = [torch.zeros(max(len(s) - 1, 0)) for s in seqs]
    jobs: dict[int, list[tuple[int, int, int, int]]] = {}
    for i, s in enumerate(seqs):
        if len(s) < 2:
            continue
        for start, end, first in _windows(len(s), block_size):
            jobs.setdefault(end - start, []).append((i, start, end, first))
    n_batches = sum(-(-len(group) // batch_size) for group in jobs.values())
    bar = progress(total=n_batches, desc=desc, unit="batch", leave=False, enabled=desc is not None)
    for length, group in sorted(jobs.items()):
        for b in range(0, len(group), batch_size):
            bar.update(1)
            chunk = group[b: b + batch_size]
            idx = torch.tensor([seqs[i][s: e + 1] for i, s, e, _ in chunk], dtype=torch.long, device=device)
            logits = logits_fn(idx[:, :-1]).float()  # (B, T, V)
            nll = F.cross_entropy(logits.transpose(1, 2), idx[:, 1:], reduction="none") * LOG2E  # (B, T)
            nll = nll.cpu()
            for row, (i, s, e, first) in enumerate(chunk):
                # target position p (1-based in the sequence) sits at column p - s - 1
                out[i][first - 1: e] = nll[row, first - s - 1: e - s]
    bar.close()
    return out


def sequence_nll_bits(logits_fn: LogitsFn, seqs: list[list[int]], block_size: int, device: torch.device,
                      batch_size: int = 256, desc: str | None = None) -> torch.Tensor:
    """(N,) total negative log2-likelihood of each sequence (its first token is context, unscored)."""
    per_token = token_nll_bits(logits_fn, seqs, block_size, device, batch_size, desc)
    return torch.tensor([float(t.double().sum()) for t in per_token], dtype=torch.float64)
