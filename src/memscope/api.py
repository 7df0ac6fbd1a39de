"""The notebook-facing API: keywords and typed settings in, results with `.to_dict()` and `.to_frame()` out.

    import memscope
    run = memscope.train(task="arithmetic", model="n14", steps=200, out="runs/a", batch_size=32)
    run.to_frame()                                  # one row per evaluation
    result = memscope.audit("runs/a", members=["<3+4=7>"], nonmembers=["<3+5=8>"])
    result.to_frame()                               # one row per sample

Errors are typed (memscope.errors.MemscopeError and its ConfigError), worded for a Python caller; the
command line prints the same message in one line and exits with status 2.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .config import ModelConfig, TrainConfig
from .errors import ConfigError
from .results import Result, RunResult


def _overrides_of(obj) -> dict[str, object]:
    """A typed settings object as overrides of its non-default fields (typed values: build_run_config takes
    them as they are)."""
    prefix = "model." if isinstance(obj, ModelConfig) else "train."
    return {prefix + f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
            if getattr(obj, f.name) != f.default}


def train(rc=None, out_dir: Path | str | None = None, resume: bool = False, *, task: str | None = None,
          model: str = "n14", out: Path | str | None = None, model_settings: ModelConfig | None = None,
          train_settings: TrainConfig | None = None, **settings) -> RunResult:
    """Train one run and return its summary (a dict; `.to_frame()` its evaluations).

    Either a RunConfig (`train(rc, "runs/x")`, as the command line does) or keywords: `task`, `model` (a
    preset: n14, n28, n56, mlt), `out` (default runs/TASK-MODEL-seedSEED), typed `model_settings` /
    `train_settings` objects, and any setting as a keyword (`steps=200`, `learning_rate=3e-3`,
    `withheld="5,7"`), checked as `key=value` is on the command line.
    """
    from .runconfig import RunConfig, build_run_config
    from .train import train as train_run
    if rc is not None and not isinstance(rc, RunConfig):
        if task is not None:
            raise ConfigError("give the task once: train(rc) or train(task=...)")
        task, rc = rc, None  # train("arithmetic", ...) reads as train(task="arithmetic", ...)
    if rc is None:
        if task is None:
            raise ConfigError("train needs a RunConfig or task=")
        overrides = {}
        for obj in (model_settings, train_settings):
            if obj is not None:
                overrides.update(_overrides_of(obj))
        overrides.update({k: ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
                          for k, v in settings.items()})
        rc = build_run_config(task, model, overrides)
    elif settings or model_settings or train_settings:
        raise ConfigError("settings go into the RunConfig (build_run_config) when one is given")
    where = out_dir if out_dir is not None else out
    run_dir = Path(where) if where is not None else Path("runs") / f"{rc.task}-{rc.preset}-seed{rc.train.seed}"
    return RunResult(train_run(rc, run_dir, resume=resume), run_dir)


def audit(target, members, nonmembers, reference=None, canaries=None, settings=None, **kw):
    """Audit a memscope run or a Hugging Face model directory on members and non-members given as lists of
    strings (or files); returns an AuditResult (`.to_dict()`, `.to_frame()`). Settings: an AuditSettings or
    its fields as keywords (`device="cpu"`, `batch_size=64`)."""
    from .audit.core import AuditSettings, audit as run_audit
    if settings is not None and kw:
        raise ConfigError("give audit settings as an AuditSettings or as keywords, not both")
    settings = settings or AuditSettings(**kw)
    return run_audit(Path(target), members, nonmembers, Path(reference) if reference else None, canaries, settings)


def reproduce(study: str, profile: str = "quick", **options) -> Result:
    """Run a study by name (as `memscope reproduce STUDY`); its result's `.to_frame()` lists its claims."""
    from .studies import reproduce as run_study
    return Result(run_study(study, profile, **options))
