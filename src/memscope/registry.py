"""One registry helper for every plug-in kind (tasks, callbacks, relations, studies), the way
lm-evaluation-harness registers its tasks: a dict filled by a decorator, an unknown name listing the known
ones with the closest as "did you mean".
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .settings import unknown

T = TypeVar("T")


class Registry(dict, Generic[T]):
    """name -> registered object; `register(name)` is the decorator, `lookup(name)` the checked lookup."""

    def __init__(self, kind: str, *, sort_known: bool = True):
        super().__init__()
        self.kind = kind
        self.sort_known = sort_known

    def add(self, name: str, obj: T) -> T:
        if name in self and self[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self[name] = obj
        return obj

    def register(self, name: str, make: Callable[[object], T] | None = None) -> Callable:
        """Decorator: register the decorated object (or `make(obj)`) under `name`; returns the object."""
        def deco(obj):
            self.add(name, make(obj) if make is not None else obj)
            return obj
        return deco

    def lookup(self, name: str) -> T:
        if name not in self:
            raise unknown(self.kind, name, sorted(self) if self.sort_known else list(self))
        return self[name]
