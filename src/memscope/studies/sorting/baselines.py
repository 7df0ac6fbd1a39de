"""Two baselines that make the sorting dispute concrete (seed 004): the distribution alone, and memory alone.

Lists are tuples of value indices; every baseline maps an input list to a predicted output list, scored
like the transformer (exact match of the whole output, per-position accuracy).

- `BigramBaseline`: the critic's "it learns P(next | prev)": a bigram model of the training *outputs*,
  P(v_t | v_{t-1}) estimated by counts, with START and END symbols (a first-order Markov chain over the
  sorted sequences, as in Shannon 1948's n-gram approximations), decoded greedily (argmax at each step,
  ties to the smallest value). `decode(None)` ignores the input: the single most likely chain, the same for
  every list. `decode(values)` is the input-constrained reading: at each step the argmax only over the
  values still unused in the input's multiset, ending when it is used up; it fails exactly where the most
  likely next value is not the smallest one remaining.
- `LookupBaseline`: pure memory: the sorted output of the most similar training list, similarity being the
  L1 distance between value-count vectors (the size of the multiset symmetric difference), ties to the
  earliest training list. Exact on every seen list (distance 0 means the same multiset, so the same output).
"""
from __future__ import annotations

from collections import Counter

import torch

START, END = -1, -2


class BigramBaseline:
    """P(next | prev) counted over the training outputs (sorted lists), START before and END after each."""

    def __init__(self, outputs: list[tuple[int, ...]], n_values: int):
        self.n_values = n_values
        # counts[prev][next]: prev in START, 0..V-1; next in 0..V-1, END
        self.counts: dict[int, Counter] = {}
        for out in outputs:
            chain = [START, *out, END]
            for a, b in zip(chain, chain[1:]):
                self.counts.setdefault(a, Counter())[b] += 1

    def prob(self, prev: int, nxt: int) -> float:
        """Maximum-likelihood P(nxt | prev) (0 for an unseen prev)."""
        c = self.counts.get(prev)
        return c[nxt] / sum(c.values()) if c else 0.0

    def _argmax(self, prev: int, allowed) -> int | None:
        c = self.counts.get(prev, Counter())
        best = max(allowed, key=lambda v: (c[v], -v if v >= 0 else -10 ** 9 - v), default=None)
        return best

    def decode(self, values: tuple[int, ...] | None, max_len: int = 64) -> tuple[int, ...]:
        """Greedy chain from START: unconstrained (values None) until END or max_len; constrained to the
        input's remaining multiset until it is used up."""
        out: list[int] = []
        prev = START
        if values is None:
            for _ in range(max_len):
                nxt = self._argmax(prev, [*range(self.n_values), END])
                if nxt is None or nxt == END:
                    break
                out.append(nxt)
                prev = nxt
            return tuple(out)
        left = Counter(values)
        while sum(left.values()):
            nxt = self._argmax(prev, sorted(v for v, k in left.items() if k > 0))
            out.append(nxt)
            left[nxt] -= 1
            prev = nxt
        return tuple(out)


class LookupBaseline:
    """The sorted output of the nearest training list by value-count L1 distance."""

    def __init__(self, train_lists: list[tuple[int, ...]], n_values: int):
        self.n_values = n_values
        self.train_lists = list(train_lists)
        self.counts = self._count(self.train_lists)  # (N, V)

    def _count(self, lists) -> torch.Tensor:
        m = torch.zeros(len(lists), self.n_values, dtype=torch.int32)
        for i, v in enumerate(lists):
            for x in v:
                m[i, x] += 1
        return m

    def nearest(self, lists: list[tuple[int, ...]]) -> list[int]:
        """Index of the nearest training list for each list (ties: the earliest)."""
        if not lists:
            return []
        q = self._count(lists)
        out = []
        for row in q.split(256):
            dist = (row[:, None, :] - self.counts[None, :, :]).abs().sum(-1)  # (B, N)
            out += dist.argmin(dim=1).tolist()  # argmin returns the first minimum
        return out

    def decode_many(self, lists: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        return [tuple(sorted(self.train_lists[i])) for i in self.nearest(lists)]


def score(pred: tuple[int, ...], target: tuple[int, ...]) -> tuple[bool, int]:
    """(exact match, positions right): position i counts when pred has target's value there; a prediction
    of another length is never exact."""
    return tuple(pred) == tuple(target), sum(1 for a, b in zip(pred, target) if a == b)
