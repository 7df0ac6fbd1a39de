"""The training engine: K GPTs of one shape trained at once as stacked weights (K = 1 for a single run).

Member k starts from exactly the weights GPT(cfg, generator_k) has, draws its own batches with its own
generator from its own text, clips its own gradient norm and has its own AdamW moments, so its trajectory
is the one it has when trained alone. A single run is the K = 1 case of this same code, which is what makes
"a member equals its solo run" hold to float rounding (tests/test_ensemble.py): the ops are the same and
only their batch dimension differs.

Activations are laid out feature-major, (K, C, N) with N = B * T tokens: every Linear is one batched matmul
(K, out, in) @ (K, in, N) with the weights in GPT's own (out, in) layout, and LayerNorm, GELU and the
loss's log-softmax reduce over a non-innermost dimension, which PyTorch's CPU kernels do several times
faster than a short innermost one for these 14- to 56-wide models. Evaluation and sampling use plain GPTs
(`member(k)`), whose forward is the reference this engine is tested against (tests/test_ensemble.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from .config import ModelConfig, TrainConfig
from .model import GPT, causal_mask
from .store import model_tensors


def _layer_norm(x, weight, bias, eps: float = 1e-5):
    """LayerNorm over the feature dimension 1 of (K, C, N); weight, bias: (K, C)."""
    mu = x.mean(1, keepdim=True)
    xc = x - mu
    y = xc * (torch.rsqrt((xc * xc).mean(1, keepdim=True) + eps) * weight[:, :, None])
    return y if bias is None else y + bias[:, :, None]


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

    def member(self, k: int) -> GPT:
        """Member k as a plain GPT (a copy), for evaluation, sampling and saving alone."""
        gpt = GPT(self.config).to(self.p("transformer.wte.weight").device)
        gpt.load_state_dict({n: v.clone() for n, v in self.member_tensors(k).items()}, strict=False)
        return gpt

    def member_tensors(self, k: int | None = None) -> dict[str, torch.Tensor]:
        """Member k's tensors under GPT's names, or with k None all of them stacked (row k is member k)."""
        return {n: (self.p(n).detach() if k is None else self.p(n)[k].detach()) for n in self.names}

    def load_member_tensors(self, k: int, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for n in self.names:
                self.p(n)[k].copy_(tensors[n])

    def _linear(self, x, name: str):
        """x: (K, in, N) -> (K, out, N) with member k's weight (K, out, in) and optional bias (K, out)."""
        w = self.p(f"{name}.weight")
        if self.config.bias:
            return torch.baddbmm(self.p(f"{name}.bias")[:, :, None], w, x)
        return torch.bmm(w, x)

    def _ln(self, x, name: str):
        return _layer_norm(x, self.p(f"{name}.weight"), self.p(f"{name}.bias") if self.config.bias else None)

    def _attention(self, x, name: str, B: int, T: int):
        """Causal self-attention of (K, C, N) activations; heads are batched with members and sequences."""
        cfg = self.config
        K, C, nh = self.k, cfg.n_embd, cfg.n_head
        hs = C // nh
        qkv = self._linear(x, f"{name}.c_attn").view(K, 3, nh, hs, B, T)
        q, k, v = qkv.permute(1, 0, 4, 2, 5, 3).reshape(3, K * B * nh, T, hs).unbind(0)  # (KBnh, T, hs)
        if x.is_cuda:  # fused flash / memory-efficient kernels
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=cfg.dropout if self.training else 0.0,
                                               is_causal=True)
        else:  # scores keys x queries: the softmax then reduces over a non-innermost dimension (faster)
            att = torch.bmm(k, q.transpose(1, 2)) * (1.0 / math.sqrt(hs))  # (KBnh, Tk, Tq)
            att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(dim=1)
            att = F.dropout(att, cfg.dropout, self.training)
            y = torch.bmm(att.transpose(1, 2), v)  # (KBnh, Tq, hs)
        y = y.view(K, B, nh, T, hs).permute(0, 2, 4, 1, 3).reshape(K, C, B * T)
        return self._linear(y, f"{name}.c_proj")

    def forward(self, idx, targets=None):
        """idx, targets: (K, B, T) token ids. Returns logits (K, V, B*T), feature-major, and the per-member
        mean losses (K,) (None without targets)."""
        cfg = self.config
        K, B, T = idx.shape
        N = B * T
        wte = self.p("transformer.wte.weight")  # (K, V, C)
        one_hot = torch.zeros(K, cfg.vocab_size, N, device=idx.device, dtype=wte.dtype)
        one_hot.scatter_(1, idx.view(K, 1, N), 1.0)  # embedding as a matmul: a cheap backward
        x = torch.bmm(wte.transpose(1, 2), one_hot).view(K, cfg.n_embd, B, T)  # (K, C, B, T)
        x = x + self.p("transformer.wpe.weight")[:, :T].transpose(1, 2)[:, :, None, :]
        x = F.dropout(x.view(K, cfg.n_embd, N), cfg.dropout, self.training)  # (K, C, N)
        for i in range(cfg.n_layer):
            h = f"transformer.h.{i}"
            x = x + F.dropout(self._attention(self._ln(x, f"{h}.ln_1"), f"{h}.attn", B, T), cfg.dropout,
                              self.training)
            m = F.gelu(self._linear(self._ln(x, f"{h}.ln_2"), f"{h}.mlp.c_fc"))
            x = x + F.dropout(self._linear(m, f"{h}.mlp.c_proj"), cfg.dropout, self.training)
        x = self._ln(x, "transformer.ln_f")
        logits = torch.bmm(wte, x)  # (K, V, N): the tied output projection
        losses = None
        if targets is not None:
            losses = F.cross_entropy(logits.float(), targets.view(K, N), reduction="none").mean(1)
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


class EnsembleBatches:
    """Member k draws its windows with its own generator from its own text (texts may differ in length),
    exactly as a single run's draw: B start offsets uniform over the text (nanoGPT's), or over `starts`
    for an aligned task."""

    def __init__(self, texts: list[torch.Tensor], block_size: int, batch_size: int,
                 generators: list[torch.Generator], starts: list[list[int] | None] | None = None):
        device = texts[0].device
        self.lengths = [len(t) for t in texts]
        self.data = torch.zeros(len(texts), max(self.lengths), dtype=torch.long, device=device)
        for k, t in enumerate(texts):
            self.data[k, : len(t)] = t
        self.block_size, self.batch_size, self.generators = block_size, batch_size, generators
        self.starts = [None if s is None else torch.tensor(s, dtype=torch.long, device=device)
                       for s in (starts or [None] * len(texts))]
        self.offsets = torch.arange(block_size, device=device)
        self.rows = torch.arange(len(texts), device=device)[:, None, None]

    def _draw(self, k: int) -> torch.Tensor:
        g, starts = self.generators[k], self.starts[k]
        high = self.lengths[k] - self.block_size if starts is None else len(starts)
        ix = torch.randint(high, (self.batch_size,), generator=g, device=self.data.device)
        return ix if starts is None else starts[ix]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.stack([self._draw(k) for k in range(len(self.generators))])  # (K, B)
        pos = ix[:, :, None] + self.offsets  # (K, B, T)
        return self.data[self.rows, pos], self.data[self.rows, pos + 1]


def ensemble_step(model: EnsembleGPT, forward, optimizer, batches: EnsembleBatches, cfg: TrainConfig,
                  lr: float) -> torch.Tensor:
    """One AdamW update of every member at learning rate lr; returns the detached (K,) batch losses.
    forward: the model or its torch.compile'd wrapper."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    x, y = batches.next()
    if cfg.precision == "bf16":
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            _, losses = forward(x, y)
    else:
        _, losses = forward(x, y)
    losses.sum().backward()  # members share no parameters: each gets its own gradient
    if cfg.grad_clip > 0:
        clip_per_member(list(model.params.values()), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return losses.detach()
