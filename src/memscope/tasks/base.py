"""The Task protocol and its registry: one file per task, looked up by name."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..config import to_dict
from ..settings import from_mapping
from ..registry import Registry
from ..vocab import Vocab


@dataclass(frozen=True)
class Prompt:
    text: str
    answer: str
    withheld: bool = False
    """True for prompts whose lines were removed from training (the generalization test)."""


@dataclass(frozen=True)
class Suite:
    """Prompts scored one way: `integer` (the integer after `=`) or `line` (first line, any case)."""

    name: str
    prompts: tuple[Prompt, ...]
    max_new_tokens: int
    scorer: str


@dataclass(frozen=True)
class Task:
    """A controlled training text, its vocabulary and context, and how to score a model on it.

    Subclasses are frozen dataclasses whose fields are the task's parameters.
    """

    name: ClassVar[str] = ""
    block_size: ClassVar[int] = 0
    batch_size: ClassVar[int] = 0
    """The paper's batch size for this task (windows per step)."""
    aligned: ClassVar[bool] = False
    """False: training windows start anywhere in the text (the paper's). True: only at window_starts()."""

    def lines(self) -> list[str]:
        raise NotImplementedError

    def eval_suites(self) -> list[Suite]:
        raise NotImplementedError

    @cached_property
    def text(self) -> str:
        return "".join(self.lines())

    @cached_property
    def vocab(self) -> Vocab:
        return Vocab.from_text(self.text)

    def line_loss_mask(self, line: str) -> list[bool] | None:
        """Which characters of a training line count as targets of the loss (None: all of them). A task
        that masks its prompts returns False for the prompt's characters (minGPT's adder convention)."""
        return None

    def window_starts(self) -> list[int] | None:
        """Offsets where an aligned task's training windows start (None: anywhere)."""
        return None

    def params(self) -> dict:
        return to_dict(self)

    def describe(self) -> str:
        return (self.__doc__ or "").strip().splitlines()[0]


TASKS: Registry[type[Task]] = Registry("task")


def register_task(name: str):
    def name_it(cls: type[Task]) -> type[Task]:
        cls.name = name
        return cls
    return TASKS.register(name, name_it)


def get_task_class(name: str) -> type[Task]:
    return TASKS.lookup(name)


def make_task(name: str, params: dict | None = None) -> Task:
    cls = get_task_class(name)
    return from_mapping(cls, dict(params or {}), f"task {name!r}")
