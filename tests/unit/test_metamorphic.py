"""Metamorphic evaluation: statistics against textbook values, relations and items, and the scoring
pipeline on models whose behaviour is known (a lookup table of seen items, an oracle, a null model)."""
import json
import math
import random
import re

import numpy as np
import pytest
import torch

from memscope.errors import ConfigError
from memscope.metamorphic import RELATIONS, MetamorphicSettings, get_relation
from memscope.metamorphic.core import score_items, task_items
from memscope.metamorphic.items import MCItem, read_items
from memscope.metamorphic.relations import NOTA, choose_relations
from memscope.metamorphic.stats import (mcnemar_exact, memorization_gap, paired_summary,
                                        percentile_interval)
from memscope.models.lm import LanguageModel
from memscope.tasks import make_task

FAST = MetamorphicSettings(n_resamples=400)


# ---------------------------------------------------------------- statistics
def test_mcnemar_exact_against_the_binomial_by_hand():
    # b=1, c=6: P(X <= 1 | n=7, 1/2) = (1 + 7) / 128; two-sided doubles it
    assert mcnemar_exact(1, 6) == pytest.approx(2 * 8 / 128)
    assert mcnemar_exact(6, 1) == pytest.approx(0.125)
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    # b=2, c=10: 2 * (1 + 12 + 66) / 4096
    assert mcnemar_exact(2, 10) == pytest.approx(2 * 79 / 4096)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_percentile_bootstrap_matches_the_normal_interval_of_a_proportion():
    x = [1] * 200 + [0] * 200  # p = 0.5, n = 400: 0.5 +- 1.96 * 0.025
    lo, hi = percentile_interval(x, n_resamples=4000, seed=1)
    assert lo == pytest.approx(0.5 - 1.96 * 0.025, abs=0.008) and hi == pytest.approx(0.5 + 1.96 * 0.025, abs=0.008)
    assert percentile_interval(x, n_resamples=4000, seed=1) == [lo, hi]  # seeded
    assert percentile_interval([1.0] * 30) == [1.0, 1.0]


def test_paired_summary_counts_and_drop():
    o = [True] * 8 + [False] * 2
    r = [True] * 3 + [False] * 5 + [True, False]
    s = paired_summary(o, r, [a == b for a, b in zip(o, r)], n_resamples=500)
    assert s["acc_original"]["value"] == 0.8 and s["acc_rewritten"]["value"] == 0.4
    assert s["drop"]["value"] == pytest.approx(0.4) and s["relative_drop"]["value"] == pytest.approx(0.5)
    assert s["mcnemar"] == {"b": 5, "c": 1, "p": pytest.approx(2 * 7 / 64)}
    assert s["consistency"]["value"] == pytest.approx(0.4)
    lo, hi = s["drop"]["ci"]
    assert -0.2 < lo < 0.4 < hi <= 0.8  # normal approximation: 0.4 +- 1.96 * 0.21


def test_gap_of_a_memorizer_and_of_a_null_model():
    seen = [True] * 60 + [False] * 60
    gap = memorization_gap([True] * 60 + [False] * 60, [False] * 120, seen, n_resamples=500)
    assert gap["value"] == 1.0 and gap["ci"] == [1.0, 1.0]
    rng = np.random.default_rng(3)
    o, r = rng.random(200) < 0.5, rng.random(200) < 0.5
    g = memorization_gap(o.tolist(), r.tolist(), [True] * 100 + [False] * 100, n_resamples=1000)
    assert g["ci"][0] < 0 < g["ci"][1]
    assert memorization_gap([True], [False], [True]) is None


# ---------------------------------------------------------------- relations and items
def test_registry_lists_the_known_relations_on_a_bad_name():
    assert {"commutation", "negation", "successor", "zero", "template", "permutation", "shuffle", "nota",
            "nota-distractor"} <= set(RELATIONS)
    with pytest.raises(ConfigError, match="unknown relation 'swap'; known: .*commutation"):
        get_relation("swap")
    with pytest.raises(ConfigError, match="does not apply to 'capitals'"):
        choose_relations("capitals", ["commutation"])


def test_arithmetic_items_carry_the_withheld_pairs_and_gold_relations():
    task = make_task("arithmetic", {"withheld": ((5, 7), (2, 3))})
    names, items = task_items(task)
    assert names == ["commutation", "negation", "successor", "zero"]
    by = {(it.relation, it.original): it for it in items}
    c = by["commutation", "<5+7="]
    assert (c.rewritten, c.answer_rewritten, c.seen, c.rewritten_seen) == ("<7+5=", "12", False, False)
    n = by["negation", "<2-9="]
    assert (n.rewritten, n.answer_original, n.answer_rewritten, n.seen) == ("<9-2=", "-7", "7", True)
    s = by["successor", "<4+7="]  # (4,7) seen, (5,7) withheld
    assert (s.rewritten, s.answer_rewritten, s.seen, s.rewritten_seen) == ("<5+7=", "12", True, False)
    assert by["zero", "<6+0="].rewritten == "<6-0="
    assert sum(not it.seen for it in items if it.relation == "commutation") == 4
    with pytest.raises(ConfigError, match="operator '-'"):
        task_items(make_task("arithmetic", {"operators": "+"}), ["negation"])


def test_capitals_template_option_and_relation():
    assert make_task("capitals").lines()[0] == "Capital of France is Paris \n"  # the paper's lines unchanged
    task = make_task("capitals", {"templates": 3, "template_countries": 10})
    lines = task.lines()
    assert "France has the capital Paris \n" in lines and "Zambia has the capital Lusaka \n" not in lines
    assert "The capital of Zambia is Lusaka \n" in lines and len(lines) == 50 * 2 + 10
    names, items = task_items(task)
    assert names == ["template"] and [it.rewritten_seen for it in items] == [True] * 10 + [False] * 40
    assert items[49].rewritten == "Zambia has the capital " and items[49].answer_rewritten == "Lusaka"
    with pytest.raises(ConfigError, match="templates >= 2"):
        task_items(make_task("capitals"))
    with pytest.raises(ConfigError, match="templates=9"):
        make_task("capitals", {"templates": 9})


def test_sorting_permutation_provenance_is_exact():
    task = make_task("sorting", {"n_lists": 50, "eval_lists": 8, "max_length": 4})
    _, items = task_items(task, ["permutation"])
    assert [it.seen for it in items] == [True] * 8 + [False] * 8
    for it in items:
        assert it.answer_original == it.answer_rewritten
        assert sorted(it.original[1:-1]) == sorted(it.rewritten[1:-1])


def test_mc_rewrites_move_the_answer():
    item = MCItem("2+2=", ("3", "4", "5", "6"), 1)
    for seed in range(5):
        new, m = RELATIONS["shuffle"].fn(item, random.Random(seed))
        assert new.choices[new.answer] == "4" and all(new.choices[m[i]] == item.choices[i] for i in range(4))
    new, _ = RELATIONS["nota"].fn(item, random.Random(0))
    assert new.choices == ("3", NOTA, "5", "6") and new.answer == 1
    new, _ = RELATIONS["nota-distractor"].fn(item, random.Random(0))
    assert new.choices[1] == "4" and new.answer == 1 and NOTA in new.choices


MC_LINE = '{"question": "ok", "choices": ["a", "b"], "answer": 0}'
PAIRED_LINE = '{"original": "a", "rewritten": "b", "answer_original": "1", "answer_rewritten": "1", "relation": "r"}'


@pytest.mark.parametrize("line, needle", [
    ('{"question": "q", "choices": ["a", "b"], "answer": 2}', "out of range for 2 choices"),
    ('{"question": "q", "choices": ["a"], "answer": 0}', "at least 2 are needed"),
    ('{"question": "q", "choices": ["a", "b"]}', "needs answer"),
    ('{"question": "q", "choices": ["a", "b"], "answer": true}', "integer index"),
    ('{"original": "a", "rewritten": "b", "answer_original": "1"}', "needs answer_rewritten, relation"),
    (PAIRED_LINE, "a paired item in a file of multiple-choice items"),
    ('{"question": "q", "choices": ["a", "b"], "answer": 0, "seen": "yes"}', "'seen' must be true or false"),
    ('{"question": NaN}', "not a JSON object"),
    ('[1, 2]', "each line must be a JSON object"),
])
def test_bad_items_name_the_file_and_line(tmp_path, line, needle):
    path = tmp_path / "items.jsonl"
    first = PAIRED_LINE if "original" in line and "answer_rewritten" not in line else MC_LINE
    path.write_text(first + "\n" + line + "\n")
    with pytest.raises(ConfigError) as e:
        read_items(path)
    assert str(e.value).startswith(f"{path}:2: ") and needle in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- known models through the pipeline
CHARS = "\n +-<=>0123456789?" + "abcdefghijklmnopqrstuvwxyzNABCDEFGHIJKLMOPQRSTUVWXYZ" + "(|)"


def function_lm(complete) -> LanguageModel:
    """A character LM that continues a prompt P with complete(P) (a string, or None: uniform): the next
    character gets logit 10 where the text so far is P + a proper prefix of complete(P)."""
    stoi = {c: i for i, c in enumerate(CHARS)}

    def logits_fn(idx):
        out = torch.zeros(*idx.shape, len(CHARS))
        for b, row in enumerate(idx.tolist()):
            text = "".join(CHARS[i] for i in row)
            for t in range(len(row)):
                s = text[: t + 1].lstrip("\n")
                for k in range(len(s) + 1):
                    c = complete(s[:k])
                    if c is not None and c.startswith(s[k:]) and len(s) - k < len(c):
                        out[b, t, stoi[c[len(s) - k]]] = 10.0
                        break
        return out

    return LanguageModel(path="function", kind="test", logits_fn=logits_fn,
                         tokenize=lambda ts: [[stoi[c] for c in t] for t in ts],
                         decode=lambda ids: "".join(CHARS[i] for i in ids), bos_id=0, bos="\n", block_size=64,
                         vocab_size=len(CHARS), n_params=0, device=torch.device("cpu"), batch_size=64)


def _oracle(prompt):
    m = re.fullmatch(r"<(\d)([+-])(\d)=", prompt)
    if not m:
        return None
    a, op, b = int(m[1]), m[2], int(m[3])
    return f"{a + b if op == '+' else a - b}>"


def test_oracle_shows_no_drop_on_the_arithmetic_relations():
    task = make_task("arithmetic")
    names, items = task_items(task)
    res = score_items(function_lm(_oracle), "task", items, names, FAST)
    for name in names:
        a = res.summary["relations"][name]["metrics"]["exact_match"]["all"]
        assert a["acc_original"]["value"] == 1 and a["drop"]["value"] == 0 and a["consistency"]["value"] == 1


def test_lookup_table_drops_fully_on_seen_items_only(tmp_path):
    rng = random.Random(0)
    seen = [(f"<{a}+{b}=", str(a + b)) for a in range(10) for b in range(10)]
    rng.shuffle(seen)
    table = {p: ans + ">" for p, ans in seen[:50]}
    lines = [json.dumps({"original": p, "rewritten": f"<{p[3]}+{p[1]}=?", "answer_original": ans,
                         "answer_rewritten": ans, "relation": "renamed", "seen": i < 50})
             for i, (p, ans) in enumerate(seen)]
    path = tmp_path / "paired.jsonl"
    path.write_text("\n".join(lines) + "\n")
    fmt, items = read_items(path)
    res = score_items(function_lm(lambda p: table.get(p.lstrip("\n"))), fmt, items, ["renamed"], FAST)
    m = res.summary["relations"]["renamed"]["metrics"]["exact_match"]
    assert m["by_seen"]["seen"]["drop"]["value"] == 1.0 and m["by_seen"]["held_out"]["drop"]["value"] == 0.0
    assert m["gap_seen"]["value"] == 1.0 and m["gap_seen"]["ci"] == [1.0, 1.0]
    assert m["all"]["mcnemar"]["b"] == 50 and m["all"]["mcnemar"]["p"] < 1e-10


def _mc_items(n, seed=0, lowest_answer=1):
    """Single-digit sums, three single-digit distractors: no option a prefix of another (an LM without an
    end-of-answer token scores "1" like "12"). lowest_answer=1: the answer never first (ties go there)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a = rng.randrange(10)
        b = rng.randrange(10 - a)
        wrong = rng.sample([x for x in range(10) if x != a + b], 3)
        answer = rng.randrange(lowest_answer, 4)
        choices = wrong[:answer] + [a + b] + wrong[answer:]
        out.append(MCItem(f"{a}+{b}=", tuple(str(c) for c in choices), answer, seen=k < n // 2))
    return out


def test_lookup_table_mc_nota_drop_on_seen_only_and_control_unchanged():
    items = [it for it in _mc_items(60) if not (not it.seen and any(  # a held-out question never seen
        o.seen and o.question == it.question for o in _mc_items(60)))]
    table = {it.question: " " + it.choices[it.answer] for it in items if it.seen}
    lm = function_lm(lambda p: table.get(p))
    res = score_items(lm, "multiple-choice", items, ["nota", "nota-distractor", "shuffle"], FAST)
    rel = res.summary["relations"]
    acc = rel["nota"]["metrics"]["acc"]
    assert acc["by_seen"]["seen"]["acc_original"]["value"] == 1.0 and acc["by_seen"]["seen"]["drop"]["value"] == 1.0
    # held out: every option equally likely per token; acc picks the shortest, first one (never the answer)
    assert acc["by_seen"]["held_out"]["acc_original"]["value"] == 0 and acc["by_seen"]["held_out"]["drop"]["value"] == 0
    assert acc["gap_seen"]["value"] == 1.0
    # acc_norm divides by the option's characters: once every short option is unlikely, the 25-character
    # "None of the other answers" wins per character, for the memorizer's seen items and the held-out ones
    # alike; so acc_norm shows no nota drop for this model (a caveat the report states, not a pass)
    norm = rel["nota"]["metrics"]["acc_norm"]
    assert norm["by_seen"]["seen"]["acc_rewritten"]["value"] == 1.0
    assert norm["by_seen"]["held_out"]["acc_rewritten"]["value"] == 1.0
    for control in ("nota-distractor", "shuffle"):
        for metric in ("acc", "acc_norm"):
            seen = rel[control]["metrics"][metric]["by_seen"]["seen"]
            assert seen["drop"]["value"] == 0 and seen["consistency"]["value"] == 1


def test_options_in_the_prompt_let_a_computer_follow_nota_and_a_lookup_table_not():
    """The {choices} marker: each side is scored with its own options in the question. A model that
    computes the sum and reads the options (NOTA when the sum is not listed) shows no nota drop; a lookup
    table of the seen questions' answers, which ignores the options, drops fully on seen items."""
    items = [MCItem(it.question.rstrip("=") + " {choices}", it.choices, it.answer, it.seen) for it in _mc_items(40)]

    def computer(p):
        m = re.fullmatch(r"(\d)\+(\d) \((.*)\)", p)
        if not m:
            return None
        total = str(int(m[1]) + int(m[2]))
        return " " + (total if total in m[3].split("|") else NOTA)

    table = {it.question.split(" ")[0]: " " + it.choices[it.answer] for it in items if it.seen}
    lookup = function_lm(lambda p: table.get(p.split(" ")[0]) if p.endswith(")") else None)
    for lm, drops in ((function_lm(computer), {"seen": 0.0, "held_out": 0.0}), (lookup, {"seen": 1.0})):
        acc = score_items(lm, "multiple-choice", items, ["nota"], FAST).summary["relations"]["nota"]["metrics"]["acc"]
        assert acc["by_seen"]["seen"]["acc_original"]["value"] == 1.0
        for group, drop in drops.items():
            assert acc["by_seen"][group]["drop"]["value"] == drop


def test_null_model_drop_interval_contains_zero(tmp_path):
    # a guesser whose answer depends only on the prompt's text: right 1 time in 3 on either side, independently
    lines = [json.dumps({"original": f"q{k}=", "rewritten": f"r{k}=", "answer_original": str(k % 3),
                         "answer_rewritten": str(k % 3), "relation": "renamed"}) for k in range(150)]
    path = tmp_path / "paired.jsonl"
    path.write_text("\n".join(lines) + "\n")
    fmt, items = read_items(path)
    guess = function_lm(lambda p: str(sum(ord(c) * 31 ** i for i, c in enumerate(p)) % 7 % 3)
                        if p.endswith("=") else None)
    m = score_items(guess, fmt, items, ["renamed"], FAST).summary["relations"]["renamed"]["metrics"]["exact_match"]
    assert 0.2 < m["all"]["acc_original"]["value"] < 0.5 and 0.2 < m["all"]["acc_rewritten"]["value"] < 0.5
    lo, hi = m["all"]["drop"]["ci"]
    assert lo < 0 < hi and m["all"]["mcnemar"]["p"] > 0.05
    # multiple choice: an option scorer that knows one string per question (ties among the rest go to the
    # first option, so the order matters there): shuffling is no help and no harm
    items = _mc_items(120, seed=1, lowest_answer=0)
    null = function_lm(lambda p: " " + str(sum(map(ord, p)) % 19) if p.endswith("=") else None)
    s = score_items(null, "multiple-choice", items, ["shuffle"], FAST).summary["relations"]["shuffle"]["metrics"]
    for metric in ("acc", "acc_norm"):
        lo, hi = s[metric]["all"]["drop"]["ci"]
        assert lo <= 0 <= hi


def test_acc_norm_divides_by_the_option_length_in_characters():
    # uniform model: the log-likelihood of " " + option is -(1 + len) log V; acc picks the shortest option,
    # acc_norm (per character of the option) the longest here
    item = MCItem("1+1=", ("22", "2", "333"), 2)
    res = score_items(function_lm(lambda p: None), "multiple-choice", [item], ["nota-distractor"], FAST)
    row = res.rows[0]
    assert row["acc.choice_original"] == 1 and row["acc_norm.choice_original"] == 0 or \
        row["acc_norm.choice_original"] == 2
    v = math.log(len(CHARS))
    assert -(1 + 2) * v / 2 < -(1 + 3) * v / 3  # longer options win per character under a uniform model
    assert row["acc_norm.choice_original"] == 2


def test_public_api_exports_the_function():
    import memscope.metamorphic.core  # noqa: F401  (the submodule imported first must not shadow it)
    from memscope import metamorphic
    assert callable(metamorphic) and metamorphic.__module__ == "memscope.metamorphic.core"
