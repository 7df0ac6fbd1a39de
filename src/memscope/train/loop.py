"""Train one model on one task: the paper's schedule, evaluations, checkpoints and exact resume."""
from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .. import store
from ..config import ModelConfig, RUNTIME_FIELDS, TrainConfig, field_types, from_dict, get_preset, to_dict
from ..errors import ConfigError, MemscopeError
from ..evaluate import eval_generator, evaluate
from ..models.ensemble import EnsembleBatches, EnsembleGPT, ensemble_step, make_ensemble_optimizer
from ..models.gpt import GPT
from ..runtime import configure_cpu, resolve_device
from ..tasks import Task, get_task_class, make_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run; written as the run directory's config.json."""

    task: str
    task_params: dict
    model: ModelConfig
    train: TrainConfig
    preset: str | None = None

    def to_dict(self) -> dict:
        return {"task": self.task, "task_params": self.task_params, "preset": self.preset,
                "model": to_dict(self.model), "train": to_dict(self.train)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        try:
            task = make_task(d["task"], d.get("task_params") or {})
            return cls(task=task.name, task_params=task.params(),
                       model=from_dict(ModelConfig, d["model"], "model"),
                       train=from_dict(TrainConfig, d["train"], "train"), preset=d.get("preset"))
        except (KeyError, TypeError, AttributeError) as e:
            raise MemscopeError(f"config is missing or malforms {e}") from None

    def make_task(self) -> Task:
        return make_task(self.task, self.task_params)


def build_run_config(task: str, preset: str, overrides: dict[str, str] | None = None) -> RunConfig:
    """Task defaults < preset < overrides. Override keys are `field`, or `task.field`, `model.field`,
    `train.field` where a bare name is ambiguous. Values are text parsed by each field's type."""
    task_cls = get_task_class(task)
    chosen = get_preset(preset)
    owners = {"task": set(field_types(task_cls)), "model": set(field_types(ModelConfig)),
              "train": set(field_types(TrainConfig))}
    groups: dict[str, dict] = {g: {} for g in owners}
    for key, value in (overrides or {}).items():
        group, _, name = key.rpartition(".")
        if group:
            if group not in owners or name not in owners[group]:
                raise ConfigError(f"unknown setting {key!r}")
        else:
            found = [g for g, names in owners.items() if name in names]
            if not found:
                known = sorted(set().union(*owners.values()))
                raise ConfigError(f"unknown setting {key!r}; known: {', '.join(known)}")
            if len(found) > 1:
                raise ConfigError(f"setting {key!r} is ambiguous; write {' or '.join(f'{g}.{key}' for g in found)}")
            group = found[0]
        groups[group][name] = value
    task_obj = make_task(task, groups["task"])
    vocab_size = len(task_obj.vocab)
    model = from_dict(ModelConfig, {"vocab_size": vocab_size, "block_size": task_obj.block_size,
                                    **chosen.model, **groups["model"]}, "model")
    if model.vocab_size != vocab_size:
        raise ConfigError(f"vocab_size={model.vocab_size} differs from task {task!r}'s {vocab_size} characters")
    if len(task_obj.text) <= model.block_size:
        raise ConfigError(f"block_size={model.block_size} needs a training text longer than "
                          f"{len(task_obj.text)} characters")
    train = from_dict(TrainConfig, {"batch_size": task_obj.batch_size, **chosen.train, **groups["train"]},
                      "train")
    return RunConfig(task, task_obj.params(), model, train, preset)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """nanoGPT's schedule: linear warmup, cosine decay to min_lr at lr_decay_steps, then min_lr."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_steps + 1)
    if step > cfg.lr_decay_steps or cfg.lr_decay_steps == cfg.warmup_steps:
        return cfg.min_lr
    ratio = (step - cfg.warmup_steps) / (cfg.lr_decay_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.learning_rate - cfg.min_lr)


def _same_config(old: RunConfig, new: RunConfig) -> list[str]:
    a, b = old.to_dict(), new.to_dict()
    for d in (a, b):
        d["train"] = {k: v for k, v in d["train"].items() if k not in RUNTIME_FIELDS}
    diffs = []
    for section in a:
        if isinstance(a[section], dict):
            keys = set(a[section]) | set(b[section] or {})
            diffs += [f"{section}.{k}" for k in sorted(keys) if a[section].get(k) != (b[section] or {}).get(k)]
        elif a[section] != b[section]:
            diffs.append(section)
    return diffs


def load_run_config(run_dir: Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MemscopeError(f"no run directory at {run_dir}")
    return RunConfig.from_dict(store.read_json(run_dir / store.CONFIG, "run config"))


def group_key(rc: RunConfig) -> str:
    """Runs with equal keys can train together as one ensemble: one model shape and one schedule; they may
    differ in seed and in task parameters that keep the vocabulary and context (withheld pairs, dataset
    size, ...)."""
    train = {k: v for k, v in to_dict(rc.train).items() if k != "seed"}
    return json.dumps({"model": to_dict(rc.model), "train": train}, sort_keys=True)


class _Member:
    """One run of a group: its config, task, directory and evaluation history."""

    def __init__(self, rc: RunConfig, out_dir: Path):
        self.rc, self.out_dir = rc, Path(out_dir)
        self.task = rc.make_task()
        self.history: list[dict] = []
        self.done = False
        self.stopped_step: int | None = None

    def path(self, name: str) -> Path:
        return self.out_dir / name


def _prepare_dir(rc: RunConfig, out_dir: Path, resume: bool) -> dict | None:
    """Check or create a run directory; returns the summary of a run that is already complete."""
    if out_dir.exists() and any(p.name != store.LOCK for p in out_dir.iterdir()):
        if not resume:
            raise MemscopeError(f"{out_dir} already holds files; pass --resume to continue the run there "
                                "or choose another --out")
        diffs = _same_config(load_run_config(out_dir), rc)
        if diffs:
            raise MemscopeError(f"{out_dir} holds a run with other settings ({', '.join(diffs[:5])}); "
                                "choose another --out")
        if (out_dir / store.SUMMARY).is_file():
            return store.read_json(out_dir / store.SUMMARY, "summary")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
    store.write_json(out_dir / store.CONFIG, rc.to_dict())
    return None


def _save_checkpoint(m: _Member, k: int, model: EnsembleGPT, optimizer, batches: EnsembleBatches,
                     state: dict) -> None:
    """Member k's resume point: its weights, its AdamW moments, its batch RNG, the global RNG (dropout)."""
    tensors = {f"model.{n}": v for n, v in model.member_tensors(k).items()}
    for i, p_state in optimizer.state_dict()["state"].items():
        for name, v in p_state.items():
            tensors[f"optim.{i}.{name}"] = v[k] if torch.is_tensor(v) and v.dim() > 0 else torch.as_tensor(v)
    tensors["rng.batch"] = batches.generators[k].get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    store.save_tensors(m.path(store.CHECKPOINT), tensors, state)


def _load_checkpoints(members: list[_Member], model: EnsembleGPT, optimizer, batches: EnsembleBatches) -> dict:
    """Load every member's checkpoint into its row; all must be at one step. Returns that step's state."""
    loaded = [store.load_tensors(m.path(store.CHECKPOINT), "checkpoint") for m in members]
    steps = {state.get("step") for _, state in loaded}
    if None in steps:
        raise MemscopeError(f"corrupt checkpoint in {members[0].out_dir} (no step)")
    if len(steps) > 1:
        raise MemscopeError(f"checkpoints of one group are at different steps {sorted(steps)}: resume them "
                            "separately (the sweep runner does)")
    opt = optimizer.state_dict()
    opt["state"] = {}
    stacked: dict[tuple[int, str], list[torch.Tensor]] = {}
    for k, (m, (tensors, _)) in enumerate(zip(members, loaded)):
        weights = {n[6:]: v for n, v in tensors.items() if n.startswith("model.")}
        missing = [n for n in model.names if n not in weights]
        if missing or any(weights[n].shape != model.p(n).shape[1:] for n in model.names):
            raise MemscopeError(f"checkpoint {m.path(store.CHECKPOINT)} does not fit the run's model")
        model.load_member_tensors(k, weights)
        for name, v in tensors.items():
            if name.startswith("optim."):
                _, i, key = name.split(".", 2)
                stacked.setdefault((int(i), key), []).append(v)
        batches.generators[k].set_state(tensors["rng.batch"])
    for (i, key), vs in stacked.items():
        opt["state"].setdefault(i, {})[key] = vs[0] if vs[0].dim() == 0 else torch.stack(vs)
    optimizer.load_state_dict(opt)
    tensors = loaded[0][0]
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[n] for n in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return loaded[0][1]


def converged(history: list[dict], cfg: TrainConfig) -> bool:
    """The early-stop rule: stop_patience evaluations in a row whose training loss is not below the best
    before them by the fraction stop_rel_tol."""
    losses = [h["train_loss"] for h in history if h.get("train_loss") is not None]
    p = cfg.stop_patience
    if p <= 0 or len(losses) <= p:
        return False
    return min(losses[-p:]) > min(losses[:-p]) * (1.0 - cfg.stop_rel_tol)


def make_batches(rcs: list[RunConfig], tasks: list[Task], device: torch.device) -> EnsembleBatches:
    """Run k's windows from its own task's text with a generator seeded by its own seed."""
    texts = [torch.tensor(t.vocab.encode(t.text), dtype=torch.long, device=device) for t in tasks]
    gens = [torch.Generator(device=device).manual_seed(rc.train.seed) for rc in rcs]
    return EnsembleBatches(texts, rcs[0].model.block_size, rcs[0].train.batch_size, gens,
                           [t.window_starts() for t in tasks])


def train(rc: RunConfig, out_dir: Path, resume: bool = False) -> dict:
    """Train one run (an ensemble of one); see train_group."""
    return train_group([rc], [out_dir], resume)[0]


def train_group(rcs: list[RunConfig], out_dirs: list[Path], resume: bool = False,
                ensemble_file: Path | None = None) -> list[dict]:
    """Train runs of one group_key at once, each into its own directory; returns their summaries.

    Every eval_interval steps each run is evaluated, logged and checkpointed; with resume, runs continue
    from their checkpoints and end with the figures of an uninterrupted run (CPU, same seeds). A run that is
    already complete is not trained again. ensemble_file: where to also save the final weights of all
    members stacked in one safetensors file (row k: run k; `store.load_member` reads one row alone).
    """
    if len({group_key(rc) for rc in rcs}) > 1:
        raise MemscopeError("runs trained together must share one model shape and training schedule")
    summaries: dict[int, dict] = {}
    members: list[_Member] = []
    for i, (rc, out) in enumerate(zip(rcs, out_dirs)):
        done = _prepare_dir(rc, Path(out), resume)
        if done is not None:
            log.info("%s is already complete", out)
            summaries[i] = done
        else:
            members.append(_Member(rc, Path(out)))
    if members:
        todo = [i for i in range(len(rcs)) if i not in summaries]
        with contextlib.ExitStack() as locks:
            for m in members:
                locks.enter_context(store.run_lock(m.out_dir))
            for i, summary in zip(todo, _train_members(members, resume, ensemble_file)):
                summaries[i] = summary
    return [summaries[i] for i in range(len(rcs))]


def _train_members(members: list[_Member], resume: bool, ensemble_file: Path | None) -> list[dict]:
    cfg, model_cfg = members[0].rc.train, members[0].rc.model
    device = resolve_device(cfg.device)
    configure_cpu(device, cfg.threads)
    torch.manual_seed(cfg.seed)  # global RNG: dropout only
    model = EnsembleGPT.from_seeds(model_cfg, [m.rc.train.seed for m in members]).to(device)
    optimizer = make_ensemble_optimizer(model, cfg)
    batches = make_batches([m.rc for m in members], [m.task for m in members], device)

    start, wall_before = 0, 0.0
    if resume and all(m.path(store.CHECKPOINT).is_file() for m in members):
        state = _load_checkpoints(members, model, optimizer, batches)
        start, wall_before = int(state["step"]), float(state["wall_s"])
        log.info("resuming %s from step %d", ", ".join(str(m.out_dir) for m in members), start)
    for m in members:
        m.history = store.read_metrics(m.path(store.METRICS), up_to_step=start) if start else []
        store.rewrite_jsonl(m.path(store.METRICS), m.history)

    t0 = time.perf_counter()
    frozen: dict[int, dict[str, torch.Tensor]] = {}

    def record(step: int, losses: list[float | None], lr: float) -> None:
        wall_s = round(wall_before + time.perf_counter() - t0, 3)
        for k, m in enumerate(members):
            if m.done:
                continue
            _record_member(m, k, step, losses[k], lr, wall_s, model, optimizer, batches)
            if step == cfg.steps or converged(m.history, cfg):
                m.stopped_step = step if step < cfg.steps else None
                _finish_member(m, model, k, device)
                # later steps must not move a finished run
                frozen[k] = {n: v.clone() for n, v in model.member_tensors(k).items()}

    if start == 0:
        record(0, [None] * len(members), lr_at(0, cfg))
    loss_sum, n_loss = torch.zeros(len(members), device=device), 0
    model.train()
    forward = torch.compile(model) if cfg.compile else model
    bar = tqdm(total=cfg.steps, initial=start, unit="step", disable=not sys.stderr.isatty(), leave=False)
    for step in range(start, cfg.steps):
        if all(m.done for m in members):
            break
        loss_sum += ensemble_step(model, forward, optimizer, batches, cfg, lr_at(step, cfg))
        for k, saved in frozen.items():
            model.load_member_tensors(k, saved)
        n_loss += 1
        bar.update(1)
        done = step + 1
        if done % cfg.eval_interval == 0 or done == cfg.steps:
            record(done, (loss_sum / n_loss).tolist(), lr_at(step, cfg))
            loss_sum, n_loss = torch.zeros(len(members), device=device), 0
    bar.close()
    if ensemble_file is not None:
        Path(ensemble_file).parent.mkdir(parents=True, exist_ok=True)
        store.save_tensors(ensemble_file, model.member_tensors(),
                           {"members": [str(m.out_dir) for m in members], "config": members[0].rc.to_dict()})
    return [store.read_json(m.path(store.SUMMARY), "summary") for m in members]


def _record_member(m: _Member, k: int, step: int, train_loss: float | None, lr: float, wall_s: float,
                   model: EnsembleGPT, optimizer, batches: EnsembleBatches) -> None:
    cfg = m.rc.train
    gpt = model.member(k)
    metrics = evaluate(gpt, m.task, n_samples=cfg.eval_samples, temperature=cfg.temperature, top_k=cfg.top_k,
                       generator=eval_generator(cfg.seed, step))
    rec = {"step": step, "train_loss": train_loss, "lr": lr, **metrics, "wall_s": wall_s}
    best_so_far = max((h["seen_acc"] for h in m.history if h["seen_acc"] is not None), default=None)
    m.history.append(rec)
    store.append_jsonl(m.path(store.METRICS), rec)
    if best_so_far is None or (rec["seen_acc"] is not None and rec["seen_acc"] >= best_so_far):
        store.save_tensors(m.path(store.BEST), store.model_tensors(gpt), {"step": step})  # latest among equals
    _save_checkpoint(m, k, model, optimizer, batches, {"step": step, "wall_s": wall_s})
    log.info("%s step %d | loss %s | %s", m.out_dir.name, step,
             "-" if train_loss is None else f"{train_loss:.4f}", brief(rec))


def _finish_member(m: _Member, model: EnsembleGPT, k: int, device: torch.device) -> None:
    step = m.history[-1]["step"]
    gpt = model.member(k)
    store.save_tensors(m.path(store.MODEL), store.model_tensors(gpt), {"step": step})
    summary = summarize(m.rc, m.history, gpt, m.history[-1]["wall_s"], device)
    summary.update(stopped_step=m.stopped_step, ensemble_size=model.k)
    store.write_json(m.path(store.SUMMARY), summary)
    m.done = True

def brief(m: dict) -> str:
    """Accuracies and withheld score of an evaluation record or a summary, on one line."""
    parts = [f"{k[:-4]} {100 * v:.1f}%" for k, v in m.items() if k.endswith("_acc") and v is not None
             and k not in ("seen_acc", "combined_acc")]
    if m.get("withheld_total"):
        parts.append(f"withheld {m['withheld_correct']}/{m['withheld_total']}")
    return " ".join(parts)


FIGURES = ("add_acc", "sub_acc", "facts_acc", "recall_acc", "combined_acc", "seen_acc", "withheld_correct",
           "withheld_total")


def summarize(rc: RunConfig, history: list[dict], model: GPT, wall_s: float, device: torch.device) -> dict:
    """Final figures, the checkpoint chosen on non-withheld accuracy, and the withheld score over the run."""
    final = history[-1]
    has_withheld = bool(final.get("withheld_total"))
    perfect = [h["step"] for h in history if has_withheld and h["withheld_correct"] == h["withheld_total"]]
    stable_from = None
    if has_withheld:
        for h in reversed(history):
            if h["withheld_correct"] != h["withheld_total"]:
                break
            stable_from = h["step"]
    best = max(reversed(history), key=lambda h: -1.0 if h["seen_acc"] is None else h["seen_acc"])  # latest of equals
    return {
        "task": rc.task, "model": rc.preset, "seed": rc.train.seed,
        "n_params": model.count_params("paper"), "n_params_total": model.count_params("total"),
        "steps": rc.train.steps, "steps_run": final["step"],
        **{k: final.get(k) for k in FIGURES},
        "final_loss": final["train_loss"],
        "first_withheld_step": perfect[0] if perfect else None,
        "withheld_perfect_share": len(perfect) / len(history) if has_withheld else None,
        "withheld_perfect_from": stable_from,
        "best": {"step": best["step"], **{k: best.get(k) for k in FIGURES}},
        "n_evals": len(history), "wall_s": wall_s, "device": str(device), "torch": torch.__version__,
    }
