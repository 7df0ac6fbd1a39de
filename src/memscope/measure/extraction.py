"""Extraction: does greedy decoding from a sample's first k tokens reproduce its next m tokens?

The Pythia convention (Biderman et al. 2023): a 32-token prefix, a 32-token continuation; a sample is
extracted when all m greedy tokens match (exact match), and its token-match rate is the share of the m
positions that match. Samples shorter than k + m are split in the same k : m proportion (at least one
continuation token). The prefix is given after the BOS context token, as in scoring.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np
import torch

from .likelihood import LogitsFn

PREFIX_TOKENS = 32
SUFFIX_TOKENS = 32


def split_lengths(n_text_tokens: int, prefix_tokens: int = PREFIX_TOKENS,
                  suffix_tokens: int = SUFFIX_TOKENS) -> tuple[int, int]:
    """(k, m) for a sample of n text tokens: the requested lengths, or shrunk in proportion to fit."""
    if n_text_tokens >= prefix_tokens + suffix_tokens:
        return prefix_tokens, suffix_tokens
    k = n_text_tokens * prefix_tokens // (prefix_tokens + suffix_tokens)
    k = min(k, n_text_tokens - 1)
    return k, n_text_tokens - k


@torch.no_grad()
def greedy_continue(logits_fn: LogitsFn, prefixes: list[list[int]], n_new: list[int], block_size: int,
                    device: torch.device, batch_size: int = 256) -> list[list[int]]:
    """Greedy (argmax) continuation of each prefix by n_new[i] tokens, conditioned on the last block_size
    tokens. Prefixes of one length advance together, one forward pass per new token (no padding)."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prefixes):
        by_length[len(p)].append(i)
    out: list[list[int]] = [[] for _ in prefixes]
    for members in by_length.values():
        for b in range(0, len(members), batch_size):
            chunk = members[b: b + batch_size]
            idx = torch.tensor([prefixes[i] for i in chunk], dtype=torch.long, device=device)  # (B, L)
            steps = max(n_new[i] for i in chunk)
            for _ in range(steps):
                next_id = logits_fn(idx[:, -block_size:])[:, -1, :].argmax(dim=-1, keepdim=True)  # (B, 1)
                idx = torch.cat([idx, next_id], dim=1)
            new = idx[:, idx.size(1) - steps:].tolist()
            for i, row in zip(chunk, new):
                out[i] = row[: n_new[i]]
    return out


GreedyFn = Callable[[list[list[int]], list[int]], list[list[int]]]
"""(prefixes, n_new per prefix) -> the greedy continuations' token ids."""


def extract(greedy: GreedyFn, seqs: list[list[int]], prefix_tokens: int = PREFIX_TOKENS,
            suffix_tokens: int = SUFFIX_TOKENS) -> list[dict | None]:
    """Per sample (BOS + text token ids): k, m, exact match, token-match rate, and the generated ids.
    Samples with fewer than two text tokens cannot be split and get None."""
    todo = [i for i, s in enumerate(seqs) if len(s) - 1 >= 2]
    splits = {i: split_lengths(len(seqs[i]) - 1, prefix_tokens, suffix_tokens) for i in todo}
    generated = greedy([seqs[i][: 1 + splits[i][0]] for i in todo], [splits[i][1] for i in todo])
    out: list[dict | None] = [None] * len(seqs)
    for i, gen in zip(todo, generated):
        k, m = splits[i]
        truth = seqs[i][1 + k: 1 + k + m]
        matches = sum(a == b for a, b in zip(gen, truth))
        out[i] = {"prefix_tokens": k, "suffix_tokens": m, "exact": matches == m,
                  "token_match": matches / m, "generated": gen}
    return out


def extraction_rates(rows: list[dict | None]) -> dict:
    """Exact-match and token-match rates over the samples that could be split."""
    done = [r for r in rows if r is not None]
    if not done:
        return {"n": 0, "exact_match_rate": None, "token_match_rate": None, "n_exact": 0}
    exact = np.array([r["exact"] for r in done], float)
    return {"n": len(done), "exact_match_rate": float(exact.mean()),
            "token_match_rate": float(np.mean([r["token_match"] for r in done])),
            "n_exact": int(exact.sum())}
