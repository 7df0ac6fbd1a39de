"""Typed claims: one record every study judges, one printer for the terminal, one table for the reports.

A claim is a published statement tested here on a rule written before the runs. Its record carries the
deciding statistic (`statistic`, `value`), the interval around it and how it was computed, the statistic's
possible range (`bounds`), the threshold the rule compares it with, and the verdict: `held`, `did not hold`
or `not established` (the interval straddles the threshold, too few seeds or items, or a plumbing profile
that checks the code path and cannot judge anything). The field names are the JSON keys of every study's
`--json` output (`claims`: a list of these records).
"""
from __future__ import annotations

import dataclasses
import html
import math
from dataclasses import dataclass
from typing import Literal, get_args

Verdict = Literal["held", "did not hold", "not established"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
HELD, NOT_HELD, NOT_ESTABLISHED = VERDICTS
PLUMBING_REASON = "plumbing profile"
"""Why a plumbing profile's claims are not established (the words the printer and reports show)."""


@dataclass(frozen=True)
class Claim:
    """One published claim judged on a rule fixed before the runs."""

    name: str
    """Short identifier, unique within the study (e.g. "C1", "n14_generalizes")."""
    statement: str
    """The claim in the source's words."""
    rule: str
    """The rule that decides it, in words, fixed before any run."""
    statistic: str
    """The deciding statistic's name (e.g. "share of n14 seeds at 40/40 at the best checkpoint")."""
    value: float | None
    """The deciding statistic's value (None where it could not be computed: see evidence)."""
    interval: tuple[float, float] | None
    """[low, high] around value, or None where the rule uses no interval."""
    interval_method: str
    """How the interval was computed (e.g. "95% t interval over seeds"), or "none"."""
    bounds: tuple[float, float] | None
    """The statistic's possible range (e.g. (0, 1)), or None where it is unbounded."""
    threshold: float | None
    """The value the rule compares the statistic with, or None where the rule is not one comparison."""
    verdict: Verdict
    evidence: str = ""
    """The numbers the verdict rests on, in words (deciding statistic first, secondary figures after)."""
    reason: str = ""
    """Why the verdict is `not established`, where it is (empty otherwise)."""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.name!r}: verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        for key in ("value", "threshold"):
            v = getattr(self, key)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ValueError(f"claim {self.name!r}: {key}={v!r} must be a finite number or None")
                object.__setattr__(self, key, float(v))
        for key in ("interval", "bounds"):
            pair = getattr(self, key)
            if pair is not None:
                pair = tuple(float(x) for x in pair)
                if len(pair) != 2 or pair[0] > pair[1]:
                    raise ValueError(f"claim {self.name!r}: {key}={pair!r} must be [low, high]")
                object.__setattr__(self, key, pair)
        if self.bounds is not None:
            lo, hi = self.bounds
            if self.value is not None and not lo - 1e-9 <= self.value <= hi + 1e-9:
                raise ValueError(f"claim {self.name!r}: value={self.value} lies outside its bounds {self.bounds}")
            if self.interval is not None and not (lo - 1e-9 <= self.interval[0] and self.interval[1] <= hi + 1e-9):
                raise ValueError(f"claim {self.name!r}: interval {self.interval} leaves the bounds {self.bounds}")

    @property
    def held(self) -> bool:
        return self.verdict == HELD

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for key in ("interval", "bounds"):
            d[key] = list(d[key]) if d[key] is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Claim:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k in ("interval", "bounds") and v is not None else v)
                      for k, v in d.items() if k in names})

    def unjudged(self, reason: str) -> Claim:
        """This claim with the verdict `not established` for `reason` (its figures kept as measured)."""
        return dataclasses.replace(self, verdict=NOT_ESTABLISHED, reason=reason)


def verdict_of(held: bool) -> Verdict:
    """The verdict of a rule that is a plain yes or no on the deciding statistic."""
    return HELD if held else NOT_HELD


def compare(interval: tuple[float, float] | None, threshold: float, *, above: bool = True) -> Verdict:
    """The verdict of "the statistic is above (below) threshold" judged on its interval: held when the whole
    interval lies on the claimed side, did not hold when it lies wholly on the other side, not established
    when it straddles the threshold or there is no interval (one seed)."""
    if interval is None:
        return NOT_ESTABLISHED
    lo, hi = interval
    if above:
        return HELD if lo > threshold else NOT_HELD if hi <= threshold else NOT_ESTABLISHED
    return HELD if hi < threshold else NOT_HELD if lo >= threshold else NOT_ESTABLISHED


def clip(interval, bounds) -> tuple[float, float] | None:
    """An interval cut to the statistic's possible range (a t interval of a share can leave [0, 1])."""
    if interval is None:
        return None
    lo, hi = interval
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return (lo, hi)


def as_claims(items) -> list[Claim]:
    """Claims from records or their JSON dicts (a study's stored results.json reads back this way)."""
    return [c if isinstance(c, Claim) else Claim.from_dict(c) for c in items]


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _label(c: Claim) -> str:
    if c.verdict == NOT_ESTABLISHED and c.reason:
        return f"not established ({c.reason})"
    return c.verdict.upper() if c.verdict == NOT_HELD else c.verdict


def claims_text(claims, *, with_rule: bool = False) -> str:
    """Judged claims as printed text, one line each: verdict, name, statement, [rule,] evidence."""
    lines = []
    for c in as_claims(claims):
        rule = f" (rule: {c.rule})" if with_rule else ""
        evidence = f" {c.evidence}" if c.evidence else ""
        lines.append(f"- {_label(c)}: {c.name} {c.statement}{rule}.{evidence}")
    return "\n".join(lines)


def claims_markdown(claims) -> str:
    """Judged claims as a Markdown list (reports' Markdown files)."""
    return "\n".join(f"- **{_label(c)}**: {c.name} {c.statement} (rule: {c.rule}). {c.evidence}".rstrip()
                     for c in as_claims(claims))


_CLASS = {HELD: "ok", NOT_HELD: "no", NOT_ESTABLISHED: "ne"}


def claim_badge(c: Claim, note: bool = True) -> str:
    """The verdict as a badge (green held, red did not hold, grey not established): a plumbing profile's
    claim reads "not established: plumbing profile", the rest of its reason in a note under the badge (with
    note) and in its tooltip."""
    text, why = c.verdict, ""
    if c.verdict == NOT_ESTABLISHED and c.reason:
        head, _, why = c.reason.partition("; ")
        text = f"{c.verdict}: {head}"
    after = f"<span class='why'>{html.escape(why)}</span>" if why and note else ""
    return f"<span class='badge {_CLASS[c.verdict]}' title='{html.escape(_label(c))}'>{html.escape(text)}</span>{after}"


def claims_html(claims) -> str:
    """Judged claims as one HTML table: claim, rule, statistic with interval and bounds, verdict (a badge),
    evidence."""
    rows = []
    for c in as_claims(claims):
        stat = f"{html.escape(c.statistic)} = {_fmt(c.value)}"
        if c.interval is not None:
            stat += f" [{_fmt(c.interval[0])}, {_fmt(c.interval[1])}] ({html.escape(c.interval_method)})"
        if c.threshold is not None:
            stat += f"; threshold {_fmt(c.threshold)}"
        rows.append(f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(c.statement)}</td>"
                    f"<td>{html.escape(c.rule)}</td><td>{stat}</td>"
                    f"<td class='verdict'>{claim_badge(c)}</td>"
                    f"<td>{html.escape(c.evidence)}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("claim", "statement", "rule (fixed before the runs)",
                                              "deciding statistic", "verdict", "evidence"))
    return f"<table class='claims'><tr>{head}</tr>{''.join(rows)}</table>"
