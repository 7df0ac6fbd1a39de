"""Fifty capital-city facts: pure memorization, nothing to generalize (Too Big to Think)."""
from __future__ import annotations

from dataclasses import dataclass

from ..settings import validate
from ..errors import ConfigError
from .base import Prompt, Suite, Task, register_task

# The paper's 50 facts in its order. Training says "the USA", "the UK", "the Netherlands"; the
# evaluation asks with exactly the training wording (the paper's repo asked "USA"/"UK": a mismatch).
CAPITALS: tuple[tuple[str, str], ...] = (
    ("France", "Paris"), ("the USA", "Washington DC"), ("Japan", "Tokyo"), ("Germany", "Berlin"),
    ("Italy", "Rome"), ("Spain", "Madrid"), ("the UK", "London"), ("Canada", "Ottawa"),
    ("Australia", "Canberra"), ("India", "New Delhi"), ("China", "Beijing"), ("Russia", "Moscow"),
    ("Brazil", "Brasilia"), ("Mexico", "Mexico City"), ("South Korea", "Seoul"),
    ("Argentina", "Buenos Aires"), ("Egypt", "Cairo"), ("Saudi Arabia", "Riyadh"), ("Turkey", "Ankara"),
    ("Indonesia", "Jakarta"), ("Nigeria", "Abuja"), ("Pakistan", "Islamabad"), ("Colombia", "Bogota"),
    ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("the Netherlands", "Amsterdam"),
    ("Belgium", "Brussels"), ("Sweden", "Stockholm"), ("Norway", "Oslo"), ("Denmark", "Copenhagen"),
    ("Finland", "Helsinki"), ("Poland", "Warsaw"), ("Austria", "Vienna"), ("Switzerland", "Bern"),
    ("Portugal", "Lisbon"), ("Greece", "Athens"), ("Ireland", "Dublin"), ("New Zealand", "Wellington"),
    ("South Africa", "Pretoria"), ("Israel", "Jerusalem"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
    ("Syria", "Damascus"), ("Lebanon", "Beirut"), ("Jordan", "Amman"), ("Kuwait", "Kuwait City"),
    ("Qatar", "Doha"), ("Oman", "Muscat"), ("Bahrain", "Manama"), ("Zambia", "Lusaka"),
)


def capital_lines() -> list[str]:
    # The paper's lines end in a space before the newline.
    return [f"Capital of {country} is {capital} \n" for country, capital in CAPITALS]


def capital_suite() -> Suite:
    prompts = tuple(Prompt(f"Capital of {country} is ", capital) for country, capital in CAPITALS)
    return Suite("facts", prompts, max_new_tokens=20, scorer="line")


TEMPLATES: tuple[str, ...] = ("Capital of {country} is ", "The capital of {country} is ",
                              "{country} has the capital ", "In {country} the capital is ")
"""Prompt templates; a line is the prompt, the capital, " \n". The first is the paper's."""


@register_task("capitals")
@dataclass(frozen=True)
class Capitals(Task):
    """`Capital of <Country> is <Capital> ` for 50 countries: facts to memorize."""

    block_size = 24
    batch_size = 576

    templates: int = 1
    """Templates in use (1: the paper's lines only). With T >= 2 every country is trained under templates
    0..T-2, and template T-1 is held out except for the first `template_countries` countries."""
    template_countries: int = 0
    """Countries also trained under the held-out template (the ones that show it is a paraphrase)."""

    def __post_init__(self):
        validate(self)
        if not 1 <= self.templates <= len(TEMPLATES):
            raise ConfigError(f"templates={self.templates} must lie in 1..{len(TEMPLATES)}")
        if not 0 <= self.template_countries <= len(CAPITALS) or (self.templates == 1 and self.template_countries):
            raise ConfigError(f"template_countries={self.template_countries} must lie in 0..{len(CAPITALS)} "
                              "and needs templates >= 2")

    def countries(self) -> tuple[tuple[str, str], ...]:
        return CAPITALS

    def prompt(self, country: str, template: int) -> str:
        return TEMPLATES[template].format(country=country)

    def has_held_template(self, index: int) -> bool:
        """Whether country `index` is trained under the held-out template too."""
        return index < self.template_countries

    def lines(self) -> list[str]:
        if self.templates == 1:
            return capital_lines()
        held = self.templates - 1
        return [f"{self.prompt(c, t)}{cap} \n" for i, (c, cap) in enumerate(CAPITALS)
                for t in range(self.templates) if t < held or self.has_held_template(i)]

    def eval_suites(self) -> list[Suite]:
        if self.templates == 1:
            return [capital_suite()]
        held = self.templates - 1
        prompts = tuple(Prompt(self.prompt(c, held), cap, withheld=not self.has_held_template(i))
                        for i, (c, cap) in enumerate(CAPITALS))
        return [capital_suite(), Suite("held_template", prompts, max_new_tokens=20, scorer="line")]
