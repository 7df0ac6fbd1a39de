"""run_many and run_grid: train every missing run of a store with an executor, resumable."""
from __future__ import annotations

import logging
import time
from pathlib import Path


from .. import store
from ..data.phases import phase_plan
from ..errors import ConfigError, MemscopeError, escape
from ..runconfig import RunConfig, same_config
from ..runtime import check_runs
from ..progress import progress
from ..runfile import Spec, expand, load_grid
from . import executors
from .executors import check_executor
from .groups import make_groups
from ..train.checkpoint import check_state
from .index import INDEX, Index
from .settings import SweepSettings

log = logging.getLogger("memscope.sweep")


def run_many(specs: list[Spec], root: Path, executor: str = "local", workers: int | None = None,
             address: str | None = None, max_k: int | None = None) -> dict[str, dict]:
    """Train every spec that is not done into root/<name>; returns name -> summary for all of them.

    Everything is checked (the executor, the runs already in root) before root or its index is written."""
    check_executor(executor)
    root = Path(root)
    check_existing(specs, root)
    check_runs([rc for _, rc in specs])  # device, callbacks, phases: before the index is created
    workers = workers or (1 if executor == "local" else 2)
    with executors.session(executor, workers, address):  # a Ray that cannot start leaves no store behind
        index = Index(root)
        try:
            by_name = dict(specs)
            groups = make_groups(specs, root, max_k)
            for name, rc in specs:
                done = (root / name / store.SUMMARY).is_file()
                index.set(name, rc, "done" if done else "pending",
                          store.read_summary(root / name) if done else None)
            jobs = [[(name, rc.to_dict()) for name, rc in g] for g in groups]
            _run_jobs(jobs, root, executor, workers, address, index, by_name, len(specs))
            return {name: store.read_summary(root / name) for name, _ in specs}
        finally:
            index.close()



def check_existing(specs: list[Spec], root: Path) -> None:
    """Refuse the sweep, before its store or index is written, if the store or a run directory in it is
    damaged or not its spec's: the store or its index a link to nothing or out of the store, a special file
    in their place, a run directory holding files but no config.json (a finished run there would otherwise
    be reused unchecked), a damaged config.json, summary.json or checkpoint, or a run with other settings
    (other steps, say: the sweep would otherwise list the old run as the new one, or train over it)."""
    root = Path(root)
    if root.is_symlink() and not root.exists():
        raise MemscopeError(f"--store {escape(root)} is a link to nothing: remove it or choose another store")
    store.safe_path(root, kind="dir")
    if not root.exists():
        return
    store.safe_path(root, INDEX)
    for name, rc in specs:
        run_dir = store.safe_path(root, name, kind="dir")
        if not run_dir.is_dir() or not any(p.name != store.LOCK for p in run_dir.iterdir()):
            continue
        if not store.safe_path(run_dir, store.CONFIG).is_file():
            raise MemscopeError(f"{escape(run_dir)} holds files but no {store.CONFIG} (a damaged run): remove the "
                                "directory and rerun the sweep to train it anew")
        hint = "remove the run's directory and rerun the sweep to train it anew"
        config = RunConfig.from_dict(store.read_json(run_dir / store.CONFIG, "run config", root=run_dir, hint=hint))
        diffs = same_config(config, rc)
        if diffs:
            raise MemscopeError(f"{escape(run_dir)} holds a run with other settings ({', '.join(diffs[:5])}): "
                                "choose another --store or remove it")
        if store.safe_path(run_dir, store.SUMMARY).is_file():
            store.read_summary(run_dir, "remove it and rerun the sweep to finish the run from its checkpoint")
        elif store.safe_path(run_dir, store.CHECKPOINT).is_file():
            path = run_dir / store.CHECKPOINT
            state = store.read_metadata(path)
            if "step" not in state:
                raise MemscopeError(f"corrupt checkpoint {escape(path)} (no step): remove it and rerun the sweep to "
                                    "train the run from step 0")
            check_state(path, state, phase_plan(rc)[-1].end)


def _run_jobs(jobs, root, executor, workers, address, index, by_name, n_runs) -> None:
    total_steps = sum(phase_plan(by_name[name])[-1].end for job in jobs for name, _ in job)
    bar = progress(total=n_runs, initial=n_runs - sum(len(j) for j in jobs), unit="run", desc="sweep")
    t0, steps_done, errors = time.perf_counter(), 0, []
    unfinished = {name for job in jobs for name, _ in job}
    for name in unfinished:
        index.set(name, by_name[name], "running")
    try:
        for job, result in executors.SUBMIT[executor](jobs, root, workers, address):
            unfinished -= {name for name, _ in job}
            if isinstance(result, BaseException):
                log.error("sweep: group %s failed: %s", job[0][0], result)
                errors.append(f"{job[0][0]}: {str(result).splitlines()[0] if str(result) else type(result).__name__}")
                for name, _ in job:
                    index.set(name, by_name[name], "failed")
                continue
            for name, s in result.items():
                index.set(name, by_name[name], "done", s)
                steps_done += s.get("steps_run") or s["steps"]
            rate = steps_done / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix(steps_per_s=f"{rate:.0f}", left_s=f"{(total_steps - steps_done) / max(rate, 1e-9):.0f}")
            bar.update(len(job))
    except BaseException:  # the executor itself failed (no Ray cluster) or was interrupted: not running now
        for name in sorted(unfinished):
            index.set(name, by_name[name], "pending")
        raise
    finally:
        bar.close()
    if errors:
        raise MemscopeError(f"{len(errors)} group(s) failed, first {errors[0]}; rerun the sweep to retry")


def run_grid(path: Path, root: Path, settings: SweepSettings | None = None, **kw) -> dict:
    """Train the grid file at path into root (see run_many). Settings: a SweepSettings or its fields as
    keywords (`executor="pool"`, `workers=4`, `ensemble=8`, `max_runs=20_000`)."""
    if settings is not None and kw:
        raise ConfigError("give sweep settings as a SweepSettings or as keywords, not both")
    settings = settings or SweepSettings(**kw)
    check_executor(settings.executor)  # before the grid is expanded, which can take a while
    grid = load_grid(path)
    specs = expand(grid, settings.max_runs)
    summaries = run_many(specs, root, settings.executor, settings.workers, settings.address, settings.ensemble)
    return {"name": grid.name, "store": str(root), "runs": summaries}
