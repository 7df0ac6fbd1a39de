"""Batched sampling: every prompt x sample advances together, one forward pass per new token."""
from __future__ import annotations

from collections import defaultdict

import torch


@torch.no_grad()
def sample_tokens(model, prompts: list[list[int]], n_samples: int, max_new_tokens: int,
                  temperature: float, top_k: int | None, generator: torch.Generator) -> list[list[list[int]]]:
    """Continue each prompt n_samples times; returns new tokens as [prompt][sample] -> ids.

    Prompts of one length form one batch (there is no padding token, so rows of a batch must share
    positions). The context is the last block_size tokens, as in nanoGPT's generate.
    """
    device = next(model.parameters()).device
    block = model.config.block_size
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        if not p:
            raise ValueError("empty prompt")
        by_length[len(p)].append(i)
    out: list[list[list[int]]] = [[] for _ in prompts]
    was_training = model.training
    model.eval()
    try:
        for length in sorted(by_length):
            members = by_length[length]
            idx = torch.tensor([prompts[i] for i in members], dtype=torch.long, device=device)
            idx = idx.repeat_interleave(n_samples, dim=0)  # (P*n, L): prompt-major, samples adjacent
            for _ in range(max_new_tokens):
                logits, _ = model(idx[:, -block:], last_only=True)
                next_id = _sample(logits[:, -1, :], temperature, top_k, generator)
                idx = torch.cat([idx, next_id], dim=1)
            new = idx[:, length:].view(len(members), n_samples, max_new_tokens).tolist()
            for i, rows in zip(members, new):
                out[i] = rows
    finally:
        model.train(was_training)
    return out


def _sample(logits, temperature: float, top_k: int | None, generator: torch.Generator):
    """logits: (B, V) -> (B, 1) ids, nanoGPT's temperature then top-k then multinomial."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if generator.device != probs.device:
        # A CPU generator for CUDA models keeps sampling identical across devices' RNGs.
        return torch.multinomial(probs.cpu(), 1, generator=generator).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator)
