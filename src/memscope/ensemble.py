"""K GPTs of one shape trained at once: stacked weights, batched matmuls, one optimiser step for all.

Status: the engine only (no sweep runner or CLI yet, issue 3). Members match solo runs to 1e-5 for the
first ~150 steps at the paper's n14 settings; after that ulp-level differences grow exponentially
(tests/test_ensemble.py marks the 200-step check as a known failure).

Member k starts from exactly the weights GPT(cfg, generator_k) would have and draws its own batches from
its own generator (and may train on its own text), so with dropout 0 its trajectory equals training it
alone, up to float rounding of batched versus single matmuls (tests/test_ensemble.py). On a CPU the win
is that every op's fixed cost is paid once for K models; on a GPU, that K small models fill the device.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn import functional as F

from .config import ModelConfig, TrainConfig
from .model import GPT, causal_attention_cpu, causal_mask
from .store import model_tensors
from .train import lr_at


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
        gpt.load_state_dict({n: self.p(n)[k].detach().clone() for n in self.names}, strict=False)
        return gpt

    def member_tensors(self) -> dict[str, torch.Tensor]:
        """Stacked weights for one safetensors file; `name` row k is member k's GPT tensor `name`."""
        return {n: self.p(n).detach() for n in self.names}

    def _linear(self, x, name: str):
        """x: (K, N, in) -> (K, N, out) with member k's weight (K, out, in) and optional bias (K, out)."""
        w = self.p(f"{name}.weight")
        if self.config.bias:
            return torch.baddbmm(self.p(f"{name}.bias").unsqueeze(1), x, w.transpose(1, 2))
        return torch.bmm(x, w.transpose(1, 2))

    def _ln(self, x, name: str):
        y = F.layer_norm(x, x.shape[-1:], eps=1e-5) * self.p(f"{name}.weight").unsqueeze(1)
        return y + self.p(f"{name}.bias").unsqueeze(1) if self.config.bias else y

    def forward(self, idx, targets=None):
        """idx, targets: (K, B, T). Returns logits (K, B, T, V) and per-member mean losses (K,)."""
        cfg = self.config
        K, B, T = idx.shape
        C, nh = cfg.n_embd, cfg.n_head
        wte = self.p("transformer.wte.weight")  # (K, V, C)
        members = torch.arange(K, device=idx.device)[:, None, None]
        x = wte[members, idx] + self.p("transformer.wpe.weight")[:, None, :T]  # (K, B, T, C)
        x = F.dropout(x, cfg.dropout, self.training).view(K, B * T, C)
        for i in range(cfg.n_layer):
            h = f"transformer.h.{i}"
            q, k, v = self._linear(self._ln(x, f"{h}.ln_1"), f"{h}.attn.c_attn").split(C, dim=2)
            q, k, v = (t.reshape(K * B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))  # (KB, nh, T, hs)
            y = causal_attention_cpu(q, k, v, self.future[:T, :T], cfg.dropout, self.training)  # (KB, nh, T, hs)
            y = y.transpose(1, 2).reshape(K, B * T, C)
            x = x + F.dropout(self._linear(y, f"{h}.attn.c_proj"), cfg.dropout, self.training)
            m = F.gelu(self._linear(self._ln(x, f"{h}.ln_2"), f"{h}.mlp.c_fc"))
            x = x + F.dropout(self._linear(m, f"{h}.mlp.c_proj"), cfg.dropout, self.training)
        x = self._ln(x, "transformer.ln_f")
        logits = torch.bmm(x, wte.transpose(1, 2))  # (K, BT, V): tied output projection
        losses = None
        if targets is not None:
            losses = F.cross_entropy(logits.reshape(K * B * T, -1), targets.reshape(-1),
                                     reduction="none").view(K, B * T).mean(1)
        return logits.view(K, B, T, -1), losses


def make_ensemble_optimizer(model: EnsembleGPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW is elementwise, so one optimiser over stacked tensors is K independent ones. Decay goes to
    what is 2-D in a single GPT (3-D here)."""
    params = list(model.params.values())
    groups = [{"params": [p for p in params if p.dim() >= 3], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 3], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))


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
    """Member k draws its windows with its own generator from its own text (texts may differ in length)."""

    def __init__(self, texts: list[torch.Tensor], block_size: int, batch_size: int,
                 generators: list[torch.Generator]):
        device = texts[0].device
        self.lengths = [len(t) for t in texts]
        self.data = torch.zeros(len(texts), max(self.lengths), dtype=torch.long, device=device)
        for k, t in enumerate(texts):
            self.data[k, : len(t)] = t
        self.block_size, self.batch_size, self.generators = block_size, batch_size, generators
        self.offsets = torch.arange(block_size, device=device)
        self.rows = torch.arange(len(texts), device=device)[:, None, None]

    def next(self):
        ix = torch.stack([torch.randint(n - self.block_size, (self.batch_size,), generator=g, device=g.device)
                          for n, g in zip(self.lengths, self.generators)])  # (K, B): the solo draw per member
        pos = ix[:, :, None] + self.offsets  # (K, B, T)
        return self.data[self.rows, pos], self.data[self.rows, pos + 1]


def ensemble_step(model: EnsembleGPT, optimizer, batches: EnsembleBatches, cfg: TrainConfig,
                  step: int) -> torch.Tensor:
    """One update of every member, as train.train_step for each; returns the detached (K,) losses."""
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, cfg)
    x, y = batches.next()
    _, losses = model(x, y)
    losses.sum().backward()  # members share no parameters: each gets its own gradient
    if cfg.grad_clip > 0:
        clip_per_member(list(model.params.values()), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return losses.detach()
