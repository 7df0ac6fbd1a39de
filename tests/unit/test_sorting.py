"""The sorting task (suites, withheld pair, loss mask, sizes, bad formats) and the study's baselines and rules."""
import math

import pytest

from memscope.data.samplers import make_source
from memscope.errors import ConfigError
from memscope.studies.sorting.baselines import BigramBaseline, LookupBaseline
from memscope.studies.sorting.measure import decode_output, measure_baselines, suite_stats
from memscope.studies.sorting.tables import _crossing, claims, summary, switches
from memscope.tasks import make_task
from memscope.tasks.sorting import count_lists, list_key, n_duplicates


def task(**kw):
    return make_task("sorting", {"n_lists": 300, "max_length": 5, "eval_lists": 200, **kw})


def test_lines_are_lists_then_their_sorted_output():
    t = task(n_values=12)
    assert len(t.lines()) == 300 and len(set(t.lines())) == 300
    for line, values in zip(t.lines(), t.train_lists):
        inp, out = line.rstrip("\n").split("=")
        assert line.endswith("\n") and 2 <= len(values) <= 5
        assert inp == t.encode_list(values) and out == "".join(sorted(inp, key="0123456789ab".index))
    assert t.vocab.chars == "\n0123456789=ab"  # every value, drawn or not
    assert t.block_size == 2 * 10 + 2 and t.train_window == 12


def test_train_and_unseen_suites_are_disjoint_by_hash():
    t = task()
    train = {list_key(v) for v in t.train_lists}
    unseen = t.draw_suite("unseen", 200)
    assert len(unseen) == 200 and len({list_key(v) for v in unseen}) == 200
    assert not train & {list_key(v) for v in unseen}
    assert all(t.min_length <= len(v) <= t.max_length for v in unseen)
    assert t.draw_suite("seen", 10) == list(t.train_lists[:10])
    assert t.draw_suite("unseen", 10) == unseen[:10]  # a small suite is the start of a larger one
    assert task().train_lists == t.train_lists and task(seed=1).train_lists != t.train_lists


def test_longer_suite_runs_past_the_training_lengths_up_to_the_factor():
    t = task(longer_factor=2)
    lengths = {len(v) for v in t.draw_suite("longer", 200)}
    assert min(lengths) == 6 and max(lengths) == 10


def test_withheld_pair_is_removed_from_every_training_list():
    t = task(withheld_pair=(3, 7))
    assert not any(3 in v and 7 in v for v in t.train_lists)
    held = t.draw_suite("withheld", 50)
    assert len(held) == 50 and all(3 in v and 7 in v for v in held)
    assert not any(3 in v and 7 in v for v in t.draw_suite("unseen", 200))
    without = task()
    assert any(3 in v and 7 in v for v in without.train_lists)  # the option, not chance, removes them


def test_no_duplicates_option_draws_distinct_values():
    t = task(duplicates=False)
    assert all(n_duplicates(v) == 0 for v in t.train_lists)
    assert t.n_possible_lists == sum(math.perm(10, n) for n in range(2, 6))


def test_loss_mask_leaves_the_input_and_separator_unscored():
    t = task(n_lists=20)
    src = make_source(t, "aligned", t.train_window, t.vocab)
    text = "\n" + "".join(t.lines())
    for line, start in zip(t.lines(), src.starts):
        eq = line.index("=")
        # target_ok[i] tells whether text[i] is a target; line characters start at start + 1
        assert not any(src.target_ok[start + 1: start + 1 + eq + 1])
        assert all(src.target_ok[start + 1 + eq + 1: start + 1 + len(line)])
        assert text[start + 1: start + 1 + len(line)] == line


def test_bits_per_list_counts_the_possible_lists():
    assert count_lists(3, 10, True) == 1000 and count_lists(3, 10, False) == 720
    t = make_task("sorting", {"n_lists": 10, "min_length": 2, "max_length": 3, "n_values": 10})
    assert t.bits_per_list == pytest.approx(math.log2(1100)) and t.dataset_bits() == pytest.approx(10 * math.log2(1100))


@pytest.mark.parametrize("params, needle", [
    ({"duplicates": False, "n_values": 5, "max_length": 6}, "needs duplicates"),
    ({"n_values": 63}, "n_values=63"),
    ({"min_length": 5, "max_length": 3}, "lengths 5..3"),
    ({"max_length": 200, "longer_factor": 2}, "longer_factor=2"),
    ({"n_lists": 60, "n_values": 3, "max_length": 3}, "more than half"),
    ({"withheld_pair": (2, 2)}, "withheld_pair"),
    ({"withheld_pair": (1, 10)}, "withheld_pair"),
])
def test_impossible_formats_are_one_line_config_errors(params, needle):
    with pytest.raises(ConfigError, match=needle) as e:
        make_task("sorting", params)
    assert "\n" not in str(e.value)


def test_impossible_format_exits_2_on_the_command_line(cli, tmp_path):
    code, out, err = cli("train", "--task", "sorting", "--model", "n14", "--out", tmp_path / "r", "duplicates=false",
                         "n_values=4", "max_length=6")
    assert code == 2 and "needs duplicates" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_bigram_fails_where_the_sorted_output_is_not_the_most_likely_chain():
    b = BigramBaseline([(0, 2), (0, 2), (0, 1, 2)], n_values=3)
    assert b.prob(0, 2) == pytest.approx(2 / 3) and b.prob(-1, 0) == 1.0
    assert b.decode(None) == (0, 2)  # the one most likely chain, whatever the input
    assert b.decode((2, 0)) == (0, 2)  # constrained: right where the likely chain is the sorted one
    assert b.decode((2, 1, 0)) == (0, 2, 1)  # after 0, 2 is likelier than 1: wrong
    good = BigramBaseline([(0, 1, 2), (0, 1)], n_values=3)
    assert good.decode((2, 1, 0)) == (0, 1, 2)


def test_lookup_is_exact_on_seen_lists_and_returns_the_nearest():
    train = [(1, 2, 3), (4, 5), (5, 4, 4)]
    lk = LookupBaseline(train, n_values=10)
    assert lk.decode_many(train) == [(1, 2, 3), (4, 5), (4, 4, 5)]
    assert lk.decode_many([(5, 9, 4), (3, 1)]) == [(4, 5), (1, 2, 3)]
    t = task(n_lists=200)
    res = measure_baselines(t, 64)
    assert res["lookup"]["seen"]["em"] == 1.0 and res["lookup"]["unseen"]["em"] < 1.0


def test_suite_stats_known_answer():
    s = suite_stats([(2, 1), (1, 0), (1, 1)], [(1, 2), (0,), (1, 1)])
    assert s["em"] == pytest.approx(2 / 3) and s["pos_acc"] == pytest.approx((2 + 1 + 2) / 6)
    assert s["em_by_duplicates"] == {"0": 0.5, "1": 1.0} and s["n_by_duplicates"] == {"0": 2, "1": 1}
    assert decode_output("01a=\nzz") == (0, 1, 10, -1)


def test_switch_is_the_interpolated_crossing_and_its_distance_from_the_line():
    assert _crossing([(10, 0.0), (40, 1.0)], 0.5) == pytest.approx(20)
    assert _crossing([(10, 0.6), (40, 1.0)], 0.5) == 10 and _crossing([(10, 0.1)], 0.5) is None
    cell = lambda n, em: {"n_embd": 8, "n_lists": n, "n_params_total": 100, "capacity_bits": 400.0,  # noqa: E731
                          "unseen_em": {"mean": em}}
    (s,) = switches([cell(10, 0.0), cell(40, 1.0)], bits_per_list=10.0)
    assert s["n_line"] == 40 and s["n_switch"] == pytest.approx(20) and s["octaves_from_line"] == pytest.approx(-1)
    assert s["width_octaves"] == pytest.approx(1.2)  # EM 0.2 at 10 x 4^0.2, 0.8 at 10 x 4^0.8


def _cell(ratio, seen, unseen):
    return {"ratio": ratio, "seeds": list(range(len(seen))), "seen_em": summary(seen), "unseen_em": summary(unseen),
            "gap": summary([a - b for a, b in zip(seen, unseen)])}


def _results(below_unseen, above_unseen, octaves, nope_longer, best_baseline):
    """Made-up analysis: one cell below the line (seen EM 1), one above (seen EM 1), the sizes' switches
    at `octaves` from their lines (None: never), NoPE against learned positions (0.1, 0.15, 0.2) on longer
    lists, the model's unseen EM (0.9, 0.92, 0.94) against baselines whose best scores best_baseline."""
    sw = [{"n_embd": 8 * (i + 1), "n_line": 100.0, "max_unseen_em": 0.3,
           "n_switch": None if o is None else 100.0 * 2 ** o, "octaves_from_line": o} for i, o in enumerate(octaves)]
    em = lambda values: {"em": summary(values)}  # noqa: E731
    rows = {"GPT, learned positions": {"longer": em([0.1, 0.15, 0.2]), "unseen": em([0.9, 0.92, 0.94])},
            "GPT, NoPE": {"longer": em(nope_longer)},
            "P(next|prev), unconditioned": {"unseen": em([0.0, 0.0, 0.0])},
            "lookup of the nearest training list": {"unseen": em([best_baseline] * 3)}}
    return {"cells": [_cell(0.25, [1.0] * 3, below_unseen), _cell(4.0, [1.0] * 3, above_unseen)],
            "switch": sw, "generalization": {"rows": rows}}


def test_sorting_claims_hold_on_a_textbook_result():
    cs = claims(_results([0.1, 0.2, 0.15], [0.95, 0.97, 0.96], [0.5, -1.0, 1.5, 3.0], [0.6, 0.7, 0.65], 0.3))
    assert [c.name for c in cs] == ["C1", "C2", "C3", "C4", "C5"]
    assert [c.verdict for c in cs] == ["held"] * 5, cs
    c1, c2, c3, c4, c5 = cs
    assert (c1.value, c1.threshold, c1.bounds) == (pytest.approx(0.85), 0.3, (-1.0, 1.0)) and c1.interval[0] > 0
    assert (c2.value, c2.threshold, c2.bounds) == (pytest.approx(0.96), 0.8, (0.0, 1.0)) and c2.interval[1] <= 1.0
    assert (c3.value, c3.threshold) == (0.75, 0.75)  # 3 of 4 sizes within 2 octaves: exactly enough
    assert (c4.value, c4.threshold) == (pytest.approx(0.5), 0.0)
    assert (c5.value, c5.threshold) == (pytest.approx(0.92), 0.3) and c5.interval[0] > 0.3
    assert "best baseline lookup of the nearest training list 0.30" in c5.evidence


def test_sorting_claims_fail_when_the_numbers_say_otherwise():
    cs = claims(_results([0.9, 0.8, 0.85], [0.6, 0.7, 0.65], [0.5, 3.0, None, -2.5], [0.1, 0.1, 0.1], 0.95))
    assert [c.verdict for c in cs] == ["did not hold"] * 5, cs
    assert cs[0].value == pytest.approx(0.15) and cs[1].value == pytest.approx(0.65) and cs[2].value == 0.25
    assert cs[3].value == pytest.approx(-0.05) and cs[4].threshold == pytest.approx(0.95)
    # no cell that far below or above the line: nothing to judge on, the rule reads did not hold
    r = _results([0.1] * 3, [0.9] * 3, [0.0], [0.6] * 3, 0.3)
    r["cells"] = [_cell(1.0, [1.0] * 3, [0.5] * 3)]
    c1, c2 = claims(r)[:2]
    assert (c1.verdict, c1.value, c2.verdict, c2.value) == ("did not hold", None, "did not hold", None)
    assert "no cell lies that far below" in c1.evidence
