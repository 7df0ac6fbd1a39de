"""Fifty capital-city facts: pure memorization, nothing to generalize (Too Big to Think)."""
from __future__ import annotations

from dataclasses import dataclass

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


@register_task("capitals")
@dataclass(frozen=True)
class Capitals(Task):
    """`Capital of <Country> is <Capital> ` for 50 countries: facts to memorize."""

    block_size = 24
    batch_size = 576

    def lines(self) -> list[str]:
        return capital_lines()

    def eval_suites(self) -> list[Suite]:
        return [capital_suite()]
