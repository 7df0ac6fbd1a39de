"""SweepSettings: how a sweep trains its grid (the `memscope sweep` flags and run_grid's settings)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ..runfile import MAX_RUNS
from ..settings import Choice, Range, validate

EXECUTORS = ("local", "pool", "ray")


@dataclass(frozen=True)
class SweepSettings:
    executor: Annotated[str, Choice(*EXECUTORS)] = "local"
    """local (this process), pool (worker processes with one torch thread each) or ray (Ray tasks)."""
    workers: Annotated[int | None, Range(1, 4096)] = None
    """Worker processes (pool) or CPUs of a local Ray instance; none: 2 (local always runs one)."""
    address: str | None = None
    """Ray cluster address (executor ray); none: start a local Ray instance."""
    ensemble: Annotated[int | None, Range(1, 4096)] = None
    """Most runs trained together as one ensemble; none: sized to the device."""
    max_runs: Annotated[int, Range(1, 10 ** 7)] = MAX_RUNS
    """Refuse a grid that expands to more runs than this (most likely a typo)."""

    def __post_init__(self):
        validate(self)  # types, ranges and choices, as annotated
