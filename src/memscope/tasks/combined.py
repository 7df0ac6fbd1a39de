"""Arithmetic and capitals in one text: does joint training still generalize? (Too Big to Think)."""
from __future__ import annotations

from dataclasses import dataclass

from .arithmetic import Arithmetic
from .base import Suite, register_task
from .capitals import capital_lines, capital_suite


@register_task("combined")
@dataclass(frozen=True)
class Combined(Arithmetic):
    """The arithmetic lines (same withheld pairs) followed by the 50 capitals lines."""

    block_size = 24
    batch_size = 576

    def lines(self) -> list[str]:
        return super().lines() + capital_lines()

    def eval_suites(self) -> list[Suite]:
        return super().eval_suites() + [capital_suite()]
