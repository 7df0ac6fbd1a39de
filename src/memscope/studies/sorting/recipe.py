"""`memscope reproduce sorting`: does a transformer that sorts unseen lists sort, or recall? (seed 004)

Recipe:
- the phase diagram: training-set size N (log-spaced) x model size (1-layer GPTs of several widths) x
  seeds, every run with learned positions; each run scored on seen and unseen lists;
- the generalization table: the largest model at the largest N with learned positions (a diagram cell) and
  with no positional encoding (NoPE), on seen, unseen, longer (up to 2x) and withheld-pair lists, beside
  the P(next | prev) and lookup baselines fitted to the same training sets;
- capacity = parameters (all, Morris et al.'s convention) x bits per parameter (memscope's own capacity
  result when one is found, else 3.6); dataset bits = N x bits per list (tasks/sorting.py's convention).
The claims and their rules live in tables.py and were fixed before any run. Training goes through
sweep.run_many (ensembles of same-shape runs, resumable); everything after reads stored runs.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from ... import store
from .. import Context, Study, claims_text, register_study
from ...sizing import bits_per_param_source
from ...runconfig import RunConfig, build_run_config
from ...tasks import make_task
from .measure import measure_baselines, measure_run
from .report import write_outputs
from .tables import analyse, claims, tables_markdown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SortingProfile:
    name: str
    n_values: int
    min_length: int
    max_length: int
    duplicates: bool
    withheld_pair: tuple[int, int]
    n_embd: tuple[int, ...]
    """Model widths (1 head per 8 channels at most 1, n_layer blocks, MLP mlp_expansion x width)."""
    n_layer: int
    mlp_expansion: int
    n_lists: tuple[int, ...]
    """Training-set sizes N, log-spaced."""
    seeds: int
    steps: int
    batch_size: int
    learning_rate: float
    measure_lists: int
    """Lists per suite when the trained runs are scored."""
    note: str = ""


def log_grid(lo: int, hi: int, n: int) -> tuple[int, ...]:
    """n sizes from lo to hi, equally spaced in log N."""
    return tuple(round(lo * (hi / lo) ** (i / (n - 1))) for i in range(n))


PROFILES = {
    # Measured under load (4 engineers on 2 cores): see docs/RESULTS.md. 4 widths (888-12,768 parameters,
    # 14x) x 6 N x 3 seeds, plus 3 NoPE runs; 1,500 steps at batch 64.
    "quick": SortingProfile("quick", n_values=10, min_length=2, max_length=6, duplicates=True,
                            withheld_pair=(3, 7), n_embd=(8, 12, 20, 32), n_layer=1, mlp_expansion=4,
                            n_lists=log_grid(32, 5792, 6), seeds=3, steps=1500, batch_size=64,
                            learning_rate=3e-3, measure_lists=256,
                            note="1-layer GPTs of width 8-32, N 32-5,792, 3 seeds, 1,500 steps at batch 64"),
    "paper": SortingProfile("paper", n_values=16, min_length=2, max_length=8, duplicates=True,
                            withheld_pair=(3, 11), n_embd=(8, 12, 16, 24, 32, 48, 64), n_layer=2,
                            mlp_expansion=4, n_lists=log_grid(64, 65536, 11), seeds=5, steps=10_000,
                            batch_size=128, learning_rate=2e-3, measure_lists=1024,
                            note="2-layer GPTs of width 8-64, N 64-65,536 (11 values), 5 seeds, 10,000 steps"),
    "tiny": SortingProfile("tiny", n_values=6, min_length=2, max_length=4, duplicates=True, withheld_pair=(1, 4),
                           n_embd=(4, 8), n_layer=1, mlp_expansion=2, n_lists=(16, 64), seeds=2, steps=60,
                           batch_size=16, learning_rate=3e-3, measure_lists=16,
                           note="plumbing check: 60 steps; shows no claim"),
}


def overrides(p: SortingProfile, n_embd: int, n_lists: int, seed: int, pos: str = "learned") -> dict[str, object]:
    """The run's settings (typed values, checked by each field as command-line text is): task, model and
    training."""
    task = {"n_lists": n_lists, "min_length": p.min_length, "max_length": p.max_length, "n_values": p.n_values,
            "duplicates": p.duplicates, "withheld_pair": tuple(p.withheld_pair),
            "seed": seed, "eval_lists": 32}
    window = 2 * p.max_length + 2  # a training line: BOS through its last output character
    settings = {**{f"task.{k}": v for k, v in task.items()},
                "model.n_embd": n_embd, "model.n_layer": p.n_layer, "model.n_head": max(1, n_embd // 16),
                "model.mlp_expansion": p.mlp_expansion, "model.pos_encoding": pos,
                "train.steps": p.steps, "train.warmup_steps": p.steps // 10, "train.lr_decay_steps": p.steps,
                "train.learning_rate": p.learning_rate, "train.min_lr": p.learning_rate / 10,
                "train.weight_decay": 0.0, "train.batch_size": p.batch_size,
                "train.eval_interval": p.steps, "train.eval_samples": 1, "train.window": window,
                "train.seed": seed}
    return settings


def run_config(p: SortingProfile, n_embd: int, n_lists: int, seed: int, pos: str = "learned") -> RunConfig:
    return build_run_config("sorting", "n14", overrides(p, n_embd, n_lists, seed, pos))


def cell_name(n_embd: int, n_lists: int, seed: int, pos: str = "learned") -> str:
    return f"{'nope-' if pos == 'none' else ''}d{n_embd}-n{n_lists}-s{seed}"


def build_specs(p: SortingProfile) -> list[tuple[str, RunConfig]]:
    """The phase diagram (learned positions) and the NoPE runs of the generalization table."""
    specs = [(cell_name(d, n, s), run_config(p, d, n, s))
             for d in p.n_embd for n in p.n_lists for s in range(p.seeds)]
    specs += [(cell_name(p.n_embd[-1], p.n_lists[-1], s, "none"), run_config(p, p.n_embd[-1], p.n_lists[-1], s, "none"))
              for s in range(p.seeds)]
    return specs


# ----------------------------------------------------------------------------- the study
@register_study("sorting")
class SortingStudy(Study):
    """Sorting: algorithm or memory? Generalization table beside two baselines, and the N x size phase diagram.

    Trains what is missing, then writes results.json, tables (Markdown, JSON), figures and report.html into
    out (default runs/sorting-PROFILE).
    """

    profiles = PROFILES

    def specs(self, ctx: Context) -> list[tuple[str, RunConfig]]:
        return build_specs(ctx.profile)

    def measure(self, ctx: Context, specs: list, summaries: dict) -> dict:
        p = ctx.profile
        timing = {"estimated_train_s": ctx.estimate_s}  # the base's estimate, kept for the report
        previous = ctx.out / "results.json"
        if not ctx.todo and previous.is_file():  # a rerun that trained nothing keeps the training's figures
            old = store.read_json(previous, "sorting results")
            timing = {"estimated_train_s": old.get("estimated_train_s"), **({"train_wall_s": old["train_wall_s"]}
                                                                             if "train_wall_s" in old else {})}
        bpp, bpp_source = bits_per_param_source()
        records = [measure_run(ctx.runs_dir / name, p.measure_lists) for name, _ in specs]
        baselines = []
        for s in range(p.seeds):  # fitted to the table's training set of each seed
            rc = dict(specs)[cell_name(p.n_embd[-1], p.n_lists[-1], s)]
            task = make_task("sorting", rc.task_params)
            baselines.append({"seed": s, **measure_baselines(task, p.measure_lists)})
        ctx.keep.update(records=records, baselines=baselines)
        result = {"profile_settings": asdict(p), "bits_per_param": bpp, "bits_per_param_source": bpp_source,
                  "bits_per_list": records[0]["bits_per_list"], **analyse(records, baselines, p, bpp), **timing}
        return {**result, "claims": claims(result)}

    def write(self, ctx: Context, result: dict) -> dict[str, str]:
        """results.json (every run's scores and the baselines too), then the tables, figures and report."""
        store.write_json(ctx.out / "results.json", {**result, **ctx.keep})
        return write_outputs(result, ctx.out)

    def text(self, r: dict) -> str:
        claims_ = claims_text(r["claims"], with_rule=True)
        return f"{tables_markdown(r)}\nClaims:\n{claims_}\n\nreport: {r['files']['report']}"
