"""Read saved models back: re-evaluate a run or a Hugging Face model, sample from a run, describe a
configuration. Loading itself lives in models/load.py (`load_model` is re-exported here for callers)."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from .config import MAX_SAMPLES, MAX_SEED, MIN_TEMPERATURE, TrainConfig, check_device_name
from .errors import MemscopeError
from .evaluate import eval_generator, evaluate, evaluate_tasks
from .models.generate import sample_tokens
from .models.gpt import GPT
from .models.lm import LanguageModel
from .models.load import HUGGING_FACE, WEIGHTS, is_hugging_face, load_lm, load_model  # noqa: F401  (re-export)
from .runtime import configure_cpu
from .tasks import make_task
from .runconfig import RunConfig


def eval_run(run_dir: Path, which: str = "final", device: str = "auto") -> dict:
    """Re-run the paper's evaluation on saved weights with the training run's own settings and sampling
    seed for that step, so the figures equal those the run logged."""
    return eval_model(run_dir, which=which, device=device)


def eval_model(path: Path, task: str | None = None, overrides: dict[str, str] | None = None,
               n_samples: int | None = None, seed: int | None = None, which: str = "final",
               device: str = "auto") -> dict:
    """The task's evaluation protocol on a memscope run or a Hugging Face causal-LM directory.

    A memscope run defaults to its own task, settings and sampling seed for the weights' step, so without
    arguments the figures equal those the run logged. A Hugging Face model needs a task and is evaluated
    with the paper's protocol (TrainConfig's eval_samples, temperature, top_k and seed), drawn from the
    generator of step 0 (it has no training steps). overrides: the task's settings as text, e.g.
    {"withheld": "2,3"}; they apply to the given task, else to the run's own.
    """
    _check_count("n_samples", n_samples, MAX_SAMPLES)
    _check_seed(seed)
    check_device_name(device)
    overrides = {k.removeprefix("task."): v for k, v in (overrides or {}).items()}
    path = Path(path)
    if is_hugging_face(path):
        if task is None:
            raise MemscopeError(f"{path} is a Hugging Face model: name a task (task=..., see `memscope tasks`)",
                                param="task")
        if which != "final":
            raise MemscopeError(f"which={which} applies to memscope runs only", param="which")
        task_obj, lm = make_task(task, overrides), load_lm(path, device)
        cfg, step = TrainConfig(), 0
        head = {"run": str(path), "kind": HUGGING_FACE, "task": task}
    else:
        rc, run_task, model, step = load_model(path, which, device)
        cfg = rc.train
        task_obj = run_task if task is None and not overrides else make_task(
            task or rc.task, {**(run_task.params() if task is None else {}), **overrides})
        # the run's own vocabulary reads its outputs, whatever task's prompts it is asked
        lm = LanguageModel.from_gpt(model, rc.vocab(), path=str(path))
        head = {"run": str(path), "weights": which, "step": step, "task": task_obj.name, "model": rc.preset}
        if task is None and not overrides:  # the run's own protocol: every task it trained on
            configure_cpu(lm.device, cfg.threads)
            return {**head, **evaluate_tasks(lm, rc.eval_tasks(), rc.vocab(), n_samples=n_samples or cfg.eval_samples,
                                             temperature=cfg.temperature, top_k=cfg.top_k,
                                             seed=cfg.seed if seed is None else seed, step=step)}
    configure_cpu(lm.device, cfg.threads)
    metrics = evaluate(lm, task_obj, n_samples=cfg.eval_samples if n_samples is None else n_samples,
                       temperature=cfg.temperature, top_k=cfg.top_k,
                       generator=eval_generator(cfg.seed if seed is None else seed, step))
    return {**head, **metrics}


def sample_run(run_dir: Path, prompt: str, n: int = 1, max_new_tokens: int | None = None,
               temperature: float | None = None, top_k: int | None = None, seed: int = 0,
               which: str = "final", device: str = "auto") -> list[str]:
    """n continuations of prompt (each returned with its prompt) from a memscope run or a Hugging Face
    causal-LM directory. Defaults: the evaluation protocol's temperature and top_k (a run's own, else
    TrainConfig's), and the longest answer length among the run's task's suites (a Hugging Face model:
    HF_MAX_NEW_TOKENS). The prompt is given as `memscope eval` gives prompts to that model
    (LanguageModel.prompt_ids: with the model's BOS for a Hugging Face model)."""
    _check_count("n", n, MAX_SAMPLES)
    _check_count("max_new_tokens", max_new_tokens, MAX_NEW_TOKENS)
    _check_count("top_k", top_k, 2 ** 20)
    if temperature is not None and not (MIN_TEMPERATURE <= temperature and math.isfinite(temperature)):
        raise MemscopeError(f"temperature={temperature} must be a finite number of at least {MIN_TEMPERATURE:g}",
                            param="temperature")
    _check_seed(seed)
    check_device_name(device)
    if not prompt:
        raise MemscopeError("prompt is empty", param="prompt")
    if is_hugging_face(Path(run_dir)):
        if which != "final":
            raise MemscopeError(f"which={which} applies to memscope runs only", param="which")
        lm, cfg = load_lm(Path(run_dir), device), TrainConfig()
        configure_cpu(lm.device, cfg.threads)
        rows = lm.sample(lm.prompt_ids([prompt]), n, max_new_tokens or HF_MAX_NEW_TOKENS,
                         temperature or cfg.temperature, top_k if top_k is not None else cfg.top_k,
                         torch.Generator().manual_seed(seed))
        return [prompt + lm.decode(row) for row in rows[0]]
    rc, task, model, _ = load_model(run_dir, which, device)
    vocab = rc.vocab()
    ids = vocab.encode(prompt)
    max_new = max_new_tokens or max(s.max_new_tokens for s in task.eval_suites())
    rows = sample_tokens(model, [ids], n, max_new, temperature or rc.train.temperature,
                         top_k if top_k is not None else rc.train.top_k, torch.Generator().manual_seed(seed))
    return [prompt + vocab.decode(row) for row in rows[0]]


MAX_NEW_TOKENS = 100_000
HF_MAX_NEW_TOKENS = 32
"""`memscope sample`'s default continuation length on a Hugging Face model (it has no task)."""


def _check_count(name: str, value: int | None, cap: int) -> None:
    """None (the default) or 1..cap."""
    if value is not None and value <= 0:
        raise MemscopeError(f"{name}={value} must be positive", param=name)
    if value is not None and value > cap:
        raise MemscopeError(f"{name}={value} must be at most {cap}", param=name)


def _check_seed(seed: int | None) -> None:
    if seed is not None and seed < 0:
        raise MemscopeError(f"seed={seed} must not be negative", param="seed")
    if seed is not None and seed > MAX_SEED:
        raise MemscopeError(f"seed={seed} must be at most {MAX_SEED} (torch seeds are 64-bit)", param="seed")


def describe(rc: RunConfig) -> dict:
    """Parameter counts (the paper's convention and the total) and the task's shape."""
    task, vocab = rc.make_task(), rc.vocab()
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = GPT(rc.model)
    return {
        "task": rc.task, "model": rc.preset,
        "n_params": model.count_params("paper"), "n_params_total": model.count_params("total"),
        "n_params_non_embedding": model.count_params("non_embedding"),
        "vocab_size": len(vocab), "vocab": vocab.chars, "block_size": rc.model.block_size,
        "batch_size": rc.train.batch_size, "n_lines": len(task.lines()), "n_chars": len(task.text),
        "config": rc.to_dict(),
    }
