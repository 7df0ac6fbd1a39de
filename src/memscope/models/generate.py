"""Batched sampling over any causal LM given as a next-token logits function: every prompt x sample
advances together, one forward pass per new token."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

import torch

LastLogitsFn = Callable[[torch.Tensor], torch.Tensor]
"""idx (B, T) token ids -> (B, V) logits of the token after each row."""


def gpt_last_logits_fn(model) -> LastLogitsFn:
    """A memscope GPT's next-token logits. last_only computes the head on the final position alone: the
    path the trainer's evaluations have always taken, so its samples stay bit-identical."""
    return lambda idx: model(idx, last_only=True)[0][:, -1, :]


@torch.no_grad()
def sample_from(last_logits_fn: LastLogitsFn, prompts: list[list[int]], n_samples: int, max_new_tokens: int,
                temperature: float, top_k: int | None, generator: torch.Generator, block_size: int,
                device: torch.device) -> list[list[list[int]]]:
    """Continue each prompt n_samples times; returns new tokens as [prompt][sample] -> ids.

    Prompts of one length form one batch (there is no padding token, so rows of a batch must share
    positions). The context is the last block_size tokens, as in nanoGPT's generate.
    """
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        if not p:
            raise ValueError("empty prompt")
        by_length[len(p)].append(i)
    out: list[list[list[int]]] = [[] for _ in prompts]
    for length in sorted(by_length):
        members = by_length[length]
        idx = torch.tensor([prompts[i] for i in members], dtype=torch.long, device=device)
        idx = idx.repeat_interleave(n_samples, dim=0)  # (P*n, L): prompt-major, samples adjacent
        for _ in range(max_new_tokens):
            logits = last_logits_fn(idx[:, -block_size:])  # (P*n, V)
            next_id = _sample(logits, temperature, top_k, generator)
            idx = torch.cat([idx, next_id], dim=1)
        new = idx[:, length:].view(len(members), n_samples, max_new_tokens).tolist()
        for i, rows in zip(members, new):
            out[i] = rows
    return out


def sample_tokens(model, prompts: list[list[int]], n_samples: int, max_new_tokens: int,
                  temperature: float, top_k: int | None, generator: torch.Generator) -> list[list[list[int]]]:
    """sample_from on a memscope GPT, in eval mode for the duration (its mode is restored after)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return sample_from(gpt_last_logits_fn(model), prompts, n_samples, max_new_tokens, temperature, top_k,
                           generator, model.config.block_size, device)
    finally:
        model.train(was_training)


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
