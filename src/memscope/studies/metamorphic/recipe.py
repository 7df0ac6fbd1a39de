"""`memscope reproduce metamorphic`: does the metamorphic method tell a memorizer from a computer, on models
whose training data it controls?

Grid, per seed s: two multiple-choice models of one size (task `choice`, options in the prompt), one on
arithmetic questions (computable) and one on capital questions (only memorizable), each with a seeded
share of its questions held out of training (task seed s); and the TBTT arithmetic models n14 and n56
(the tbtt study's quick settings for arithmetic, seed s). `sweep.run_many` trains what is missing (the
seeds of a model train together as one ensemble); then each run's final weights are scored with
metamorphic/core.py: the multiple-choice relations nota, nota-distractor and shuffle on the plain seen and
held-out items (log-likelihood of each option, acc and acc_norm), the arithmetic task relations
commutation, negation, successor and zero on the TBTT models (greedy exact match; provenance of the
rewrite from the withheld pairs). Scoring never trains; a rerun trains only what is missing.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from ... import store
from .. import Context, Study, claims_text, register_study
from ...metamorphic.core import MetamorphicSettings, check_tokenizable, score_items, task_items
from ...metamorphic.items import MCItem
from ...metamorphic.relations import MULTIPLE_CHOICE, NOTA
from ...metamorphic.stats import summarize_outcomes
from ...models.load import load_lm
from ...runconfig import load_run_config
from ...runtime import configure_cpu, resolve_device
from ...settings import Range, validate
from ...sweep import Spec
from ...train import build_run_config
from .report import write_outputs
from .tables import MC_RELATIONS, TASK_RELATIONS, claims, model_cells, run_figures, tables_markdown

log = logging.getLogger(__name__)
SOURCES = ("arithmetic", "capitals")
TBTT_SIZES = ("n14", "n56")


@dataclass(frozen=True)
class Profile:
    seeds: int
    mc_settings: dict
    """Model and training settings of both multiple-choice models (text, as on the command line)."""
    tbtt_settings: dict
    """Settings of the TBTT arithmetic models, the same for n14 and n56."""
    mc_task: dict = field(default_factory=dict)
    """Task settings of the `choice` task shared by both sources (n_choices, variants, shares)."""
    source_task: dict = field(default_factory=dict)
    """Further task settings for one source: {source: {key: value}} (the question set, never the model)."""
    n_resamples: int = 2000
    """Bootstrap resamples of each run's item-level intervals."""
    note: str = ""


def _schedule(steps: int) -> dict[str, str]:
    return {"steps": steps, "warmup_steps": steps // 10, "lr_decay_steps": steps}


TBTT_QUICK = {"batch_size": "441", **_schedule(6000)}
"""The tbtt study's quick settings for arithmetic (studies/tbtt/recipe.py, PROFILES["quick"]; a test checks
they agree): a study's recipe is imported by its own package only, so they are written out here."""
_MC_MODEL = {"n_layer": "2", "n_head": "2", "n_embd": "48", "mlp_expansion": "4"}
_MC_TRAIN = {"learning_rate": "1e-2", "min_lr": "1e-3", "weight_decay": "0.1", "batch_size": "64",
             "eval_samples": "1"}
_MC_TASK = {"variants": "8", "nota_share": "0.15", "nota_distractor_share": "0.3"}
_SOURCE_TASK = {"arithmetic": {"digits": "14", "held_out_share": "0.1"}, "capitals": {"held_out_share": "0.2"}}

PROFILES = {
    # Chosen from one-seed probe runs before the first quick run (docs/RESULTS.md, metamorphic study): width
    # 48, 2 layers, 2 heads, MLP 192, answers-only loss, AdamW lr 1e-2 (weight decay 0.1), 1,000 steps at
    # batch 64. Arithmetic over operands 0..13 (196 questions, 20 held out): at 10 operands and 20% held
    # out the model memorized (held-out accuracy at chance); at 14 operands it answers the held-out
    # questions. Capitals: 10 of 50 countries held out. The TBTT models are the tbtt study's quick
    # arithmetic settings (6,000 steps, batch 441), the same for both sizes.
    "quick": Profile(3, {**_MC_MODEL, **_MC_TRAIN, **_schedule(1000), "eval_interval": "250"},
                     TBTT_QUICK, _MC_TASK, _SOURCE_TASK,
                     note="choice task (3 options, 8 lines per seen question, NOTA the answer in 15% of lines and "
                          "a distractor in 30%; arithmetic 0..13 with 10% held out, capitals 20% held out): width "
                          "48, 2 layers, 1,000 steps at batch 64; TBTT n14 / n56 on arithmetic: 6,000 steps at "
                          "batch 441; 3 seeds"),
    # Plumbing check (tests): every table, figure and claim in seconds; shows no claim.
    "tiny": Profile(1, {**_MC_MODEL, "n_embd": "16", "n_layer": "1", "batch_size": "16", "eval_samples": "1",
                        "eval_interval": "10", **_schedule(10)},
                    {"batch_size": "16", "eval_interval": "10", "eval_samples": "1", **_schedule(10)},
                    {"variants": "2", "nota_share": "0.2", "nota_distractor_share": "0.2"},
                    {"arithmetic": {"digits": "4"}}, n_resamples=200, note="plumbing check, 10 steps"),
    # Five seeds, four times the quick schedules: about 4 x 5 / 3 of quick's training time on 2 CPU
    # cores, roughly 75 minutes from the quick run; the study logs its own estimate (timed steps) before
    # it trains.
    "paper": Profile(5, {**_MC_MODEL, **_MC_TRAIN, **_schedule(4000), "eval_interval": "500"},
                     {**TBTT_QUICK, **_schedule(24_000)},
                     _MC_TASK, _SOURCE_TASK, note="5 seeds, 4,000 multiple-choice steps, 24,000 TBTT steps"),
}


def build_specs(p: Profile, seeds: int, n_choices: str | int | None = None) -> list[Spec]:
    """mc-<source>-seed<s> and tbtt-<size>-seed<s> for every seed; n_choices (text or int) is parsed and
    checked by the task like any setting."""
    task = {"n_choices": n_choices} if n_choices is not None else {}
    specs = []
    for s in range(seeds):
        for source in SOURCES:
            overrides = {**p.mc_settings, **p.mc_task, **p.source_task.get(source, {}), **task, "source": source,
                         "task.seed": s, "train.seed": s}
            specs.append((f"mc-{source}-seed{s}", build_run_config("choice", "n14", overrides)))
        for size in TBTT_SIZES:
            specs.append((f"tbtt-{size}-seed{s}", build_run_config("arithmetic", size, {**p.tbtt_settings,
                                                                                       "seed": s})))
    return specs


# ----------------------------------------------------------------------------- scoring the runs
def score_run(run_dir: Path, settings: MetamorphicSettings) -> dict:
    """The metamorphic summary of one trained run's final weights (and, for a task run, its relations'
    items pooled, by the rewrite's provenance)."""
    task = load_run_config(run_dir).make_task()
    lm = load_lm(run_dir, settings.device)
    if task.name == "choice":
        items = [MCItem(it.question, it.choices, it.answer, it.seen, where=f"{run_dir.name} item {k}")
                 for k, it in enumerate(task.items())]
        check_tokenizable(lm, items, extra=(NOTA,))
        return {"summary": score_items(lm, MULTIPLE_CHOICE, items, list(MC_RELATIONS), settings).summary}
    names, items = task_items(task, list(TASK_RELATIONS))
    res = score_items(lm, "task", items, names, settings)
    rows = res.rows
    pooled = summarize_outcomes([r["correct_original"] for r in rows], [r["correct_rewritten"] for r in rows],
                                [r["consistent"] for r in rows], [r["seen"] for r in rows],
                                [r["rewritten_seen"] for r in rows], settings.n_resamples, settings.seed)
    return {"summary": res.summary, "pooled": {"exact_match": pooled}}


def model_of(name: str) -> str:
    return name.rsplit("-seed", 1)[0]


# ----------------------------------------------------------------------------- the study
@dataclass(frozen=True)
class MetamorphicOptions:
    n_choices: Annotated[int, Range(2, 6)] = 3
    """Options per multiple-choice question."""

    def __post_init__(self):
        validate(self)


@register_study("metamorphic")
class Metamorphic(Study):
    """Metamorphic evaluation on known truth: memorized capitals vs computed sums, TBTT n14 vs n56.

    Trains what is missing, scores every run with the metamorphic relations, then writes tables (Markdown,
    JSON), a figure and report.html into out (default runs/metamorphic-PROFILE).
    """

    profiles = PROFILES
    Options = MetamorphicOptions

    def specs(self, ctx: Context) -> list[Spec]:
        return build_specs(ctx.profile, ctx.seeds, ctx.options.n_choices)

    def measure(self, ctx: Context, specs: list[Spec], summaries: dict) -> dict:
        """Score every run's final weights with the metamorphic relations (never trains)."""
        out = ctx.out
        settings = MetamorphicSettings(device="cpu", n_resamples=ctx.profile.n_resamples)
        configure_cpu(resolve_device("cpu"), 1)
        t0 = time.perf_counter()
        scored, runs = {}, {}
        for name, rc in specs:
            scored[name] = score_run(ctx.runs_dir / name, settings)
            (out / "metamorphic").mkdir(parents=True, exist_ok=True)
            store.write_json(out / "metamorphic" / f"{name}.json", scored[name])
            by = "seen" if rc.task == "choice" else "rewritten_seen"
            runs.setdefault(model_of(name), []).append(run_figures(scored[name]["summary"], by,
                                                                   scored[name].get("pooled")))
        cells = {m: model_cells(rs) for m, rs in runs.items()}
        return {"note": ctx.profile.note, "n_choices": ctx.options.n_choices, "deciding_metric": "acc",
                "cells": cells, "runs": runs, "claims": claims(runs), "tables_md": tables_markdown(cells, ctx.seeds),
                "score_wall_s": round(time.perf_counter() - t0, 1)}

    def write(self, ctx: Context, result: dict) -> dict[str, str]:
        return write_outputs(result, ctx.out)

    def text(self, r: dict) -> str:
        """The tables, the claims and the report's path, as `memscope reproduce metamorphic` prints them."""
        claims_ = claims_text(r["claims"], with_rule=True)
        return f"{r['tables_md']}\nClaims:\n{claims_}\n\nreport: {r['files']['report']}"
