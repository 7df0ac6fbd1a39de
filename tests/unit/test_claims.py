"""The typed claim record: its checks, its verdict helpers, its one printer and one HTML table."""
import json

import pytest

from memscope.claims import (Claim, as_claims, claim_badge, claims_html, claims_markdown, claims_text, clip, compare,
                             verdict_of)


def _claim(**kw):
    base = dict(name="C1", statement="n14 generalizes", rule="share > 0.5", statistic="share of seeds",
                value=0.67, interval=(0.2, 0.9), interval_method="bootstrap over seeds, 95%", bounds=(0, 1),
                threshold=0.5, verdict="held", evidence="2 of 3 seeds")
    return Claim(**{**base, **kw})


def test_compare_reads_the_interval_against_the_threshold():
    assert compare((0.6, 0.9), 0.5) == "held"
    assert compare((0.1, 0.4), 0.5) == "did not hold"
    assert compare((0.4, 0.6), 0.5) == "not established"  # straddles
    assert compare(None, 0.5) == "not established"  # one seed: no interval
    assert compare((0.1, 0.4), 0.5, above=False) == "held"  # the claim's side inverted
    assert compare((0.6, 0.9), 0.5, above=False) == "did not hold"
    assert verdict_of(True) == "held" and verdict_of(False) == "did not hold"


def test_clip_keeps_an_interval_inside_the_statistics_range():
    assert clip((-0.2, 0.4), (0, 1)) == (0, 0.4) and clip((0.5, 1.3), (0, 1)) == (0.5, 1)
    assert clip(None, (0, 1)) is None and clip((-5, 5), None) == (-5, 5)


@pytest.mark.parametrize("kw, needle", [
    ({"verdict": "maybe"}, "verdict 'maybe'"),
    ({"value": 1.5}, "outside its bounds"),
    ({"interval": (-0.1, 0.5)}, "leaves the bounds"),
    ({"interval": (0.9, 0.2)}, "must be [low, high]"),
    ({"value": float("nan")}, "finite number"),
    ({"threshold": True}, "finite number"),
])
def test_a_claim_that_cannot_be_true_is_refused(kw, needle):
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("(", r"\(")):
        _claim(**kw)


def test_a_claim_round_trips_through_json():
    c = _claim()
    d = json.loads(json.dumps(c.to_dict()))
    assert list(d) == ["name", "statement", "rule", "statistic", "value", "interval", "interval_method", "bounds",
                       "threshold", "verdict", "evidence", "reason"]
    assert d["interval"] == [0.2, 0.9] and as_claims([d]) == [c] and c.held


def test_unjudged_keeps_the_figures_and_names_the_reason():
    c = _claim().unjudged("plumbing profile")
    assert (c.verdict, c.reason, c.value, c.interval) == ("not established", "plumbing profile", 0.67, (0.2, 0.9))
    assert not c.held


def test_one_printer_one_markdown_list_one_html_table():
    claims = [_claim(), _claim(name="C2", verdict="did not hold", evidence=""),
              _claim(name="C3").unjudged("too few seeds")]
    assert claims_text(claims).splitlines() == [
        "- held: C1 n14 generalizes. 2 of 3 seeds",
        "- DID NOT HOLD: C2 n14 generalizes.",
        "- not established (too few seeds): C3 n14 generalizes. 2 of 3 seeds"]
    assert claims_text(claims[:1], with_rule=True) == "- held: C1 n14 generalizes (rule: share > 0.5). 2 of 3 seeds"
    assert claims_markdown(claims[:1]) == "- **held**: C1 n14 generalizes (rule: share > 0.5). 2 of 3 seeds"
    page = claims_html([_claim(statement="a <b> & c")] + claims[1:])
    assert "a &lt;b&gt; &amp; c" in page and "<b>" not in page
    assert page.count("<tr>") == 4
    assert "class='badge ok'" in page and "class='badge no'" in page and "class='badge ne'" in page
    assert "share of seeds = 0.67 [0.2, 0.9] (bootstrap over seeds, 95%); threshold 0.5" in page


def test_a_plumbing_claim_is_a_grey_badge_with_its_reason():
    c = _claim().unjudged("plumbing profile; the rule alone reads 'held'")
    badge = claim_badge(c)
    assert badge.startswith("<span class='badge ne' title='not established (plumbing profile; the rule alone")
    assert ">not established: plumbing profile</span><span class='why'>the rule alone reads &#x27;held&#x27;" in badge
    assert claim_badge(_claim()).endswith(">held</span>")
    assert "'badge no'" in claim_badge(_claim(verdict="did not hold"))
    assert ">not established: too few seeds</span>" in claims_html([_claim().unjudged("too few seeds")])
