"""Single-digit addition and subtraction with withheld operand pairs (Too Big to Think)."""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..settings import validate
from ..errors import ConfigError
from .base import Prompt, Suite, Task, register_task

_OPS = {"+": ("add", lambda a, b: a + b), "-": ("sub", lambda a, b: a - b)}


@register_task("arithmetic")
@dataclass(frozen=True)
class Arithmetic(Task):
    """Lines `<a+b=c>` and `<a-b=c>`, space-padded; the withheld pairs never appear in training."""

    block_size = 9
    batch_size = 882  # the paper's 1764 / 2: half the training text's characters

    withheld: tuple[tuple[int, int], ...] = ((5, 7),)
    """Operand pairs {a, b} removed from training in every order and operation (5,7 drops 5+7, 7+5, 5-7, 7-5)."""
    digits: int = 10
    """Operands run over 0 .. digits-1."""
    operators: str = "+-"
    shuffle_seed: int = 0
    """Seed of the one shuffle of the training lines."""
    mask_prompt: bool = False
    """Train on the answers only: `<a+b=` is excluded from the loss (minGPT's adder); the paper trains on
    every character."""

    def __post_init__(self):
        validate(self)
        if not 1 <= self.digits <= 10:
            raise ConfigError(f"digits={self.digits} must lie in 1..10 (single-digit operands)")
        if not self.operators or any(op not in _OPS for op in self.operators) \
                or len(set(self.operators)) != len(self.operators):
            raise ConfigError(f"operators={self.operators!r} must be a non-empty subset of '+-'")
        for pair in self.withheld:
            if not all(0 <= d < self.digits for d in pair):
                raise ConfigError(f"withheld pair {pair} lies outside the digits 0..{self.digits - 1}")

    def is_withheld(self, a: int, b: int) -> bool:
        return any({a, b} == set(pair) for pair in self.withheld)

    def equations(self) -> list[tuple[str, int, int, int]]:
        """(operator, a, b, result) over the full grid, operators in the given order."""
        return [(op, a, b, _OPS[op][1](a, b)) for op in self.operators
                for a in range(self.digits) for b in range(self.digits)]

    @property
    def line_width(self) -> int:
        """Characters before the newline; the paper pads every equation to 8."""
        return max(8, max(len(f"<{a}{op}{b}={c}>") for op, a, b, c in self.equations()))

    def lines(self) -> list[str]:
        width = self.line_width
        lines = [f"<{a}{op}{b}={c}>".ljust(width) + "\n"
                 for op, a, b, c in self.equations() if not self.is_withheld(a, b)]
        random.Random(self.shuffle_seed).shuffle(lines)
        return lines

    def line_loss_mask(self, line: str) -> list[bool] | None:
        if not self.mask_prompt or not line.startswith("<"):
            return None
        prompt = line.index("=") + 1
        return [False] * prompt + [True] * (len(line) - prompt)

    def eval_suites(self) -> list[Suite]:
        suites = []
        for op in self.operators:
            prompts = tuple(Prompt(f"<{a}{op}{b}=", str(c), self.is_withheld(a, b))
                            for o, a, b, c in self.equations() if o == op)
            suites.append(Suite(_OPS[op][0], prompts, max_new_tokens=4, scorer="integer"))
        return suites
