"""Sweeps: expand a grid of runs, group runs of one shape into ensembles, train them with an executor.

A grid file (TOML or JSON; read as data, never executed):

    tasks = ["arithmetic"]            # or task = "arithmetic", or phases (below) instead
    models = ["n14", "n28"]           # presets (or model = "n14")
    seeds = [0, 1, 2]                 # or seeds = 3 for 0, 1, 2
    [settings]                        # fixed key = value settings, as on the train command line
    steps = 3000
    [grid]                            # each key a list of values: one run per combination
    withheld = ["5,7", "2,3"]

A run with phases or a task mixture names its tasks in the phases instead of `task` (runconfig.py):

    [[phases]]                        # phase 1: pretraining, 3 epochs of the main task
    name = "pretrain"
    epochs = 3
    [[phases.tasks]]
    task = "random-tokens"
    n_sequences = 256
    [[phases]]                        # phase 2: new data with 25% replay of phase 1's, fresh optimizer
    name = "continue"
    epochs = 2
    restart = true
    [[phases.tasks]]
    task = "random-tokens"
    n_sequences = 256
    seed = 1
    [[phases.tasks]]
    task = "random-tokens"
    n_sequences = 256
    share = 0.25

The same schema naming one run (one model and seed, no [grid]) is a run file: `memscope train --config`.

Every run trains into STORE/<name>/ (a normal run directory) and is listed in STORE/index.sqlite with its
config hash and status (pending, running, done, failed). A run whose summary.json exists is never trained
again, and a run with a checkpoint resumes from it, so rerunning a killed sweep trains only what is
missing. A run directory that already holds a config.json must hold the very run the grid asks for
(`same_config`, runtime fields such as device aside): if any differs (say 400 steps where the grid now asks
for 200), the whole sweep is refused before anything is trained or written, naming the run and the
settings, rather than reusing or overwriting it; choose another store or remove the run.

Nothing is written before everything is checked: the executor, the grid, every run's settings and the
existing runs. A grid is sized from its lists before it is expanded, and one of more than MAX_RUNS runs is
refused unless max_runs is raised (`--max-runs`). The training seed of each run is `train.seed` (a task's
own data seed, as random-tokens', is `task.seed`). A job that fails, with any exception, marks its runs
`failed` in the index and the sweep ends with one line naming the first failed group. Executors: `local` (this process), `pool` (worker processes with one torch thread each), `ray`
(Ray tasks on a local instance or the cluster at --address; `pip install memscope[ray]`; on several
machines STORE must be a shared filesystem; a cluster that does not answer within RAY_CONNECT_S seconds is
an error naming its address).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import os
import re
import socket
import sqlite3
import sys
import threading
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import product
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from . import store
from .errors import ConfigError, MemscopeError
from .data.phases import phase_plan
from .runconfig import same_config
from .runtime import resolve_device
from .train import RunConfig, build_run_config, group_key, train_group

log = logging.getLogger(__name__)

EXECUTORS = ("local", "pool", "ray")
INDEX = "index.sqlite"
MAX_RUNS = 10_000
"""Most runs a grid may expand to unless the caller raises max_runs: a bigger one is most likely a typo, and
expanding it alone takes minutes (about 2 ms a run)."""
RAY_CONNECT_S = 30.0
"""Seconds to wait for a Ray cluster at --address before giving up (Ray itself retries without end)."""
_SEED_KEYS = ("seed", "train.seed")
Spec = tuple[str, RunConfig]
"""(run name, its config): the name is the run's directory under the store."""


@dataclass(frozen=True)
class Grid:
    """A parsed grid file."""

    tasks: tuple[str, ...]
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    name: str = "sweep"
    phases: tuple[dict, ...] = ()
    """Phase tables (runconfig.PhaseConfig), the same for every run of the grid."""


_GRID_KEYS = {"name", "task", "tasks", "model", "models", "seeds", "settings", "grid", "phases"}


def _text(value, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ConfigError(f"{where}: {value!r} must be a string, number or boolean")


def _names(d: dict, one: str, many: str) -> tuple[str, ...]:
    value = d.get(many, d.get(one))
    if value is None:
        raise ConfigError(f"grid file needs {many!r} (or {one!r})")
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"grid file: {many!r} must be a name or a non-empty list of names")
    return tuple(values)


def parse_grid(d: dict) -> Grid:
    unknown = sorted(set(d) - _GRID_KEYS)
    if unknown:
        raise ConfigError(f"grid file: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_GRID_KEYS))}")
    seeds = d.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool) and 0 < seeds <= MAX_RUNS:
        seeds = list(range(seeds))
    elif isinstance(seeds, int) and not isinstance(seeds, bool) and seeds > MAX_RUNS:
        raise ConfigError(f"grid file: seeds = {seeds} asks for more runs than the limit of {MAX_RUNS:,}")
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2 ** 63 for s in seeds):
        raise ConfigError("grid file: 'seeds' must be a positive count or a list of integers in [0, 2^63)")
    settings, grid = d.get("settings", {}), d.get("grid", {})
    if not isinstance(settings, dict) or not isinstance(grid, dict):
        raise ConfigError("grid file: 'settings' and 'grid' must be tables of key = value")
    settings = {k: _text(v, f"settings.{k}") for k, v in settings.items()}
    for k, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid file: grid.{k} must be a non-empty list of values")
    grid = {k: [_text(v, f"grid.{k}") for v in values] for k, values in grid.items()}
    for key in _SEED_KEYS:
        if key in settings or key in grid:
            raise ConfigError(f"grid file: set the training seeds with 'seeds', not {key!r} "
                              "(a task's own data seed is 'task.seed')")
    phases = d.get("phases", [])
    if not isinstance(phases, list) or not all(isinstance(p, dict) for p in phases):
        raise ConfigError("grid file: 'phases' must be a list of tables ([[phases]])")
    if phases:
        if "task" in d or "tasks" in d:
            raise ConfigError("grid file: with phases, the tasks go into each phase ([[phases.tasks]]), "
                              "not into 'task'")
        first = (phases[0].get("tasks") or [{}])[0]
        tasks = (first.get("task"),) if isinstance(first, dict) and isinstance(first.get("task"), str) else None
        if tasks is None:
            raise ConfigError("grid file: the first phase needs a task ([[phases.tasks]] with task = \"...\")")
    else:
        tasks = _names(d, "task", "tasks")
    return Grid(tasks, _names(d, "model", "models"), tuple(seeds), settings, grid, str(d.get("name", "sweep")),
                tuple(phases))


def load_grid(path: Path, what: str = "grid file") -> Grid:
    """A grid (or run) file, TOML or JSON, read as data."""
    path = Path(path)
    if not path.is_file():
        raise MemscopeError(f"no {what} at {path}")
    try:
        if path.suffix == ".toml":
            d = tomllib.loads(path.read_text())
        elif path.suffix == ".json":
            d = store.loads(path.read_text())
        else:
            raise MemscopeError(f"grid file {path} must end in .toml or .json")
    except RecursionError:
        raise MemscopeError(f"corrupt {what} {path}: nested too deeply") from None
    except (tomllib.TOMLDecodeError, ValueError, UnicodeDecodeError) as e:  # JSON errors are ValueErrors
        raise MemscopeError(f"corrupt grid file {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(d, dict):
        raise MemscopeError(f"grid file {path} must hold a table / object")
    return parse_grid(d)


def load_run_file(path: Path, overrides: dict[str, str] | None = None) -> RunConfig:
    """A run file: the grid schema (task or phases, model, seed, [settings]) naming exactly one run, for
    `memscope train --config`. overrides (command-line key=value) go over its settings."""
    grid = load_grid(path, "run file")
    if len(grid.models) != 1 or len(grid.seeds) != 1 or len(grid.tasks) != 1 or grid.grid:
        raise ConfigError(f"run file {path} describes several runs (models, seeds, tasks or [grid] with several "
                          "values): train them with memscope sweep")
    settings = {**grid.settings, **(overrides or {})}
    if not any(k in settings for k in _SEED_KEYS):  # `seed` alone is ambiguous for tasks with their own
        settings["train.seed"] = str(grid.seeds[0])
    return build_run_config(grid.tasks[0], grid.models[0], settings, list(grid.phases) or None)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", text).strip("_")


def grid_size(grid: Grid) -> int:
    """Runs the grid expands to, from the lengths of its lists alone."""
    return len(grid.tasks) * len(grid.models) * len(grid.seeds) * math.prod(len(v) for v in grid.grid.values())


def expand(grid: Grid, max_runs: int = MAX_RUNS) -> list[Spec]:
    """Every (task, model, grid point, seed) as a named RunConfig; bad settings fail here, before training.
    A grid of more than max_runs runs is refused before any is built."""
    n_runs = grid_size(grid)
    if n_runs > max_runs:
        raise ConfigError(f"grid expands to {n_runs:,} runs, more than max_runs={max_runs:,} allows: shrink the "
                          "grid or raise that limit", param="max_runs")
    specs: list[Spec] = []
    keys = list(grid.grid)
    for task, model, values in product(grid.tasks, grid.models, product(*grid.grid.values())):
        point = dict(zip(keys, values))
        for seed in grid.seeds:
            rc = build_run_config(task, model, {**grid.settings, **point, "train.seed": str(seed)},
                                  list(grid.phases) or None)
            parts = [task, model] + [f"{k}={v}" for k, v in point.items()] + [f"seed{seed}"]
            specs.append((_slug("-".join(parts)), rc))
    names = [n for n, _ in specs]
    if len(set(names)) != len(names):
        raise ConfigError("grid expands to two runs with one name; make the grid's values distinct")
    return specs


def config_hash(rc: RunConfig) -> str:
    return hashlib.sha256(json.dumps(rc.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- the index
_COLUMNS = ("name", "config_hash", "task", "model", "seed", "status", "summary", "updated")


class Index:
    """STORE/index.sqlite: one row per run (name, config hash, status, summary); written by the driver only."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / INDEX
        if self.path.exists() and not self.path.is_file():
            raise MemscopeError(f"corrupt run index: {self.path} is not a file")
        existed = self.path.is_file()
        self.db = sqlite3.connect(self.path)
        with self._reading():
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if existed and "runs" not in tables:
                raise sqlite3.DatabaseError(f"it holds tables {sorted(tables)}, not memscope's runs")
            self.db.execute("CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, config_hash TEXT, task TEXT, "
                            "model TEXT, seed INTEGER, status TEXT, summary TEXT, updated REAL)")
            self.db.commit()
            columns = [row[1] for row in self.db.execute("PRAGMA table_info(runs)")]
            if columns != list(_COLUMNS):
                raise sqlite3.DatabaseError(f"its runs table has columns {columns}, not memscope's")

    @contextlib.contextmanager
    def _reading(self):
        """sqlite3 says 'file is not a database' (or worse) only at the first statement: one line instead."""
        try:
            yield
        except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
            self.db.close()
            raise MemscopeError(f"corrupt run index: {self.path} ({e}); move it aside and rerun the sweep "
                                "to rebuild it") from None

    def set(self, name: str, rc: RunConfig, status: str, summary: dict | None = None) -> None:
        with self._reading(), self.db:
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (name, config_hash(rc), rc.task, rc.preset, rc.train.seed, status,
                             None if summary is None else json.dumps(summary), time.time()))

    def rows(self) -> list[dict]:
        with self._reading():
            cur = self.db.execute("SELECT name, config_hash, task, model, seed, status, summary FROM runs "
                                  "ORDER BY name")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, row)) | {"summary": json.loads(row[-1]) if row[-1] else None} for row in cur]

    def close(self) -> None:
        self.db.close()


def list_runs(root: Path) -> list[dict]:
    root = Path(root)
    if not (root / INDEX).is_file():
        raise MemscopeError(f"no run index at {root / INDEX}")
    index = Index(root)
    try:
        return index.rows()
    finally:
        index.close()


# ----------------------------------------------------------------------------- grouping
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
    from .bench import time_group_steps
    from .runtime import configure_cpu
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


def train_group_job(group: list[tuple[str, dict]], root: str) -> dict[str, dict]:
    """Train one group (names and config dicts: plain data, so it crosses process and Ray boundaries)."""
    rcs = [RunConfig.from_dict(d) for _, d in group]
    ensemble_file = Path(root) / "ensembles" / f"{group[0][0]}-k{len(group)}.safetensors" if len(group) > 1 else None
    summaries = train_group(rcs, [Path(root) / name for name, _ in group], resume=True, ensemble_file=ensemble_file)
    return {name: s for (name, _), s in zip(group, summaries)}


# ----------------------------------------------------------------------------- executors
# Each yields (job, summaries or the exception the job raised), as jobs finish.
def _submit_local(jobs, root, workers, address):
    for job in jobs:
        try:
            result = train_group_job(job, str(root))
        except Exception as e:  # as the pool and Ray executors: any job's failure is recorded, not raised
            log.debug("sweep: group %s failed", job[0][0], exc_info=True)
            result = e
        yield job, result


def _exit_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: end this worker when the sweep that started it dies (even by SIGKILL), so a
    rerun never races an orphan for the same runs."""
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _submit_pool(jobs, root, workers, address):
    # spawn: a fresh interpreter per worker (no forked torch thread pools); one torch thread each (config).
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_exit_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(train_group_job, job, str(root)): job for job in jobs}
        for f in as_completed(futures):
            yield futures[f], (f.exception() or f.result())


def within(fn, timeout_s: float, message: str):
    """fn() in a daemon thread; MemscopeError(message) if it has not returned after timeout_s (the thread is
    left behind: what it waits on, as Ray's connection retries, cannot be interrupted)."""
    out: dict = {}

    def call():
        try:
            out["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            out["error"] = e
    thread = threading.Thread(target=call, daemon=True, name="memscope-deadline")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise MemscopeError(message)
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a `host:port` or `ray://host:port` address; None for `auto` and the like."""
    m = re.fullmatch(r"(?:ray://)?\[?([^\[\]/]+?)\]?:(\d+)/?", address)
    return (m.group(1), int(m.group(2))) if m else None


def _ray_connect(ray, address: str | None, workers: int, timeout_s: float = RAY_CONNECT_S) -> None:
    """ray.init on a local instance, or on the cluster at address within timeout_s seconds: Ray alone retries
    an address that does not answer for ever."""
    if not address:
        ray.init(log_to_driver=False, num_cpus=workers, include_dashboard=False)
        return
    where = _host_port(address)
    if where:  # an unknown host or a closed port fails at once, without Ray's retries
        try:
            socket.create_connection(where, timeout=min(timeout_s, 10.0)).close()
        except OSError as e:
            raise MemscopeError(f"no Ray cluster at address={address} ({e})", param="address") from None
    within(lambda: ray.init(address=address, log_to_driver=False), timeout_s,
           f"no Ray cluster answered at address={address} within {timeout_s:.0f} s")


def _submit_ray(jobs, root, workers, address):
    try:
        import ray
    except ImportError:
        raise MemscopeError("executor=ray needs Ray: pip install 'memscope[ray]'", param="executor") from None
    started = not ray.is_initialized()
    if started:
        _ray_connect(ray, address, workers)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(train_group_job)
        pending = {remote.remote(job, str(root.resolve())): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                yield job, ray.get(done[0])
            except Exception as e:  # RayTaskError wraps the job's own exception
                yield job, getattr(e, "cause", None) or e
    finally:
        if started:
            ray.shutdown()


_SUBMIT = {"local": _submit_local, "pool": _submit_pool, "ray": _submit_ray}


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


def check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise MemscopeError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise MemscopeError("executor=ray needs Ray: pip install 'memscope[ray]'", param="executor")


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
    bar = tqdm(total=n_runs, initial=n_runs - sum(len(j) for j in jobs), unit="run", desc="sweep",
               disable=not sys.stderr.isatty())
    t0, steps_done, errors = time.perf_counter(), 0, []
    unfinished = {name for job in jobs for name, _ in job}
    for name in unfinished:
        index.set(name, by_name[name], "running")
    try:
        for job, result in _SUBMIT[executor](jobs, root, workers, address):
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
