"""Studies: one package per study (recipe, tables, report), found through a registry.

A study registers its entry point with `@register_study(name, ...)` in its own package. Looking a study up
imports its package then (torch and all), so `import memscope.studies` itself stays light. Adding a study
touches its own package and one line of STUDY_PACKAGES.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError

STUDY_PACKAGES = (  # one line per study: the package whose import registers it
    "tbtt",
    "capacity",
    "grokking",
    "sorting",
    "forgetting",
    "metamorphic",
)
COMMON_OPTIONS = ("profile", "seeds", "out", "executor", "workers", "address")
"""Parameters every study entry point takes: reproduce(profile, seeds, out, executor, workers, address, *, ...)."""

_REGISTRY: dict[str, Study] = {}


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    """One line: the first line of the entry point's docstring."""
    profiles: tuple[str, ...]
    reproduce: Callable[..., dict]
    """Trains what is missing and writes the report; returns a dict with `files` (`files["report"]` the
    report's path) and `claims` where the study judges any."""
    text: Callable[[dict], str]
    """The result as the CLI prints it without --json."""
    options: dict[str, str] = field(default_factory=dict)
    """Study-specific keyword options (the entry point's keyword-only parameters) -> help text."""

    def describe(self) -> dict:
        return {"description": self.description, "profiles": list(self.profiles), "options": list(self.options)}

    def check_options(self, options: dict) -> None:
        """ConfigError naming the option and the study when an option is not this study's."""
        for key in options:
            if key not in COMMON_OPTIONS and key not in self.options:
                known = ", ".join(self.options) or "none"
                raise ConfigError(f"study {self.name!r} has no option {key!r} (its own options: {known})")


def register_study(name: str, *, profiles, text: Callable[[dict], str], options: dict[str, str] | None = None):
    """Decorator: register `fn(profile, seeds, out, executor, workers, address, *, **options) -> dict`."""
    options = dict(options or {})

    def wrap(fn: Callable[..., dict]) -> Callable[..., dict]:
        params = inspect.signature(fn).parameters
        missing = [p for p in COMMON_OPTIONS if p not in params]
        kw_only = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        if missing or kw_only != set(options):
            raise TypeError(f"study {name!r}: the entry point must take {', '.join(COMMON_OPTIONS)} and, "
                            f"keyword-only, exactly its options {sorted(options)}")
        if name in _REGISTRY and _REGISTRY[name].reproduce is not fn:
            raise ValueError(f"study {name!r} is registered twice")
        description = (inspect.getdoc(fn) or name).splitlines()[0].rstrip(".")
        _REGISTRY[name] = Study(name, description, tuple(profiles), fn, text, options)
        return fn
    return wrap


def get_study(name: str) -> Study:
    """The registered study `name` (its package is imported on first lookup)."""
    if name not in _REGISTRY and name in STUDY_PACKAGES:
        importlib.import_module(f"{__name__}.{name}")
    if name not in _REGISTRY:
        raise ConfigError(f"unknown study {name!r}; known: {', '.join(STUDY_PACKAGES)}")
    return _REGISTRY[name]


def list_studies() -> dict[str, Study]:
    """Every study, in STUDY_PACKAGES order (imports them all)."""
    return {name: get_study(name) for name in STUDY_PACKAGES}


def claims_text(claims: list[dict], *, with_id: bool = False, with_rule: bool = False) -> str:
    """A study's judged claims as printed text, one line each: verdict, [id,] claim, [rule,] evidence."""
    lines = []
    for c in claims:
        head = f"{c['id']} {c['claim']}" if with_id else c["claim"]
        rule = f" (rule: {c['rule']})" if with_rule else ""
        lines.append(f"- {'held' if c['held'] else 'DID NOT HOLD'}: {head}{rule}. {c['evidence']}")
    return "\n".join(lines)


def reproduce(study: str, profile: str = "quick", **options) -> dict:
    """Run a study by name: `reproduce("tbtt", profile="tiny", seeds=2, out=Path("runs/t"), withheld="2,3")`."""
    s = get_study(study)
    s.check_options(options)
    return s.reproduce(profile=profile, **options)
