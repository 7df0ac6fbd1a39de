"""Benchmark items and their files: multiple choice and paired (original, rewritten) items, read as JSONL.

Multiple choice, one object a line: {"question": str, "choices": [str, ...] (at least 2, distinct),
"answer": int (index into choices), "seen": bool (optional: the item was in the model's training data)}.
A question may show its options (MMLU's layout): the marker `{choices}` in it is replaced, at scoring time,
by the item's options rendered as `(o1|o2|o3)` (choice_format.render_question), so a rewrite that changes
the options (shuffle, nota) changes what the model reads; without the marker the question is scored as given.
Paired: {"original": str, "rewritten": str, "answer_original": str, "answer_rewritten": str,
"relation": str, "seen": bool (optional)}. Files are parsed as JSON only (never evaluated); a bad line is
one ConfigError naming the file and the line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import store
from ..choice_format import render_question
from ..errors import ConfigError, MemscopeError

MC_FIELDS = ("question", "choices", "answer")
PAIRED_FIELDS = ("original", "rewritten", "answer_original", "answer_rewritten", "relation")
MAX_ITEMS = 1_000_000


@dataclass(frozen=True)
class MCItem:
    question: str
    choices: tuple[str, ...]
    answer: int
    seen: bool | None = None
    where: str = ""
    """file:line, for messages."""

    @property
    def text(self) -> str:
        """The question as the model reads it: its `{choices}` marker replaced by the options."""
        return render_question(self.question, self.choices)


@dataclass(frozen=True)
class PairedItem:
    """An item and its rewrite. `seen`: the original was in training; `rewritten_seen`: the rewrite was."""

    original: str
    rewritten: str
    answer_original: str
    answer_rewritten: str
    relation: str
    seen: bool | None = None
    rewritten_seen: bool | None = None
    scorer: str = "exact"
    """How an output is read: exact (greedy continuation of the answer's length equals it) or a task
    scorer (integer, line, exact) over max_new_tokens generated tokens."""
    max_new_tokens: int = 0
    """0: as many tokens as the gold answer (exact match of the continuation)."""
    where: str = ""


def _check(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {message}")


def _seen(obj: dict, where: str) -> bool | None:
    seen = obj.get("seen")
    _check(seen is None or type(seen) is bool, where, f"'seen' must be true or false, got {seen!r}")
    return seen


def parse_mc(obj: dict, where: str) -> MCItem:
    missing = [f for f in MC_FIELDS if f not in obj]
    _check(not missing, where, f"a multiple-choice item needs {', '.join(missing)}")
    q, choices, answer = obj["question"], obj["choices"], obj["answer"]
    _check(isinstance(q, str), where, "'question' must be a string")
    _check(isinstance(choices, list) and all(isinstance(c, str) and c for c in choices), where,
           "'choices' must be a list of non-empty strings")
    _check(len(choices) >= 2, where, f"'choices' has {len(choices)} option(s); at least 2 are needed")
    _check(len(set(choices)) == len(choices), where, "'choices' repeats an option")
    _check(type(answer) is int, where, f"'answer' must be an integer index, got {answer!r}")
    _check(0 <= answer < len(choices), where,
           f"'answer' {answer} is out of range for {len(choices)} choices (0..{len(choices) - 1})")
    return MCItem(q, tuple(choices), answer, _seen(obj, where), where)


def parse_paired(obj: dict, where: str) -> PairedItem:
    missing = [f for f in PAIRED_FIELDS if f not in obj]
    _check(not missing, where, f"a paired item needs {', '.join(missing)}")
    for f in PAIRED_FIELDS:
        _check(isinstance(obj[f], str) and (obj[f] or f in ("original", "rewritten")), where,
               f"'{f}' must be a non-empty string" if f not in ("original", "rewritten")
               else f"'{f}' must be a string")
    return PairedItem(obj["original"], obj["rewritten"], obj["answer_original"], obj["answer_rewritten"],
                      obj["relation"], _seen(obj, where), where=where)


def read_items(path: Path) -> tuple[str, list]:
    """("multiple-choice", [MCItem]) or ("paired", [PairedItem]); the format is the first item's, and every
    line must share it. Blank lines are skipped."""
    path = Path(path)
    fmt, items = None, []
    for n, line in store.read_lines(path, "items"):
        where = f"{path}:{n}"
        try:
            obj = store.loads(line)
        except (ValueError, MemscopeError) as e:
            raise ConfigError(f"{where}: not a JSON object ({str(e).splitlines()[0]})") from None
        _check(isinstance(obj, dict), where, "each line must be a JSON object")
        kind = "multiple-choice" if "choices" in obj else "paired" if "original" in obj else None
        _check(kind is not None, where, "neither a multiple-choice item (question, choices, answer) nor a "
               "paired item (original, rewritten, answer_original, answer_rewritten, relation)")
        _check(fmt in (None, kind), where, f"a {kind} item in a file of {fmt} items")
        fmt = kind
        items.append(parse_mc(obj, where) if kind == "multiple-choice" else parse_paired(obj, where))
        _check(len(items) <= MAX_ITEMS, where, f"more than {MAX_ITEMS:,} items")
    if not items:
        raise ConfigError(f"{path}: no items")
    return fmt, items
