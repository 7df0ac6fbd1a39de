"""Sweeps: expand a grid of runs, group runs of one shape into ensembles, train them with an executor.


Grid and run files (the schema naming runs) are read by memscope.runfile.

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

from ..runfile import MAX_RUNS, Grid, Spec, expand, grid_size, load_grid, load_run_file, parse_grid
from .executors import EXECUTORS, RAY_CONNECT_S, check_executor, train_group_job, within
from .groups import activation_size, ensemble_size, estimate_train_s, make_groups, work
from .index import INDEX, Index, config_hash, list_runs
from .runner import check_existing, run_grid, run_many
from .settings import SweepSettings

__all__ = ["MAX_RUNS", "Grid", "Spec", "expand", "grid_size", "load_grid", "load_run_file", "parse_grid", "EXECUTORS",
           "RAY_CONNECT_S", "check_executor", "train_group_job", "within", "activation_size", "ensemble_size",
           "estimate_train_s", "make_groups", "work", "INDEX", "Index", "config_hash", "list_runs", "check_existing",
           "run_grid", "run_many", "SweepSettings"]
