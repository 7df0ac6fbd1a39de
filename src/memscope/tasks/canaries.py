"""Random filler lines with secret canary lines inserted r times each (The Secret Sharer, Carlini et al. 2019).

Filler: `n_sequences` lines of `length` symbols uniform over the first `vocab_size` symbols of the
random-tokens alphabet (digits first). Canaries: lines `prefix + secret`, the secret `secret_digits`
uniform digits; canary i is inserted `repeats[i]` times. `held_out` more canaries of the same format are
drawn but never inserted: the baseline an auditor compares against. With `tagged`, each canary has its
own prefix, `prefix` + a two-letter tag + a space (`pin kq 0177`), so greedy extraction can ask for each
secret from its own prefix (Carlini et al. 2022's per-sample prefix); its exposure ranks the candidates
that share that prefix. Lines are shuffled with a seeded local
generator; each follows a newline (the BOS, never scored) and training windows start only at a line's BOS.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cached_property

import torch

from ..settings import validate
from ..errors import ConfigError
from ..vocab import Vocab
from .base import Prompt, Suite, Task, register_task
from .random_tokens import ALPHABET, BOS, MAX_SYMBOLS, RandomTokens

SECRET_STREAM = 0x9E3779B9
"""Offset of the seed of the secrets and the shuffle, so they are not the filler's stream."""
MAX_SECRET_DIGITS = 64
MAX_CANARIES = 10_000
"""Canaries inserted and held out together (each held-out one is drawn until it differs from the rest)."""
TAG_LETTERS = string.ascii_lowercase
TAG_STREAM = 0x2545F491
"""Offset of the seed of the tags (tagged canaries)."""


@register_task("canaries")
@dataclass(frozen=True)
class Canaries(Task):
    """Random filler lines plus secret canary lines repeated r times: exposure (Secret Sharer)."""

    aligned = True

    n_sequences: int = 256
    """Filler lines."""
    length: int = 16
    """Symbols per filler line."""
    vocab_size: int = 10
    """Filler alphabet size: symbols 0-9a-zA-Z... in that order."""
    prefix: str = "pin "
    """Text before each canary's secret."""
    secret_digits: int = 4
    """Digits in each secret: 10**secret_digits candidates."""
    repeats: tuple[int, ...] = (1, 4, 16, 64)
    """Times each inserted canary appears in the training text (one canary per entry)."""
    held_out: int = 4
    """Canaries of the same format drawn but never inserted."""
    seed: int = 0
    """Seed of the filler, the secrets and the shuffle (a local generator)."""
    tagged: bool = False
    """Each canary gets its own prefix: `prefix` + a distinct two-letter tag + a space."""

    def __post_init__(self):
        validate(self)
        self._filler  # validates n_sequences, length, vocab_size
        if self.secret_digits <= 0:
            raise ConfigError(f"secret_digits={self.secret_digits} must be positive")
        if self.secret_digits > MAX_SECRET_DIGITS:
            raise ConfigError(f"secret_digits={self.secret_digits} must be at most {MAX_SECRET_DIGITS}")
        if not self.repeats or any(r <= 0 for r in self.repeats):
            raise ConfigError(f"repeats={','.join(map(str, self.repeats))} needs one or more positive counts")
        if self.held_out < 0:
            raise ConfigError(f"held_out={self.held_out} must not be negative")
        if self.held_out > MAX_CANARIES or len(self.repeats) > MAX_CANARIES:
            raise ConfigError(f"held_out={self.held_out} must be at most {MAX_CANARIES}, as must the number of repeats")
        if sum(self.repeats) > MAX_SYMBOLS // (len(self.prefix) + self.secret_digits + 1):
            raise ConfigError(f"repeats={','.join(map(str, self.repeats))}: the canary lines must be at most "
                              f"{MAX_SYMBOLS:,} symbols")
        if self.tagged and len(self.repeats) + self.held_out > len(TAG_LETTERS) ** 2:
            raise ConfigError(f"tagged: {len(self.repeats) + self.held_out} canaries need more than "
                              f"{len(TAG_LETTERS) ** 2} two-letter tags")
        if len(self.repeats) + self.held_out > 10 ** self.secret_digits // 2:
            raise ConfigError(f"{len(self.repeats) + self.held_out} canaries need more than "
                              f"secret_digits={self.secret_digits}")
        if BOS in self.prefix:
            raise ConfigError("prefix must not contain a newline")

    @property
    def block_size(self) -> int:  # BOS + the longest line
        return max(self.length, len(self.prefix) + 3 * self.tagged + self.secret_digits) + 1

    @property
    def batch_size(self) -> int:
        return min(len(self.lines()), 128)

    @property
    def canary_format(self) -> str:
        """The canaries' format in memscope's canary-file notation (`d`: one digit); tagged canaries each
        have their own (format_of)."""
        return self.prefix + "{" + "d" * self.secret_digits + "}"

    def prefix_of(self, text: str) -> str:
        """A canary's text before its secret."""
        return text[: len(text) - self.secret_digits]

    def format_of(self, text: str) -> str:
        """A canary's format: its own prefix (tag included) and the secret's digit slots."""
        return self.prefix_of(text).replace("{", "").replace("}", "") + "{" + "d" * self.secret_digits + "}"

    @cached_property
    def _filler(self) -> RandomTokens:
        """The filler lines are random-tokens' sequences of the same size and seed."""
        return RandomTokens(n_sequences=self.n_sequences, length=self.length, vocab_size=self.vocab_size,
                            seed=self.seed, recall_prompts=0)

    @cached_property
    def _draw(self) -> tuple[list[str], list[str], list[int]]:
        """Filler lines, canary texts (inserted ones first, then held-out), and the shuffle order."""
        filler = self._filler.sequences
        g = torch.Generator().manual_seed(self.seed + SECRET_STREAM)
        secrets: list[str] = []
        while len(secrets) < len(self.repeats) + self.held_out:
            digits = torch.randint(10, (self.secret_digits,), generator=g).tolist()
            secret = "".join(string.digits[d] for d in digits)
            if secret not in secrets:
                secrets.append(secret)
        n_lines = self.n_sequences + sum(self.repeats)
        order = torch.randperm(n_lines, generator=g).tolist()
        if not self.tagged:
            return filler, [self.prefix + s for s in secrets], order
        tags = torch.randperm(len(TAG_LETTERS) ** 2, generator=torch.Generator().manual_seed(
            self.seed + TAG_STREAM))[: len(secrets)].tolist()
        prefixes = [self.prefix + TAG_LETTERS[t // len(TAG_LETTERS)] + TAG_LETTERS[t % len(TAG_LETTERS)] + " "
                    for t in tags]
        return filler, [p + s for p, s in zip(prefixes, secrets)], order

    @property
    def sequences(self) -> list[str]:
        """The filler lines (the members an audit can test, as random-tokens' sequences)."""
        return self._draw[0]

    @property
    def canaries(self) -> list[str]:
        """Canary texts inserted into training, in the order of `repeats`."""
        return self._draw[1][: len(self.repeats)]

    @property
    def held_out_canaries(self) -> list[str]:
        return self._draw[1][len(self.repeats):]

    def canary_records(self) -> list[dict]:
        """Rows of a canary file (JSONL: text, format) for every canary, inserted and held out."""
        return [{"text": t, "format": self.format_of(t)} for t in self._draw[1]]

    def lines(self) -> list[str]:
        filler, _, order = self._draw
        unshuffled = filler + [c for c, r in zip(self.canaries, self.repeats) for _ in range(r)]
        return [unshuffled[i] + BOS for i in order]

    @cached_property
    def text(self) -> str:
        return BOS + "".join(self.lines())

    @cached_property
    def vocab(self) -> Vocab:  # every filler symbol and digit, drawn or not, the prefix and the BOS
        tags = TAG_LETTERS + " " if self.tagged else ""
        return Vocab("".join(sorted(set(BOS + ALPHABET[: self.vocab_size] + string.digits + self.prefix + tags))))

    def window_starts(self) -> list[int]:
        """Offsets of the BOS before each line that leaves a full window of text after it."""
        starts, offset = [], 0
        for line in self.lines():
            if offset + self.block_size < len(self.text):
                starts.append(offset)
            offset += len(line)
        return starts

    def eval_suites(self) -> list[Suite]:
        """Recall of the most repeated canary from its prefix (all canaries share the prefix)."""
        top = self.canaries[max(range(len(self.repeats)), key=self.repeats.__getitem__)]
        prompt = Prompt(BOS + self.prefix_of(top), top[len(self.prefix_of(top)):])
        return [Suite("canary", (prompt,), max_new_tokens=self.secret_digits + 1, scorer="exact")]
