"""Fictional entities with seeded attributes: knowledge a model can only have from its training text.

Entity names are made-up syllable strings (`Kavoru`), drawn without repetition by a seeded local
generator, so no real-world prior helps; each entity gets one value per attribute, drawn uniformly:
- `city`: one of `n_cities` made-up city names (chance 1 / n_cities);
- `year`: a year 1900-1999 (chance 1 / 100);
- `job`: one of `n_jobs` made-up job names.
Each fact is one line per template, e.g. `Kavoru lives in Dremosa` (template 0) and `Kavoru's home is
Dremosa` (template 1); `templates` says how many wordings of each attribute appear in training. The recall
suite prompts with template 0 up to the value (`\\nKavoru lives in `) and scores the first generated line
(case-insensitive). `held_out` more entities of the same form are drawn but never trained: their recall
is the chance baseline (withheld prompts, scored apart from the seen ones). The design follows the
synthetic-biography tasks of Allen-Zhu & Li (Physics of LMs 3.1) and the fictional facts injected by
Chang et al. 2024.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cached_property

import torch

from ..config import MAX_SEED
from ..settings import validate
from ..errors import ConfigError
from ..vocab import BOS, Vocab
from .base import Prompt, Suite, Task, register_task

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
TEMPLATES = {
    "city": ("{name} lives in {value}", "{name}'s home is {value}"),
    "year": ("{name} was born in {value}", "{name}'s birth year is {value}"),
    "job": ("{name} works as {value}", "{name}'s job is {value}"),
}
ATTRIBUTES = tuple(TEMPLATES)
MAX_ENTITIES = 100_000
NAME_STREAM = 0x5F3759DF
"""Offset of the seed of the value pools (city and job names), so they do not follow the entities' stream."""


def _word(g: torch.Generator, syllables: int) -> str:
    c = torch.randint(len(CONSONANTS), (syllables,), generator=g).tolist()
    v = torch.randint(len(VOWELS), (syllables,), generator=g).tolist()
    return "".join(CONSONANTS[a] + VOWELS[b] for a, b in zip(c, v)).capitalize()


def _distinct_words(g: torch.Generator, n: int, syllables: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        w = _word(g, syllables)
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


@register_task("facts")
@dataclass(frozen=True)
class Facts(Task):
    """Fictional entities with seeded attributes (`Kavoru lives in Dremosa`): recall of trained facts."""

    aligned = True

    n_entities: int = 64
    """Entities whose facts are trained."""
    attributes: tuple[str, ...] = ("city", "year")
    """Attributes per entity, from city, year, job: one fact each."""
    templates: int = 1
    """Wordings of each fact in training (1 or 2); recall always prompts with the first."""
    n_cities: int = 16
    n_jobs: int = 16
    held_out: int = 16
    """Entities of the same form never trained (the recall baseline)."""
    seed: int = 0
    """Seed of the names, the values and the line order (a local generator)."""

    def __post_init__(self):
        validate(self)
        if not 1 <= self.n_entities <= MAX_ENTITIES:
            raise ConfigError(f"n_entities={self.n_entities} must lie in 1..{MAX_ENTITIES:,}")
        if not 0 <= self.held_out <= MAX_ENTITIES:
            raise ConfigError(f"held_out={self.held_out} must lie in 0..{MAX_ENTITIES:,}")
        if not self.attributes or any(a not in TEMPLATES for a in self.attributes) \
                or len(set(self.attributes)) != len(self.attributes):
            raise ConfigError(f"attributes={','.join(self.attributes)} must be distinct names among "
                              f"{', '.join(ATTRIBUTES)}")
        if self.templates not in (1, 2):
            raise ConfigError(f"templates={self.templates} must be 1 or 2")
        for name in ("n_cities", "n_jobs"):
            if not 2 <= getattr(self, name) <= 1000:
                raise ConfigError(f"{name}={getattr(self, name)} must lie in 2..1000")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed={self.seed} must lie in 0..{MAX_SEED}")

    @property
    def block_size(self) -> int:  # BOS + the longest line
        return max(len(line) for line in self.lines() + [p.text + p.answer + BOS for p in self._prompts()])

    @property
    def batch_size(self) -> int:
        return min(len(self.lines()), 128)

    @cached_property
    def _draw(self) -> tuple[list[str], list[dict[str, str]], list[int]]:
        """Entity names (trained ones first, then held-out), their values, and the training lines' order."""
        pools = torch.Generator().manual_seed(self.seed + NAME_STREAM)
        taken: set[str] = set()
        cities = _distinct_words(pools, self.n_cities, 3, taken)
        jobs = [w.lower() for w in _distinct_words(pools, self.n_jobs, 2, taken)]
        g = torch.Generator().manual_seed(self.seed)
        n = self.n_entities + self.held_out
        names = _distinct_words(g, n, 3, taken)
        values = []
        for _ in range(n):
            row = {"city": cities[int(torch.randint(len(cities), (1,), generator=g))],
                   "year": str(1900 + int(torch.randint(100, (1,), generator=g))),
                   "job": jobs[int(torch.randint(len(jobs), (1,), generator=g))]}
            values.append({a: row[a] for a in self.attributes})
        order = torch.randperm(self.n_entities * len(self.attributes) * self.templates, generator=g).tolist()
        return names, values, order

    @property
    def entities(self) -> list[tuple[str, dict[str, str]]]:
        """(name, {attribute: value}) of the trained entities."""
        names, values, _ = self._draw
        return list(zip(names, values))[: self.n_entities]

    @property
    def held_out_entities(self) -> list[tuple[str, dict[str, str]]]:
        names, values, _ = self._draw
        return list(zip(names, values))[self.n_entities:]

    def lines(self) -> list[str]:
        _, _, order = self._draw
        facts = [TEMPLATES[a][t].format(name=name, value=vals[a]) + BOS
                 for name, vals in self.entities for a in self.attributes for t in range(self.templates)]
        return [facts[i] for i in order]

    @cached_property
    def text(self) -> str:
        return BOS + "".join(self.lines())

    @cached_property
    def vocab(self) -> Vocab:  # every character any name, value or template can hold, drawn or not
        chars = BOS + CONSONANTS + VOWELS + CONSONANTS.upper() + VOWELS.upper() + string.digits + "".join(
            "".join(t) for t in TEMPLATES.values())
        return Vocab("".join(sorted(set(chars.replace("{name}", "").replace("{value}", "")))))

    def _prompts(self) -> list[Prompt]:
        """Template-0 prompts up to each value: trained entities, then held-out ones (withheld)."""
        out = []
        for entities, withheld in ((self.entities, False), (self.held_out_entities, True)):
            for name, vals in entities:
                for a in self.attributes:
                    head = TEMPLATES[a][0].format(name=name, value="")
                    out.append(Prompt(BOS + head, vals[a], withheld))
        return out

    def eval_suites(self) -> list[Suite]:
        """Recall: the first generated line after `<name> lives in ` equals the value (any case)."""
        prompts = tuple(self._prompts())
        longest = max(len(p.answer) for p in prompts)
        return [Suite("recall", prompts, max_new_tokens=longest + 1, scorer="line")]
