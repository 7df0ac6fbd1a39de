"""A GPT language model in the style of nanoGPT: pre-LN blocks, GELU MLP, learned positions (or none: NoPE),
tied embeddings.

The paper's models (Too Big to Think) are this architecture at widths 14-384 with no biases.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from ..config import ModelConfig


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's has no bias=False before 2.1; kept explicit)."""

    def __init__(self, ndim: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def causal_attention_cpu(q, k, v, future, dropout: float, training: bool):
    """Causal attention written out for CPU. q, k, v: (B, nh, T, hs); future: (T, T) bool, key after query.

    Scores are laid out keys x queries so the softmax reduces over a non-innermost dimension: for these
    models' few-character contexts and narrow heads this is about twice as fast on CPU as the fused
    kernel or a softmax over a short last dimension.
    """
    att = (k @ q.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, Tk, Tq)
    att = att.masked_fill(future, float("-inf")).softmax(dim=-2)
    return F.dropout(att, dropout, training).transpose(-2, -1) @ v  # (B, nh, Tq, hs)


def causal_mask(block_size: int) -> torch.Tensor:
    """future[j, i]: key j comes after query i (scores laid out keys x queries)."""
    return torch.ones(block_size, block_size, dtype=torch.bool).tril(-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v for all heads
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.register_buffer("future", causal_mask(cfg.block_size), persistent=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if x.is_cuda:  # fused flash / memory-efficient kernels
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        else:
            y = causal_attention_cpu(q, k, v, self.future[:T, :T], self.dropout, self.training)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble heads side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hidden = cfg.mlp_expansion * cfg.n_embd
        self.c_fc = nn.Linear(cfg.n_embd, hidden, bias=cfg.bias)
        self.c_proj = nn.Linear(hidden, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig, generator: torch.Generator | None = None):
        """generator: seeds the initial weights without touching torch's global RNG."""
        super().__init__()
        self.config = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.pos_encoding == "learned" else None,
            drop=nn.Dropout(cfg.dropout),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=LayerNorm(cfg.n_embd, bias=cfg.bias),
        ))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        # Weight tying (Press & Wolf 2017): the output projection is the token embedding.
        self.transformer.wte.weight = self.lm_head.weight
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * self.config.n_layer), generator=generator)
            elif p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02, generator=generator)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            else:  # LayerNorm gains
                nn.init.ones_(p)

    def count_params(self, convention: str = "paper") -> int:
        """Parameter count under a named convention (the tied embedding is counted once in all).

        paper: every parameter except the position embedding (nanoGPT's non_embedding=True, the
            convention of Too Big to Think): L*(4n^2 + 2*e*n^2 + 2n) + n + V*n without biases.
        total: every parameter (Morris et al. 2025 count this way).
        non_embedding: neither the token nor the position embedding.
        """
        total = sum(p.numel() for p in self.parameters())
        wpe = self.transformer.wpe.weight.numel() if self.transformer.wpe is not None else 0
        if convention == "total":
            return total
        if convention == "paper":
            return total - wpe
        if convention == "non_embedding":
            return total - wpe - self.transformer.wte.weight.numel()
        raise ValueError(f"unknown parameter convention {convention!r}")

    def forward(self, idx, targets=None, last_only: bool = False):
        """idx, targets: (B, T) token ids. Returns logits (B, T, V), or (B, 1, V) with last_only, and the loss."""
        B, T = idx.size()
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} exceeds block_size {self.config.block_size}")
        x = self.transformer.wte(idx)  # (B, T, C)
        if self.transformer.wpe is not None:  # NoPE: order comes from the causal mask alone
            x = x + self.transformer.wpe(torch.arange(T, dtype=torch.long, device=idx.device))
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if last_only:
            return self.lm_head(x[:, [-1], :]), None  # (B, 1, V): generation needs only the last position
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            # targets -100 (masked prompt tokens, padding) are skipped: cross-entropy's ignore_index
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss
