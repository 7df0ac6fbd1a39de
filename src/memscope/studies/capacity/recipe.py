"""`memscope capacity`: how many bits a GPT stores per parameter (Morris et al. 2025), and its double descent.

Recipe: model sizes x a geometric grid of dataset sizes N (random-tokens sequences) chosen per size to
cross its expected capacity, x seeds (seed s draws dataset s and initialises model s). Every run trains
to convergence: the trainer's early stop (`stop_patience` evaluations without a `stop_rel_tol` relative
gain in training loss) under a step cap; each run records whether the criterion held before the cap.
Then, reading the stored runs only:
- memorized bits of each run (measure/capacity.py: signed sum, uniform reference, BOS unscored);
- capacity of a (size, seed) = max over N of its memorized bits (the paper's rule), plateau-checked;
- bits per parameter = per-seed least-squares slope of capacity against parameters through the origin,
  mean over seeds with a 95% t-interval; for all parameters (the paper's convention) and non-embedding;
- double descent: train and held-out loss (fresh sequences from another seed) against dataset bits /
  capacity.
Rerunning finishes only the missing runs (finished ones are skipped) and rebuilds the report.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ... import store
from .. import register_study
from ...errors import MemscopeError
from ...measure.capacity import dataset_memorization, fit_bits_per_param, plateau
from ...measure.stats import mean_sd
from ...models.lm import LanguageModel
from ...tasks import make_task
from ...runtime import configure_cpu
from ...sweep import run_many
from ...runconfig import RunConfig, build_run_config
from ...train.callbacks import convergence_step
from .report import write_report

log = logging.getLogger(__name__)

# Morris et al. 2025 (../shared/REFERENCE.md section 2): means of 16 configurations, all parameters.
PAPER = {"bits_per_param_bf16": 3.51, "bits_per_param_fp32": 3.83, "fitted_slope_bf16": 3.64,
         "range_bf16": [2.86, 3.94], "range_fp32": [3.02, 4.23], "headline": 3.6,
         "parameter_convention": "total"}
CONVENTIONS = ("total", "non_embedding")
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
    n_sequences: tuple[int, ...]
    """Geometric grid of dataset sizes N; each model trains on the ones that cross its capacity."""
    expected_bits_per_param: float
    """Prior used only to pick each model's N (see points_per_size)."""
    ratio_from: float
    points_per_size: int
    """Each model trains on the first points_per_size grid values of N whose dataset bits are at least
    ratio_from x its expected capacity (expected_bits_per_param x all parameters)."""
    seeds: int
    steps: int
    """Step cap."""
    learning_rate: float
    warmup_steps: int
    eval_interval: int
    stop_patience: int
    stop_rel_tol: float
    heldout_sequences: int
    batch_size: int | None = None
    """Windows per step; None: the task's min(N, 128)."""
    note: str = ""

    def __post_init__(self):
        if len(set(self.n_embd)) != len(self.n_embd) or not self.n_embd:
            raise MemscopeError(f"profile {self.name}: n_embd must list distinct widths")
        if self.seeds < 1:
            raise MemscopeError(f"seeds={self.seeds} must be at least 1", param="seeds")


def geometric_grid(lo: int, hi: int, per_octave: int) -> tuple[int, ...]:
    """Dataset sizes from lo to hi, per_octave steps per doubling, rounded to whole sequences."""
    k0, k1 = round(per_octave * math.log2(lo)), round(per_octave * math.log2(hi))
    return tuple(sorted({round(2 ** (k / per_octave)) for k in range(k0, k1 + 1)}))


PROFILES = {
    "quick": CapacityProfile(
        name="quick", vocab_size=16, length=16, n_embd=(3, 5, 8, 13, 22), n_layer=1, mlp_expansion=4,
        n_sequences=geometric_grid(4, 1024, 2), expected_bits_per_param=1.8, ratio_from=0.6,
        points_per_size=6, seeds=2, steps=3000, learning_rate=1e-2, warmup_steps=100, eval_interval=250,
        stop_patience=4, stop_rel_tol=0.01, heldout_sequences=256,
        note="CPU, about 10 minutes one run after another: 5 sizes (219-6,622 parameters) x 6 N x 2 seeds; "
             "the 3,000-step cap leaves most runs short of the stop criterion, so capacity is a lower bound"),
    "paper": CapacityProfile(
        name="paper", vocab_size=32, length=32, n_embd=(8, 16, 24, 32, 48, 64), n_layer=2, mlp_expansion=4,
        n_sequences=geometric_grid(8, 65536, 2), expected_bits_per_param=3.0, ratio_from=0.35,
        points_per_size=7, seeds=3, steps=100_000, learning_rate=3e-3, warmup_steps=500, eval_interval=1000,
        stop_patience=5, stop_rel_tol=0.005, heldout_sequences=1024, batch_size=256,
        note="6 sizes (2,104-102,848 parameters), 2 layers, 160-bit sequences, up to 100,000 steps: a GPU job"),
    "tiny": CapacityProfile(
        name="tiny", vocab_size=16, length=16, n_embd=(4, 8, 16), n_layer=1, mlp_expansion=4,
        n_sequences=geometric_grid(4, 512, 2), expected_bits_per_param=1.8, ratio_from=0.9,
        points_per_size=3, seeds=2, steps=1000, learning_rate=1e-2, warmup_steps=50, eval_interval=250,
        stop_patience=4, stop_rel_tol=0.01, heldout_sequences=128,
        note="a smoke test of the whole pipeline (about 2 minutes on CPU); not a measurement"),
}


def get_profile(name: str) -> CapacityProfile:
    if name not in PROFILES:
        raise MemscopeError(f"unknown capacity profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]


def default_out(profile: CapacityProfile, precision: str) -> Path:
    return Path("runs") / f"capacity-{profile.name}-{precision}"


# ----------------------------------------------------------------------------- the grid
def run_config(p: CapacityProfile, n_embd: int, n_sequences: int, seed: int, precision: str) -> RunConfig:
    overrides = {
        "task.vocab_size": p.vocab_size, "task.length": p.length, "task.n_sequences": n_sequences,
        "task.seed": seed, "task.recall_prompts": 16,
        "model.n_embd": n_embd, "model.n_layer": p.n_layer, "model.n_head": 1,
        "model.mlp_expansion": p.mlp_expansion,
        "train.steps": p.steps, "train.learning_rate": p.learning_rate, "train.min_lr": p.learning_rate / 100,
        "train.warmup_steps": p.warmup_steps, "train.lr_decay_steps": p.steps,
        "train.eval_interval": p.eval_interval, "train.eval_samples": 1,
        "train.stop_patience": p.stop_patience, "train.stop_rel_tol": p.stop_rel_tol,
        "train.precision": precision, "train.seed": seed}
    if p.batch_size is not None:
        overrides["train.batch_size"] = p.batch_size
    return build_run_config("random-tokens", "n14", {k: str(v) for k, v in overrides.items()})


def n_params(rc: RunConfig, convention: str) -> int:
    from ...models.gpt import GPT
    with torch.device("meta"):  # shapes only
        return GPT(rc.model).count_params(convention)


def dataset_grid(p: CapacityProfile, n_params_total: int) -> list[int]:
    """The profile's N for one model: points_per_size grid values from ratio_from x expected capacity up."""
    bits_per_seq = p.length * math.log2(p.vocab_size)
    expected = p.expected_bits_per_param * n_params_total
    return [n for n in p.n_sequences if n * bits_per_seq >= p.ratio_from * expected][: p.points_per_size]


def run_name(n_embd: int, n_layer: int, n_sequences: int, seed: int) -> str:
    return f"d{n_embd}-l{n_layer}-n{n_sequences}-s{seed}"


def build_specs(p: CapacityProfile, precision: str) -> list[tuple[str, RunConfig]]:
    """Every (name, RunConfig) of the sweep, small models first."""
    specs = []
    for d in p.n_embd:
        params = n_params(run_config(p, d, p.n_sequences[0], 0, precision), "total")
        grid = dataset_grid(p, params)
        if len(grid) < 2:
            raise MemscopeError(f"profile {p.name}: width {d} ({params} parameters) gets {len(grid)} dataset "
                                "size(s) from the grid; extend n_sequences")
        for seed in range(p.seeds):
            for n in grid:
                specs.append((run_name(d, p.n_layer, n, seed), run_config(p, d, n, seed, precision)))
    return specs


# ----------------------------------------------------------------------------- measuring stored runs
def measure_run(run_dir: Path, heldout_sequences: int, device: str = "auto") -> dict:
    """One run's record: memorized bits on its training set, train and held-out loss, convergence."""
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
    conv = convergence_step([(h["step"], h.get("train_loss")) for h in history], cfg.stop_patience,
                            cfg.stop_rel_tol)
    return {
        "name": run_dir.name, "n_embd": rc.model.n_embd, "n_layer": rc.model.n_layer, "seed": task.seed,
        "n_sequences": task.n_sequences, "n_params_total": model.count_params("total"),
        "n_params_non_embedding": model.count_params("non_embedding"),
        "dataset_bits": mem.entropy_bits, "ceiling_bits": mem.ceiling_bits,
        "memorized_bits": mem.signed_bits, "memorized_clipped_bits": mem.clipped_bits,
        "train_loss_bits_per_token": mem.loss_bits_per_token,
        "heldout_loss_bits_per_token": held_mem.loss_bits_per_token,
        "steps_trained": step, "step_cap": cfg.steps, "stopped_step": summary.get("stopped_step"),
        "convergence_step": conv, "converged": conv is not None and conv < cfg.steps,
        "wall_s": summary.get("wall_s"),
    }


# ----------------------------------------------------------------------------- analysis
def _size_key(r: dict) -> str:
    return f"d{r['n_embd']}-l{r['n_layer']}"


def analyse(records: list[dict], log2_vocab: float) -> dict:
    """Capacities, bits per parameter (both conventions) and the double-descent table from run records."""
    by_size_seed: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in records:
        by_size_seed[(_size_key(r), r["seed"])].append(r)
    capacities = []
    for (size, seed), rs in sorted(by_size_seed.items(), key=lambda kv: (kv[1][0]["n_params_total"], kv[0][1])):
        pl = plateau([(r["n_sequences"], r["memorized_bits"]) for r in rs])
        capacities.append({"size": size, "seed": seed, "n_embd": rs[0]["n_embd"],
                           "n_params_total": rs[0]["n_params_total"],
                           "n_params_non_embedding": rs[0]["n_params_non_embedding"], **asdict(pl),
                           "converged_runs": sum(r["converged"] for r in rs), "runs": len(rs)})
    fits = {}
    for conv in CONVENTIONS:
        per_seed: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for c in capacities:
            per_seed[c["seed"]].append((c[f"n_params_{conv}"], c["capacity_bits"]))
        fits[conv] = fit_bits_per_param(per_seed)
    sizes = _per_size(capacities)
    return {"capacities": capacities, "sizes": sizes, "bits_per_param": fits,
            "double_descent": _double_descent(records, sizes, log2_vocab),
            "converged_runs": sum(r["converged"] for r in records), "runs": len(records)}


def _per_size(capacities: list[dict]) -> list[dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for c in capacities:
        groups[c["size"]].append(c)
    out = []
    for size, cs in groups.items():
        mean, sd = mean_sd([c["capacity_bits"] for c in cs])
        out.append({"size": size, "n_embd": cs[0]["n_embd"], "n_params_total": cs[0]["n_params_total"],
                    "n_params_non_embedding": cs[0]["n_params_non_embedding"], "capacity_bits": mean,
                    "capacity_sd_bits": sd, "bits_per_param": mean / cs[0]["n_params_total"],
                    "plateau_reached": all(c["reached"] for c in cs),
                    "at_n_sequences": sorted(c["at_n_sequences"] for c in cs),
                    "converged_runs": sum(c["converged_runs"] for c in cs), "runs": sum(c["runs"] for c in cs)})
    return sorted(out, key=lambda s: s["n_params_total"])


def _double_descent(records: list[dict], sizes: list[dict], log2_vocab: float) -> dict:
    """Mean (over seeds) train and held-out loss per (size, N) against dataset bits / measured capacity."""
    capacity = {s["size"]: s["capacity_bits"] for s in sizes}
    cells: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in records:
        cells[(_size_key(r), r["n_sequences"])].append(r)
    points = []
    for (size, n), rs in sorted(cells.items()):
        mean = lambda k: sum(r[k] for r in rs) / len(rs)  # noqa: E731
        points.append({"size": size, "n_sequences": n, "ratio": mean("dataset_bits") / capacity[size],
                       "train_loss_bits_per_token": mean("train_loss_bits_per_token"),
                       "heldout_loss_bits_per_token": mean("heldout_loss_bits_per_token")})
    peaks = {}
    for size in capacity:
        pts = [p for p in points if p["size"] == size]
        peak = max(pts, key=lambda p: p["heldout_loss_bits_per_token"])
        peaks[size] = {"ratio": peak["ratio"], "n_sequences": peak["n_sequences"],
                       "heldout_loss_bits_per_token": peak["heldout_loss_bits_per_token"],
                       "at_smallest_n": peak["n_sequences"] == min(p["n_sequences"] for p in pts)}
    return {"points": points, "peaks": peaks, "uniform_floor_bits_per_token": log2_vocab}


# ----------------------------------------------------------------------------- the command
def run_capacity(profile: CapacityProfile, precision: str = "fp32", out: Path | None = None,
                 executor: str = "local", workers: int | None = None, address: str | None = None,
                 device: str = "auto") -> dict:
    """Train what is missing, measure every run, fit, and write results.json + the report in `out`."""
    if precision not in ("fp32", "bf16"):
        raise MemscopeError(f"precision={precision!r} must be fp32 or bf16", param="precision")
    out = Path(out) if out is not None else default_out(profile, precision)
    specs = build_specs(profile, precision)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    log.info("capacity %s (%s): %d runs in %s", profile.name, precision, len(specs), runs_dir)
    run_many(specs, runs_dir, executor=executor, workers=workers, address=address)
    records = [measure_run(runs_dir / name, profile.heldout_sequences, device) for name, _ in specs]
    results = {"profile": asdict(profile), "precision": precision, "paper": PAPER,
               **analyse(records, math.log2(profile.vocab_size)), "records": records}
    store.write_json(out / "results.json", results)
    results["files"] = write_report(results, out)
    return results


def with_seeds(profile: CapacityProfile, seeds: int | None) -> CapacityProfile:
    return profile if seeds is None else replace(profile, seeds=seeds)


def brief(results: dict) -> dict:
    """What the command prints with --json: the fit, the sizes and the files, not every run's record."""
    keep = ("precision", "bits_per_param", "sizes", "paper", "runs", "converged_runs", "files")
    return {"profile": results["profile"]["name"], **{k: results[k] for k in keep}}


def format_capacity(r: dict) -> str:
    """brief(results) as text."""
    fit = r["bits_per_param"]["total"]
    ci, pooled = fit["ci95"], fit["pooled_through_origin"]["ci95"]
    ci_text = (f" (95% CI over {fit['n_seeds']} seeds {ci[0]:.2f}-{ci[1]:.2f}" if ci else " (one seed: no seed interval")
    if pooled:
        ci_text += f"; pooled over sizes and seeds {pooled[0]:.2f}-{pooled[1]:.2f}"
    ci_text += ")"
    lines = [f"capacity sweep {r['profile']} ({r['precision']}): {r['runs']} runs, "
             f"{r['converged_runs']} met the stop criterion before the step cap",
             f"bits per parameter (all parameters): {fit['bits_per_param']:.2f}{ci_text}; paper: "
             f"{PAPER['bits_per_param_fp32']} fp32, {PAPER['bits_per_param_bf16']} bf16",
             f"bits per non-embedding parameter: {r['bits_per_param']['non_embedding']['bits_per_param']:.2f}"]
    for s in r["sizes"]:
        lines.append(f"  {s['size']:<8} {s['n_params_total']:>7,} params  capacity {s['capacity_bits']:>9,.0f} bits  "
                     f"{s['bits_per_param']:.2f} bits/param  plateau {'reached' if s['plateau_reached'] else 'at grid edge'}")
    lines += [f"report: {f}" for f in r["files"].values()]
    return "\n".join(lines)


@register_study("capacity", profiles=PROFILES, text=format_capacity,
                options={"precision": "fp32 or bf16 (autocast matmuls); default fp32",
                         "device": "device for measuring the trained runs (default auto)"})
def reproduce(profile: str = "quick", seeds: int | None = None, out: Path | None = None, executor: str = "local",
              workers: int | None = None, address: str | None = None, *, precision: str = "fp32",
              device: str = "auto") -> dict:
    """Capacity (Morris et al. 2025): bits per parameter of GPTs trained on random tokens, double descent.

    Writes results.json (every run's record) and the report into out (default
    runs/capacity-PROFILE-PRECISION); returns brief(results).
    """
    p = with_seeds(get_profile(profile), seeds)
    return brief(run_capacity(p, precision, out, executor=executor, workers=workers, address=address,
                              device=device))
