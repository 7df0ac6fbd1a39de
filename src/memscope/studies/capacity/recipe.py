"""`memscope reproduce capacity` (alias `memscope capacity`): how many bits a GPT stores per parameter
(Morris et al. 2025), and its double descent.

Recipe (what the published and public recipes share: about 10^3 or more passes over every sequence):
1. Learning-rate sweep, recorded: for each model size, its two plateau cells (2x and 4x expected
   capacity, seed 0) train the grid's full budget at each candidate rate; the size's rate is the one whose
   smaller plateau cell stored the most bits (a capacity must hold on both plateau cells: a rate that stores
   more at 2x but turns unstable at 4x, as 0.1 did for the 340-parameter model, has no plateau). The sweep's
   runs are grid runs: seed 0's plateau cells at the chosen rate are not trained twice. (A shorter sweep
   favours high rates that store less, or turn unstable, at the full budget.)
2. The grid: model sizes x dataset sizes N at fixed multiples of each size's expected capacity
   (dataset bits / expected capacity = 0.5, 1, 2, 4) x seeds (seed s draws dataset s and initialises
   model s). Every run trains full batch (one step = one pass over its N sequences, the `epochs` sampler)
   for `passes` passes, AdamW without weight decay, warmup then the peak rate held and decayed linearly
   over the last `cooldown_fraction` (warmup-stable-decay). Runs of one cell and rate train together as
   an ensemble.
3. A convergence rerun: each size's cell at 2x expected capacity (seed 0) again at twice the passes.
Then, reading the stored runs only (studies/capacity/analysis.py): memorized bits, capacity = max over N,
the three convergence checks, bits per parameter from the converged sizes only, the double descent, and
the claims C1-C2 (analysis.claims). Rerunning trains only the missing runs and rebuilds the report.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import torch

from ... import settings, store
from .. import Context, Study, claims_text, get_study, register_study
from ...claims import PLUMBING_REASON, as_claims
from ...config import DEVICE
from ...errors import MemscopeError
from ...measure.capacity import dataset_memorization
from ...models.lm import LanguageModel
from ...runconfig import RunConfig, build_run_config
from ...runtime import configure_cpu
from ...settings import Choice
from ...sweep import check_existing, estimate_train_s, run_many
from ...tasks import make_task
from .analysis import PAPER, RATIOS, analyse, claims, levelled_off
from .report import write_report

log = logging.getLogger(__name__)

SWEEP_RATIOS = (2.0, 4.0)
"""The plateau cells the learning-rate sweep trains (dataset bits / expected capacity)."""
HELDOUT_SEED = 1_000_003
"""Held-out sequences for seed s are drawn with seed HELDOUT_SEED + s (never a training seed)."""


@dataclass(frozen=True)
class CapacityProfile:
    """One capacity sweep: data shape, model sizes, dataset grid, training budget."""

    name: str
    vocab_size: int
    """V: symbols per position (log2 V bits each)."""
    length: int
    """S: symbols per sequence."""
    n_embd: tuple[int, ...]
    """Model widths, one model size each (1 head, n_layer blocks, MLP mlp_expansion x n_embd)."""
    n_layer: int
    mlp_expansion: int
    expected_bits_per_param: float
    """Prior that places each size's cells (dataset bits = ratio x expected_bits_per_param x parameters)."""
    seeds: int
    passes: int
    """Passes over every sequence (full-batch steps) of a grid run."""
    learning_rates: tuple[float, ...]
    """Candidates of the learning-rate sweep."""
    heldout_sequences: int
    warmup_steps: int = 100
    cooldown_fraction: float = 0.2
    """Share of the passes over which the rate decays linearly to 1% of its peak."""
    max_batch: int = 4096
    """Sequences per step at most: full batch up to this N, minibatches of it above."""
    ratios: tuple[float, ...] = RATIOS
    note: str = ""

    def __post_init__(self):
        if len(set(self.n_embd)) != len(self.n_embd) or not self.n_embd:
            raise MemscopeError(f"profile {self.name}: n_embd must list distinct widths")
        if self.seeds < 1:
            raise MemscopeError(f"seeds={self.seeds} must be at least 1", param="seeds")
        if not set(RATIOS) <= set(self.ratios):
            raise MemscopeError(f"profile {self.name}: ratios must include {RATIOS} (the convergence checks)")


PROFILES = {
    "quick": CapacityProfile(
        # d4 (340 parameters) was dropped: it never converged on this machine's budget (its 2x cell still rose
        # 7%, 2.6% and 3.4% per doubling of 6,000 passes up to 48,000; docs/RESULTS.md).
        name="quick", vocab_size=16, length=16, n_embd=(6, 8, 12, 16), n_layer=1, mlp_expansion=4,
        expected_bits_per_param=1.9, seeds=3, passes=6000, learning_rates=(0.01, 0.03, 0.1),
        heldout_sequences=256,
        note="CPU, 2 cores: 4 one-layer sizes (654-3,664 parameters) x 4 dataset sizes x 3 seeds, 6,000 "
             "full-batch passes each, plus the learning-rate sweep and the double-budget reruns"),
    "paper": CapacityProfile(
        name="paper", vocab_size=32, length=32, n_embd=(16, 24, 32, 48, 64, 96), n_layer=2, mlp_expansion=4,
        expected_bits_per_param=2.5, seeds=3, passes=10_000, learning_rates=(0.003, 0.01, 0.03),
        heldout_sequences=1024, max_batch=2048,
        note="6 two-layer sizes (about 7k-230k parameters), 160-bit sequences, 10,000 passes: a GPU job"),
    "tiny": CapacityProfile(
        name="tiny", vocab_size=16, length=16, n_embd=(4, 8), n_layer=1, mlp_expansion=4,
        expected_bits_per_param=1.9, seeds=2, passes=300, learning_rates=(0.03, 0.1), heldout_sequences=64,
        note="a smoke test of the whole pipeline (about a minute on CPU); not a measurement"),
}


def get_profile(name: str) -> CapacityProfile:
    """The profile `name` (the study's lookup: one error naming the known ones)."""
    return get_study("capacity").get_profile(name)


def default_out(profile_name: str, precision: str) -> Path:
    return Path("runs") / f"capacity-{profile_name}-{precision}"


# ----------------------------------------------------------------------------- the grid
def run_config(p: CapacityProfile, n_embd: int, n_sequences: int, seed: int, precision: str,
               learning_rate: float, passes: int) -> RunConfig:
    """Full batch (up to max_batch), `passes` epochs, AdamW without decay, warmup-stable-decay."""
    batch = min(n_sequences, p.max_batch)
    steps = passes * math.ceil(n_sequences / batch)
    warmup = min(p.warmup_steps, steps // 10)
    overrides = {
        "task.vocab_size": p.vocab_size, "task.length": p.length, "task.n_sequences": n_sequences,
        "task.seed": seed, "task.recall_prompts": 16,
        "model.n_embd": n_embd, "model.n_layer": p.n_layer, "model.n_head": 1,
        "model.mlp_expansion": p.mlp_expansion,
        "train.sampler": "epochs", "train.epochs": passes, "train.batch_size": batch,
        "train.learning_rate": learning_rate, "train.min_lr": learning_rate / 100, "train.weight_decay": 0.0,
        "train.warmup_steps": warmup, "train.lr_decay_steps": steps, "train.lr_schedule": "wsd",
        "train.cooldown_steps": min(round(p.cooldown_fraction * steps), steps - warmup),
        "train.eval_interval": max(steps // 10, 1), "train.eval_samples": 1,
        "train.callbacks": "protocol", "train.precision": precision, "train.seed": seed}
    return build_run_config("random-tokens", "n14", overrides)


def n_params(rc: RunConfig, convention: str) -> int:
    from ...models.gpt import GPT
    with torch.device("meta"):  # shapes only
        return GPT(rc.model).count_params(convention)


def parameter_mix(rc: RunConfig) -> dict[str, int]:
    """Parameters by kind: token embedding (tied with the output layer), position embedding, weight
    matrices, and vectors (LayerNorm gains and biases)."""
    from ...models.gpt import GPT
    with torch.device("meta"):
        model = GPT(rc.model)
    mix = {"token_embedding": 0, "position_embedding": 0, "matrices": 0, "vectors": 0}
    for name, p in model.named_parameters():
        kind = ("token_embedding" if name.endswith("wte.weight") else "position_embedding"
                if name.endswith("wpe.weight") else "matrices" if p.dim() >= 2 else "vectors")
        mix[kind] += p.numel()
    return mix


def bits_per_sequence(p: CapacityProfile) -> float:
    return p.length * math.log2(p.vocab_size)


def cell_sizes(p: CapacityProfile, n_params_total: int) -> dict[float, int]:
    """ratio -> N: the dataset size whose bits are `ratio` x the size's expected capacity (at least 2)."""
    expected = p.expected_bits_per_param * n_params_total
    return {r: max(2, round(r * expected / bits_per_sequence(p))) for r in p.ratios}


def run_name(n_embd: int, n_layer: int, n_sequences: int, learning_rate: float, seed: int) -> str:
    return f"d{n_embd}-l{n_layer}-n{n_sequences}-lr{learning_rate:g}-s{seed}"


def sizes_of(p: CapacityProfile, precision: str) -> list[dict]:
    """Each model size: width, parameter counts, its mix and its cells' N."""
    out = []
    for d in p.n_embd:
        rc = run_config(p, d, 2, 0, precision, p.learning_rates[0], 1)
        total = n_params(rc, "total")
        cells = cell_sizes(p, total)
        if len(set(cells.values())) < len(cells):
            raise MemscopeError(f"profile {p.name}: width {d} ({total} parameters) is too small for distinct "
                                "dataset sizes at every ratio")
        out.append({"n_embd": d, "n_params_total": total, "n_params_non_embedding": n_params(rc, "non_embedding"),
                    "parameter_mix": parameter_mix(rc), "cells": cells})
    return out


def sweep_specs(p: CapacityProfile, precision: str, sizes: list[dict]) -> list[tuple[str, RunConfig]]:
    """Learning-rate sweep: each size's plateau cells (2x, 4x), seed 0, at every candidate rate, the grid's
    passes; named as grid runs, so the grid reuses the chosen rate's."""
    return [(run_name(s["n_embd"], p.n_layer, s["cells"][r], lr, 0),
             run_config(p, s["n_embd"], s["cells"][r], 0, precision, lr, p.passes))
            for s in sizes for lr in p.learning_rates for r in SWEEP_RATIOS]


def grid_specs(p: CapacityProfile, precision: str, sizes: list[dict], rates: dict[int, float]
               ) -> list[tuple[str, RunConfig]]:
    """Every (name, RunConfig) of the grid, small models first."""
    return [(run_name(s["n_embd"], p.n_layer, n, rates[s["n_embd"]], seed),
             run_config(p, s["n_embd"], n, seed, precision, rates[s["n_embd"]], p.passes))
            for s in sizes for seed in range(p.seeds) for n in s["cells"].values()]


def rerun_specs(p: CapacityProfile, precision: str, sizes: list[dict], rates: dict[int, float]
                ) -> list[tuple[str, RunConfig]]:
    """Each size's 2x cell, seed 0, at twice the passes (the budget check)."""
    return [(run_name(s["n_embd"], p.n_layer, s["cells"][2.0], rates[s["n_embd"]], 0),
             run_config(p, s["n_embd"], s["cells"][2.0], 0, precision, rates[s["n_embd"]],
                        2 * p.passes))
            for s in sizes]


# ----------------------------------------------------------------------------- measuring stored runs
def measure_run(run_dir: Path, heldout_sequences: int, device: str = "auto") -> dict:
    """One run's record: memorized bits on its training set, train and held-out loss, passes, levelling."""
    from ...models.load import load_model
    rc, task, model, step = load_model(run_dir, "final", device)
    dev = next(model.parameters()).device
    configure_cpu(dev, rc.train.threads)
    logits = LanguageModel.from_gpt(model, task.vocab).logits_fn
    mem = dataset_memorization(logits, task, dev)
    held = make_task("random-tokens", {**task.params(), "n_sequences": heldout_sequences,
                                       "seed": HELDOUT_SEED + task.seed})
    held_mem = dataset_memorization(logits, held, dev)
    history = store.read_metrics(run_dir / store.METRICS)
    summary = store.read_json(run_dir / store.SUMMARY, "summary")
    cfg = rc.train
    return {
        "name": run_dir.name, "n_embd": rc.model.n_embd, "n_layer": rc.model.n_layer, "seed": task.seed,
        "n_sequences": task.n_sequences, "n_params_total": model.count_params("total"),
        "n_params_non_embedding": model.count_params("non_embedding"),
        "dataset_bits": mem.entropy_bits, "ceiling_bits": mem.ceiling_bits,
        "memorized_bits": mem.signed_bits, "memorized_clipped_bits": mem.clipped_bits,
        "train_loss_bits_per_token": mem.loss_bits_per_token,
        "heldout_loss_bits_per_token": held_mem.loss_bits_per_token,
        "learning_rate": cfg.learning_rate, "passes": cfg.epochs, "steps_trained": step,
        "levelled_off": levelled_off(history, cfg.lr_decay_steps - cfg.cooldown_steps),
        "wall_s": summary.get("wall_s"),
    }


def pick_rates(p: CapacityProfile, sizes: list[dict], sweep_records: list[dict]) -> tuple[dict[int, float], list[dict]]:
    """Per size, the candidate rate whose smaller plateau cell (2x or 4x, seed 0) stored the most bits;
    the sweep's table too (ties go to the first candidate)."""
    rates, table = {}, []
    for s in sizes:
        bits = {lr: {r: next(x["memorized_bits"] for x in sweep_records if x["n_embd"] == s["n_embd"]
                             and x["learning_rate"] == lr and x["n_sequences"] == s["cells"][r])
                     for r in SWEEP_RATIOS} for lr in p.learning_rates}
        plateau = {lr: min(b.values()) for lr, b in bits.items()}
        best = max(p.learning_rates, key=lambda lr: plateau[lr])
        rates[s["n_embd"]] = best
        table.append({"n_embd": s["n_embd"], "n_sequences": {f"{r:g}x": s["cells"][r] for r in SWEEP_RATIOS},
                      "passes": p.passes,
                      "memorized_bits": {f"{lr:g}": {f"{r:g}x": b[r] for r in SWEEP_RATIOS} for lr, b in bits.items()},
                      "plateau_bits": {f"{lr:g}": v for lr, v in plateau.items()}, "chosen": best})
    return rates, table


def estimate_s(p: CapacityProfile, precision: str, sizes: list[dict], stages: dict[str, Path],
               n_workers: int) -> float:
    """Seconds of training still to do here, before any of it starts: the sweep, the grid and the reruns
    (the grid at the first candidate rate: the rate does not change a step's cost), timed by
    sweep.estimate_train_s and shared among the workers."""
    rates = {s["n_embd"]: p.learning_rates[0] for s in sizes}
    first = list(dict(sweep_specs(p, precision, sizes) + grid_specs(p, precision, sizes, rates)).items())
    total = (estimate_train_s(first, stages["grid"])
             + estimate_train_s(rerun_specs(p, precision, sizes, rates), stages["rerun"]))
    return total / n_workers


# ----------------------------------------------------------------------------- the stages
def train_capacity(profile: CapacityProfile, precision: str, out: Path, executor: str = "local",
                   n_workers: int = 1, address: str | None = None, device: str = "auto") -> dict:
    """Train what is missing in three stages (the learning-rate sweep, the grid at each size's chosen rate,
    the double-budget reruns) and measure every run once. Returns the sizes, the sweep's table, the grid's
    and the reruns' records, the runs stored, and the training wall time (the run_many calls only; when
    this call trained nothing, the one stored in out/results.json by the call that did)."""
    out = Path(out)
    sizes = sizes_of(profile, precision)
    measured: dict[Path, dict] = {}  # the sweep's runs at the chosen rates are grid runs: measured once
    stages = {"grid": out / "runs", "rerun": out / "rerun_2x_passes"}
    trained, train_s = 0, 0.0

    def measure(root: Path, specs: list) -> list[dict]:
        for n, _ in specs:
            if root / n not in measured:
                measured[root / n] = measure_run(root / n, profile.heldout_sequences, device)
        return [measured[root / n] for n, _ in specs]

    def train(specs: list, root: Path) -> None:
        nonlocal trained, train_s
        trained += sum(not (root / n / store.SUMMARY).is_file() for n, _ in specs)
        t0 = time.perf_counter()
        run_many(specs, root, executor=executor, workers=n_workers, address=address)
        train_s += time.perf_counter() - t0

    specs = sweep_specs(profile, precision, sizes)
    check_existing(specs, stages["grid"])  # runs of other settings are refused before the estimate
    est = estimate_s(profile, precision, sizes, stages, n_workers)
    if est:
        log.info("capacity %s (%s): about %.0f min of training here (timed steps of every group still to "
                 "train)", profile.name, precision, est / 60)
    log.info("capacity %s (%s): learning-rate sweep, %d runs in %s", profile.name, precision, len(specs),
             stages["grid"])
    train(specs, stages["grid"])
    rates, sweep_table = pick_rates(profile, sizes, measure(stages["grid"], specs))
    grid, reruns = grid_specs(profile, precision, sizes, rates), rerun_specs(profile, precision, sizes, rates)
    log.info("capacity %s: grid of %d runs in %s, then %d double-budget reruns", profile.name, len(grid),
             stages["grid"], len(reruns))
    train(grid, stages["grid"])
    train(reruns, stages["rerun"])
    stored = out / "results.json"
    if not trained and stored.is_file():
        train_s = store.read_json(stored, "capacity results").get("train_wall_s", train_s)
    return {"sizes": sizes, "lr_sweep": sweep_table, "records": measure(stages["grid"], grid),
            "rerun_records": measure(stages["rerun"], reruns),
            "n_runs": len({n for n, _ in specs + grid}) + len(reruns), "train_wall_s": round(train_s, 1)}


def results_of(profile: CapacityProfile, precision: str, trained: dict) -> dict:
    """Everything results.json holds: the profile, the sweep, the analysis, every run's record and the
    claims (as dicts, judged by analysis.claims)."""
    results = {"profile": asdict(profile), "precision": precision, "paper": PAPER, "lr_sweep": trained["lr_sweep"],
               **analyse(trained["records"], trained["rerun_records"], trained["sizes"],
                         math.log2(profile.vocab_size)),
               "records": trained["records"], "rerun_records": trained["rerun_records"],
               "n_runs": trained["n_runs"], "train_wall_s": trained["train_wall_s"]}
    results["claims"] = [c.to_dict() for c in claims(results)]
    return results


def write_results(results: dict, out: Path) -> dict[str, str]:
    """results.json and the report (report.html, report.md, figures) in `out`; returns the report's paths."""
    out = Path(out)
    store.write_json(out / "results.json", {k: v for k, v in results.items() if k != "files"})
    return write_report(results, out)


def run_capacity(profile: CapacityProfile, precision: str = "fp32", out: Path | None = None,
                 executor: str = "local", workers: int | None = None, address: str | None = None,
                 device: str = "auto") -> dict:
    """The study on a profile object (one not in PROFILES, say): train what is missing (sweep, grid,
    reruns), measure every run, analyse, judge the claims (a plumbing profile's read not established), and
    write results.json and the report in `out`; returns every figure (results.json's dict with "files")."""
    options = CapacityOptions(precision=precision, device=device)
    out = Path(out) if out is not None else default_out(profile.name, precision)
    n_workers = 1 if executor == "local" else (workers or 2)
    results = results_of(profile, options.precision,
                         train_capacity(profile, options.precision, out, executor, n_workers, address, device))
    if profile.name in Capacity.plumbing_profiles:
        results["claims"] = [c.unjudged(f"{PLUMBING_REASON}; the rule alone reads '{c.verdict}'").to_dict()
                             for c in as_claims(results["claims"])]
    results["files"] = write_results(results, out)
    return results


BRIEF_KEYS = ("precision", "bits_per_param", "mean_ratio", "converged_share", "convergence", "sizes", "paper",
              "lr_sweep", "runs", "n_runs", "train_wall_s", "claims", "files")


def brief(results: dict) -> dict:
    """What the command prints with --json: the fit, convergence, the sizes, the claims and the files, not
    every run."""
    return {"profile": results["profile"]["name"], **{k: results[k] for k in BRIEF_KEYS if k in results}}


def _interval(ci) -> str:
    return f"95% CI {ci[0]:.2f}-{ci[1]:.2f}" if ci else "no interval"


def format_capacity(r: dict) -> str:
    """brief(results) as text."""
    fit, ratio = r["bits_per_param"]["total"], r["mean_ratio"]
    conv = r["convergence"]
    lines = [f"capacity sweep {r['profile']} ({r['precision']}): {r['runs']} runs; convergence checks (seed means) "
             f"passed by {conv['passed']}/{conv['sizes']} sizes ({r['converged_share']:.0%}); by each seed's own "
             f"cells {conv['per_seed']['passed']}/{conv['per_seed']['cells']}"]
    if fit is None:
        lines.append("bits per parameter: no converged size to fit (every size is a lower bound)")
    else:
        lines += [f"bits per parameter (all parameters), fitted slope through 0: {fit['bits_per_param']:.2f} "
                  f"({_interval(fit['ci95'])} over {fit['n_seeds']} seeds); Morris et al. fitted slope "
                  f"{PAPER['fitted_slope_bf16']} (bf16)",
                  f"mean of per-size ratios: {ratio['bits_per_param']:.2f} ({_interval(ratio['ci95'])} over "
                  f"{ratio['n']} sizes); Morris et al. {PAPER['bits_per_param_fp32']} fp32, "
                  f"{PAPER['bits_per_param_bf16']} bf16",
                  f"bits per non-embedding parameter (slope): {r['bits_per_param']['non_embedding']['bits_per_param']:.2f}"]
    for s in r["sizes"]:
        status = "converged" if s["converged"] else "LOWER BOUND (" + "; ".join(s["failed_checks"]) + ")"
        lines.append(f"  {s['size']:<8} {s['n_params_total']:>7,} params  capacity {s['capacity_bits']:>9,.0f} bits  "
                     f"{s['bits_per_param']:.2f} bits/param  lr {s['learning_rate']:g}  {status}")
    if r.get("claims"):
        lines += ["Claims:", claims_text(r["claims"], with_rule=True)]
    lines += [f"report: {f}" for f in r.get("files", {}).values()]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the study
@dataclass(frozen=True)
class CapacityOptions:
    precision: Annotated[str, Choice("fp32", "bf16")] = "fp32"
    """Training precision: fp32, or bf16 (autocast matmuls; weights and optimizer stay fp32)."""
    device: Annotated[str, DEVICE] = "auto"
    """Device for measuring the trained runs."""

    def __post_init__(self):
        settings.validate(self)


@register_study("capacity")
class Capacity(Study):
    """Capacity (Morris et al. 2025): bits per parameter of GPTs trained to convergence on random tokens.

    Trains in stages (the learning rate chosen on each size's plateau cells, then the grid, then the
    double-budget reruns), then writes results.json (every run's record), the report and the claims into
    out (default runs/capacity-PROFILE-PRECISION).
    """

    profiles = PROFILES
    Options = CapacityOptions

    def default_out(self, profile_name: str, options: CapacityOptions) -> Path:
        return default_out(profile_name, options.precision)

    def specs(self, ctx: Context) -> None:
        return None  # the grid's rates come from the sweep: `train` runs the stages

    def train(self, ctx: Context, specs: None) -> dict:
        return train_capacity(ctx.profile, ctx.options.precision, ctx.out, ctx.common.executor,
                              ctx.common.n_workers, ctx.common.address, ctx.options.device)

    def measure(self, ctx: Context, specs: None, trained: dict) -> dict:
        results = ctx.keep["results"] = results_of(ctx.profile, ctx.options.precision, trained)
        return {**{k: v for k, v in brief(results).items() if k != "claims"}, "claims": as_claims(results["claims"])}

    def write(self, ctx: Context, result: dict) -> dict[str, str]:
        return write_results({**ctx.keep["results"], "claims": result["claims"]}, ctx.out)

    def text(self, r: dict) -> str:
        return format_capacity(r)
