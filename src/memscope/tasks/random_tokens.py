"""Uniform random token strings: the clean case for raw capacity (Morris et al. 2025).

Each sequence is `length` characters drawn uniformly and independently from an alphabet of `vocab_size`
symbols; nothing in them can be predicted, so every bit a model gets right beyond the uniform guess is a
bit it stores. First-token convention: every sequence follows a newline, which acts as a BOS token and is
never scored; all `length` characters are scored, so the dataset's entropy is exactly
n_sequences * length * log2(vocab_size) bits. Training windows are aligned to sequences (a batch row is
one whole sequence after its BOS), never straddling two.
"""
from __future__ import annotations

import math
import string
from dataclasses import dataclass
from functools import cached_property

import torch

from ..config import MAX_SEED
from ..settings import validate
from ..errors import ConfigError
from ..vocab import BOS, Vocab
from .base import Prompt, Suite, Task, register_task

# Symbols in id order after the newline; at most len(ALPHABET) of them.
ALPHABET = string.digits + string.ascii_lowercase + string.ascii_uppercase + "!#$%&()*+,-./:;<=>?@[]^_{|}~"
# Bounds that keep a typo from drawing terabytes: the symbols of the whole draw, and each size within them.
MAX_SYMBOLS = 10 ** 8
MAX_LENGTH = 2 ** 20


@register_task("random-tokens")
@dataclass(frozen=True)
class RandomTokens(Task):
    """N sequences of S symbols uniform over V, from a seed: memorization with nothing to generalize."""

    aligned = True

    n_sequences: int = 1024
    """Sequences in the dataset (N)."""
    length: int = 16
    """Symbols per sequence (S), not counting the BOS newline."""
    vocab_size: int = 16
    """Alphabet size (V): symbols 0-9a-zA-Z... in that order."""
    seed: int = 0
    """Seed of the draw (a local generator)."""
    recall_prompts: int = 100
    """Sequences (the first ones) whose second half the evaluation asks for from their first half."""

    def __post_init__(self):
        validate(self)
        for name in ("n_sequences", "length", "vocab_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be positive")
        for name, cap in (("n_sequences", MAX_SYMBOLS), ("length", MAX_LENGTH), ("seed", MAX_SEED)):
            if getattr(self, name) > cap:
                raise ConfigError(f"{name}={getattr(self, name)} must be at most {cap}")
        if self.n_sequences * self.length > MAX_SYMBOLS:
            raise ConfigError(f"n_sequences * length = {self.n_sequences * self.length:,} symbols must be at most "
                              f"{MAX_SYMBOLS:,}")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed} must not be negative")
        if self.vocab_size > len(ALPHABET):
            raise ConfigError(f"vocab_size={self.vocab_size} exceeds the {len(ALPHABET)}-symbol alphabet")
        if self.recall_prompts < 0:
            raise ConfigError(f"recall_prompts={self.recall_prompts} must not be negative")

    @property
    def block_size(self) -> int:  # BOS + the sequence: one window per sequence
        return self.length + 1

    @property
    def batch_size(self) -> int:
        return min(self.n_sequences, 128)

    @cached_property
    def sequences(self) -> list[str]:
        g = torch.Generator().manual_seed(self.seed)
        ids = torch.randint(self.vocab_size, (self.n_sequences, self.length), generator=g)
        return ["".join(ALPHABET[i] for i in row) for row in ids.tolist()]

    def lines(self) -> list[str]:
        return [s + BOS for s in self.sequences]

    @cached_property
    def text(self) -> str:
        return BOS + "".join(self.lines())

    @cached_property
    def vocab(self) -> Vocab:  # every symbol, present in this draw or not, and the BOS
        return Vocab("".join(sorted(BOS + ALPHABET[: self.vocab_size])))

    def window_starts(self) -> list[int]:
        """Offsets of the BOS before each sequence: the only places a training window starts."""
        return [i * (self.length + 1) for i in range(self.n_sequences)]

    def entropy_bits(self) -> float:
        """Exact information content of the dataset (the model sees each sequence after its BOS)."""
        return self.n_sequences * self.length * math.log2(self.vocab_size)

    @property
    def entropy_bits_per_sequence(self) -> float:
        return self.length * math.log2(self.vocab_size)

    def eval_suites(self) -> list[Suite]:
        half = self.length // 2
        prompts = tuple(Prompt(BOS + s[:half], s[half:]) for s in self.sequences[: self.recall_prompts])
        return [Suite("recall", prompts, max_new_tokens=self.length - half + 1, scorer="exact")] if prompts else []
