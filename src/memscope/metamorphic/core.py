"""memscope metamorphic: does a model follow rewrites whose effect on the answer is known?

Targets: a memscope run (its task's relations, or an items file) or a Hugging Face causal-LM directory
(an items file). Multiple-choice items are scored by the log-likelihood of each option's continuation,
the lm-evaluation-harness convention (Gao et al., EleutherAI): context = the question, continuation = " " +
the option (its `target_delimiter`; trailing spaces of the context move to the continuation), the
continuation's tokens are those of tokenize(context + continuation) after the context's; `acc` takes the
option of highest log-likelihood, `acc_norm` the highest log-likelihood divided by the option's length in
characters (the harness's `completion_len = len(choice)`); ties go to the first option (np.argmax).
Paired items are scored by greedy decoding: exact match of a continuation as long as the gold answer
(items files), or the task's own scorer (integer, line, exact) for task relations.
"""
from __future__ import annotations

import logging
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np

from ..config import DEVICE, MAX_SEED
from ..errors import ConfigError, MemscopeError
from ..models.lm import LanguageModel
from ..models.load import HUGGING_FACE, load_lm, model_kind
from ..runconfig import load_run_config
from ..settings import Range, validate
from .items import MCItem, PairedItem, read_items
from .relations import MULTIPLE_CHOICE, NOTA, RELATIONS, Relation, choose_relations, consistent
from .stats import N_RESAMPLES, summarize_outcomes

log = logging.getLogger(__name__)

TARGET_DELIMITER = " "
_INTEGER = re.compile(r"\s*(-?\d+)")


@dataclass(frozen=True)
class MetamorphicSettings:
    device: Annotated[str, DEVICE] = "auto"
    """Device of the forward passes; auto takes CUDA when present."""
    batch_size: Annotated[int | None, Range(1, 4096)] = None
    """Sequences per forward pass; none: 256 for memscope runs, 8 for Hugging Face models."""
    seed: Annotated[int, Range(0, MAX_SEED)] = 0
    """Seed of the rewrites' choices (shuffle order, replaced distractor) and of the bootstrap."""
    n_resamples: Annotated[int, Range(100, 100_000)] = N_RESAMPLES
    """Bootstrap resamples of the confidence intervals."""

    def __post_init__(self):
        validate(self)  # types, ranges and the device name, as annotated


@dataclass
class MetamorphicResult:
    summary: dict
    rows: list[dict]
    """One per (relation, item): the prompts, outputs and outcomes."""


# ---------------------------------------------------------------- reading outputs
def normalize(completion: str, scorer: str) -> str | None:
    """The answer a completion gives, read as the scorer reads it (evaluate.py): the integer after `=`,
    the first line (stripped, final period dropped, lower case) or the first line as is."""
    if scorer == "integer":
        m = _INTEGER.match(completion)
        return m.group(1) if m else None
    first = completion.splitlines()[0] if completion.splitlines() else ""
    return first.strip().rstrip(".").lower() if scorer == "line" else first


def _gold(answer: str, scorer: str) -> str | None:
    return str(int(answer)) if scorer == "integer" else normalize(answer, scorer)


def score_paired(lm: LanguageModel, items: list[PairedItem], answer_of: dict[str, str | None],
                 from_task: bool) -> list[dict]:
    """Greedy outputs of both sides of every item (one batched pass) and their outcomes."""
    prompts = [t for it in items for t in (it.original, it.rewritten)]
    prefixes = lm.tokenize(prompts) if from_task else lm.encode(prompts)
    n_new = []
    for it in items:
        for ans in (it.answer_original, it.answer_rewritten):
            n_new.append(it.max_new_tokens or max(1, len(lm.tokenize([ans])[0])))
    log.info("metamorphic: greedy decoding of %d prompts", len(prompts))
    outs = [lm.decode(ids) for ids in lm.greedy(prefixes, n_new)]
    rows = []
    for k, it in enumerate(items):
        out_o, out_r = outs[2 * k], outs[2 * k + 1]
        no, nr = normalize(out_o, it.scorer), normalize(out_r, it.scorer)
        relation = answer_of.get(it.relation)
        cons = consistent(relation, no, nr) if relation else None
        rows.append({"relation": it.relation, "original": it.original, "rewritten": it.rewritten,
                     "answer_original": it.answer_original, "answer_rewritten": it.answer_rewritten,
                     "output_original": out_o, "output_rewritten": out_r,
                     "correct_original": no is not None and no == _gold(it.answer_original, it.scorer),
                     "correct_rewritten": nr is not None and nr == _gold(it.answer_rewritten, it.scorer),
                     "consistent": cons, "seen": it.seen, "rewritten_seen": it.rewritten_seen})
    return rows


# ---------------------------------------------------------------- multiple choice
def _split(context: str, continuation: str) -> tuple[str, str]:
    """The harness's move of the context's trailing spaces into the continuation."""
    n = len(context) - len(context.rstrip())
    return (context[:-n], context[-n:] + continuation) if n else (context, continuation)


def option_logliks(lm: LanguageModel, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """log P(" " + option | question) in nats for each distinct (question, option) pair."""
    pairs = list(dict.fromkeys(pairs))
    seqs, cont_lens = [], []
    for q, choice in pairs:
        ctx, cont = _split(q, TARGET_DELIMITER + choice)
        whole, ctx_ids = lm.encode([ctx + cont])[0], lm.encode([ctx])[0]
        n_cont = len(whole) - len(ctx_ids)
        if n_cont < 1:
            raise MemscopeError(f"option {choice!r} of question {q[:40]!r} tokenizes to nothing after its context")
        seqs.append(whole)
        cont_lens.append(n_cont)
    log.info("metamorphic: scoring %d options", len(seqs))
    bits = lm.token_nll_bits(seqs)
    return {p: -float(b[-n:].sum()) * math.log(2) for p, b, n in zip(pairs, bits, cont_lens)}


def _pick(lls: list[float], choices: tuple[str, ...]) -> tuple[int, int]:
    raw = int(np.argmax(lls))
    norm = int(np.argmax([ll / len(c) for ll, c in zip(lls, choices)]))
    return raw, norm


def score_mc(lm: LanguageModel, items: list[MCItem], relations: list[Relation], seed: int) -> list[dict]:
    rewrites = {}
    for rel in relations:
        for k, it in enumerate(items):
            rewrites[rel.name, k] = rel.fn(it, random.Random(f"{seed}:{rel.name}:{k}"))
    # each side is scored as the model reads it: its own options rendered into its question's marker
    pairs = [(it.text, c) for it in items for c in it.choices]
    pairs += [(new.text, c) for new, _ in rewrites.values() for c in new.choices]
    ll = option_logliks(lm, pairs)
    rows = []
    for rel in relations:
        for k, it in enumerate(items):
            new, option_map = rewrites[rel.name, k]
            o = _pick([ll[it.text, c] for c in it.choices], it.choices)
            r = _pick([ll[new.text, c] for c in new.choices], new.choices)
            row = {"relation": rel.name, "question": it.question, "choices": list(it.choices),
                   "rewritten_choices": list(new.choices), "answer": it.answer, "answer_rewritten": new.answer,
                   "seen": it.seen, "rewritten_seen": it.seen}
            for j, metric in enumerate(("acc", "acc_norm")):
                row[f"{metric}.choice_original"], row[f"{metric}.choice_rewritten"] = o[j], r[j]
                row[f"{metric}.correct_original"] = o[j] == it.answer
                row[f"{metric}.correct_rewritten"] = r[j] == new.answer
                row[f"{metric}.consistent"] = r[j] == option_map[o[j]]
            rows.append(row)
    return rows


# ---------------------------------------------------------------- the command
def _summaries(rows: list[dict], relations: list[str], metrics: list[str], settings: MetamorphicSettings) -> dict:
    out = {}
    for name in relations:
        rs = [r for r in rows if r["relation"] == name]
        rel = RELATIONS.get(name)
        entry = {"description": rel.description if rel else "user relation (items file)",
                 "answer": rel.answer if rel else None, "n": len(rs), "metrics": {}}
        for m in metrics:
            p = "" if m == "exact_match" else m + "."
            entry["metrics"][m] = summarize_outcomes(
                [r[p + "correct_original"] for r in rs], [r[p + "correct_rewritten"] for r in rs],
                [r[p + "consistent"] for r in rs], [r["seen"] for r in rs],
                [r["rewritten_seen"] for r in rs] if m == "exact_match" else None,
                settings.n_resamples, settings.seed)
        out[name] = entry
    return out


def metamorphic(target: Path, items: Path | None = None, relations: list[str] | None = None,
                settings: MetamorphicSettings = MetamorphicSettings()) -> MetamorphicResult:
    """Apply the relations to the items (or to the run's task) and score the target on both sides.
    Every input is checked before the model is loaded."""
    target = Path(target)
    kind = model_kind(target)
    if items is not None:
        fmt, loaded = read_items(Path(items))
        if fmt == MULTIPLE_CHOICE:
            chosen = choose_relations(MULTIPLE_CHOICE, relations)
            names = [r.name for r in chosen]
            clash = next((it for it in loaded if NOTA in it.choices), None)
            if clash and any(n.startswith("nota") for n in names):
                raise ConfigError(f"{clash.where}: the item already has the option {NOTA!r}")
        else:
            present = list(dict.fromkeys(it.relation for it in loaded))
            if relations is not None:
                missing = [n for n in relations if n not in present]
                if missing:
                    raise ConfigError(f"--relations {missing[0]!r} is not in {items} (its relations: "
                                      f"{', '.join(present)})")
                loaded = [it for it in loaded if it.relation in relations]
            names = [n for n in present if relations is None or n in relations]
    else:
        if kind == HUGGING_FACE:
            raise MemscopeError(f"{target} is a Hugging Face model: give --items (a JSONL benchmark file)")
        fmt = "task"
        names, loaded = task_items(load_run_config(target).make_task(), relations)
    lm = load_lm(target, settings.device, settings.batch_size)
    if fmt != "task":
        check_tokenizable(lm, loaded, extra=(NOTA,) if any(n.startswith("nota") for n in names) else ())
    return score_items(lm, fmt, loaded, names, settings, items)


def check_tokenizable(lm: LanguageModel, loaded: list, extra: tuple[str, ...] = ()) -> None:
    """Every text of every item in the model's vocabulary (a memscope run's characters), before any
    scoring: the error names the item's file and line."""
    for it in loaded:
        texts = ([it.text, *it.choices] if isinstance(it, MCItem)
                 else [it.original, it.rewritten, it.answer_original, it.answer_rewritten])
        try:
            lm.tokenize([*texts, *extra])
        except MemscopeError as e:
            raise MemscopeError(f"{it.where}: {e}") from None


def task_items(task, relations: list[str] | None = None) -> tuple[list[str], list[PairedItem]]:
    """The relations of a task (all that apply when None) and the paired items they make."""
    chosen = choose_relations(task.name, relations)
    return [r.name for r in chosen], [it for r in chosen for it in r.fn(task)]


def score_items(lm: LanguageModel, fmt: str, loaded: list, names: list[str],
                settings: MetamorphicSettings = MetamorphicSettings(), items: Path | None = None) -> MetamorphicResult:
    """Score checked items on a loaded model. fmt: multiple-choice, paired (an items file) or task."""
    if fmt == MULTIPLE_CHOICE:
        rows = score_mc(lm, loaded, [RELATIONS[n] for n in names], settings.seed)
        metrics = ["acc", "acc_norm"]
    else:
        answer_of = {n: (RELATIONS[n].answer if n in RELATIONS else None) for n in names}
        for it in loaded:  # a user relation with equal answers is read as `equal`
            if answer_of.get(it.relation) is None and it.answer_original == it.answer_rewritten:
                answer_of[it.relation] = "equal"
        rows = score_paired(lm, loaded, answer_of, from_task=fmt == "task")
        metrics = ["exact_match"]
    summary = {"target": lm.path, "kind": lm.kind, "items": str(items) if items else None, "format": fmt,
               "n_items": len(loaded), "seed": settings.seed, "n_resamples": settings.n_resamples,
               "relations": _summaries(rows, names, metrics, settings)}
    return MetamorphicResult(summary, rows)


def _pct(stat: dict | None) -> str:
    if not stat or stat.get("value") is None:
        return "-"
    ci = stat.get("ci")
    return f"{100 * stat['value']:.1f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def format_metamorphic(summary: dict) -> str:
    lines = [f"{summary['target']} ({summary['kind']}), {summary['format']} items: {summary['n_items']}"]
    for name, entry in summary["relations"].items():
        for metric, s in entry["metrics"].items():
            a = s["all"]
            if not a.get("n"):
                lines.append(f"{name:<16} {metric:<11} no items")
                continue
            lines.append(f"{name:<16} {metric:<11} n={a['n']}  original {_pct(a['acc_original'])}  rewritten "
                         f"{_pct(a['acc_rewritten'])}  drop {_pct(a['drop'])}  consistency "
                         f"{_pct(a.get('consistency'))}  McNemar p={a['mcnemar']['p']:.3g}")
            for key in ("seen", "rewritten_seen"):
                gap = s.get(f"gap_{key}")
                if gap:
                    lines.append(f"{'':<28} gap by {key}: {_pct(gap)} (drop seen {100 * gap['drop_seen']:.1f}%,"
                                 f" held out {100 * gap['drop_held_out']:.1f}%)")
    return "\n".join(lines)


def list_relations() -> dict:
    return {name: {"description": r.description, "applies_to": list(r.applies_to), "answer": r.answer}
            for name, r in sorted(RELATIONS.items())}
