"""`memscope reproduce grokking`: watch a model move from memorizing to generalizing, with a memorization meter.

Grid: weight decay x train fraction x seeds on the `modular` task, full-batch AdamW (sampler=epochs with a
batch of the whole training set: each step is one epoch), monitors `memorization`, `fourier`, `weight_norm`
at every evaluation. Runs of one (weight decay, fraction) differ only in their seed (initialization and
split) and train together as one ensemble (sweep.run_many; weight decay is part of the training schedule,
so each weight decay is its own group). Reading never trains: a rerun trains only what is missing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ... import store
from .. import Context, Study, claims_text, register_study
from ...sweep import Spec, estimate_train_s, run_many
from ...tasks import make_task
from ...train import build_run_config
from .report import write_outputs
from .tables import claims, run_figures, setting_row, tables_markdown

log = logging.getLogger(__name__)
MONITORS = "memorization,fourier,weight_norm"


@dataclass(frozen=True)
class Profile:
    p: int
    weight_decays: tuple[float, ...]
    fractions: tuple[float, ...]
    seeds: int
    steps: int
    eval_interval: int
    n_embd: int
    n_head: int
    learning_rate: float
    n_layer: int = 1
    mlp_expansion: int = 4
    operator: str = "+"
    grad_clip: float = 0.0
    note: str = ""

    def overrides(self, wd: float, fraction: float, seed: int, n_train: int) -> dict[str, object]:
        return {"p": self.p, "operator": self.operator, "train_fraction": fraction,
                "split_seed": seed, "seed": seed,
                "n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd,
                "mlp_expansion": self.mlp_expansion,
                "learning_rate": self.learning_rate, "min_lr": self.learning_rate,
                "warmup_steps": 10, "lr_decay_steps": 10,  # Nanda et al.: a short warmup, then constant
                "weight_decay": wd, "beta1": 0.9, "beta2": 0.98, "grad_clip": self.grad_clip,
                "sampler": "epochs", "epochs": self.steps, "steps": self.steps,
                "batch_size": n_train, "eval_interval": self.eval_interval,
                "callbacks": MONITORS}


PROFILES = {
    # Chosen from the short probe runs in docs/RESULTS.md (grokking study): at p = 31 and fraction 0.5,
    # weight decay 1.0 with lr 1e-2 passes 90% held-out by step 320 while weight decay 0 stays near the 50%
    # commutation plateau; at lr 3e-3 the same takes 930 steps, at 1e-3 more than 1,500; fraction 0.7
    # generalizes at once (no delay), 0.3 not within 1,500 steps at lr 3e-3. The first quick profile (no
    # gradient clip, 1,500 steps) saw only 1 of 3 seeds reach 99% held-out at fraction 0.4; with a gradient
    # clip of 1.0 (nanoGPT's default) one-seed probes at fraction 0.4 reach it at steps 500 and 720, at 0.5
    # at step 525, and weight decay 0 stays on the plateau for 2,000 steps: hence clip 1.0 and 2,000 steps.
    "quick": Profile(p=31, weight_decays=(0.0, 0.3, 1.0), fractions=(0.4, 0.5), seeds=3, steps=2000,
                     eval_interval=25, n_embd=64, n_head=4, learning_rate=1e-2, grad_clip=1.0,
                     note="a+b mod 31, 1 layer, width 64, 4 heads, MLP 256, AdamW lr 1e-2 (betas 0.9/0.98), "
                          "gradient clip 1.0, full batch, 2,000 steps"),
    # Plumbing check (tests): every table, figure and claim from a few steps; shows no claim.
    "tiny": Profile(p=11, weight_decays=(0.0, 1.0), fractions=(0.5,), seeds=2, steps=30, eval_interval=10,
                    n_embd=16, n_head=2, learning_rate=3e-3, note="plumbing check, 30 steps"),
    # Nanda et al. 2023 (docs/REFERENCE.md section 8): 1 layer, width 128, 4 heads, MLP 512, lr 1e-3,
    # weight decay 1.0, 30% of the pairs, full batch; memscope's GPT keeps its LayerNorm, learned positions
    # and tied embeddings (theirs has no LayerNorm and separate unembedding).
    "paper": Profile(p=113, weight_decays=(0.0, 0.1, 1.0), fractions=(0.3, 0.5), seeds=3, steps=25_000,
                     eval_interval=250, n_embd=128, n_head=4, learning_rate=1e-3,
                     note="Nanda et al. 2023: a+b mod 113, 1 layer, width 128, 4 heads, MLP 512, lr 1e-3, "
                          "full batch, 25,000 steps"),
}


def run_name(wd: float, fraction: float, seed: int) -> str:
    return f"wd{wd:g}-frac{fraction:g}-seed{seed}"


def build_specs(profile: Profile, seeds: int) -> list[Spec]:
    specs = []
    for wd in profile.weight_decays:
        for f in profile.fractions:
            for seed in range(seeds):
                n_train = len(make_task("modular", {"p": profile.p, "train_fraction": f,
                                                    "operator": profile.operator}).split[0])
                rc = build_run_config("modular", "n14", profile.overrides(wd, f, seed, n_train))
                specs.append((run_name(wd, f, seed), rc))
    return specs


# ----------------------------------------------------------------------------- the study
@register_study("grokking")
class Grokking(Study):
    """Grokking (Power et al. 2022; Nanda et al. 2023) with memorized bits, capacity use and Fourier sparsity.

    Trains what is missing, then writes tables (Markdown, JSON), figures and report.html into out (default
    runs/grokking-PROFILE).
    """

    profiles = PROFILES

    def specs(self, ctx: Context) -> list[Spec]:
        return build_specs(ctx.profile, ctx.seeds)

    def estimate_s(self, ctx: Context, todo: list[Spec]) -> float:
        """The base estimate with the seeds of a setting as one ensemble (as `train` groups them)."""
        return estimate_train_s(todo, ctx.runs_dir, max_k=ctx.seeds) / ctx.common.n_workers

    def train(self, ctx: Context, specs: list[Spec]) -> dict:
        """The sweep runner, the seeds of one (weight decay, fraction) setting trained as one ensemble."""
        return run_many(specs, ctx.runs_dir, ctx.common.executor, ctx.common.n_workers, ctx.common.address,
                        max_k=ctx.seeds)

    def measure(self, ctx: Context, specs: list[Spec], summaries: dict) -> dict:
        p = ctx.profile
        runs: dict[tuple[float, float], list[dict]] = {}
        histories: dict[str, list[dict]] = {}
        for name, rc in specs:
            histories[name] = store.read_metrics(ctx.runs_dir / name / store.METRICS)
            key = (rc.train.weight_decay, rc.task_params["train_fraction"])
            runs.setdefault(key, []).append({"name": name, **run_figures(histories[name])})
        ctx.keep["histories"] = histories
        rows = {k: setting_row(v) for k, v in runs.items()}
        first = summaries[specs[0][0]]
        return {"note": p.note, "p": p.p, "weight_decays": list(p.weight_decays), "fractions": list(p.fractions),
                "settings": [{"weight_decay": wd, "train_fraction": f, **rows[(wd, f)], "runs": runs[(wd, f)]}
                             for wd, f in sorted(rows)],
                "claims": claims(rows, runs, p.weight_decays, p.fractions),
                "tables_md": tables_markdown(rows),
                "n_params": first.get("n_params_total"), "bits_per_param": first.get("bits_per_param"),
                "bits_per_param_source": first.get("bits_per_param_source")}

    def write(self, ctx: Context, result: dict) -> dict[str, str]:
        return write_outputs(result, ctx.keep["histories"], ctx.out)

    def text(self, r: dict) -> str:
        claims_ = claims_text(r["claims"], with_rule=True)
        return f"{r['tables_md']}\nClaims:\n{claims_}\n\nreport: {r['files']['report']}"
