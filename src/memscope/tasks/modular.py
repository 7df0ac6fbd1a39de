"""Modular arithmetic `a op b = c (mod p)`, the grokking task (Power et al. 2022; Nanda et al. 2023).

Tokens: one token per residue, as in both papers. memscope's vocabulary is a task's characters
(vocab.py), so residue r is written as the character chr(RESIDUE_BASE + r) (Latin Extended letters:
Ā ā Ă ă ...), never as decimal digits. Why not digits: with p = 113 a digit answer is up to three tokens
and the model would also have to learn place value, a second task that changes the dynamics; and the Fourier
progress measure (Nanda et al.) needs one embedding row per residue, in residue order (here the residue
characters sort in residue order, after the ASCII `\\n + - * / =`). Answers are scored with the `exact`
scorer (case matters: Ā and ā are different residues).

A line is `A op B = C` and a newline; every pair (a, b) of residues (b != 0 for `/`) is split once, with a
seeded local generator (minGPT's adder), into `train_fraction` training pairs and the held-out rest. Only
the answer C counts in the loss (the prompt and the newline are masked, -100), as in Nanda et al.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

from ..settings import validate
from ..errors import ConfigError
from ..vocab import Vocab
from .base import Prompt, Suite, Task, register_task

RESIDUE_BASE = 0x100
"""Code point of residue 0 (Ā); residues 0..MAX_P-1 stay inside Latin Extended-A and -B (letters only)."""
MAX_P = 300
OPERATORS = "+-*/"


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def residue_char(r: int) -> str:
    return chr(RESIDUE_BASE + r)


@register_task("modular")
@dataclass(frozen=True)
class Modular(Task):
    """Lines `a op b = c (mod p)`, one token per residue; a seeded train / held-out split of all pairs."""

    block_size = 6  # A op B = C \n: the row after its BOS
    batch_size = 4096
    """At least every training set up to p = 113 at 30%: with sampler=epochs each step is then one full
    batch (an epoch's last batch may be smaller), Nanda et al.'s full-batch training."""
    aligned = True

    p: int = 113
    """The modulus (Nanda et al.'s 113; Power et al. 97); at most 300."""
    operator: str = "+"
    """One of + - * / (/ needs a prime p: a * b^-1)."""
    train_fraction: float = 0.3
    """Share of all pairs in the training set (Nanda et al. 0.3); the rest is held out."""
    split_seed: int = 0
    """Seed of the one shuffle that splits the pairs."""

    def __post_init__(self):
        validate(self)
        if not 2 <= self.p <= MAX_P:
            raise ConfigError(f"p={self.p} must lie in 2..{MAX_P}")
        if self.operator not in tuple(OPERATORS):
            raise ConfigError(f"operator={self.operator!r} must be one of {', '.join(OPERATORS)}")
        if self.operator == "/" and not is_prime(self.p):
            raise ConfigError(f"operator=/ needs a prime p (p={self.p} is not): b must have an inverse")
        if not 0.0 < self.train_fraction < 1.0:
            raise ConfigError(f"train_fraction={self.train_fraction} must lie in (0, 1)")
        n = len(self._pairs())
        n_train = round(self.train_fraction * n)
        if not 0 < n_train < n:
            raise ConfigError(f"train_fraction={self.train_fraction} leaves {n_train} of {n} pairs for training: "
                              "both the training and the held-out set need at least one")
        if self.split_seed < 0:
            raise ConfigError(f"split_seed={self.split_seed} must not be negative")

    def _pairs(self) -> list[tuple[int, int]]:
        b_from = 1 if self.operator == "/" else 0
        return [(a, b) for a in range(self.p) for b in range(b_from, self.p)]

    def result(self, a: int, b: int) -> int:
        p = self.p
        if self.operator == "+":
            return (a + b) % p
        if self.operator == "-":
            return (a - b) % p
        if self.operator == "*":
            return (a * b) % p
        return (a * pow(b, -1, p)) % p

    @cached_property
    def split(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """(training pairs, held-out pairs): round(train_fraction x all) pairs after one seeded shuffle."""
        pairs = self._pairs()
        random.Random(self.split_seed).shuffle(pairs)
        n_train = round(self.train_fraction * len(pairs))
        return tuple(pairs[:n_train]), tuple(pairs[n_train:])

    @property
    def residue_chars(self) -> str:
        """Residue r's character at index r: the rows of the embedding that the Fourier measure reads."""
        return "".join(residue_char(r) for r in range(self.p))

    def _prompt(self, a: int, b: int) -> str:
        return f"{residue_char(a)}{self.operator}{residue_char(b)}="

    def lines(self) -> list[str]:
        return [self._prompt(a, b) + residue_char(self.result(a, b)) + "\n" for a, b in self.split[0]]

    @cached_property
    def vocab(self) -> Vocab:
        # every residue, even one that no training line shows, has its token (a held-out answer may be one)
        return Vocab.from_text("\n=" + self.operator + self.residue_chars)

    def line_loss_mask(self, line: str) -> list[bool] | None:
        """Only the answer: the prompt `A op B =` and the closing newline are masked."""
        return [False, False, False, False, True, False]

    def eval_suites(self) -> list[Suite]:
        train, held = self.split

        def prompts(pairs, withheld):
            return tuple(Prompt(self._prompt(a, b), residue_char(self.result(a, b)), withheld) for a, b in pairs)
        return [Suite("train", prompts(train, False), max_new_tokens=1, scorer="exact"),
                Suite("heldout", prompts(held, True), max_new_tokens=1, scorer="exact")]
