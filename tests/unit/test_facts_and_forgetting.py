"""The facts task, tagged canaries and the forgetting measures (known answers)."""
import math

import pytest

from memscope.errors import ConfigError
from memscope.measure.forgetting import (duplication_slope, excess_bits, replay_share, retention,
                                         uniform_rank_mean_exposure_bits)
from memscope.tasks import make_task


def test_facts_are_seeded_fictional_and_recall_prompts_match_the_training_lines():
    t = make_task("facts", {"n_entities": 10, "held_out": 5, "seed": 3})
    assert t.lines() == make_task("facts", {"n_entities": 10, "held_out": 5, "seed": 3}).lines()
    assert t.lines() != make_task("facts", {"n_entities": 10, "held_out": 5, "seed": 4}).lines()
    lines = t.lines()
    assert len(lines) == 20 and all(line.endswith("\n") for line in lines)
    suite = t.eval_suites()[0]
    seen = [p for p in suite.prompts if not p.withheld]
    held = [p for p in suite.prompts if p.withheld]
    assert len(seen) == 20 and len(held) == 10
    # every seen prompt + answer is a training line after its BOS; no held-out entity is trained
    assert all((p.text + p.answer + "\n")[1:] in lines for p in seen)
    held_names = {name for name, _ in t.held_out_entities}
    assert not any(line.split(" ")[0] in held_names for line in lines)
    t.vocab.encode("".join(p.text + p.answer for p in suite.prompts))  # held-out names are encodable


def test_facts_templates_and_attributes():
    t = make_task("facts", {"n_entities": 4, "attributes": ["city", "year", "job"], "templates": 2})
    assert len(t.lines()) == 4 * 3 * 2
    name, vals = t.entities[0]
    assert f"{name} lives in {vals['city']}\n" in t.lines() and f"{name}'s home is {vals['city']}\n" in t.lines()
    assert 1900 <= int(vals["year"]) <= 1999


@pytest.mark.parametrize("params", [{"n_entities": 0}, {"attributes": ["colour"]}, {"templates": 3},
                                    {"attributes": ["city", "city"]}, {"n_cities": 1}, {"held_out": -1}])
def test_facts_bad_input_is_a_config_error(params):
    with pytest.raises(ConfigError):
        make_task("facts", params)


def test_tagged_canaries_have_their_own_prefixes_and_formats():
    t = make_task("canaries", {"tagged": True, "repeats": [1, 2, 4], "held_out": 3, "n_sequences": 8,
                               "secret_digits": 3})
    texts = t.canaries + t.held_out_canaries
    prefixes = [t.prefix_of(x) for x in texts]
    assert len(set(prefixes)) == 6 and all(p.startswith("pin ") and len(p) == 7 for p in prefixes)
    assert [r["format"] for r in t.canary_records()] == [p + "{ddd}" for p in prefixes]
    assert [t.lines().count(c + "\n") for c in t.canaries] == [1, 2, 4]
    untagged = make_task("canaries", {"repeats": [1, 2, 4], "held_out": 3, "n_sequences": 8, "secret_digits": 3})
    assert [t.prefix_of(x) for x in untagged.canaries] == ["pin "] * 3


def test_uniform_rank_mean_exposure_is_the_mean_over_every_rank():
    for n in (1, 2, 10, 100, 1000):
        brute = sum(math.log2(n) - math.log2(r) for r in range(1, n + 1)) / n
        assert uniform_rank_mean_exposure_bits(n) == pytest.approx(brute, abs=1e-9)
    assert uniform_rank_mean_exposure_bits(10 ** 6) == pytest.approx(1 / math.log(2), abs=1e-3)


def test_retention_slope_excess_and_replay_share_known_answers():
    assert retention(8.0, 5.0, 1.0, 1.5) == pytest.approx(0.5)
    assert retention(1.2, 5.0, 1.0, 1.0, min_gap=0.5) is None
    assert duplication_slope([1, 2, 4, 8], [3.0, 5.0, 7.0, 9.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        duplication_slope([4, 4], [1.0, 2.0])
    assert excess_bits([5.0, 7.0], [1.0, 2.0, 3.0]) == pytest.approx(4.0)
    counts = [{"counts": [3, 1]}, {"counts": [0, 0, 4]}, {"counts": [2]}]
    assert replay_share(counts, {2}) == pytest.approx(0.2)
    assert replay_share(counts, set()) == 0.0
