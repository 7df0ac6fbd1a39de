"""The training loop: runs of one group trained at once through their phases, with callbacks at each
evaluation, checkpoints, and exact resume.

A single run is the group of one. Every eval_interval steps, and at the end of every phase, each run is
evaluated by its callbacks (train/callbacks.py), logged in metrics.jsonl and checkpointed; with resume,
runs continue from their checkpoints (anywhere inside any phase) and end with the figures and weights of
an uninterrupted run (CPU, same seeds). A finished run resumed with more steps is continued by a phase
appended to its config.json (_resumed), its metrics appended to.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import torch

from .. import store
from ..config import RUNTIME_FIELDS, TrainConfig, to_dict
from ..data.phases import PhasePlan, phase_plan, plan_signature
from ..data.samplers import PhaseBatches, make_source
from ..errors import MemscopeError, escape
from ..models.ensemble import EnsembleGPT, ensemble_step, make_ensemble_optimizer
from ..runconfig import PhaseConfig, RunConfig, build_run_config, load_run_config, same_config
from ..progress import progress
from ..runtime import configure_cpu, resolve_device
from .callbacks import EvalContext, make_callbacks
from .checkpoint import load_checkpoints, nonfinite, save_checkpoint
from .summary import brief, summarize

__all__ = ["RunConfig", "build_run_config", "load_run_config", "train", "train_group", "group_key", "lr_at",
           "brief", "make_batches"]

log = logging.getLogger(__name__)
EXPOSURES = "exposures.json"


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then nanoGPT's cosine decay to min_lr at lr_decay_steps (lr_schedule=cosine), or the
    peak held until the last cooldown_steps before lr_decay_steps and a linear decay to min_lr over them
    (wsd); min_lr after lr_decay_steps."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_steps + 1)
    if cfg.lr_schedule == "wsd":
        start = cfg.lr_decay_steps - cfg.cooldown_steps
        if step < start:
            return cfg.learning_rate
        if step >= cfg.lr_decay_steps:
            return cfg.min_lr
        return cfg.learning_rate + (step - start) / cfg.cooldown_steps * (cfg.min_lr - cfg.learning_rate)
    if step > cfg.lr_decay_steps or cfg.lr_decay_steps == cfg.warmup_steps:
        return cfg.min_lr
    ratio = (step - cfg.warmup_steps) / (cfg.lr_decay_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.learning_rate - cfg.min_lr)


def group_key(rc: RunConfig) -> str:
    """Runs with equal keys can train together as one ensemble: one model shape, one schedule and one data
    plan; they may differ in seed and in task parameters that keep the vocabulary and the plan (withheld
    pairs, dataset contents, ...)."""
    train = {k: v for k, v in to_dict(rc.train).items() if k != "seed"}
    return json.dumps({"model": to_dict(rc.model), "train": train, "plan": plan_signature(rc)}, sort_keys=True)


class _Member:
    """One run of a group: its config, tasks, directory, callbacks and evaluation history."""

    def __init__(self, rc: RunConfig, out_dir: Path):
        self.rc, self.out_dir = rc, Path(out_dir)
        self.tasks = rc.eval_tasks()
        self.vocab = rc.vocab()
        self.callbacks = make_callbacks(rc)
        self.history: list[dict] = []
        self.done = False
        self.stopped_step: int | None = None
        self.exposure: dict[str, torch.Tensor] = {}
        """Exposure counts of the phases so far, `exposure.<phase>.<task>` -> (lines,)."""

    def path(self, name: str) -> Path:
        return self.out_dir / name


def _holds_run(out_dir: Path) -> bool:
    return out_dir.is_dir() and any(p.name != store.LOCK for p in out_dir.iterdir())


def _check_dir(rc: RunConfig, out_dir: Path, resume: bool) -> tuple[RunConfig, bool]:
    """Refuse, before anything is written or locked, a directory that cannot take this run: a file, a link
    to nothing, files without a run's config.json, a damaged config.json or summary.json. Returns the config
    to train (see _resumed) and whether it continues a finished run."""
    if out_dir.is_symlink() and not out_dir.exists():
        raise MemscopeError(f"{escape(out_dir)} is a link to nothing: remove it or choose another --out")
    if out_dir.exists() and not out_dir.is_dir():
        raise MemscopeError(f"{escape(out_dir)} is a file, not a run directory")
    if _holds_run(out_dir):
        if not resume:
            raise MemscopeError(f"{escape(out_dir)} already holds files; pass --resume to continue the run there "
                                "or choose another --out")
        if not store.safe_path(out_dir, store.CONFIG).is_file():
            raise MemscopeError(f"{escape(out_dir)} holds files but no {store.CONFIG}: it is not a run, or a damaged "
                                "one; choose another --out (or remove the directory)")
        old = load_run_config(out_dir)
        diffs = [d for d in same_config(old.base(), rc) if d not in ("train.steps", "train.continue_lr")]
        if diffs:
            raise MemscopeError(f"{escape(out_dir)} holds a run with other settings ({', '.join(diffs[:5])}); "
                                "choose another --out")
        summary = store.read_summary(out_dir) if store.safe_path(out_dir, store.SUMMARY).is_file() else None
        return _resumed(old, rc, out_dir, summary)
    return rc, False


def _resumed(old: RunConfig, rc: RunConfig, out_dir: Path, summary: dict | None) -> tuple[RunConfig, bool]:
    """The config that resumes the run in out_dir (`old`, as its config.json holds it) when asked with rc
    (equal to the run as first configured but for steps, continue_lr and runtime fields): the run itself,
    or, when rc asks a finished run for more steps, the run with a phase appended that continues it on its
    last phase's tasks for the steps added, its learning rate held at the run's last one (continue_lr=
    constant) or its schedule restarted with fresh AdamW moments (rewarm: a phase with restart)."""
    plan, base = phase_plan(old), old.base()
    total = plan[-1].end
    runtime = {f: getattr(rc.train, f) for f in RUNTIME_FIELDS}
    asked = rc.train.steps if rc.train.steps != base.train.steps else None  # steps the run is asked to have
    if asked is None or asked == total:
        return (replace(old, train=replace(old.train, **runtime)) if old.continued else rc), False
    where = escape(out_dir)
    if asked < total:
        raise MemscopeError(f"{where}: the run already has {total} steps; steps={asked} does not continue it "
                            "(give more steps, or choose another --out)")
    if summary is None or summary["steps"] != total:
        raise MemscopeError(f"{where}: the run has not finished its {total} steps; resume it as it is (plain "
                            f"--resume) before continuing it to {asked}")
    if summary.get("stopped_step") is not None:
        raise MemscopeError(f"{where}: the run stopped early at step {summary['stopped_step']} (stop_patience); "
                            "it cannot be continued")
    how, last = rc.train.continue_lr, plan[-1]
    phase = PhaseConfig(old.phase_list()[-1].tasks, f"continue{len(old.continued) + 1}", steps=asked - total,
                        restart=how == "rewarm",
                        constant_lr=_lr(plan, last, total - 1, old.train) if how == "constant" else None)
    train = replace(old.train, continue_lr=how, **runtime)
    return replace(old, train=train, continued=old.continued + (phase,)), True


def _prepare_dir(rc: RunConfig, out_dir: Path, extends: bool = False) -> dict | None:
    """Under the run's lock: the summary of a run that is already complete; else the temporary files of a
    write that a kill interrupted are removed and a new run's config.json is written (a resumed run keeps
    its own: _check_dir found it equal but for runtime settings; a continued one gets its new phase, and
    then loses the summary of its earlier steps)."""
    stale = False
    if store.safe_path(out_dir, store.SUMMARY).is_file():
        summary = store.read_summary(out_dir)
        stale = bool(rc.continued) and summary["steps"] < phase_plan(rc)[-1].end
        if not stale:
            return summary
    for tmp in out_dir.glob(".*.tmp"):
        if tmp.is_symlink() or not tmp.is_dir():
            tmp.unlink()
    if extends or not store.safe_path(out_dir, store.CONFIG).is_file():
        store.write_json(out_dir / store.CONFIG, rc.to_dict())
    if stale:  # after config.json: a kill in between leaves a continued run that a resume finishes
        (out_dir / store.SUMMARY).unlink()
    return None


def _remove_unstarted(out_dir: Path, created: bool) -> None:
    """A new run that failed before its first checkpoint leaves nothing: a rerun starts it afresh."""
    if (out_dir / store.CHECKPOINT).is_file():
        return
    for name in (store.CONFIG, store.METRICS, store.BEST, store.LOCK):
        (out_dir / name).unlink(missing_ok=True)
    if created and out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()


def make_batches(rcs: list[RunConfig], device: torch.device, phase: PhasePlan | None = None,
                 generators: list[torch.Generator] | None = None) -> PhaseBatches:
    """The batches of one phase (default the first) for runs of one group: run k reads its own tasks with
    a generator seeded by its own seed."""
    phase = phase or phase_plan(rcs[0])[0]
    window = rcs[0].train.window or rcs[0].model.block_size
    sources = []
    for rc in rcs:
        vocab = rc.vocab()
        sources.append([make_source(spec.make(), phase.sampler, window, vocab)
                        for spec in rc.phase_list()[phase.index].tasks])
    shares = [t.share for t in rcs[0].phase_list()[phase.index].tasks]
    gens = generators or [torch.Generator(device=device).manual_seed(rc.train.seed) for rc in rcs]
    batches = PhaseBatches(sources, shares, phase.sampler, window, rcs[0].train.batch_size, gens,
                           [rc.train.seed for rc in rcs], phase.index, device)
    if phase.sampler == "epochs":
        sizes = {tuple(len(s.starts) for s in srcs) for srcs in sources}
        if len(sizes) > 1:
            raise MemscopeError("runs trained together with sampler=epochs need tasks of equal line counts")
    return batches


def train(rc: RunConfig, out_dir: Path, resume: bool = False) -> dict:
    """Train one run (an ensemble of one); see train_group."""
    return train_group([rc], [out_dir], resume)[0]


def train_group(rcs: list[RunConfig], out_dirs: list[Path], resume: bool = False,
                ensemble_file: Path | None = None) -> list[dict]:
    """Train runs of one group_key at once, each into its own directory; returns their summaries.

    A run that is already complete is not trained again; with resume, a finished run given more steps is
    continued as a new phase (_resumed). ensemble_file: where to also save the final weights of all members
    stacked in one safetensors file (row k: run k; `store.load_row` reads one row alone).
    """
    if len({group_key(rc) for rc in rcs}) > 1:
        raise MemscopeError("runs trained together must share one model shape, training schedule and data plan")
    given, out_dirs, extends = rcs, [Path(o) for o in out_dirs], []
    rcs = []
    for rc, out in zip(given, out_dirs):
        make_callbacks(rc)  # unknown callback names fail before anything is written
        resumed, more = _check_dir(rc, out, resume)
        rcs.append(resumed)
        extends.append(more)
    if any(a is not b for a, b in zip(rcs, given)) and len({group_key(rc) for rc in rcs}) > 1:
        raise MemscopeError("runs trained together must share one model shape, training schedule and data plan "
                            "(continue a run on its own)")
    summaries: dict[int, dict] = {}
    members: list[_Member] = []
    new: dict[Path, bool] = {}  # run directories this call starts: were they created by it?
    with contextlib.ExitStack() as locks:
        try:
            for i, (rc, out) in enumerate(zip(rcs, out_dirs)):
                if not _holds_run(out):
                    new[out] = not out.exists()
                    out.mkdir(parents=True, exist_ok=True)
                locks.enter_context(store.run_lock(out))  # a refused trainer changes nothing
                done = _prepare_dir(rc, out, extends[i])
                if done is not None:
                    log.info("%s is already complete", out)
                    summaries[i] = done
                else:
                    members.append(_Member(rc, out))
            if members:
                todo = [i for i in range(len(rcs)) if i not in summaries]
                for i, summary in zip(todo, _train_members(members, resume, ensemble_file)):
                    summaries[i] = summary
        except BaseException:
            for out, created in new.items():
                _remove_unstarted(out, created)
            raise
    return [summaries[i] for i in range(len(rcs))]


def _check_exposure(m: _Member, k: int, batches: PhaseBatches) -> None:
    """A resumed run's exposure counts of this phase have one count per training line of its task."""
    for c in range(batches.n_tasks):
        saved = m.exposure.get(f"exposure.{batches.phase}.{c}")
        want = batches.counts[k][c].shape
        if saved is not None and saved.shape != want:
            raise MemscopeError(f"checkpoint {escape(m.path(store.CHECKPOINT))}: exposure.{batches.phase}.{c} holds "
                                f"{list(saved.shape)} counts, the task {list(want)}: the file is damaged; train the "
                                "run anew into another --out")


def _schedule_origin(plan: list[PhasePlan], step: int) -> int:
    """Step at which the learning-rate schedule last (re)started: 0, or the latest restarting phase's start."""
    return max([p.start for p in plan if p.restart and p.start <= step], default=0)


def _lr(plan: list[PhasePlan], phase: PhasePlan, step: int, cfg: TrainConfig) -> float:
    """The learning rate of a step of a phase: the phase's held rate, else the schedule from its origin."""
    return phase.lr if phase.lr is not None else lr_at(step - _schedule_origin(plan, step), cfg)


def _train_members(members: list[_Member], resume: bool, ensemble_file: Path | None) -> list[dict]:
    rcs = [m.rc for m in members]
    cfg, model_cfg = rcs[0].train, rcs[0].model
    device = resolve_device(cfg.device)
    configure_cpu(device, cfg.threads)
    torch.manual_seed(cfg.seed)  # global RNG: dropout only
    model = EnsembleGPT.from_seeds(model_cfg, [rc.train.seed for rc in rcs]).to(device)
    optimizer = make_ensemble_optimizer(model, cfg)
    generators = [torch.Generator(device=device).manual_seed(rc.train.seed) for rc in rcs]
    plan = phase_plan(rcs[0])
    total = plan[-1].end

    start, wall_before, tensors = 0, 0.0, [{} for _ in members]
    if resume and all(store.safe_path(m.out_dir, store.CHECKPOINT).is_file() for m in members):
        state, tensors = load_checkpoints([m.path(store.CHECKPOINT) for m in members], model, optimizer, generators,
                                          total=total)
        start, wall_before = int(state["step"]), float(state["wall_s"])
        for m, t in zip(members, tensors):
            m.exposure = {n: v for n, v in t.items() if n.startswith("exposure.")}
        log.info("resuming %s from step %d", ", ".join(escape(m.out_dir) for m in members), start)
    for m, t in zip(members, tensors):  # every member's log is checked before any is rewritten
        m.history = store.read_metrics(m.path(store.METRICS), up_to_step=start) if start else []
        expected = state.get("n_evals") if start else None
        if expected is not None and len(m.history) != expected:
            raise MemscopeError(f"{escape(m.path(store.METRICS))} holds {len(m.history)} evaluations up to step "
                                f"{start}, its checkpoint {expected}: the log was cut; train the run anew into "
                                "another --out")
        bad = nonfinite(t)
        if bad and not any(r.get("diverged") for r in m.history):
            raise MemscopeError(f"checkpoint {escape(m.path(store.CHECKPOINT))}: {bad[0]} holds NaN or infinity but "
                                "the run's log records no divergence: the file is damaged; train the run anew into "
                                "another --out")
    for m in members:
        store.rewrite_jsonl(m.path(store.METRICS), m.history)

    t0 = time.perf_counter()
    frozen: dict[int, dict[str, torch.Tensor]] = {}
    batches: PhaseBatches | None = None

    def record(step: int, losses: list[float | None], lr: float, phase: PhasePlan) -> None:
        wall_s = round(wall_before + time.perf_counter() - t0, 3)
        for k, m in enumerate(members):
            if m.done:
                continue
            if batches is not None:
                m.exposure.update({n: v.clone() for n, v in batches.counts_state(k).items() if v.numel()})
            _record_member(m, k, step, losses[k], lr, wall_s, model, optimizer, generators[k],
                           phase.name if len(plan) > 1 else None)
            stop = any(cb.should_stop(m.history) for cb in m.callbacks)
            if step == total or stop:
                m.stopped_step = step if step < total else None
                _finish_member(m, model, k, device, plan)
                # later steps must not move a finished run
                frozen[k] = {n: v.clone() for n, v in model.run_tensors(k).items()}

    if start == 0:
        record(0, [None] * len(members), _lr(plan, plan[0], 0, cfg), plan[0])
    for k, m in enumerate(members):  # stopped early, then killed before its summary
        if start and any(cb.should_stop(m.history) for cb in m.callbacks):
            m.stopped_step = start if start < total else None
            _finish_member(m, model, k, device, plan)
            frozen[k] = {n: v.clone() for n, v in model.run_tensors(k).items()}
    loss_sum, n_loss = torch.zeros(len(members), device=device), 0
    model.train()
    forward = torch.compile(model) if cfg.compile else model
    bar = progress(total=total, initial=start, unit="step", desc="train", leave=False)
    phase: PhasePlan | None = None
    for step in range(start, total):
        if all(m.done for m in members):
            break
        if phase is None or step >= phase.end:  # the first step, or a new phase
            phase = next(p for p in plan if p.start <= step < p.end)
            if phase.restart and step == phase.start:  # fresh AdamW moments (the schedule restarts too)
                optimizer = make_ensemble_optimizer(model, cfg)
            batches = make_batches(rcs, device, phase, generators)
            for k, m in enumerate(members):
                _check_exposure(m, k, batches)
                batches.load_counts(k, m.exposure)
        lr = _lr(plan, phase, step, cfg)
        x, y = batches.next(step - phase.start)
        loss_sum += ensemble_step(model, forward, optimizer, x, y, cfg, lr, batches.masked)
        for k, saved in frozen.items():
            model.load_run_tensors(k, saved)
        n_loss += 1
        bar.update(1)
        done = step + 1
        if done % cfg.eval_interval == 0 or done == phase.end:
            record(done, (loss_sum / n_loss).tolist(), lr, phase)
            loss_sum, n_loss = torch.zeros(len(members), device=device), 0
    bar.close()
    for k, m in enumerate(members):
        if not m.done:  # killed after its last checkpoint, before its summary: finish it now
            _finish_member(m, model, k, device, plan)
    if ensemble_file is not None:
        Path(ensemble_file).parent.mkdir(parents=True, exist_ok=True)
        store.save_tensors(ensemble_file, model.run_tensors(),
                           {"members": [str(m.out_dir) for m in members], "config": members[0].rc.to_dict()})
    return [store.read_json(m.path(store.SUMMARY), "summary") for m in members]


def _record_member(m: _Member, k: int, step: int, train_loss: float | None, lr: float, wall_s: float,
                   model: EnsembleGPT, optimizer, generator: torch.Generator, phase: str | None) -> None:
    gpt = model.gpt(k).eval()
    diverged = train_loss is not None and not math.isfinite(train_loss)
    if diverged:  # JSON has no NaN: the loss is logged as null and the record says so
        log.warning("%s: the training loss is %s at step %d (diverged)", m.out_dir.name, train_loss, step)
        train_loss = None
    rec: dict = {"step": step, "train_loss": train_loss, "lr": lr}
    if diverged:
        rec["diverged"] = True
    if phase is not None:
        rec["phase"] = phase
    for cb in m.callbacks:
        ctx = EvalContext(step, gpt, m.rc, m.tasks, m.vocab, m.history, rec, m.out_dir, m.exposure)
        rec.update(cb.on_eval(ctx))
    rec["wall_s"] = wall_s
    m.history.append(rec)
    store.append_jsonl(m.path(store.METRICS), rec)
    save_checkpoint(m.path(store.CHECKPOINT), k, model, optimizer, generator, m.exposure,
                    {"step": step, "wall_s": wall_s, "n_evals": len(m.history)})
    log.info("%s step %d | loss %s | %s", m.out_dir.name, step,
             "-" if train_loss is None else f"{train_loss:.4f}", brief(rec))


def _finish_member(m: _Member, model: EnsembleGPT, k: int, device: torch.device, plan: list[PhasePlan]) -> None:
    step = m.history[-1]["step"]
    gpt = model.gpt(k)
    store.save_tensors(m.path(store.MODEL), store.model_tensors(gpt), {"step": step})
    if m.exposure:
        store.write_json(m.path(EXPOSURES), _exposures(m, plan))
    summary = summarize(m.rc, m.history, gpt, m.callbacks, m.history[-1]["wall_s"], device)
    summary.update(stopped_step=m.stopped_step, ensemble_size=model.k)
    if len(plan) > 1:
        summary["phases"] = [{"name": p.name, "start": p.start, "steps": p.steps, "sampler": p.sampler,
                              "restart": p.restart, **({} if p.lr is None else {"constant_lr": p.lr})}
                             for p in plan]
    store.write_json(m.path(store.SUMMARY), summary)
    m.done = True


def _exposures(m: _Member, plan: list[PhasePlan]) -> dict:
    """How many rows held each training line, per phase and task (aligned and epochs samplers: exact)."""
    phases = []
    for p, phase in zip(plan, m.rc.phase_list()):
        tasks = [{"task": spec.task, "share": spec.share,
                  "counts": m.exposure[f"exposure.{p.index}.{c}"].tolist()}
                 for c, spec in enumerate(phase.tasks) if f"exposure.{p.index}.{c}" in m.exposure]
        if tasks:
            phases.append({"name": p.name, "sampler": p.sampler, "tasks": tasks})
    return {"phases": phases}
