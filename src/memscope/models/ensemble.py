"""The training engine: K GPTs of one shape trained at once as stacked weights (K = 1 for a single run).

Member k starts from exactly the weights GPT(cfg, generator_k) has, draws its own batches with its own
generator from its own text, clips its own gradient norm and has its own AdamW moments, so its trajectory
is the one it has when trained alone. A single run is the K = 1 case of this same code, which is what makes
"a member equals its solo run" hold to float rounding (tests/test_ensemble.py): the ops are the same and
only their batch dimension differs.

Activations are laid out (K, N, C) with N = B * T tokens, as GPT's own (B, T, C) with a member dimension in
front: every Linear is one batched matmul x @ W^T with the weights in GPT's (out, in) layout, LayerNorm is
PyTorch's fused kernel followed by each member's weight, and q, k, v come from three row blocks of c_attn so
attention needs no copies for one head. Only the logits are vocabulary-major, (K, V, N): the loss's
log-softmax then reduces over a non-innermost dimension, several times faster on CPU than over a short
innermost one. (A fully feature-major layout was tried and measured slower: its elementwise passes over
n56-wide activations miss the cache.) Evaluation and sampling use plain GPTs (`member(k)`), whose forward is
the reference this engine is tested against (tests/test_ensemble.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from ..config import ModelConfig, TrainConfig
from .gpt import GPT, causal_mask
from ..store import model_tensors


class EnsembleGPT(nn.Module):
    """Parameters are those of GPT with a leading member dimension K (names as in GPT's state dict)."""

    def __init__(self, cfg: ModelConfig, members: list[GPT]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if any(m.config != cfg for m in members):
            raise ValueError("ensemble members must share one ModelConfig")
        self.config, self.k = cfg, len(members)
        states = [model_tensors(m) for m in members]
        self.names = list(states[0])
        self.params = nn.ParameterDict({n.replace(".", "__"): nn.Parameter(torch.stack([s[n] for s in states]))
                                        for n in self.names})
        self.register_buffer("future", causal_mask(cfg.block_size), persistent=False)

    @classmethod
    def from_seeds(cls, cfg: ModelConfig, seeds: list[int]) -> "EnsembleGPT":
        return cls(cfg, [GPT(cfg, torch.Generator().manual_seed(s)) for s in seeds])

    def p(self, name: str) -> torch.Tensor:
        return self.params[name.replace(".", "__")]

    def gpt(self, k: int) -> GPT:
        """Member k as a plain GPT (a copy), for evaluation, sampling and saving alone."""
        gpt = GPT(self.config).to(self.p("transformer.wte.weight").device)
        gpt.load_state_dict({n: v.clone() for n, v in self.run_tensors(k).items()}, strict=False)
        return gpt

    def run_tensors(self, k: int | None = None) -> dict[str, torch.Tensor]:
        """Member k's tensors under GPT's names, or with k None all of them stacked (row k is member k)."""
        return {n: (self.p(n).detach() if k is None else self.p(n)[k].detach()) for n in self.names}

    def load_run_tensors(self, k: int, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for n in self.names:
                self.p(n)[k].copy_(tensors[n])

    def _linear(self, x, name: str, rows: slice = slice(None)):
        """x: (K, N, in) -> (K, N, out) with member k's weight (K, out, in) and optional bias (K, out),
        or only their output rows `rows`."""
        w = self.p(f"{name}.weight")[:, rows].transpose(1, 2)
        if self.config.bias:
            return torch.baddbmm(self.p(f"{name}.bias")[:, None, rows], x, w)
        return torch.bmm(x, w)

    def _ln(self, x, name: str):
        """PyTorch's fused LayerNorm without affine, then member k's weight and bias."""
        y = F.layer_norm(x, (self.config.n_embd,), eps=1e-5) * self.p(f"{name}.weight")[:, None, :]
        return y + self.p(f"{name}.bias")[:, None, :] if self.config.bias else y

    def _attention(self, x, name: str, B: int, T: int):
        """Causal self-attention of (K, N, C) activations; heads are batched with members and sequences."""
        cfg = self.config
        K, C, nh = self.k, cfg.n_embd, cfg.n_head
        hs = C // nh
        # q, k, v as three matmuls with row blocks of c_attn (cheaper to backpropagate than one split
        # output), each (K*B*nh, T, hs): a view for one head, a copy for several
        q, k, v = (self._linear(x, f"{name}.c_attn", rows=slice(i * C, (i + 1) * C))
                   .view(K, B, T, nh, hs).transpose(2, 3).reshape(K * B * nh, T, hs) for i in range(3))
        if x.is_cuda:  # fused flash / memory-efficient kernels
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=cfg.dropout if self.training else 0.0,
                                               is_causal=True)
        else:  # scores keys x queries: the softmax then reduces over a non-innermost dimension (faster)
            att = torch.bmm(k, q.transpose(1, 2)) * (1.0 / math.sqrt(hs))  # (KBnh, Tk, Tq)
            att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(dim=1)
            att = F.dropout(att, cfg.dropout, self.training)
            y = torch.bmm(att.transpose(1, 2), v)  # (KBnh, Tq, hs)
        y = y.view(K, B, nh, T, hs).transpose(2, 3).reshape(K, B * T, C)
        return self._linear(y, f"{name}.c_proj")

    def forward(self, idx, targets=None, masked: bool = False):
        """idx, targets: (K, B, T) token ids. Returns logits (K, V, B*T) and the per-member mean losses
        (K,) (None without targets). masked: targets hold -100 where a token is not trained on."""
        cfg = self.config
        K, B, T = idx.shape
        N = B * T
        wte = self.p("transformer.wte.weight")  # (K, V, C)
        one_hot = torch.zeros(K, N, cfg.vocab_size, device=idx.device, dtype=wte.dtype)
        one_hot.scatter_(2, idx.view(K, N, 1), 1.0)  # embedding as a matmul: a cheap backward
        x = torch.bmm(one_hot, wte).view(K, B, T, cfg.n_embd)
        if cfg.pos_encoding == "learned":
            x = x + self.p("transformer.wpe.weight")[:, None, :T]
        x = F.dropout(x.view(K, N, cfg.n_embd), cfg.dropout, self.training)  # (K, N, C)
        for i in range(cfg.n_layer):
            h = f"transformer.h.{i}"
            x = x + F.dropout(self._attention(self._ln(x, f"{h}.ln_1"), f"{h}.attn", B, T), cfg.dropout,
                              self.training)
            m = F.gelu(self._linear(self._ln(x, f"{h}.ln_2"), f"{h}.mlp.c_fc"))
            x = x + F.dropout(self._linear(m, f"{h}.mlp.c_proj"), cfg.dropout, self.training)
        x = self._ln(x, "transformer.ln_f")
        # (K, V, N): the tied output projection, vocabulary-major so that the loss's log-softmax reduces
        # over a non-innermost dimension (several times faster on CPU than over a short innermost one)
        logits = torch.bmm(wte, x.transpose(1, 2))
        losses = None
        if targets is not None:
            nll = F.cross_entropy(logits.float(), targets.view(K, N), reduction="none")  # (K, N)
            if masked:  # mean over the targets that count (-100 ones are skipped and give 0)
                losses = nll.sum(1) / (targets.view(K, N) != -100).sum(1).clamp(min=1)
            else:
                losses = nll.mean(1)
        return logits, losses


def make_ensemble_optimizer(model: EnsembleGPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW is elementwise, so one optimiser over stacked tensors is K independent ones. Decay goes to
    what is 2-D in a single GPT (3-D here: matmul weights and embeddings), as nanoGPT."""
    params = list(model.params.values())
    groups = [{"params": [p for p in params if p.dim() >= 3], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 3], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), foreach=True)


@torch.no_grad()
def clip_per_member(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ applied to each member separately; returns the (K,) norms."""
    sq = sum(p.grad.pow(2).flatten(1).sum(1) for p in params)
    norms = sq.sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for p in params:
        p.grad.mul_(coef.view(-1, *([1] * (p.dim() - 1))))
    return norms


def ensemble_step(model: EnsembleGPT, forward, optimizer, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
                  lr: float, masked: bool = False) -> torch.Tensor:
    """One AdamW update of every member on the batch x, y (K, B, T) at learning rate lr; returns the detached
    (K,) batch losses. forward: the model or its torch.compile'd wrapper; masked: y holds -100 targets."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    if cfg.precision == "bf16":
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            _, losses = forward(x, y, masked)
    else:
        _, losses = forward(x, y, masked)
    losses.sum().backward()  # members share no parameters: each gets its own gradient
    if cfg.grad_clip > 0:
        clip_per_member(list(model.params.values()), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return losses.detach()
