"""Canary exposure (The Secret Sharer, Carlini et al. 2019).

A canary is a text of a known format with a secret part, e.g. "pin 0177" of format "pin {dddd}". Its
exposure is log2 |R| - log2 rank, where R is the set of every text of the format and rank is the canary's
place (1 = most likely) when R is ordered by the model's likelihood. Ties count against the canary, as in
TF-Privacy's reference implementation (`secret_sharer/exposures.py`, compute_exposure_interpolation: a
reference sorted before a secret of equal perplexity): rank = #{candidates with NLL <= the canary's}, the
canary itself included, so a model uniform over the candidates gives every canary rank |R| and exposure 0.
A canary the model never saw sits at a random rank (exposure about 1-2 bits); one it memorized ranks
first (exposure log2 |R|, the most there is).

Exact when |R| <= max_candidates: every candidate is scored and ranked. Otherwise estimated from
max_candidates candidates drawn uniformly (with replacement): the paper's extrapolation fits a
skew-normal distribution to the sampled candidates' negative log-likelihoods and reads the canary's
exposure as -log2 CDF(its negative log-likelihood) (section 4.3); the plain sampling estimate
-log2((k + 1) / (S + 1)), with k of S samples at least as likely as the canary (ties against it, as
above; a uniform model gives k = S and 0 bits), is reported beside it and cannot exceed log2 (S + 1).
When every sampled candidate has the same NLL no skew-normal can be fitted; the sampled estimate stands
in (the method says so).

Canary file (JSONL, one canary per line): {"text": "pin 0177", "format": "pin {dddd}"}. In a format,
each `{...}` is a slot of one character per letter: d = digit, h = hexadecimal digit (0-9a-f),
a = lowercase letter, A = uppercase letter, ? = a character of the line's "alphabet" field. Everything
outside braces is literal.
"""
from __future__ import annotations

import itertools
import math
import string
from typing import Callable

import numpy as np
import torch
from scipy import stats

from ..errors import MemscopeError

SLOT_CLASSES = {"d": string.digits, "h": string.digits + "abcdef", "a": string.ascii_lowercase,
                "A": string.ascii_uppercase}
DEFAULT_MAX_CANDIDATES = 10_000

ScoreFn = Callable[[list[str]], np.ndarray]
"""texts -> (N,) negative log2-likelihoods in bits."""


def parse_format(fmt: str, alphabet: str | None = None) -> tuple[str, ...]:
    """The characters allowed at each position of a text of this format (a literal allows itself)."""
    positions: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "}":
            raise MemscopeError(f"canary format {fmt!r} has a '}}' with no '{{'")
        if ch != "{":
            positions.append(ch)
            i += 1
            continue
        end = fmt.find("}", i)
        if end < 0 or end == i + 1:
            raise MemscopeError(f"canary format {fmt!r} has an unclosed or empty slot")
        for letter in fmt[i + 1: end]:
            positions.append(_slot_chars(letter, alphabet, fmt))
        i = end + 1
    return tuple(positions)


def _slot_chars(letter: str, alphabet: str | None, fmt: str) -> str:
    if letter == "?":
        if not alphabet:
            raise MemscopeError(f"canary format {fmt!r} uses '?' but the line has no \"alphabet\"")
        return "".join(dict.fromkeys(alphabet))
    if letter not in SLOT_CLASSES:
        raise MemscopeError(f"canary format {fmt!r}: unknown slot letter {letter!r} "
                            f"(known: {', '.join(SLOT_CLASSES)}, ?)")
    return SLOT_CLASSES[letter]


def check_canary(canary: dict) -> tuple[str, ...]:
    """The canary's format positions; its text must fit them."""
    positions = parse_format(canary["format"], canary.get("alphabet"))
    if not fits(canary["text"], positions):
        raise MemscopeError(f"canary {canary['text']!r} does not fit its format {canary['format']!r}")
    return positions


def fits(text: str, positions: tuple[str, ...]) -> bool:
    return len(text) == len(positions) and all(ch in allowed for ch, allowed in zip(text, positions))


def n_candidates(positions: tuple[str, ...]) -> int:
    return math.prod(len(p) for p in positions)


def enumerate_candidates(positions: tuple[str, ...]) -> list[str]:
    """Every text of the format, in mixed-radix order (see candidate_index)."""
    return ["".join(chars) for chars in itertools.product(*positions)]


def candidate_index(text: str, positions: tuple[str, ...]) -> int:
    """The text's place in enumerate_candidates' order."""
    index = 0
    for ch, allowed in zip(text, positions):
        index = index * len(allowed) + allowed.index(ch)
    return index


def sample_candidates(positions: tuple[str, ...], n: int, generator: torch.Generator) -> list[str]:
    """n texts of the format drawn uniformly with replacement."""
    columns = [torch.randint(len(p), (n,), generator=generator).tolist() for p in positions]
    return ["".join(positions[j][column[i]] for j, column in enumerate(columns)) for i in range(n)]


def exposure_from_rank_bits(rank: int, n: int) -> float:
    """log2 n - log2 rank: 0 for the least likely candidate's rank n, log2 n for rank 1."""
    return math.log2(n) - math.log2(rank)


def rank_of(canary_nll_bits: float, candidate_nll_bits: np.ndarray) -> int:
    """#{candidates with NLL <= the canary's}: ties count against the canary (Carlini et al. 2019;
    TF-Privacy). candidate_nll_bits holds every candidate, the canary among them, so the rank is >= 1
    whenever the canary's own score is in it; at least 1 in any case."""
    return max(1, int(np.sum(np.asarray(candidate_nll_bits) <= canary_nll_bits)))


def sampled_exposure_bits(canary_nll_bits: float, sampled_nll_bits: np.ndarray) -> float:
    """-log2((k + 1) / (S + 1)), k = the S sampled candidates with NLL <= the canary's (ties against it)."""
    sampled = np.asarray(sampled_nll_bits)
    k = int(np.sum(sampled <= canary_nll_bits))
    return -math.log2((k + 1) / (len(sampled) + 1))


def skewnorm_exposure_bits(canary_nll_bits: float, sampled_nll_bits: np.ndarray) -> float:
    """-log2 of the fitted skew-normal CDF at the canary's negative log-likelihood (Carlini et al. 4.3)."""
    a, loc, scale = stats.skewnorm.fit(np.asarray(sampled_nll_bits, float))
    return float(-stats.skewnorm.logcdf(canary_nll_bits, a, loc, scale) / math.log(2))


def canary_exposure(score_fn: ScoreFn, canaries: list[dict], generator: torch.Generator,
                    max_candidates: int = DEFAULT_MAX_CANDIDATES) -> list[dict]:
    """Exposure of each canary ({"text", "format"[, "alphabet"]}); canaries of one format share one
    scoring of its candidates."""
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, c in enumerate(canaries):
        groups.setdefault((c["format"], c.get("alphabet")), []).append(i)
    out: list[dict | None] = [None] * len(canaries)
    for (fmt, alphabet), members in groups.items():
        positions = [check_canary(canaries[i]) for i in members][0]
        texts = [canaries[i]["text"] for i in members]
        rows = (_exact(score_fn, texts, positions) if n_candidates(positions) <= max_candidates
                else _estimated(score_fn, texts, positions, max_candidates, generator))
        for i, row in zip(members, rows):
            out[i] = {"text": canaries[i]["text"], "format": fmt, **row}
    return out


def _exact(score_fn: ScoreFn, texts: list[str], positions: tuple[str, ...]) -> list[dict]:
    n = n_candidates(positions)
    nll = score_fn(enumerate_candidates(positions))
    rows = []
    for text in texts:
        own = float(nll[candidate_index(text, positions)])  # the same number the ranking used
        rank = rank_of(own, nll)
        rows.append({"nll_bits": own, "n_candidates": n, "max_exposure_bits": math.log2(n),
                     "method": f"exact: all {n} candidates ranked", "rank": rank,
                     "exposure_bits": exposure_from_rank_bits(rank, n), "sampled_exposure_bits": None})
    return rows


def _estimated(score_fn: ScoreFn, texts: list[str], positions: tuple[str, ...], n_samples: int,
               generator: torch.Generator) -> list[dict]:
    n = n_candidates(positions)
    sampled = score_fn(sample_candidates(positions, n_samples, generator))
    degenerate = bool(np.ptp(sampled) == 0)  # no spread: no skew-normal to fit
    rows = []
    for text, own in zip(texts, score_fn(texts)):
        plain = sampled_exposure_bits(float(own), sampled)
        method = (f"estimated: every one of {n_samples} sampled candidates has the same NLL, no skew-normal "
                  "to fit; the sampling estimate" if degenerate else
                  f"estimated: skew-normal fit to {n_samples} sampled candidates (Carlini et al. 2019, sec. 4.3)")
        fitted = plain if degenerate else skewnorm_exposure_bits(float(own), sampled)
        rows.append({"nll_bits": float(own), "n_candidates": n, "max_exposure_bits": math.log2(n),
                     "method": method, "rank": None, "exposure_bits": min(math.log2(n), fitted),
                     "sampled_exposure_bits": plain})
    return rows
