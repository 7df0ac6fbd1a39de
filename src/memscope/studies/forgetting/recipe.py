"""`memscope reproduce forgetting`: what one pass leaves behind, and what replay keeps (seed 003).

Every run has two phases, every exposure exact (`epochs` sampler, exposures.json):
- phase 1, pretraining, E1 epochs of: filler (random-token lines) with tagged canaries inserted d times,
  d in `repeats` (`canaries_per_repeat` canaries each) and held-out canaries (d = 0, never inserted), as
  the main task; the facts task and an arithmetic share, each with a share chosen so that every facts line
  is seen exactly once per epoch and arithmetic fills `arithmetic_rows` rows per epoch;
- phase 2, continued pretraining (fresh AdamW moments, the learning rate re-warmed and re-decayed:
  Ibrahim et al. 2024), E2 epochs of new filler and new facts, plus a replay share r of phase-1 data (its
  three tasks in their phase-1 proportions) so that r of phase 2's rows are replay, r in `replay_shares`;
  r = 0 replays nothing. The replay rows come on top of the new data (a run with r = 0.25 is 1/3 longer).
The `memory` monitor (monitors/memory.py) logs canary exposure by exact rank, greedy extraction,
secret likelihoods, facts recall and arithmetic accuracy at every evaluation. Runs with different r share
phase 1 exactly (same seed, same data order), so each reads its phase-1 figures from its own log.
Seed s draws the data (filler, canaries, facts) and initialises the model. Tables, claims (rules fixed in
tables.py before any run) and the report are built from stored runs only; a rerun trains only what is
missing.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ... import store
from .. import Context, Study, claims_text, register_study
from ...data.phases import phase_plan
from ...errors import ConfigError
from ...runconfig import RunConfig, build_run_config
from ...sweep import Spec
from .report import write_outputs
from .tables import analyse, claims, tables_markdown

log = logging.getLogger(__name__)
PHASE2_SEED = 7_919
"""Phase 2's filler and facts for seed s are drawn with seed PHASE2_SEED + s (never a phase-1 seed)."""
ARITHMETIC_LINES = 196


@dataclass(frozen=True)
class ForgettingProfile:
    name: str
    sizes: tuple[tuple[int, int], ...]
    """(n_embd, n_layer) per model size; 2 heads, MLP 4 x n_embd."""
    seeds: int
    repeats: tuple[int, ...]
    """Insertions d per canary in phase 1 (per epoch)."""
    canaries_per_repeat: int
    held_out_canaries: int
    secret_digits: int
    filler_lines: int
    filler_length: int
    filler_vocab: int
    facts_entities: int
    facts_repeats: int
    """Rows per facts line per epoch (both phases): facts are seen facts_repeats x epochs times."""
    arithmetic_repeats: int
    """Rows per arithmetic line per phase-1 epoch (the 196 lines cycled)."""
    epochs_phase1: int
    filler_lines_phase2: int
    facts_entities_phase2: int
    epochs_phase2: int
    replay_shares: tuple[float, ...]
    batch_size: int
    learning_rate: float
    warmup_steps: int
    evals_phase2: int
    """Evaluations in phase 2 (the forgetting curves' points); phase 1 is evaluated as often."""
    note: str = ""

    def __post_init__(self):
        if len(self.sizes) < 1 or self.seeds < 1:
            raise ConfigError(f"profile {self.name}: needs a model size and a seed")
        if any(not 0.0 <= r < 0.5 for r in self.replay_shares) or 0.0 not in self.replay_shares:
            raise ConfigError(f"profile {self.name}: replay shares must lie in [0, 0.5) and include 0")


PROFILES = {
    "quick": ForgettingProfile(
        name="quick", sizes=((12, 1), (24, 1), (48, 1)), seeds=3, repeats=(1, 2, 4, 8, 16, 32),
        canaries_per_repeat=8, held_out_canaries=16, secret_digits=3, filler_lines=8192, filler_length=16,
        filler_vocab=10, facts_entities=32, facts_repeats=24, arithmetic_repeats=32, epochs_phase1=2,
        filler_lines_phase2=4096, facts_entities_phase2=32, epochs_phase2=2, replay_shares=(0.0, 0.01, 0.05, 0.25), batch_size=32,
        learning_rate=1e-2, warmup_steps=50, evals_phase2=4,
        note="CPU: 3 sizes x 4 replay shares x 3 seeds (36 runs, ensembles of the seeds)"),
    "paper": ForgettingProfile(
        name="paper", sizes=((32, 1), (64, 2), (128, 4), (256, 4)), seeds=5, repeats=(1, 2, 4, 8, 16, 32),
        canaries_per_repeat=8, held_out_canaries=16, secret_digits=4, filler_lines=131072, filler_length=16,
        filler_vocab=10, facts_entities=512, facts_repeats=32, arithmetic_repeats=64, epochs_phase1=1,
        filler_lines_phase2=65536, facts_entities_phase2=512, epochs_phase2=2,
        replay_shares=(0.0, 0.01, 0.05, 0.25), batch_size=128, learning_rate=3e-3, warmup_steps=100,
        evals_phase2=12,
        note="one pass (E1 = 1) over 131k filler lines, 4 sizes (15,200-3,170,560 parameters), 5 seeds: a GPU job"),
    "tiny": ForgettingProfile(
        name="tiny", sizes=((8, 1), (16, 1)), seeds=2, repeats=(1, 8), canaries_per_repeat=2,
        held_out_canaries=2, secret_digits=2, filler_lines=64, filler_length=8, filler_vocab=10,
        facts_entities=8, facts_repeats=2, arithmetic_repeats=1, epochs_phase1=2, filler_lines_phase2=64,
        facts_entities_phase2=8, epochs_phase2=2, replay_shares=(0.0, 0.25), batch_size=32,
        learning_rate=1e-2, warmup_steps=2, evals_phase2=2, note="plumbing check (tests); shows no claim"),
}


# ----------------------------------------------------------------------------- the grid
def phase1_tasks(p: ForgettingProfile, seed: int) -> list[dict]:
    """Phase 1's tasks: canaries + filler (main), facts and arithmetic with shares that give every facts
    line one row per epoch and arithmetic p.arithmetic_rows rows (data/samplers.rows_per_epoch)."""
    canaries = {"n_sequences": p.filler_lines, "length": p.filler_length, "vocab_size": p.filler_vocab,
                "secret_digits": p.secret_digits, "repeats": [d for d in p.repeats for _ in range(p.canaries_per_repeat)],
                "held_out": p.held_out_canaries, "seed": seed, "tagged": True}
    n_main = p.filler_lines + p.canaries_per_repeat * sum(p.repeats)
    n_facts = 2 * p.facts_entities * p.facts_repeats  # two attributes
    n_arith = ARITHMETIC_LINES * p.arithmetic_repeats
    total = n_main + n_facts + n_arith
    return [{"task": "canaries", "params": canaries},
            {"task": "facts", "params": {"n_entities": p.facts_entities, "seed": seed}, "share": n_facts / total},
            {"task": "arithmetic", "params": {}, "share": n_arith / total}]


def phase2_tasks(p: ForgettingProfile, seed: int, replay: float) -> list[dict]:
    """Phase 2's tasks: new filler (main) and new facts, and phase 1's tasks sharing `replay` of the rows in
    their phase-1 proportions."""
    phase1 = phase1_tasks(p, seed)
    n_facts = 2 * p.facts_entities_phase2 * p.facts_repeats
    n_new = p.filler_lines_phase2 + n_facts
    tasks = [{"task": "random-tokens", "params": {"n_sequences": p.filler_lines_phase2, "length": p.filler_length,
                                                  "vocab_size": p.filler_vocab, "seed": PHASE2_SEED + seed,
                                                  "recall_prompts": 0}},
             {"task": "facts", "params": {"n_entities": p.facts_entities_phase2, "seed": PHASE2_SEED + seed},
              "share": (1 - replay) * n_facts / n_new}]
    if replay > 0:
        main_share = 1 - sum(t["share"] for t in phase1[1:])
        for t, share in zip(phase1, [main_share] + [t["share"] for t in phase1[1:]]):
            tasks.append({**t, "share": replay * share})
    return tasks


def run_config(p: ForgettingProfile, size: tuple[int, int], seed: int, replay: float) -> RunConfig:
    phases = [{"name": "pretrain", "epochs": p.epochs_phase1, "tasks": phase1_tasks(p, seed)},
              {"name": "continue", "epochs": p.epochs_phase2, "restart": True,
               "tasks": phase2_tasks(p, seed, replay)}]
    n_embd, n_layer = size
    overrides = {"model.n_embd": n_embd, "model.n_layer": n_layer, "model.n_head": 2, "model.mlp_expansion": 4,
                 "train.sampler": "epochs", "train.batch_size": p.batch_size,
                 "train.learning_rate": p.learning_rate, "train.min_lr": p.learning_rate / 10,
                 "train.warmup_steps": p.warmup_steps, "train.lr_decay_steps": p.warmup_steps,
                 "train.callbacks": "memory", "train.eval_samples": 1, "train.seed": seed}
    # the schedule (decay over phase 1, re-warmed and re-decayed in phase 2) and the evaluation cadence come
    # from the run without replay, so that runs differing only in r share phase 1 exactly
    plain = [phases[0], {**phases[1], "tasks": phase2_tasks(p, seed, 0.0)}]
    plan = phase_plan(build_run_config(None, "n14", overrides, plain))
    overrides["train.lr_decay_steps"] = plan[0].steps
    overrides["train.eval_interval"] = max(1, plan[1].steps // p.evals_phase2)
    return build_run_config(None, "n14", overrides, phases)


def run_name(size: tuple[int, int], replay: float, seed: int) -> str:
    return f"d{size[0]}-l{size[1]}-r{round(replay * 1000):03d}-s{seed}"


def build_specs(p: ForgettingProfile) -> list[Spec]:
    return [(run_name(size, r, seed), run_config(p, size, seed, r))
            for size in p.sizes for r in p.replay_shares for seed in range(p.seeds)]


def records_of(specs: list[Spec], runs_dir: Path) -> list[dict]:
    """What the analysis needs from each stored run: its grid point, metrics, phases and exposure counts."""
    out = []
    for name, rc in specs:
        d = runs_dir / name
        summary = store.read_json(d / store.SUMMARY, "summary")
        out.append({"name": name, "rc": rc, "history": store.read_metrics(d / store.METRICS),
                    "summary": summary, "exposures": store.read_json(d / "exposures.json", "exposures")})
    return out


# ----------------------------------------------------------------------------- the study
@register_study("forgetting")
class Forgetting(Study):
    """Exposure and forgetting: canaries by duplication, facts, skill; continued pretraining with replay.

    Trains what is missing, then writes tables (Markdown, JSON), figures and report.html into out
    (default runs/forgetting-PROFILE).
    """

    profiles = PROFILES

    def specs(self, ctx: Context) -> list[Spec]:
        return build_specs(ctx.profile)

    def estimate_s(self, ctx: Context, todo: list[Spec]) -> float:
        """Seconds the missing runs should take on this machine, measured before training starts: their
        training steps (the base estimate) plus one timed `memory` evaluation of each model size times each
        run's evaluations; shared among the workers."""
        from ...models.gpt import GPT
        from ...runtime import resolve_device
        from ...train.callbacks import EvalContext
        from ...monitors.memory import MemoryMonitor
        eval_s: dict[tuple, float] = {}
        total = super().estimate_s(ctx, todo) * ctx.common.n_workers
        for _, rc in todo:
            key = (rc.model.n_embd, rc.model.n_layer)
            if key not in eval_s:
                gpt = GPT(rc.model).to(resolve_device(rc.train.device)).eval()
                t0 = time.perf_counter()
                MemoryMonitor(rc).on_eval(EvalContext(0, gpt, rc, rc.eval_tasks(), rc.vocab(), [], {}, Path("."), {}))
                eval_s[key] = time.perf_counter() - t0
            total += (phase_plan(rc)[-1].end // rc.train.eval_interval + 3) * eval_s[key]
        return total / ctx.common.n_workers

    def measure(self, ctx: Context, specs: list[Spec], summaries: dict) -> dict:
        results = analyse(records_of(specs, ctx.runs_dir), ctx.profile)
        results["note"] = ctx.profile.note
        results["claims"] = claims(results)
        results["markdown"] = tables_markdown(results)
        ctx.keep["points"] = results.pop("points")  # every run's curve goes to results.json, not the printed result
        return results

    def write(self, ctx: Context, result: dict) -> dict[str, str]:
        return write_outputs({**result, "points": ctx.keep["points"]}, ctx.out)

    def text(self, r: dict) -> str:
        """The tables, the claims and the report's path, as `memscope reproduce forgetting` prints them."""
        claims_ = claims_text(r["claims"], with_rule=True)
        return f"{r['markdown']}\nClaims:\n{claims_}\n\nreport: {r['files']['report']}"
