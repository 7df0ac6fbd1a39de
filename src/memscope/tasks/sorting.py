"""Sorting lists: algorithm or memory? (seed 004; minGPT's sort demo, gatmiry/sort-llm).

A line is a list of `length` values written one character each (value i is ALPHABET[i]: 0-9, then a-z,
then A-Z), the separator `=`, the list sorted ascending by value, and a newline:  `3a04=034a\n`. Lines
follow a BOS newline; the input and the separator are masked out of the loss (minGPT's convention), so
only the sorted output and the closing newline are targets.

The training set is N distinct lists from a seeded local generator: length uniform over
min_length..max_length, then the values uniform (with duplicates) or a uniform draw without replacement.
Membership is therefore exact. Evaluation suites (all greedy exact match of the output line):
- `seen`: training lists;
- `unseen`: fresh lists of training lengths whose input is in no training line (checked by hash);
- `longer`: lengths max_length+1 .. longer_factor x max_length (length generalization);
- `withheld`: lists holding both values of `withheld_pair`, a pair removed from every training list.
Bits per list (the convention of `bits_per_list`): log2 of the number of distinct lists the generator can
draw, over all training lengths; dataset bits = N x bits per list.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property

import torch

from ..config import MAX_SEED
from ..settings import validate
from ..errors import ConfigError
from ..vocab import BOS, Vocab
from .base import Prompt, Suite, Task, register_task

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEP = "="
MAX_LISTS = 10 ** 6
MAX_LENGTH = 256
EVAL_SEED_OFFSET = 7_919
"""Suites of a task with seed s are drawn with generators seeded from s + EVAL_SEED_OFFSET x (suite index)."""


def list_key(values: tuple[int, ...]) -> str:
    """The hash that decides membership: SHA-256 of the list's input text (order matters)."""
    return hashlib.sha256(",".join(map(str, values)).encode()).hexdigest()


def count_lists(length: int, n_values: int, duplicates: bool) -> int:
    """Distinct ordered lists of `length` values: V^L with duplicates, V!/(V-L)! without."""
    return n_values ** length if duplicates else math.perm(n_values, length)


def n_duplicates(values) -> int:
    """Values beyond the first of each kind: len(list) - distinct values (0 for a list without repeats)."""
    return len(values) - len(set(values))


@register_task("sorting")
@dataclass(frozen=True)
class Sorting(Task):
    """`<list>=<sorted list>`: N distinct random lists and their sorted outputs, the input masked from the loss."""

    aligned = True  # one line per row after its BOS

    n_lists: int = 1000
    """Training lists (N), all distinct."""
    min_length: int = 2
    max_length: int = 6
    """Training lengths run over min_length..max_length (uniform)."""
    n_values: int = 10
    """V: values 0..V-1, written 0-9a-zA-Z (at most 62)."""
    duplicates: bool = True
    """Lists may repeat a value (False: every list has distinct values, so max_length <= n_values)."""
    withheld_pair: tuple[int, ...] = ()
    """Two values that never occur together in a training list (empty: none)."""
    longer_factor: int = 2
    """The `longer` suite runs up to longer_factor x max_length; the block holds that length."""
    eval_lists: int = 64
    """Lists per evaluation suite."""
    seed: int = 0
    """Seed of the training draw (a local generator); suites use derived seeds."""

    def __post_init__(self):
        validate(self)
        if not 1 <= self.n_values <= len(ALPHABET):
            raise ConfigError(f"n_values={self.n_values} must lie in 1..{len(ALPHABET)} (one character per value)")
        if not 1 <= self.min_length <= self.max_length <= MAX_LENGTH:
            raise ConfigError(f"lengths {self.min_length}..{self.max_length} must satisfy 1 <= min_length <= "
                              f"max_length <= {MAX_LENGTH}")
        if not self.duplicates and self.max_length > self.n_values:
            raise ConfigError(f"max_length={self.max_length} needs duplicates: only {self.n_values} distinct "
                              "values exist (set duplicates=true or raise n_values)")
        if not 1 <= self.longer_factor <= 16 or self.longer_factor * self.max_length > MAX_LENGTH:
            raise ConfigError(f"longer_factor={self.longer_factor} must lie in 1..16 with longer_factor x "
                              f"max_length <= {MAX_LENGTH}")
        if not 1 <= self.n_lists <= MAX_LISTS:
            raise ConfigError(f"n_lists={self.n_lists} must lie in 1..{MAX_LISTS:,}")
        if not 0 <= self.eval_lists <= 100_000:
            raise ConfigError(f"eval_lists={self.eval_lists} must lie in 0..100000")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed={self.seed} must lie in 0..{MAX_SEED}")
        if self.withheld_pair:
            a = self.withheld_pair
            if len(a) != 2 or a[0] == a[1] or not all(0 <= v < self.n_values for v in a):
                raise ConfigError(f"withheld_pair={a} must be two distinct values in 0..{self.n_values - 1}")
            if self.min_length < 2 and self.max_length < 2:
                raise ConfigError("withheld_pair needs lists of length 2 or more")
        possible = self.n_possible_lists
        if self.n_lists > possible // 2:
            raise ConfigError(f"n_lists={self.n_lists} is more than half of the {possible:,} possible lists: "
                              "no room for unseen lists (raise n_values or max_length)")

    # ------------------------------------------------------------------ sizes
    @property
    def block_size(self) -> int:
        """BOS + input + `=` + output of the longest `longer` list: the newline target needs 2L+2 positions."""
        return 2 * self.longer_factor * self.max_length + 2

    @property
    def train_window(self) -> int:
        """Positions a training line needs (its BOS through its last output character)."""
        return 2 * self.max_length + 2

    @property
    def batch_size(self) -> int:
        return min(self.n_lists, 64)

    @property
    def n_possible_lists(self) -> int:
        return sum(count_lists(n, self.n_values, self.duplicates)
                   for n in range(self.min_length, self.max_length + 1))

    @property
    def bits_per_list(self) -> float:
        """log2 of the number of distinct lists of training lengths (module docstring's convention)."""
        return math.log2(self.n_possible_lists)

    def dataset_bits(self) -> float:
        return self.n_lists * self.bits_per_list

    # ------------------------------------------------------------------ drawing
    def _stream(self, g: torch.Generator, lo: int, hi: int, chunk: int = 4096):
        """Lists drawn one after another (length uniform in lo..hi, then the values), CHUNK rows of random
        numbers at a time: the same sequence whatever the caller consumes."""
        while True:
            lengths = torch.randint(lo, hi + 1, (chunk,), generator=g).tolist()
            if self.duplicates:
                rows = torch.randint(self.n_values, (chunk, hi), generator=g).tolist()
            else:  # a uniform random permutation per row (argsort of uniforms), its first L values
                rows = torch.rand(chunk, self.n_values, generator=g).argsort(dim=1)[:, :hi].tolist()
            for n, row in zip(lengths, rows):
                yield tuple(row[:n])

    def has_pair(self, values) -> bool:
        return bool(self.withheld_pair) and all(v in values for v in self.withheld_pair)

    @cached_property
    def train_lists(self) -> tuple[tuple[int, ...], ...]:
        """The N distinct training lists, in draw order (rejection of repeats and of the withheld pair)."""
        g = torch.Generator().manual_seed(self.seed)
        seen, out = set(), []
        stream = self._stream(g, self.min_length, self.max_length)
        for _ in range(50 * self.n_lists + 10_000):
            if len(out) == self.n_lists:
                break
            v = next(stream)
            key = list_key(v)
            if key in seen or self.has_pair(v):
                continue
            seen.add(key)
            out.append(v)
        if len(out) < self.n_lists:
            raise ConfigError(f"could not draw {self.n_lists} distinct lists without the withheld pair; "
                              "lower n_lists or widen the lists")
        return tuple(out)

    @cached_property
    def train_keys(self) -> frozenset[str]:
        return frozenset(list_key(v) for v in self.train_lists)

    def draw_suite(self, kind: str, n: int) -> list[tuple[int, ...]]:
        """n distinct lists of one suite (fewer when the space runs out): seen, unseen, longer, withheld."""
        if kind == "seen":
            return list(self.train_lists[:n])
        index = {"unseen": 1, "longer": 2, "withheld": 3}[kind]
        g = torch.Generator().manual_seed(self.seed + EVAL_SEED_OFFSET * index)
        lo, hi = ((self.max_length + 1, self.longer_factor * self.max_length) if kind == "longer"
                  else (max(self.min_length, 2) if kind == "withheld" else self.min_length, self.max_length))
        if hi < lo or (kind == "withheld" and not self.withheld_pair) or n == 0:
            return []
        if not self.duplicates:
            hi = min(hi, self.n_values)
            if hi < lo:
                return []
        out, keys = [], set()
        stream = self._stream(g, lo, hi, chunk=1024)  # fixed: a suite of n lists is a prefix of a larger one
        for _ in range(200 * n + 1000):
            if len(out) == n:
                break
            v = next(stream)
            if kind == "withheld" and not self.has_pair(v):
                continue
            key = list_key(v)
            if key in keys or key in self.train_keys or (kind == "unseen" and self.has_pair(v)):
                continue
            keys.add(key)
            out.append(v)
        return out

    # ------------------------------------------------------------------ text
    def encode_list(self, values) -> str:
        return "".join(ALPHABET[v] for v in values)

    def prompt(self, values) -> str:
        return BOS + self.encode_list(values) + SEP

    def answer(self, values) -> str:
        return self.encode_list(sorted(values))

    def lines(self) -> list[str]:
        return [self.encode_list(v) + SEP + self.answer(v) + BOS for v in self.train_lists]

    @cached_property
    def vocab(self) -> Vocab:  # every value, drawn or not, the separator and the BOS
        return Vocab("".join(sorted(BOS + SEP + ALPHABET[: self.n_values])))

    def line_loss_mask(self, line: str) -> list[bool] | None:
        """Input and separator unscored; the sorted output and the closing newline scored."""
        prompt = line.index(SEP) + 1
        return [False] * prompt + [True] * (len(line) - prompt)

    def eval_suites(self) -> list[Suite]:
        """Suites of eval_lists lists each; every prompt but the seen ones is marked withheld (never picks
        the best checkpoint)."""
        suites = []
        for kind in ("seen", "unseen", "longer", "withheld"):
            lists = self.draw_suite(kind, self.eval_lists)
            if lists:
                prompts = tuple(Prompt(self.prompt(v), self.answer(v), withheld=kind != "seen") for v in lists)
                longest = max(len(v) for v in lists)
                suites.append(Suite(kind, prompts, max_new_tokens=longest + 1, scorer="exact"))
        return suites
