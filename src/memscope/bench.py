"""Speed figures on the machine it runs on: ms per training step, s per evaluation pass, FLOPs, share of peak.

`memscope bench` prints them; docs/BENCHMARKS.md records them with the command, machine and torch version.
"""
from __future__ import annotations

import os
import platform
import time

import torch

from .errors import MemscopeError
from .evaluate import eval_generator, evaluate
from .models.gpt import GPT
from .models.ensemble import EnsembleGPT, ensemble_step, make_ensemble_optimizer
from .runtime import configure_cpu, resolve_device
from .runconfig import RunConfig, build_run_config
from .train.loop import lr_at, make_batches

# (task, preset, batch size or None for the paper's): mlt runs at a smaller batch on CPU, stated.
STEP_CASES = [("arithmetic", "n14", None), ("arithmetic", "n28", None), ("arithmetic", "n56", None),
              ("arithmetic", "mlt", 32)]
# Ensembles of n14: K members at the paper's batch, and at batch 64 (the small-batch regime of capacity
# sweeps, where a step's fixed costs dominate and stacking members pays most).
ENSEMBLE_KS = (1, 4, 16, 64)
ENSEMBLE_BATCHES = (None, 64)


def flops_per_step(model: GPT, batch_size: int, block_size: int) -> float:
    """Training FLOPs per step, PaLM's estimate as in nanoGPT: 6N per token for the weights (N in the paper's
    convention: the tied embedding once, as the output projection) plus 12 L d T for attention."""
    cfg = model.config
    per_token = 6 * model.count_params("paper") + 12 * cfg.n_layer * cfg.n_embd * block_size
    return per_token * batch_size * block_size


def matmul_peak_flops(device: torch.device, n: int = 1024, seconds: float = 1.0) -> float:
    """Measured fp32 matmul throughput (FLOP/s) at the current thread count: the machine's practical peak."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _group(rcs: list[RunConfig], device: torch.device):
    """The members' ensemble with its optimiser and batches, as the trainer builds them."""
    batches = make_batches(rcs, device)
    model = EnsembleGPT.from_seeds(rcs[0].model, [rc.train.seed for rc in rcs]).to(device)
    return model, make_ensemble_optimizer(model, rcs[0].train), batches


def time_group_steps(rcs: list[RunConfig], device: torch.device, steps: int, warmup: int,
                     compile: bool = False) -> tuple[float, EnsembleGPT]:
    """Seconds per optimiser step of the runs `rcs` trained together as one ensemble (the trainer's step:
    batch draw, forward, backward, clip, AdamW), timed over `steps` steps after `warmup`."""
    rc = rcs[0]
    model, opt, batches = _group(rcs, device)
    forward = torch.compile(model) if compile else model
    model.train()
    for i in range(warmup):
        ensemble_step(model, forward, opt, *batches.next(i), rc.train, lr_at(i, rc.train), batches.masked)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        ensemble_step(model, forward, opt, *batches.next(warmup + i), rc.train, lr_at(warmup + i, rc.train),
                      batches.masked)
    _sync(device)
    return (time.perf_counter() - t0) / steps, model


def time_steps(task: str, preset: str, k: int, device: torch.device, overrides: dict[str, str],
               steps: int, warmup: int, compile: bool = False) -> tuple[float, RunConfig, EnsembleGPT]:
    """time_group_steps for K members of one task and preset (seeds 0..K-1)."""
    rcs = [build_run_config(task, preset, {**overrides, "train.seed": str(s)}) for s in range(k)]
    s_per_step, model = time_group_steps(rcs, device, steps, warmup, compile)
    return s_per_step, rcs[0], model


def time_train_step(task: str, preset: str, batch_size: int | None, device: torch.device,
                    steps: int = 50, warmup: int = 5, compile: bool = False) -> dict:
    """Mean time of `steps` full optimiser steps of one model after a warm-up: the trainer's own step (batch
    draw, forward, backward, clip, AdamW), i.e. an ensemble of one."""
    overrides = {} if batch_size is None else {"batch_size": str(batch_size)}
    s_per_step, rc, model = time_steps(task, preset, 1, device, overrides, steps, warmup, compile)
    flops = flops_per_step(model.gpt(0), rc.train.batch_size, rc.model.block_size)
    return {"task": task, "model": preset, "batch_size": rc.train.batch_size, "compile": compile,
            "ms_per_step": 1e3 * s_per_step, "flops_per_step": flops, "flops_per_s": flops / s_per_step}


def time_ensembles(device: torch.device, ks=(1, 4, 16, 64), batch_size: int | None = None,
                   model_steps: int = 200) -> list[dict]:
    """Model-steps per second of n14 ensembles on arithmetic (about model_steps member-steps timed each)."""
    overrides = {} if batch_size is None else {"batch_size": str(batch_size)}
    rows = []
    for k in ks:
        n = max(3, model_steps // k)
        s_per_step, rc, _ = time_steps("arithmetic", "n14", k, device, overrides, n, min(3, n))
        rows.append({"k": k, "batch_size": rc.train.batch_size, "ms_per_step": 1e3 * s_per_step,
                     "model_steps_per_s": k / s_per_step})
    base = rows[0]["model_steps_per_s"]
    for row in rows:
        row["vs_one_after_another"] = row["model_steps_per_s"] / base
    return rows


def time_eval(task: str, preset: str, device: torch.device, repeats: int = 3) -> dict:
    """Seconds per full evaluation pass in the paper's protocol (every prompt x 10 samples)."""
    rc = build_run_config(task, preset)
    t = rc.make_task()
    model = GPT(rc.model, torch.Generator().manual_seed(0)).to(device)
    evaluate(model, t, n_samples=10, temperature=0.01, top_k=10, generator=eval_generator(0, 0))
    t0 = time.perf_counter()
    for r in range(repeats):
        evaluate(model, t, n_samples=10, temperature=0.01, top_k=10, generator=eval_generator(0, r))
    _sync(device)
    return {"task": task, "model": preset, "s_per_eval": (time.perf_counter() - t0) / repeats}


def run_bench(device: str = "auto", threads: int = 1, steps: int = 50, compile: bool = True) -> dict:
    """Every figure of docs/BENCHMARKS.md. compile: also time the n14 step under torch.compile."""
    for name, value, cap in (("threads", threads, 1024), ("steps", steps, 10 ** 6)):
        if not 0 < value <= cap:
            raise MemscopeError(f"{name}={value} must be positive" if value <= 0 else f"{name}={value} must be at "
                                f"most {cap}", param=name)
    dev = resolve_device(device)
    configure_cpu(dev, threads)  # as the trainer
    peak = matmul_peak_flops(dev)
    train = []
    for task, preset, batch in STEP_CASES:
        n = steps if preset != "mlt" or dev.type == "cuda" else max(3, steps // 10)
        batch = None if dev.type == "cuda" else batch  # a GPU takes the paper's batch for every model
        row = time_train_step(task, preset, batch, dev, steps=n, warmup=min(5, n))
        row["share_of_peak"] = row["flops_per_s"] / peak
        train.append(row)
    if compile:
        row = time_train_step("arithmetic", "n14", None, dev, steps=steps, warmup=5, compile=True)
        row["share_of_peak"] = row["flops_per_s"] / peak
        train.append(row)
    ensembles = [row for batch in ENSEMBLE_BATCHES
                 for row in time_ensembles(dev, ENSEMBLE_KS, batch, model_steps=4 * steps)]
    evals = [time_eval("arithmetic", "n14", dev), time_eval("capitals", "n28", dev)]
    n14 = min(r["ms_per_step"] for r in train if r["model"] == "n14") / 1e3
    full_run_s = 30_000 * n14 + 121 * evals[0]["s_per_eval"]
    return {
        "machine": {"device": str(dev), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "threads": torch.get_num_threads() if dev.type == "cpu" else None,
                    "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
                    "torch": torch.__version__, "matmul_peak_gflops": peak / 1e9},
        "train_step": train,
        "ensembles": ensembles,
        "eval_pass": evals,
        "n14_full_run_s_estimate": full_run_s,
    }


def format_bench(r: dict) -> str:
    m = r["machine"]
    lines = [f"{m['device']} ({m['gpu'] or m['cpu']}, {m['cores']} cores, threads {m['threads']}), torch "
             f"{m['torch']}, measured fp32 matmul peak {m['matmul_peak_gflops']:.1f} GFLOP/s",
             "", "training step               batch   ms/step   MFLOP/step   GFLOP/s   share of peak"]
    for row in r["train_step"]:
        name = row["model"] + (" compiled" if row.get("compile") else "")
        lines.append(f"{row['task'][:10]:<10} {name:<13} {row['batch_size']:>7} {row['ms_per_step']:>9.2f} "
                     f"{row['flops_per_step'] / 1e6:>12.1f} {row['flops_per_s'] / 1e9:>9.2f} "
                     f"{100 * row['share_of_peak']:>13.1f}%")
    lines += ["", "n14 ensembles       K   batch   ms/step   model-steps/s   vs one after another"]
    lines += [f"{'':<16} {row['k']:>4} {row['batch_size']:>7} {row['ms_per_step']:>9.2f} "
              f"{row['model_steps_per_s']:>15.1f} {row['vs_one_after_another']:>21.2f}x" for row in r["ensembles"]]
    lines += ["", "evaluation pass (paper protocol)   s/pass"]
    lines += [f"{row['task']:<12} {row['model']:<20} {row['s_per_eval']:>7.3f}" for row in r["eval_pass"]]
    lines += ["", f"n14 arithmetic, 30,000 steps + 121 evaluations: about {r['n14_full_run_s_estimate']:.0f} s"]
    return "\n".join(lines)
