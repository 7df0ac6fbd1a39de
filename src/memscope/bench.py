"""Speed figures on the machine it runs on: ms per training step, s per evaluation pass, FLOPs, share of peak.

`memscope bench` prints them; docs/BENCHMARKS.md records them with the command, machine and torch version.
"""
from __future__ import annotations

import os
import platform
import time

import torch

from .evaluate import eval_generator, evaluate
from .model import GPT
from .train import build_run_config, resolve_device, setup, train_step

# (task, preset, batch size or None for the paper's): mlt runs at a smaller batch on CPU, stated.
STEP_CASES = [("arithmetic", "n14", None), ("arithmetic", "n28", None), ("arithmetic", "n56", None),
              ("arithmetic", "mlt", 32)]


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


def time_train_step(task: str, preset: str, batch_size: int | None, device: torch.device,
                    steps: int = 50, warmup: int = 5) -> dict:
    """Mean time of `steps` full optimiser steps after a warm-up: the trainer's own train_step (batch draw,
    forward, backward, clip, AdamW)."""
    overrides = {} if batch_size is None else {"batch_size": str(batch_size)}
    rc = build_run_config(task, preset, overrides)
    cfg = rc.train
    model, opt, batches = setup(rc, rc.make_task(), device)

    def step(i: int) -> None:
        train_step(model, model, opt, batches, cfg, i)

    for i in range(warmup):
        step(i)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    _sync(device)
    s_per_step = (time.perf_counter() - t0) / steps
    flops = flops_per_step(model, cfg.batch_size, rc.model.block_size)
    return {"task": task, "model": preset, "batch_size": cfg.batch_size, "ms_per_step": 1e3 * s_per_step,
            "flops_per_step": flops, "flops_per_s": flops / s_per_step}


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


def run_bench(device: str = "auto", threads: int = 1, steps: int = 50) -> dict:
    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(threads)
    peak = matmul_peak_flops(dev)
    train = []
    for task, preset, batch in STEP_CASES:
        n = steps if preset != "mlt" or dev.type == "cuda" else max(3, steps // 10)
        row = time_train_step(task, preset, batch, dev, steps=n, warmup=min(5, n))
        row["share_of_peak"] = row["flops_per_s"] / peak
        train.append(row)
    evals = [time_eval("arithmetic", "n14", dev), time_eval("capitals", "n28", dev)]
    n14 = train[0]["ms_per_step"] / 1e3
    full_run_s = 30_000 * n14 + 121 * evals[0]["s_per_eval"]
    return {
        "machine": {"device": str(dev), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "threads": torch.get_num_threads() if dev.type == "cpu" else None,
                    "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
                    "torch": torch.__version__, "matmul_peak_gflops": peak / 1e9},
        "train_step": train,
        "eval_pass": evals,
        "n14_full_run_s_estimate": full_run_s,
    }


def format_bench(r: dict) -> str:
    m = r["machine"]
    lines = [f"{m['device']} ({m['gpu'] or m['cpu']}, {m['cores']} cores, threads {m['threads']}), torch "
             f"{m['torch']}, measured fp32 matmul peak {m['matmul_peak_gflops']:.1f} GFLOP/s",
             "", "training step        batch   ms/step   MFLOP/step   GFLOP/s   share of peak"]
    for row in r["train_step"]:
        lines.append(f"{row['task'][:10]:<10} {row['model']:<6} {row['batch_size']:>7} {row['ms_per_step']:>9.2f} "
                     f"{row['flops_per_step'] / 1e6:>12.1f} {row['flops_per_s'] / 1e9:>9.2f} "
                     f"{100 * row['share_of_peak']:>13.1f}%")
    lines += ["", "evaluation pass (paper protocol)   s/pass"]
    lines += [f"{row['task']:<12} {row['model']:<20} {row['s_per_eval']:>7.3f}" for row in r["eval_pass"]]
    lines += ["", f"n14 arithmetic, 30,000 steps + 121 evaluations: about {r['n14_full_run_s_estimate']:.0f} s"]
    return "\n".join(lines)
