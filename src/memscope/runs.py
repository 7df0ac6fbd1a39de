"""Read saved runs back: load a model, re-evaluate it, sample from it, describe a configuration."""
from __future__ import annotations

from pathlib import Path

import torch

from . import store
from .errors import MemscopeError
from .evaluate import eval_generator, evaluate
from .models.generate import sample_tokens
from .models.gpt import GPT
from .tasks import Task
from .runtime import configure_cpu, resolve_device
from .runconfig import RunConfig, load_run_config

WEIGHTS = {"final": store.MODEL, "best": store.BEST, "checkpoint": store.CHECKPOINT}


def load_model(run_dir: Path, which: str = "final", device: str = "auto") -> tuple[RunConfig, Task, GPT, int]:
    """The run's config, task and model with the chosen weights, and the step those weights are from.

    which: final (model.safetensors), best (chosen on non-withheld accuracy) or checkpoint (the last
    resume point, for a run still going or killed).
    """
    if which not in WEIGHTS:
        raise MemscopeError(f"unknown weights {which!r}; choose one of {', '.join(WEIGHTS)}")
    run_dir = Path(run_dir)
    rc = load_run_config(run_dir)
    task = rc.make_task()
    path = run_dir / WEIGHTS[which]
    if which == "final" and not path.is_file() and (run_dir / store.CHECKPOINT).is_file():
        raise MemscopeError(f"run {run_dir} has not finished (no {store.MODEL}); "
                            "resume it, or pass --weights checkpoint")
    tensors, meta = store.load_tensors(path, "weights file")
    if which == "checkpoint":
        tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    model = GPT(rc.model)
    store.load_model_tensors(model, tensors, path)
    if not isinstance(meta.get("step"), int):
        raise MemscopeError(f"corrupt weights file: {path} (no step in its metadata)")
    return rc, task, model.to(resolve_device(device)).eval(), meta["step"]


def eval_run(run_dir: Path, which: str = "final", device: str = "auto") -> dict:
    """Re-run the paper's evaluation on saved weights with the training run's own settings and sampling
    seed for that step, so the figures equal those the run logged."""
    rc, task, model, step = load_model(run_dir, which, device)
    cfg = rc.train
    configure_cpu(model.transformer.wte.weight.device, cfg.threads)
    metrics = evaluate(model, task, n_samples=cfg.eval_samples, temperature=cfg.temperature,
                       top_k=cfg.top_k, generator=eval_generator(cfg.seed, step))
    return {"run": str(run_dir), "weights": which, "step": step, "task": rc.task, "model": rc.preset,
            **metrics}


def sample_run(run_dir: Path, prompt: str, n: int = 1, max_new_tokens: int | None = None,
               temperature: float | None = None, top_k: int | None = None, seed: int = 0,
               which: str = "final", device: str = "auto") -> list[str]:
    """n continuations of prompt (each returned with its prompt). Defaults: the evaluation protocol's
    temperature and top_k, and the longest answer length among the task's suites."""
    if n <= 0:
        raise MemscopeError(f"--n {n} must be positive")
    if max_new_tokens is not None and max_new_tokens <= 0:
        raise MemscopeError(f"--max-new-tokens {max_new_tokens} must be positive")
    if temperature is not None and temperature <= 0:
        raise MemscopeError(f"--temperature {temperature} must be positive")
    if not prompt:
        raise MemscopeError("--prompt is empty")
    rc, task, model, _ = load_model(run_dir, which, device)
    ids = task.vocab.encode(prompt)
    max_new = max_new_tokens or max(s.max_new_tokens for s in task.eval_suites())
    rows = sample_tokens(model, [ids], n, max_new, temperature or rc.train.temperature,
                         top_k if top_k is not None else rc.train.top_k, torch.Generator().manual_seed(seed))
    return [prompt + task.vocab.decode(row) for row in rows[0]]


def describe(rc: RunConfig) -> dict:
    """Parameter counts (the paper's convention and the total) and the task's shape."""
    task = rc.make_task()
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = GPT(rc.model)
    return {
        "task": rc.task, "model": rc.preset,
        "n_params": model.count_params("paper"), "n_params_total": model.count_params("total"),
        "n_params_non_embedding": model.count_params("non_embedding"),
        "vocab_size": len(task.vocab), "vocab": task.vocab.chars, "block_size": rc.model.block_size,
        "batch_size": rc.train.batch_size, "n_lines": len(task.lines()), "n_chars": len(task.text),
        "config": rc.to_dict(),
    }
