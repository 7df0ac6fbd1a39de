"""RunConfig: everything needed to rebuild a run (tasks, phases, model, training), written as config.json.

A run trains one model through one or more phases in order. A phase has its own task or mixture of tasks
and its own length (steps or epochs); weights always carry over from one phase to the next, and the
optimizer state and learning-rate schedule carry over too unless the phase says `restart` (continued
pretraining with a fresh optimizer and a new warmup). A run without phases is one phase of its task for
`train.steps` (or `train.epochs`): today's single-task run.

A finished run continued for more steps (`train --resume RUN --steps N`) keeps its config and lists the
phases that continued it under `continued` (each on the last phase's tasks, for the steps added; its
learning rate held at the run's final one, or its schedule restarted: train.continue_lr).

A mixture: the phase's first task is its main data; each further task has a `share` of the rows (replay).
How a share is drawn depends on the sampler (data/samplers.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

from . import store
from .config import (MAX_STEPS, ModelConfig, RUNTIME_FIELDS, TrainConfig, get_preset,
                     to_dict)
from .errors import ConfigError, MemscopeError, escape
from .settings import Range, bare_types, from_mapping, suggest, unknown, validate
from .tasks import Task, get_task_class, make_task
from .vocab import Vocab


@dataclass(frozen=True)
class TaskSpec:
    """One task of a phase: its name, parameters and, beside the main task, its share of the rows."""

    task: str
    params: dict = field(default_factory=dict)
    share: float | None = None
    """None for the phase's main (first) task; for the others the fraction of rows they fill, in (0, 1)."""

    def make(self) -> Task:
        return make_task(self.task, self.params)

    def to_dict(self) -> dict:
        return {"task": self.task, "params": self.params, "share": self.share}


@dataclass(frozen=True)
class PhaseConfig:
    """A stretch of training on one task or mixture, for `steps` optimizer updates or `epochs` epochs."""

    tasks: tuple[TaskSpec, ...]
    name: str = ""
    steps: Annotated[int | None, Range(1, MAX_STEPS)] = None
    """Optimizer updates of the phase (or epochs)."""
    epochs: Annotated[int | None, Range(1, MAX_STEPS)] = None
    """Epochs of the main task (epochs sampler only); the replay tasks add their share on top."""
    restart: bool = False
    """Fresh AdamW moments and the learning-rate schedule from its step 0 at the phase start."""
    constant_lr: Annotated[float | None, Range(0, 10)] = None
    """A learning rate held through the phase instead of the run's schedule (a continued run's phase with
    continue_lr=constant holds the rate the run ended with); None: the schedule."""

    def __post_init__(self):
        try:  # types and ranges, as annotated, in a message that names the phase
            validate(self, ("name", "steps", "epochs", "restart", "constant_lr"))
        except ConfigError as e:
            raise ConfigError(f"phase {self.name!r}: {e}", param=e.param) from None
        if not self.tasks:
            raise ConfigError(f"phase {self.name!r} has no task")
        if self.tasks[0].share is not None:
            raise ConfigError(f"phase {self.name!r}: the first task is the main data and takes no share")
        shares = [t.share for t in self.tasks[1:]]
        if any(s is None or not 0.0 < s < 1.0 for s in shares):
            raise ConfigError(f"phase {self.name!r}: every task after the first needs a share in (0, 1)")
        if sum(shares) >= 1.0:
            raise ConfigError(f"phase {self.name!r}: shares {shares} leave nothing for the main task")
        if (self.steps is None) == (self.epochs is None):
            raise ConfigError(f"phase {self.name!r} needs exactly one of steps or epochs")

    def to_dict(self) -> dict:
        d = {"name": self.name, "steps": self.steps, "epochs": self.epochs, "restart": self.restart,
             "tasks": [t.to_dict() for t in self.tasks]}
        if self.constant_lr is not None:
            d["constant_lr"] = self.constant_lr
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "phase") -> "PhaseConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"{where} must be a table")
        known = {"name", "steps", "epochs", "restart", "tasks", "constant_lr"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        tasks = d.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise ConfigError(f"{where} needs a non-empty list of tasks")
        specs = []
        for i, t in enumerate(tasks):
            if not isinstance(t, dict) or not isinstance(t.get("task"), str):
                raise ConfigError(f"{where}.tasks[{i}] needs a task name (task = \"...\")")
            params = t.get("params", {k: v for k, v in t.items() if k not in ("task", "share")})
            share = t.get("share")
            if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))):
                raise ConfigError(f"{where}.tasks[{i}].share must be a number")
            task = make_task(t["task"], params)  # validates the parameters, in their field types
            specs.append(TaskSpec(task.name, task.params(), None if share is None else float(share)))
        for key, kind in (("steps", int), ("epochs", int), ("restart", bool)):  # a typed file: typed values
            value = d.get(key)
            if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
                raise ConfigError(f"{where}.{key} = {value!r} must be {'true or false' if kind is bool else 'an integer'}")
        lr = d.get("constant_lr")
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
            raise ConfigError(f"{where}.constant_lr = {lr!r} must be a number")
        return cls(tuple(specs), str(d.get("name", "")), d.get("steps"), d.get("epochs"), d.get("restart", False),
                   None if lr is None else float(lr))


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run; written as the run directory's config.json.

    task / task_params: the run's task (with phases: the first phase's main task, for listings).
    """

    task: str
    task_params: dict
    model: ModelConfig
    train: TrainConfig
    preset: str | None = None
    phases: tuple[PhaseConfig, ...] = ()
    continued: tuple[PhaseConfig, ...] = ()
    """Phases added after the run finished (train --resume RUN --steps N), trained after its own."""

    def to_dict(self) -> dict:
        d = {"task": self.task, "task_params": self.task_params, "preset": self.preset,
             "model": to_dict(self.model), "train": to_dict(self.train)}
        if self.phases:
            d["phases"] = [p.to_dict() for p in self.phases]
        if self.continued:
            d["continued"] = [p.to_dict() for p in self.continued]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        try:
            task = make_task(d["task"], d.get("task_params") or {})
            phases = tuple(PhaseConfig.from_dict(p, f"phases[{i}]") for i, p in enumerate(d.get("phases") or []))
            continued = tuple(PhaseConfig.from_dict(p, f"continued[{i}]")
                              for i, p in enumerate(d.get("continued") or []))
            return cls(task=task.name, task_params=task.params(),
                       model=from_mapping(ModelConfig, d["model"], "model"),
                       train=from_mapping(TrainConfig, d["train"], "train"), preset=d.get("preset"), phases=phases,
                       continued=continued)
        except (KeyError, TypeError, AttributeError) as e:
            raise MemscopeError(f"config is missing or malforms {e}") from None

    def make_task(self) -> Task:
        return make_task(self.task, self.task_params)

    def phase_list(self) -> tuple[PhaseConfig, ...]:
        """The phases to train: the configured ones, or the run's task as one phase; then the continued ones."""
        if self.phases:
            return self.phases + self.continued
        length = {"epochs": self.train.epochs} if self.train.epochs is not None else {"steps": self.train.steps}
        return (PhaseConfig((TaskSpec(self.task, self.task_params),), **length),) + self.continued

    def base(self) -> "RunConfig":
        """The run as it was first configured, without the phases that continued it."""
        return replace(self, continued=()) if self.continued else self

    def eval_tasks(self) -> list[tuple[str, Task]]:
        """(label, task) for every distinct task of the run, in order of first use; labels are task names,
        numbered where one name comes with different parameters."""
        seen: list[TaskSpec] = []
        for phase in self.phase_list():
            for spec in phase.tasks:
                key = TaskSpec(spec.task, spec.params)
                if key not in seen:
                    seen.append(key)
        labels, out = {}, []
        for spec in seen:
            labels[spec.task] = labels.get(spec.task, 0) + 1
            n = labels[spec.task]
            out.append((spec.task if n == 1 else f"{spec.task}{n}", spec.make()))
        return out

    def vocab(self) -> Vocab:
        """The union of the run's tasks' vocabularies (a single task's own vocabulary when it has one)."""
        return run_vocab([t for _, t in self.eval_tasks()])


def run_vocab(tasks: list[Task]) -> Vocab:
    return Vocab("".join(sorted(set().union(*(t.vocab.chars for t in tasks)))))


def build_run_config(task: str | None, preset: str, overrides: dict[str, object] | None = None,
                     phases: list[dict] | None = None) -> RunConfig:
    """Task defaults < preset < overrides. Override keys are `field`, or `task.field`, `model.field`,
    `train.field` where a bare name is ambiguous. Values are command-line text or values of the field's
    type (a study passes `seed=3`, not `seed="3"`), parsed and checked by each field alike.

    phases: the run file's phase tables (each with its tasks); then task settings go into the phases and
    `task` may be None (the first phase's main task names the run)."""
    phase_cfgs = tuple(PhaseConfig.from_dict(p, f"phases[{i}]") for i, p in enumerate(phases or []))
    if task is None:
        if not phase_cfgs:
            raise ConfigError("a run needs a task (or phases with tasks)")
        task = phase_cfgs[0].tasks[0].task
    task_cls = get_task_class(task)
    chosen = get_preset(preset)
    owners = {"model": set(bare_types(ModelConfig)), "train": set(bare_types(TrainConfig))}
    if not phase_cfgs:
        owners = {"task": set(bare_types(task_cls)), **owners}
    groups: dict[str, dict] = {g: {} for g in ("task", "model", "train")}
    for key, value in (overrides or {}).items():
        group, _, name = key.rpartition(".")
        if group:
            if group not in owners or name not in owners[group]:
                hint = " (a run with phases sets task settings in its phases)" if group == "task" else ""
                near = suggest(key, [f"{g}.{n}" for g, names in owners.items() for n in sorted(names)])
                raise ConfigError(f"unknown setting {key!r}{near}{hint}")
        else:
            found = [g for g, names in owners.items() if name in names]
            if not found:
                raise unknown("setting", key, sorted(set().union(*owners.values())))
            if len(found) > 1:
                raise ConfigError(f"setting {key!r} is ambiguous; write {' or '.join(f'{g}.{key}' for g in found)}")
            group = found[0]
        if name in groups[group]:
            raise ConfigError(f"setting {group}.{name} is given twice ({groups[group][name]!r} and {value!r})")
        groups[group][name] = value
    if phase_cfgs:
        main = phase_cfgs[0].tasks[0]
        task_obj = main.make()
        tasks = [spec.make() for p in phase_cfgs for spec in p.tasks]
    else:
        task_obj = make_task(task, groups["task"])
        tasks = [task_obj]
    vocab_size = len(run_vocab(tasks))
    block_size = max(t.block_size for t in tasks)
    model = from_mapping(ModelConfig, {"vocab_size": vocab_size, "block_size": block_size,
                                    **chosen.model, **groups["model"]}, "model")
    if model.vocab_size != vocab_size:
        raise ConfigError(f"vocab_size={model.vocab_size} differs from the {vocab_size} characters of task "
                          f"{task!r}")
    train = from_mapping(TrainConfig, {"batch_size": task_obj.batch_size, **chosen.train, **groups["train"]},
                      "train")
    if train.window is not None and train.window > model.block_size:
        raise ConfigError(f"window={train.window} exceeds the model's block_size={model.block_size}")
    window = train.window or model.block_size
    short = [t for t in tasks if len(t.text) <= window]
    if short:
        name = "window" if train.window is not None else "block_size"
        raise ConfigError(f"{name}={window} needs a training text longer than {len(short[0].text)} characters "
                          f"(task {short[0].name!r})")
    if phase_cfgs and train.epochs is not None:
        raise ConfigError("epochs= is set per phase in a run with phases")
    if phase_cfgs and "steps" in groups["train"]:  # it would be ignored: each phase has its own length
        raise ConfigError(f"steps={groups['train']['steps']} does not apply to a run with phases: each phase "
                          "sets its own length (steps or epochs in its [[phases]] table)", param="steps")
    return RunConfig(task_obj.name, task_obj.params(), model, train, preset, phase_cfgs)


def same_config(old: RunConfig, new: RunConfig) -> list[str]:
    """Settings in which two configs differ, runtime fields (device, threads, compile) aside."""
    a, b = old.to_dict(), new.to_dict()
    for d in (a, b):
        d["train"] = {k: v for k, v in d["train"].items() if k not in RUNTIME_FIELDS}
    diffs = []
    for section in sorted(set(a) | set(b)):
        x, y = a.get(section), b.get(section)
        if isinstance(x, dict) and isinstance(y, dict):
            keys = set(x) | set(y)
            diffs += [f"{section}.{k}" for k in sorted(keys) if x.get(k) != y.get(k)]
        elif json.dumps(x, sort_keys=True) != json.dumps(y, sort_keys=True):
            diffs.append(section)
    return diffs


def resumed_config(out: str | None, bare: list[str], overrides: dict[str, object]) -> tuple[Path, RunConfig]:
    """`train --resume RUN` (or `--out RUN --resume`) without --task, --model or --config: the run directory
    and its own config (as first configured) with the model and train settings given applied (the trainer
    refuses any that differ from the run's but steps, continue_lr and the runtime fields)."""
    runs = list(dict.fromkeys([*([out] if out else []), *bare]))
    if len(runs) != 1:
        raise ConfigError("give --task and --model, a run file with --config, or the run to resume (--resume RUN)"
                          if not runs else f"give one run to resume, not {', '.join(escape(r) for r in runs)}")
    run = Path(runs[0])
    rc = load_run_config(run).base()
    groups = {"model": to_dict(rc.model), "train": to_dict(rc.train)}
    for key, value in overrides.items():
        group, _, name = key.rpartition(".")
        found = [g for g in groups if name in groups[g] and group in ("", g)]
        if len(found) != 1:
            raise ConfigError(f"setting {key!r}: resuming {escape(run)} by its directory takes its model and "
                              "training settings only (steps=N continues a finished run)")
        groups[found[0]][name] = value
    return run, replace(rc, model=from_mapping(ModelConfig, groups["model"], "model"),
                        train=from_mapping(TrainConfig, groups["train"], "train"))


def load_run_config(run_dir: Path) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MemscopeError(f"no run directory at {run_dir}")
    return RunConfig.from_dict(store.read_json(run_dir / store.CONFIG, "run config"))
