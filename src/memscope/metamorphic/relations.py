"""Metamorphic relations: a rewrite of an item and the relation between the two gold answers.

A relation is registered with `@register_relation(name, description=, applies_to=, answer=)` on the
function that makes its rewrites:
- for a memscope task (applies_to names tasks): `fn(task) -> list[PairedItem]`, every item with its exact
  provenance (`seen`: the original prompt's line is in the training text; `rewritten_seen`: the rewrite's);
- for multiple-choice items (applies_to = ("multiple-choice",)): `fn(item, rng) -> (item', option_map)`,
  where option_map[i] is the rewritten index of original option i (the correct option of `nota` maps to
  the new "None of the other answers"), so consistency needs no gold answer.
`answer` names the gold relation: equal, negated, shifted:+K, permuted (multiple choice: the answer
follows the options) or nota (the answer becomes the new option). The rewrite and relation follow the
metamorphic-testing framing of Chen et al. (2018, ACM CSUR 51:1) and, for nota / shuffle, the
"None of the other answers" rewrite of arXiv 2502.12896.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Callable

from ..choice_format import NOTA
from ..errors import ConfigError
from ..registry import Registry
from ..tasks import Task
from .items import MCItem, PairedItem

MULTIPLE_CHOICE = "multiple-choice"


@dataclass(frozen=True)
class Relation:
    name: str
    description: str
    applies_to: tuple[str, ...]
    """Task names, or "multiple-choice"."""
    answer: str
    """equal | negated | shifted:+K | permuted | nota"""
    fn: Callable


RELATIONS: Registry[Relation] = Registry("relation")


def register_relation(name: str, *, description: str, applies_to: tuple[str, ...], answer: str):
    return RELATIONS.register(name, lambda fn: Relation(name, description, tuple(applies_to), answer, fn))


def get_relation(name: str) -> Relation:
    return RELATIONS.lookup(name)


def relations_for(target: str) -> list[Relation]:
    """The relations that apply to a task name or to "multiple-choice"."""
    return [r for r in RELATIONS.values() if target in r.applies_to]


def choose_relations(target: str, names: list[str] | None) -> list[Relation]:
    """The named relations (all that apply when None); one that does not apply to target is an error."""
    if names is None:
        found = relations_for(target)
        if not found:
            raise ConfigError(f"no relation applies to {target!r}; relations: {', '.join(sorted(RELATIONS))}")
        return found
    if len(set(names)) != len(names):
        raise ConfigError(f"--relations {','.join(names)} names a relation twice")
    out = [get_relation(n) for n in names]
    for r in out:
        if target not in r.applies_to:
            raise ConfigError(f"relation {r.name!r} does not apply to {target!r} (it applies to "
                              f"{', '.join(r.applies_to)}); for {target!r}: "
                              f"{', '.join(x.name for x in relations_for(target)) or 'none'}")
    return out


def consistent(answer: str, out_original: str | None, out_rewritten: str | None) -> bool | None:
    """Whether two normalized outputs stand in the relation `answer` (no gold answer needed). None: a
    relation whose outputs cannot be compared (an unparsable integer counts as inconsistent)."""
    if out_original is None or out_rewritten is None:
        return False
    if answer in ("equal", "permuted"):
        return out_original == out_rewritten
    if answer == "negated" or answer.startswith("shifted:"):
        try:
            o, r = int(out_original), int(out_rewritten)
        except ValueError:
            return False
        return r == -o if answer == "negated" else r == o + int(answer.split(":", 1)[1])
    return None


# ---------------------------------------------------------------- arithmetic
def _arith(task: Task, need: str) -> None:
    if need not in task.operators:
        raise ConfigError(f"this relation needs the operator {need!r}; the task has operators={task.operators!r}")


def _arith_item(task, relation, op1, a1, b1, op2, a2, b2) -> PairedItem:
    ans = {"+": lambda a, b: a + b, "-": lambda a, b: a - b}
    return PairedItem(f"<{a1}{op1}{b1}=", f"<{a2}{op2}{b2}=", str(ans[op1](a1, b1)), str(ans[op2](a2, b2)),
                      relation, seen=not task.is_withheld(a1, b1), rewritten_seen=not task.is_withheld(a2, b2),
                      scorer="integer", max_new_tokens=4)


@register_relation("commutation", description="a+b rewritten b+a: equal answers", applies_to=("arithmetic", "combined"),
                   answer="equal")
def commutation(task) -> list[PairedItem]:
    _arith(task, "+")
    return [_arith_item(task, "commutation", "+", a, b, "+", b, a)
            for a in range(task.digits) for b in range(task.digits) if a != b]


@register_relation("negation", description="a-b rewritten b-a: negated answers", applies_to=("arithmetic", "combined"),
                   answer="negated")
def negation(task) -> list[PairedItem]:
    _arith(task, "-")
    return [_arith_item(task, "negation", "-", a, b, "-", b, a)
            for a in range(task.digits) for b in range(task.digits) if a != b]


@register_relation("successor", description="a+b rewritten (a+1)+b: the answer shifted by +1",
                   applies_to=("arithmetic", "combined"), answer="shifted:+1")
def successor(task) -> list[PairedItem]:
    _arith(task, "+")
    return [_arith_item(task, "successor", "+", a, b, "+", a + 1, b)
            for a in range(task.digits - 1) for b in range(task.digits)]


@register_relation("zero", description="a+0 rewritten a-0: equal answers (zero is the identity)",
                   applies_to=("arithmetic", "combined"), answer="equal")
def zero(task) -> list[PairedItem]:
    _arith(task, "+")
    _arith(task, "-")
    return [_arith_item(task, "zero", "+", a, 0, "-", a, 0) for a in range(task.digits)]


# ---------------------------------------------------------------- capitals
@register_relation("template", description="the capital asked with a template held out of training for "
                   "this country (task option templates >= 2): equal answers", applies_to=("capitals",),
                   answer="equal")
def template(task) -> list[PairedItem]:
    if task.templates < 2:
        raise ConfigError("relation 'template' needs the capitals task with templates >= 2 "
                          f"(this run has templates={task.templates})")
    return [PairedItem(task.prompt(c, 0), task.prompt(c, task.templates - 1), cap, cap, "template", seen=True,
                       rewritten_seen=task.has_held_template(i), scorer="line", max_new_tokens=20)
            for i, (c, cap) in enumerate(task.countries())]


# ---------------------------------------------------------------- sorting
@register_relation("permutation", description="the input list permuted: the same sorted output",
                   applies_to=("sorting",), answer="permuted")
def permutation(task) -> list[PairedItem]:
    from ..tasks.sorting import list_key
    rng = random.Random(task.seed)
    items = []
    for kind in ("seen", "unseen"):
        for values in task.draw_suite(kind, task.eval_lists):
            perm = list(values)
            for _ in range(10):  # a different order where the list has one
                rng.shuffle(perm)
                if tuple(perm) != tuple(values):
                    break
            items.append(PairedItem(task.prompt(values), task.prompt(perm), task.answer(values),
                                    task.answer(perm), "permutation", seen=kind == "seen",
                                    rewritten_seen=list_key(tuple(perm)) in task.train_keys, scorer="exact",
                                    max_new_tokens=len(values) + 1))
    return items


# ---------------------------------------------------------------- multiple choice
@register_relation("shuffle", description="options permuted (a seeded derangement where possible); the "
                   "answer follows its option", applies_to=(MULTIPLE_CHOICE,), answer="permuted")
def shuffle(item: MCItem, rng: random.Random) -> tuple[MCItem, list[int]]:
    n = len(item.choices)
    order = list(range(n))
    for _ in range(20):
        rng.shuffle(order)
        if all(order[i] != i for i in range(n)):
            break
    # order[j] = the original index placed at position j; option_map[i] = where original i went
    option_map = [order.index(i) for i in range(n)]
    return replace(item, choices=tuple(item.choices[i] for i in order), answer=option_map[item.answer]), option_map


def _check_nota(item: MCItem) -> None:
    if NOTA in item.choices:
        raise ConfigError(f"{item.where}: the item already has the option {NOTA!r}")


@register_relation("nota", description=f"the correct option replaced by {NOTA!r}, which becomes correct",
                   applies_to=(MULTIPLE_CHOICE,), answer="nota")
def nota(item: MCItem, rng: random.Random) -> tuple[MCItem, list[int]]:
    _check_nota(item)
    choices = list(item.choices)
    choices[item.answer] = NOTA
    return replace(item, choices=tuple(choices)), list(range(len(choices)))


@register_relation("nota-distractor", description=f"a wrong option replaced by {NOTA!r}; the answer is "
                   "unchanged (the control)", applies_to=(MULTIPLE_CHOICE,), answer="equal")
def nota_distractor(item: MCItem, rng: random.Random) -> tuple[MCItem, list[int]]:
    _check_nota(item)
    wrong = rng.choice([i for i in range(len(item.choices)) if i != item.answer])
    choices = list(item.choices)
    choices[wrong] = NOTA
    return replace(item, choices=tuple(choices)), list(range(len(choices)))
