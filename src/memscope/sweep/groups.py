"""Grouping a sweep's runs into ensembles (one shape, schedule and resume step) and timing them."""
from __future__ import annotations

from pathlib import Path

from .. import store
from ..data.phases import phase_plan
from ..runconfig import RunConfig
from ..runfile import Spec
from ..runtime import resolve_device
from ..train import group_key


def _checkpoint_step(run_dir: Path) -> int:
    path = run_dir / store.CHECKPOINT
    return int(store.read_metadata(path).get("step", 0)) if path.is_file() else 0


def activation_size(rc: RunConfig) -> int:
    """Numbers in one activation of one member's step (tokens x width): what a step of these small models
    costs on a CPU, more than its FLOPs (docs/BENCHMARKS.md)."""
    return rc.train.batch_size * (rc.train.window or rc.model.block_size) * rc.model.n_embd


def ensemble_size(rc: RunConfig) -> int:
    """Members per ensemble on this machine. On a CPU, stacking pays while a member's activations are small
    (a step's fixed costs dominate: n14 at batch 64, 16 members give 3.7x the model-steps per second of
    one); once one activation holds about 64k numbers (tokens x width: n14 arithmetic at batch 441, n56 at
    128) a member costs what it costs alone or more, so stacking stops (docs/BENCHMARKS.md). A GPU fills
    with up to 64."""
    if resolve_device(rc.train.device).type == "cuda":
        return 64
    return max(1, min(64, 65_536 // activation_size(rc)))


def work(rc: RunConfig) -> int:
    """A run's relative cost for scheduling: steps x layers x the size of one activation."""
    return phase_plan(rc)[-1].end * rc.model.n_layer * activation_size(rc)


def make_groups(specs: list[Spec], root: Path, max_k: int | None = None) -> list[list[Spec]]:
    """Runs still to train, grouped by shape, schedule and resume step, in chunks of the ensemble size,
    the costliest group first."""
    buckets: dict[tuple[str, int], list[Spec]] = {}
    for name, rc in specs:
        run_dir = root / name
        if (run_dir / store.SUMMARY).is_file():
            continue
        buckets.setdefault((group_key(rc), _checkpoint_step(run_dir)), []).append((name, rc))
    groups = []
    for members in buckets.values():
        k = max_k or ensemble_size(members[0][1])
        groups += [members[i: i + k] for i in range(0, len(members), k)]
    # longest first, so that a pool's or a cluster's last jobs are short ones
    return sorted(groups, key=lambda g: sum(work(rc) for _, rc in g), reverse=True)


def estimate_train_s(specs: list[Spec], root: Path, steps: int = 20, warmup: int = 5,
                     max_k: int | None = None) -> float:
    """Seconds the training steps of the runs still missing in root should take here, one group after
    another: `steps` timed optimiser steps (after `warmup`; bench.time_group_steps) of each distinct group as
    run_many forms it (shape, schedule, member count), times the group's steps. Evaluations, callbacks and
    measuring afterwards are not counted; divide by the workers for a pool."""
    from ..bench import time_group_steps
    from ..runtime import configure_cpu
    per_step: dict[tuple, float] = {}
    total = 0.0
    for g in make_groups(specs, root, max_k):
        rcs = [rc for _, rc in g]
        t = rcs[0].train  # what a step's cost depends on: shape, batch, precision, sampler, members
        key = (repr(rcs[0].model), rcs[0].task, t.batch_size, t.precision,
               t.sampler, t.device, len(g))
        if key not in per_step:
            dev = resolve_device(rcs[0].train.device)
            configure_cpu(dev, rcs[0].train.threads)  # as the trainer will
            per_step[key], _ = time_group_steps(rcs, dev, steps, warmup)
        total += per_step[key] * phase_plan(rcs[0])[-1].end
    return total
