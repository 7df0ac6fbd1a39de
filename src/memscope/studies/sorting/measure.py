"""Scoring sorters on the sorting suites: a trained run (greedy decoding) and the two baselines.

Every scorer sees only lists (tuples of value indices) and predictions; the same statistics for all:
exact match of the whole output (EM), per-position accuracy (right values at their positions over the
target's positions), and EM split by the number of duplicate values and by list length.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ...tasks.sorting import ALPHABET, SEP, Sorting, n_duplicates
from .baselines import BigramBaseline, LookupBaseline, score

SUITES = ("seen", "unseen", "longer", "withheld")


def suite_stats(lists: list[tuple[int, ...]], preds: list[tuple[int, ...]]) -> dict | None:
    """EM, per-position accuracy and EM by duplicates and by length over one suite (None when empty)."""
    if not lists:
        return None
    em = pos = total_pos = 0
    by_dup: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    by_len: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for values, pred in zip(lists, preds):
        target = tuple(sorted(values))
        exact, right = score(pred, target)
        em += exact
        pos += right
        total_pos += len(target)
        for table, key in ((by_dup, n_duplicates(values)), (by_len, len(values))):
            table[key][0] += exact
            table[key][1] += 1
    return {"em": em / len(lists), "pos_acc": pos / total_pos, "n": len(lists),
            "em_by_duplicates": {str(k): v[0] / v[1] for k, v in sorted(by_dup.items())},
            "n_by_duplicates": {str(k): v[1] for k, v in sorted(by_dup.items())},
            "em_by_length": {str(k): v[0] / v[1] for k, v in sorted(by_len.items())}}


def suite_lists(task: Sorting, n: int) -> dict[str, list[tuple[int, ...]]]:
    return {kind: task.draw_suite(kind, n) for kind in SUITES}


def decode_output(text: str) -> tuple[int, ...]:
    """The values of a generated output line (up to its newline); a non-value character becomes -1."""
    line = text.split("\n", 1)[0]
    return tuple(ALPHABET.index(c) if c in ALPHABET and c != SEP else -1 for c in line)


def model_predictions(lm, task: Sorting, lists: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Greedy continuation of `BOS input =` by len(list) + 1 tokens (the output and its newline)."""
    if not lists:
        return []
    prefixes = lm.tokenize([task.prompt(v) for v in lists])
    new = lm.greedy(prefixes, [len(v) + 1 for v in lists])
    return [decode_output(lm.decode(row)) for row in new]


def measure_run(run_dir: Path, n_lists: int, device: str = "cpu") -> dict:
    """A trained sorting run scored on every suite with n_lists lists each (final weights)."""
    from ...models.lm import LanguageModel
    from ...models.load import load_model
    from ...runtime import configure_cpu
    rc, task, model, step = load_model(Path(run_dir), "final", device)
    configure_cpu(next(model.parameters()).device, rc.train.threads)
    lm = LanguageModel.from_gpt(model, task.vocab)
    suites = {kind: suite_stats(lists, model_predictions(lm, task, lists))
              for kind, lists in suite_lists(task, n_lists).items()}
    return {"name": Path(run_dir).name, "n_embd": rc.model.n_embd, "n_layer": rc.model.n_layer,
            "pos_encoding": rc.model.pos_encoding, "seed": rc.train.seed, "n_lists": task.n_lists,
            "n_params_total": model.count_params("total"), "bits_per_list": task.bits_per_list,
            "dataset_bits": task.dataset_bits(), "steps": step, "suites": suites}


def measure_baselines(task: Sorting, n_lists: int) -> dict:
    """Both baselines (and the unconstrained chain) on the task's suites."""
    outputs = [tuple(sorted(v)) for v in task.train_lists]
    bigram = BigramBaseline(outputs, task.n_values)
    lookup = LookupBaseline(list(task.train_lists), task.n_values)
    chain = bigram.decode(None, max_len=task.longer_factor * task.max_length)
    res: dict[str, dict] = {"bigram": {}, "bigram_constrained": {}, "lookup": {}}
    for kind, lists in suite_lists(task, n_lists).items():
        res["bigram"][kind] = suite_stats(lists, [chain] * len(lists))
        res["bigram_constrained"][kind] = suite_stats(lists, [bigram.decode(v) for v in lists])
        res["lookup"][kind] = suite_stats(lists, lookup.decode_many(lists))
    return res
