"""summary.json: a run's final figures, whatever its tasks and callbacks report (no fixed list of names)."""
from __future__ import annotations

import torch

from ..data.phases import phase_plan
from ..models.gpt import GPT
from ..runconfig import RunConfig
from .callbacks import Callback, figures_of


def summarize(rc: RunConfig, history: list[dict], model: GPT, callbacks: list[Callback], wall_s: float,
              device: torch.device) -> dict:
    """Every figure of the last evaluation, what each callback adds (best checkpoint, withheld score over
    the run, ...), and the run's bookkeeping."""
    final = history[-1]
    summary = {
        "task": rc.task, "model": rc.preset, "seed": rc.train.seed,
        "n_params": model.count_params("paper"), "n_params_total": model.count_params("total"),
        "steps": phase_plan(rc)[-1].end, "steps_run": final["step"],
        **figures_of(final),
        "final_loss": final["train_loss"],
    }
    for cb in callbacks:
        summary.update(cb.summarize(history))
    summary.update({"n_evals": len(history), "wall_s": wall_s, "device": str(device), "torch": torch.__version__})
    return summary


def brief(m: dict) -> str:
    """Accuracies and withheld scores of an evaluation record or a summary, on one line."""
    parts = [f"{k[:-4]} {100 * v:.1f}%" for k, v in m.items() if k.endswith("_acc") and isinstance(v, (int, float))
             and not k.endswith(("seen_acc", "combined_acc"))]
    for k, v in m.items():
        if k.endswith("withheld_total") and v:
            prefix = k[: -len("withheld_total")]
            parts.append(f"{prefix}withheld {m[prefix + 'withheld_correct']}/{v}")
    return " ".join(parts)
