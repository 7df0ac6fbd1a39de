"""The metamorphic study's claim rules on synthetic per-seed figures whose verdicts are known."""
import pytest

from memscope.studies.metamorphic.tables import claims


def _cell(seen_drop, held_drop, all_drop=None):
    all_drop = (seen_drop + held_drop) / 2 if all_drop is None else all_drop
    return {"all": {"acc_original": 1.0, "acc_rewritten": 1.0 - all_drop, "drop": all_drop},
            "seen": {"acc_original": 1.0, "acc_rewritten": 1.0 - seen_drop, "drop": seen_drop},
            "held_out": {"acc_original": 1.0, "acc_rewritten": 1.0 - held_drop, "drop": held_drop},
            "gap": seen_drop - held_drop}


def _mc(nota_seen, nota_held, control):
    return {"nota": {"acc": _cell(nota_seen, nota_held)},
            "nota-distractor": {"acc": _cell(control, control, control)},
            "shuffle": {"acc": _cell(0.0, 0.0)}}


def _tbtt(gap):
    return {"pooled": {"exact_match": {**_cell(0.0, -gap), "gap": gap}}}


JITTER = (-0.01, 0.0, 0.01)  # three seeds


def _verdicts(memorizer_seen_drop, computer_seen_drop, control, n56_gap, n14_gap):
    runs = {"mc-capitals": [_mc(memorizer_seen_drop + j, 0.0 + j, control + j) for j in JITTER],
            "mc-arithmetic": [_mc(computer_seen_drop + j, computer_seen_drop - j, control - j) for j in JITTER],
            "tbtt-n56": [_tbtt(n56_gap + j) for j in JITTER], "tbtt-n14": [_tbtt(n14_gap + j) for j in JITTER]}
    return {c.name: c.held for c in claims(runs)}


def test_a_lookup_memorizer_beside_a_computer_holds_every_claim():
    # the memorizer drops fully on seen items only, the computer never, the control costs nothing,
    # and n56 fails the withheld rewrites (its gap, seen - withheld drop, is negative)
    assert _verdicts(1.0, 0.0, 0.0, -0.34, 0.0) == {"C1": True, "C2a": True, "C2b": True, "C3": True}


def test_two_computers_hold_no_separation_claim():
    assert _verdicts(0.0, 0.0, 0.0, 0.0, 0.0) == {"C1": False, "C2a": False, "C2b": False, "C3": True}


def test_a_costly_control_fails_c3_and_a_small_memorizer_drop_fails_c1():
    v = _verdicts(0.15, 0.0, 0.3, -0.34, 0.0)
    assert v["C3"] is False and v["C1"] is False and v["C2a"] is True


def test_one_seed_has_no_interval_and_decides_nothing():
    runs = {"mc-capitals": [_mc(1.0, 0.0, 0.0)], "mc-arithmetic": [_mc(0.0, 0.0, 0.0)]}
    out = claims(runs)
    assert {c.name: c.verdict for c in out} == {"C1": "did not hold", "C2a": "did not hold", "C3": "did not hold"}
    assert all(c.interval is None and c.interval_method == "none" for c in out)


def test_each_claim_carries_its_deciding_statistic_within_its_bounds():
    runs = {"mc-capitals": [_mc(1.0 + j, 0.0 + j, 0.0 + j) for j in JITTER],
            "mc-arithmetic": [_mc(0.0 + j, 0.0 - j, 0.0 - j) for j in JITTER],
            "tbtt-n56": [_tbtt(-0.34 + j) for j in JITTER], "tbtt-n14": [_tbtt(0.0 + j) for j in JITTER]}
    by = {c.name: c for c in claims(runs)}
    assert [c.name for c in claims(runs)] == ["C1", "C2a", "C2b", "C3"]
    assert by["C1"].value == pytest.approx(1.0) and by["C1"].bounds == (-2.0, 2.0) and by["C1"].threshold is None
    assert by["C2a"].value == pytest.approx(1.0) and by["C2a"].threshold == 0.0 and by["C2a"].interval[0] > 0
    assert by["C2b"].value == pytest.approx(0.34) and by["C2b"].bounds == (-4.0, 4.0)
    assert by["C3"].value == pytest.approx(0.0, abs=1e-9) and by["C3"].bounds == (-1.0, 1.0)
    assert all(c.interval_method == "95% t interval over seeds" for c in by.values())
