"""The `choice` task (multiple choice, options in the prompt) and the `{choices}` marker it shares with
metamorphic scoring."""
import json

import pytest

from memscope.choice_format import CHOICES_MARKER, NOTA, render_question
from memscope.errors import ConfigError
from memscope.metamorphic.items import MCItem, read_items
from memscope.metamorphic.relations import get_relation
from memscope.tasks import make_task
from memscope.tasks.choice import NOTA_ANSWER, NOTA_DISTRACTOR, PLAIN
from memscope.vocab import BOS


@pytest.fixture(scope="module", params=["arithmetic", "capitals"])
def task(request):
    return make_task("choice", {"source": request.param})


def test_lines_are_rendered_questions_with_the_answer_text(task):
    for item, status in task.training_items():
        line = item.line
        assert line == f"{render_question(item.question, item.choices)} {item.choices[item.answer]}\n"
        assert len(item.choices) == 3 and len(set(item.choices)) == 3
        assert (item.choices[item.answer] == NOTA) == (status == NOTA_ANSWER)
        assert (NOTA in item.choices) == (status != PLAIN)
    assert task.lines() == [it.line for it, _ in task.training_items()]
    assert task.text == BOS + "".join(task.lines())


def test_provenance_is_exact(task):
    items = task.items()
    n_q = 50 if task.source == "capitals" else 100
    held = [it for it in items if not it.seen]
    assert len(items) == n_q and len(held) == round(0.2 * n_q)
    trained = {it.question for it, _ in task.training_items()}
    for it in items:
        # a held-out question never appears in training in any form; a seen one appears as `variants` lines
        assert (it.question in trained) == it.seen
        assert NOTA not in it.choices
    lines = set(task.lines())
    assert all((it.line in lines) == it.seen for it in items)  # a seen item is exactly a training line
    per_q = {}
    for it, _ in task.training_items():
        per_q[it.question] = per_q.get(it.question, 0) + 1
    assert set(per_q.values()) == {4}


def test_nota_shares_are_exact_and_nota_listed_does_not_mean_answer_nota(task):
    statuses = [s for _, s in task.training_items()]
    total = len(statuses)
    assert statuses.count(NOTA_ANSWER) == round(0.2 * total)
    assert statuses.count(NOTA_DISTRACTOR) == round(0.2 * total)
    listed = [it for it, s in task.training_items() if NOTA in it.choices]
    answered = [it for it in listed if it.choices[it.answer] == NOTA]
    assert 0 < len(answered) < len(listed)
    t = make_task("choice", {"source": task.source, "nota_share": 0.0, "nota_distractor_share": 0.0})
    assert not any(NOTA in line for line in t.lines())


def test_distractors_are_plausible():
    t = make_task("choice", {"source": "arithmetic"})
    for it, status in t.training_items():
        if status == PLAIN:
            answer = int(it.choices[it.answer])
            # among the 4 nearest other results: within 2 of the answer, or 4 at the ends of the range
            limit = 2 if 2 <= answer <= 16 else 4
            assert all(abs(int(c) - answer) <= limit for c in it.choices)
    caps = make_task("choice", {"source": "capitals"})
    from memscope.tasks.capitals import CAPITALS
    capitals = {c for _, c in CAPITALS}
    assert all(set(it.choices) <= capitals | {NOTA} for it, _ in caps.training_items())


def test_deterministic_by_seed():
    a, b = make_task("choice", {"source": "capitals", "seed": 3}), make_task("choice", {"source": "capitals", "seed": 3})
    assert a.lines() == b.lines() and a.items() == b.items()
    c = make_task("choice", {"source": "capitals", "seed": 4})
    assert {it.question for it in c.items() if not it.seen} != {it.question for it in a.items() if not it.seen}
    # vocabulary and context do not depend on the seed: the seeds of a profile train as one ensemble
    assert a.vocab == c.vocab and a.block_size == c.block_size


def test_block_size_and_vocab_cover_every_rewrite(task):
    nota = get_relation("nota").fn
    import random
    for it in task.items():
        mc = MCItem(it.question, it.choices, it.answer, it.seen)
        for k in range(3):
            opts = tuple(NOTA if j == k else c for j, c in enumerate(it.choices))
            line = f"{render_question(it.question, opts)} {NOTA}\n"
            assert len(line) <= task.block_size
            task.vocab.encode(line)
        new, _ = nota(mc, random.Random(0))
        assert new.text.count(NOTA) == 1 and it.choices[it.answer] not in new.text.split("(", 1)[1]
    assert max(len(line) for line in task.lines()) <= task.block_size


def test_answers_only_loss_mask():
    t = make_task("choice", {"source": "capitals"})
    line = t.lines()[0]
    mask = t.line_loss_mask(line)
    answer_start = line.rindex(") ") + 2
    assert len(mask) == len(line) and not any(mask[:answer_start]) and all(mask[answer_start:])
    assert make_task("choice", {"source": "capitals", "mask_prompt": False}).line_loss_mask(line) is None


def test_suite_prompts_are_the_plain_items():
    t = make_task("choice", {"source": "arithmetic", "digits": 5, "operators": "+-"})
    (suite,) = t.eval_suites()
    assert suite.scorer == "line" and len(suite.prompts) == 50
    for p, it in zip(suite.prompts, t.items()):
        assert p.text == f"{BOS}{it.text} " and p.answer == it.choices[it.answer] and p.withheld == (not it.seen)


@pytest.mark.parametrize("params, needle", [
    ({"source": "poems"}, "source='poems' must be one of arithmetic, capitals"),
    ({"n_choices": 7}, "n_choices=7 must lie in 2..6"),
    ({"digits": 1}, "digits=1 must lie in 2..50"),
    ({"operators": "*"}, "operators='*'"),
    ({"held_out_share": 0.95}, "held_out_share=0.95"),
    ({"variants": 1}, "sum to at most (variants-1)/variants"),
    ({"nota_share": 0.5, "nota_distractor_share": 0.4}, "sum to at most"),
    ({"digits": 2, "n_choices": 4}, "needs at least that many distinct answers"),
    ({"n_choices": "three"}, "n_choices"),
])
def test_bad_options_are_one_line_config_errors(params, needle):
    with pytest.raises(ConfigError) as e:
        make_task("choice", params)
    assert needle in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- the {choices} marker
def test_marker_renders_the_options_and_without_it_nothing_changes(tmp_path):
    assert render_question(f"2+3 {CHOICES_MARKER}", ("5", "6")) == "2+3 (5|6)"
    assert render_question("2+3=", ("5", "6")) == "2+3="
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in (
        {"question": f"Capital of Peru? {CHOICES_MARKER}", "choices": ["Lima", "Quito"], "answer": 0, "seen": True},
        {"question": "Capital of Chile?", "choices": ["Lima", "Santiago"], "answer": 1})) + "\n")
    fmt, (with_marker, plain) = read_items(path)
    assert fmt == "multiple-choice"
    assert with_marker.text == "Capital of Peru? (Lima|Quito)" and plain.text == "Capital of Chile?"
    new, _ = get_relation("nota").fn(with_marker, None)
    assert new.text == f"Capital of Peru? ({NOTA}|Quito)"  # the rewrite reads its own options


def test_study_trains_the_tbtt_models_with_the_tbtt_quick_arithmetic_settings():
    from memscope.studies.metamorphic.recipe import PROFILES, TBTT_QUICK
    from memscope.studies.tbtt.recipe import PROFILES as TBTT
    assert TBTT_QUICK == TBTT["quick"].overrides("arithmetic", "n14") == TBTT["quick"].overrides("arithmetic", "n56")
    assert PROFILES["quick"].tbtt_settings == TBTT_QUICK
