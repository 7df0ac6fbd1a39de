"""run_many and run_grid: train every missing run of a store with an executor, resumable."""
from __future__ import annotations

import logging
import time
from pathlib import Path


from .. import store
from ..data.phases import phase_plan
from ..errors import MemscopeError
from ..runconfig import RunConfig, same_config
from ..progress import progress
from ..runfile import MAX_RUNS, Spec, expand, load_grid
from . import executors
from .executors import check_executor
from .groups import make_groups
from .index import Index

log = logging.getLogger("memscope.sweep")


def run_many(specs: list[Spec], root: Path, executor: str = "local", workers: int | None = None,
             address: str | None = None, max_k: int | None = None) -> dict[str, dict]:
    """Train every spec that is not done into root/<name>; returns name -> summary for all of them.

    Everything is checked (the executor, the runs already in root) before root or its index is written."""
    check_executor(executor)
    root = Path(root)
    check_existing(specs, root)
    index = Index(root)
    try:
        by_name = dict(specs)
        groups = make_groups(specs, root, max_k)
        for name, rc in specs:
            summary_path = root / name / store.SUMMARY
            done = summary_path.is_file()
            index.set(name, rc, "done" if done else "pending",
                      store.read_json(summary_path, "summary") if done else None)
        jobs = [[(name, rc.to_dict()) for name, rc in g] for g in groups]
        _run_jobs(jobs, root, executor, workers or (1 if executor == "local" else 2), address, index, by_name,
                  len(specs))
        return {name: store.read_json(root / name / store.SUMMARY, "summary") for name, _ in specs}
    finally:
        index.close()



def check_existing(specs: list[Spec], root: Path) -> None:
    """Refuse the sweep if a run directory of root holds a run other than its spec (other steps, say): the
    sweep would otherwise list the old run as the new one, or train over it."""
    for name, rc in specs:
        path = root / name / store.CONFIG
        if not path.is_file():
            continue
        diffs = same_config(RunConfig.from_dict(store.read_json(path, "run config")), rc)
        if diffs:
            raise MemscopeError(f"{root / name} holds a run with other settings ({', '.join(diffs[:5])}): "
                                "choose another --store or remove it")


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


def run_grid(path: Path, root: Path, executor: str = "local", workers: int | None = None,
             address: str | None = None, max_k: int | None = None, max_runs: int | None = None) -> dict:
    """Train the grid file at path into root (see run_many); max_runs: the most runs it may expand to
    (None: MAX_RUNS)."""
    check_executor(executor)  # before the grid is expanded, which can take a while
    grid = load_grid(path)
    specs = expand(grid, MAX_RUNS if max_runs is None else max_runs)
    summaries = run_many(specs, root, executor, workers, address, max_k)
    return {"name": grid.name, "store": str(root), "runs": summaries}
