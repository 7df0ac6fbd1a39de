"""Train one model on one task: the paper's schedule, evaluations, checkpoints and exact resume."""
from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from . import store
from .config import ModelConfig, RUNTIME_FIELDS, TrainConfig, field_types, from_dict, get_preset, to_dict
from .errors import ConfigError, MemscopeError
from .evaluate import eval_generator, evaluate
from .model import GPT
from .tasks import Task, get_task_class, make_task

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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} asked for, but this torch has no CUDA device")
    return torch.device(name)


def make_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on 2-D tensors only (matmul weights, embeddings), as nanoGPT."""
    params = list(model.parameters())  # the tied embedding appears once
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2),
                             fused=device.type == "cuda")


class Batches:
    """Random contiguous windows of the training text, drawn by indexing a device-resident tensor.
    starts: for an aligned task, the only offsets a window may start at."""

    def __init__(self, data: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator,
                 starts: list[int] | None = None):
        self.data, self.block_size, self.batch_size, self.generator = data, block_size, batch_size, generator
        self.offsets = torch.arange(block_size, device=data.device)
        self.starts = None if starts is None else torch.tensor(starts, dtype=torch.long, device=data.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        # nanoGPT's draw: starts in [0, len - block), so every window has its next-character target.
        high = len(self.data) - self.block_size if self.starts is None else len(self.starts)
        ix = torch.randint(high, (self.batch_size,), generator=self.generator, device=self.data.device)
        if self.starts is not None:
            ix = self.starts[ix]
        pos = ix[:, None] + self.offsets  # (B, T)
        return self.data[pos], self.data[pos + 1]


def setup(rc: RunConfig, task: Task, device: torch.device) -> tuple[GPT, torch.optim.AdamW, Batches]:
    """The seeded model, its optimiser and the batch source of a run, on device."""
    seed = rc.train.seed
    model = GPT(rc.model, generator=torch.Generator().manual_seed(seed)).to(device)
    optimizer = make_optimizer(model, rc.train, device)
    data = torch.tensor(task.vocab.encode(task.text), dtype=torch.long, device=device)
    batches = Batches(data, rc.model.block_size, rc.train.batch_size,
                      torch.Generator(device=device).manual_seed(seed), task.window_starts())
    return model, optimizer, batches


def train_step(model: GPT, forward, optimizer, batches: Batches, cfg: TrainConfig, step: int) -> torch.Tensor:
    """One optimiser update at the schedule's lr for `step`; returns the detached batch loss.
    forward: the model or its torch.compile'd wrapper."""
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, cfg)
    x, y = batches.next()
    _, loss = forward(x, y)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


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


def _save_checkpoint(path: Path, model, optimizer, batches: Batches, state: dict) -> None:
    tensors = {f"model.{k}": v for k, v in store.model_tensors(model).items()}
    for i, p_state in optimizer.state_dict()["state"].items():
        for k, v in p_state.items():
            tensors[f"optim.{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    tensors["rng.batch"] = batches.generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    store.save_tensors(path, tensors, state)


def _load_checkpoint(path: Path, model, optimizer, batches: Batches) -> dict:
    tensors, state = store.load_tensors(path, "checkpoint")
    if "step" not in state:
        raise MemscopeError(f"corrupt checkpoint: {path} (no step)")
    store.load_model_tensors(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, path)
    opt = optimizer.state_dict()
    opt["state"] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            opt["state"].setdefault(int(i), {})[name] = v
    optimizer.load_state_dict(opt)
    batches.generator.set_state(tensors["rng.batch"])
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return state


def train(rc: RunConfig, out_dir: Path, resume: bool = False) -> dict:
    """Train, evaluate every eval_interval steps, checkpoint, and write summary.json. Returns the summary.

    With resume, a run directory holding a checkpoint continues from it and ends with the same figures
    as an uninterrupted run (CPU, same seed).
    """
    out_dir = Path(out_dir)
    cfg = rc.train
    task = rc.make_task()
    device = resolve_device(cfg.device)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not resume:
            raise MemscopeError(f"{out_dir} already holds files; pass --resume to continue the run there "
                                "or choose another --out")
        old = load_run_config(out_dir)
        diffs = _same_config(old, rc)
        if diffs:
            raise MemscopeError(f"{out_dir} holds a run with other settings ({', '.join(diffs[:5])}); "
                                "choose another --out")
        if (out_dir / store.SUMMARY).is_file():
            log.info("%s is already complete", out_dir)
            return store.read_json(out_dir / store.SUMMARY, "summary")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
    store.write_json(out_dir / store.CONFIG, rc.to_dict())

    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # global RNG: dropout only
    model, optimizer, batches = setup(rc, task, device)

    start, wall_before = 0, 0.0
    ckpt = out_dir / store.CHECKPOINT
    if resume and ckpt.is_file():
        state = _load_checkpoint(ckpt, model, optimizer, batches)
        start, wall_before = int(state["step"]), float(state["wall_s"])
        log.info("resuming %s from step %d", out_dir, start)
    history = store.read_metrics(out_dir / store.METRICS, up_to_step=start)
    if start == 0:
        history = []
    store.rewrite_jsonl(out_dir / store.METRICS, history)

    t0 = time.perf_counter()

    def record(step: int, train_loss: float | None, lr: float) -> None:
        m = evaluate(model, task, n_samples=cfg.eval_samples, temperature=cfg.temperature, top_k=cfg.top_k,
                     generator=eval_generator(cfg.seed, step))
        rec = {"step": step, "train_loss": train_loss, "lr": lr, **m,
               "wall_s": round(wall_before + time.perf_counter() - t0, 3)}
        best_so_far = max((h["seen_acc"] for h in history), default=-1.0)
        history.append(rec)
        store.append_jsonl(out_dir / store.METRICS, rec)
        if rec["seen_acc"] >= best_so_far:  # latest among equals: the most-trained of the best
            store.save_tensors(out_dir / store.BEST, store.model_tensors(model), {"step": step})
        _save_checkpoint(ckpt, model, optimizer, batches, {"step": step, "wall_s": rec["wall_s"]})
        log.info("step %d | loss %s | %s", step, "-" if train_loss is None else f"{train_loss:.4f}",
                 _brief(rec))

    if start == 0:
        record(0, None, lr_at(0, cfg))
    loss_sum, n_loss = torch.zeros((), device=device), 0
    model.train()
    forward = torch.compile(model) if cfg.compile else model
    bar = tqdm(total=cfg.steps, initial=start, unit="step", disable=not sys.stderr.isatty(), leave=False)
    for step in range(start, cfg.steps):
        loss_sum += train_step(model, forward, optimizer, batches, cfg, step)  # no .item(): it syncs a GPU
        n_loss += 1
        done = step + 1
        bar.update(1)
        if done % cfg.eval_interval == 0 or done == cfg.steps:
            record(done, (loss_sum / n_loss).item(), lr_at(step, cfg))
            loss_sum, n_loss = torch.zeros((), device=device), 0
    bar.close()

    wall_s = history[-1]["wall_s"]
    store.save_tensors(out_dir / store.MODEL, store.model_tensors(model), {"step": cfg.steps})
    summary = summarize(rc, history, model, wall_s, device)
    store.write_json(out_dir / store.SUMMARY, summary)
    return summary


def _brief(m: dict) -> str:
    parts = [f"{k[:-4]} {100 * v:.1f}%" for k, v in m.items() if k.endswith("_acc") and v is not None
             and k not in ("seen_acc", "combined_acc")]
    if m.get("withheld_total"):
        parts.append(f"withheld {m['withheld_correct']}/{m['withheld_total']}")
    return " ".join(parts)


FIGURES = ("add_acc", "sub_acc", "facts_acc", "combined_acc", "seen_acc", "withheld_correct", "withheld_total")


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
    best = max(reversed(history), key=lambda h: h["seen_acc"])  # latest among equals
    return {
        "task": rc.task, "model": rc.preset, "seed": rc.train.seed,
        "n_params": model.count_params("paper"), "n_params_total": model.count_params("total"),
        "steps": rc.train.steps,
        **{k: final.get(k) for k in FIGURES},
        "final_loss": final["train_loss"],
        "first_withheld_step": perfect[0] if perfect else None,
        "withheld_perfect_share": len(perfect) / len(history) if has_withheld else None,
        "withheld_perfect_from": stable_from,
        "best": {"step": best["step"], **{k: best.get(k) for k in FIGURES}},
        "n_evals": len(history), "wall_s": wall_s, "device": str(device), "torch": torch.__version__,
    }
