"""A run's phases resolved into step ranges: which phase a step belongs to, and what each phase reads."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import ConfigError
from ..runconfig import MAX_STEPS, RunConfig
from ..tasks import Task
from .samplers import check_lines, epoch_plan, resolve_sampler


@dataclass(frozen=True)
class PhasePlan:
    index: int
    name: str
    start: int
    """Global step at which the phase begins."""
    steps: int
    sampler: str
    restart: bool
    rows_per_epoch: int | None
    """Rows of one epoch (epochs sampler), else None."""
    steps_per_epoch: int | None
    lr: float | None = None
    """A learning rate held through the phase (PhaseConfig.constant_lr), else None: the run's schedule."""

    @property
    def end(self) -> int:
        return self.start + self.steps


def phase_plan(rc: RunConfig) -> list[PhasePlan]:
    """Every phase of the run with its global step range, sampler and epoch size."""
    plans, start = [], 0
    for i, phase in enumerate(rc.phase_list()):
        tasks: list[Task] = [spec.make() for spec in phase.tasks]
        sampler = resolve_sampler(rc.train.sampler, tasks[0])
        for task in tasks:
            check_lines(task, sampler, rc.train.window or rc.model.block_size)
        rows = spe = None
        if sampler == "epochs":
            rows, spe = epoch_plan(tasks, [t.share for t in phase.tasks], rc.train.batch_size)
            steps = phase.steps if phase.steps is not None else phase.epochs * spe
        else:
            if phase.epochs is not None:
                raise ConfigError(f"phase {phase.name or i}: a length in epochs needs sampler=epochs")
            steps = phase.steps
        plans.append(PhasePlan(i, phase.name or f"phase{i + 1}", start, steps, sampler, phase.restart, rows, spe,
                               phase.constant_lr))
        start += steps
        if start > MAX_STEPS:
            raise ConfigError(f"the phases ask for {start:,} steps, more than the limit of {MAX_STEPS:,}")
    return plans


def plan_signature(rc: RunConfig) -> str:
    """What runs trained together must share about their data order: each phase's length, sampler, epoch
    size, restart, held learning rate, and its tasks' names and shares (their parameters may differ)."""
    sig = [{"steps": p.steps, "sampler": p.sampler, "rows_per_epoch": p.rows_per_epoch, "restart": p.restart,
            "tasks": [(t.task, t.share) for t in phase.tasks], **({} if p.lr is None else {"lr": p.lr})}
           for p, phase in zip(phase_plan(rc), rc.phase_list())]
    return json.dumps(sig, sort_keys=True)
