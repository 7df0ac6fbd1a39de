"""What runs at every evaluation: callbacks named in TrainConfig.callbacks, so config.json rebuilds them.

A callback returns figures for the evaluation's record in metrics.jsonl (`on_eval`), may ask the run to
stop (`should_stop`), and may add final figures to summary.json (`summarize`). Built in:
- `protocol`: every task of the run scored with its evaluation suites (evaluate.py, the paper's protocol);
- `best`: best.safetensors is the evaluation with the highest `best_metric` (the latest among equals);
- `early_stop`: the convergence rule below (stop_patience, stop_rel_tol);
- `weight_norm`: a monitor, the L2 norm of all weights;
- `memorization`, `fourier`, `memory`: monitors in the memscope.monitors package (memorized bits, Fourier
  sparsity, canary exposure and retention), imported by name on the first lookup (MONITOR_PACKAGES).
Later monitors register with `@register_callback("name")`; the trainer never changes.
"""
from __future__ import annotations

import importlib

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

import torch

from .. import store
from ..errors import ConfigError
from ..registry import Registry
from ..evaluate import evaluate_tasks
from ..models.gpt import GPT
from ..runconfig import RunConfig
from ..vocab import Vocab

if TYPE_CHECKING:
    from ..tasks import Task

BOOKKEEPING = frozenset({"step", "train_loss", "lr", "wall_s", "phase", "withheld_by_prompt", "diverged"})
"""Record keys that are not figures of the model."""


@dataclass
class EvalContext:
    """What a callback sees at one evaluation of one run."""

    step: int
    model: GPT
    """The run's weights now, as a plain GPT in eval mode."""
    rc: RunConfig
    tasks: list[tuple[str, Task]]
    vocab: Vocab
    history: list[dict]
    """The run's earlier records, oldest first."""
    record: dict
    """This evaluation's record so far (earlier callbacks' figures included)."""
    out_dir: Path
    exposure: dict[str, torch.Tensor]
    """Exposure counts so far, `exposure.<phase>.<task>` -> (lines,) (aligned and epochs samplers)."""


class Callback:
    name: ClassVar[str] = ""

    def __init__(self, rc: RunConfig):
        self.rc = rc

    def on_eval(self, ctx: EvalContext) -> dict:
        return {}

    def should_stop(self, history: list[dict]) -> bool:
        return False

    def summarize(self, history: list[dict]) -> dict:
        return {}


CALLBACKS: Registry[type[Callback]] = Registry("callback", sort_known=False)


def register_callback(name: str) -> Callable[[type[Callback]], type[Callback]]:
    def name_it(cls: type[Callback]) -> type[Callback]:
        cls.name = name
        return cls
    return CALLBACKS.register(name, name_it)


MONITOR_PACKAGES = ("memscope.monitors",)
"""Packages whose import registers further callbacks: imported by name, so the trainer has no import arrow
to the monitors (which know tasks) and pool workers rebuilding a run from config.json still find them."""


def _load_monitors() -> None:
    for package in MONITOR_PACKAGES:
        importlib.import_module(package)


def check_callbacks(names: tuple[str, ...]) -> None:
    _load_monitors()
    for n in names:
        CALLBACKS.lookup(n)
    if len(set(names)) != len(names):
        raise ConfigError(f"callbacks={','.join(names)} names one callback twice")


def make_callbacks(rc: RunConfig) -> list[Callback]:
    check_callbacks(rc.train.callbacks)
    return [CALLBACKS[n](rc) for n in rc.train.callbacks]


# ----------------------------------------------------------------------------- the stop rule
def stop_rule_holds(losses: list[float], patience: int, rel_tol: float) -> bool:
    """The early-stop rule on the losses so far: the best of the last `patience` is not below the best
    before them by the fraction rel_tol (patience 0: never)."""
    if patience <= 0 or len(losses) <= patience:
        return False
    return min(losses[-patience:]) > min(losses[:-patience]) * (1.0 - rel_tol)


def convergence_step(losses: list[tuple[int, float | None]], patience: int, rel_tol: float) -> int | None:
    """The first evaluation step at which the stop rule holds, or None if it never does.
    losses: (step, training loss) per evaluation, in order; None losses (step 0's) are skipped."""
    seen: list[float] = []
    for step, loss in losses:
        if loss is None:
            continue
        seen.append(loss)
        if stop_rule_holds(seen, patience, rel_tol):
            return step
    return None


# ----------------------------------------------------------------------------- built-in callbacks
@register_callback("protocol")
class Protocol(Callback):
    """The tasks' evaluation suites. One task: its figures as they are (`add_acc`, `seen_acc`, ...).
    Several: each task's figures under `<label>.`, and `seen_acc` the mean of the tasks' seen_acc."""

    def on_eval(self, ctx: EvalContext) -> dict:
        cfg = self.rc.train
        return evaluate_tasks(ctx.model, ctx.tasks, ctx.vocab, n_samples=cfg.eval_samples,
                              temperature=cfg.temperature, top_k=cfg.top_k, seed=cfg.seed, step=ctx.step)

    def summarize(self, history: list[dict]) -> dict:
        """When each task's withheld prompts were all right: first, share of evaluations, and from which
        evaluation on every later one."""
        out: dict = {}
        prefixes = sorted({k[: -len("withheld_total")] for k in history[-1] if k.endswith("withheld_total")})
        for p in prefixes:
            total = history[-1].get(f"{p}withheld_total")
            if not total:
                out.update({f"{p}first_withheld_step": None, f"{p}withheld_perfect_share": None,
                            f"{p}withheld_perfect_from": None})
                continue
            perfect = [h["step"] for h in history if h.get(f"{p}withheld_correct") == h.get(f"{p}withheld_total")]
            stable_from = None
            for h in reversed(history):
                if h.get(f"{p}withheld_correct") != h.get(f"{p}withheld_total"):
                    break
                stable_from = h["step"]
            out.update({f"{p}first_withheld_step": perfect[0] if perfect else None,
                        f"{p}withheld_perfect_share": len(perfect) / len(history),
                        f"{p}withheld_perfect_from": stable_from})
        return out


def figures_of(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in BOOKKEEPING}


@register_callback("best")
class BestCheckpoint(Callback):
    """best.safetensors: the weights of the evaluation with the highest `best_metric` (non-withheld accuracy
    by default: the withheld prompts never choose the checkpoint)."""

    def on_eval(self, ctx: EvalContext) -> dict:
        metric = self.rc.train.best_metric
        if metric not in ctx.record:
            raise ConfigError(f"best_metric={metric!r} is not a figure of this run; figures: "
                              f"{', '.join(figures_of(ctx.record))}")
        value = ctx.record[metric]
        best = max((h[metric] for h in ctx.history if h.get(metric) is not None), default=None)
        if best is None or (value is not None and value >= best):
            store.save_tensors(ctx.out_dir / store.BEST, store.model_tensors(ctx.model), {"step": ctx.step})
        return {}

    def summarize(self, history: list[dict]) -> dict:
        metric = self.rc.train.best_metric
        best = max(reversed(history), key=lambda h: -1.0 if h.get(metric) is None else h[metric])
        return {"best": {"step": best["step"], **figures_of(best)}, "best_metric": metric}


@register_callback("early_stop")
class EarlyStop(Callback):
    """Stop the run (its remaining phases too) once the stop rule holds on its training losses."""

    def should_stop(self, history: list[dict]) -> bool:
        cfg = self.rc.train
        losses = [h["train_loss"] for h in history if h.get("train_loss") is not None]
        return stop_rule_holds(losses, cfg.stop_patience, cfg.stop_rel_tol)


@register_callback("weight_norm")
class WeightNorm(Callback):
    """The L2 norm of all weights (the tied embedding once): weight decay's target, a grokking monitor."""

    def on_eval(self, ctx: EvalContext) -> dict:
        with torch.no_grad():
            sq = sum(float(t.double().pow(2).sum()) for t in store.model_tensors(ctx.model).values())
        return {"weight_norm": sq ** 0.5}
