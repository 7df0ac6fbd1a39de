"""Grid and run files: the schema (TOML or JSON, read as data, never executed) that names runs.

A grid file:

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

`load_run_file` reads a run file for `memscope train --config` (one run, no sweep involved); `expand` turns
a grid into named run configs for the sweep (memscope.sweep). A grid is sized from its lists before it is
expanded, and one of more than MAX_RUNS runs is refused unless max_runs is raised (`--max-runs`). The
training seed of each run is `train.seed` (a task's own data seed, as random-tokens', is `task.seed`).
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from . import store
from .errors import ConfigError, MemscopeError
from .runconfig import RunConfig, build_run_config

MAX_RUNS = 10_000
"""Most runs a grid may expand to unless the caller raises max_runs: a bigger one is most likely a typo, and
expanding it alone takes minutes (about 2 ms a run)."""
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

