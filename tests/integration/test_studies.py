"""The study registry and `memscope reproduce STUDY | --list`: lookup, options, the capacity alias."""
import json

import pytest

from memscope import studies
from memscope.errors import ConfigError


def test_unknown_study_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown study 'nope'; known: tbtt, capacity, grokking"):
        studies.get_study("nope")


def test_each_study_has_a_description_profiles_and_its_options():
    found = studies.list_studies()
    assert list(found) == list(studies.STUDY_PACKAGES) and list(found)[:2] == ["tbtt", "capacity"]
    assert found["tbtt"].options.keys() == {"withheld"} and "tiny" in found["tbtt"].profiles
    assert found["capacity"].options.keys() == {"precision", "device"} and "tiny" in found["capacity"].profiles
    assert all(s.description and "\n" not in s.description for s in found.values())


def test_a_new_study_is_one_decorated_function(monkeypatch):
    monkeypatch.setattr(studies, "_REGISTRY", dict(studies._REGISTRY))
    monkeypatch.setattr(studies, "STUDY_PACKAGES", (*studies.STUDY_PACKAGES, "toy"))

    @studies.register_study("toy", profiles=("tiny",), text=str, options={"width": "how wide"})
    def toy(profile="tiny", seeds=None, out=None, executor="local", workers=None, address=None, *, width=1):
        """A toy study."""
        return {"profile": profile, "width": width, "files": {}}

    assert studies.reproduce("toy", profile="tiny", width=3) == {"profile": "tiny", "width": 3, "files": {}}
    assert studies.get_study("toy").describe() == {"description": "A toy study", "profiles": ["tiny"],
                                                   "options": ["width"]}
    with pytest.raises(ConfigError, match="study 'toy' has no option 'withheld'"):
        studies.reproduce("toy", withheld="2,3")
    with pytest.raises(TypeError):  # options must be the entry point's keyword-only parameters
        studies.register_study("bad", profiles=(), text=str, options={"x": ""})(
            lambda profile, seeds, out, executor, workers, address: {})


def test_reproduce_list(cli, cli_json):
    code, out, err = cli("reproduce", "--list")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == len(studies.STUDY_PACKAGES) and lines[0].startswith("tbtt: ")
    assert "profiles: quick" in lines[0] and lines[1].startswith("capacity: ")
    listed = cli_json("reproduce", "--list")
    assert set(listed) == set(studies.STUDY_PACKAGES) and listed["capacity"]["options"] == ["precision", "device"]


@pytest.mark.parametrize("argv, needle", [
    (["reproduce", "capacity", "--withheld", "2,3"], "--withheld is not an option of study 'capacity'"),
    (["reproduce", "tbtt", "--precision", "bf16"], "--precision is not an option of study 'tbtt'"),
    (["reproduce", "nope"], "unknown study 'nope'; known: tbtt, capacity, grokking"),
    (["reproduce", "--json"], "name a study"),
    (["reproduce", "tbtt", "--bogus", "1"], "unrecognized arguments: --bogus 1"),
])
def test_bad_study_flags_are_one_line_and_exit_2(cli, argv, needle, tmp_path):
    code, out, err = cli(*argv, *(["--out", tmp_path / "o"] if len(argv) > 2 else []))
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and out == ""
    assert not (tmp_path / "o").exists()


def test_capacity_is_an_alias_of_reproduce_capacity(cli, monkeypatch, tmp_path):
    from memscope.studies.capacity import recipe as cap
    micro = cap.CapacityProfile(
        name="micro", vocab_size=8, length=8, n_embd=(3,), n_layer=1, mlp_expansion=1, expected_bits_per_param=1.5,
        seeds=1, passes=20, learning_rates=(0.01,), heldout_sequences=8, warmup_steps=2)
    monkeypatch.setitem(cap.PROFILES, "micro", micro)
    out = tmp_path / "c"
    a = cli("-q", "capacity", "--profile", "micro", "--out", out, "--json")
    b = cli("-q", "reproduce", "capacity", "--profile", "micro", "--out", out, "--precision", "fp32", "--json")
    assert a[0] == b[0] == 0 and a[1] == b[1]
    r = json.loads(a[1])
    assert r["profile"] == "micro" and r["files"]["report"] == str(out / "report.html")
    text_a, text_b = cli("-q", "capacity", "--profile", "micro", "--out", out), \
        cli("-q", "reproduce", "capacity", "--profile", "micro", "--out", out)
    assert text_a == text_b and text_a[1].startswith("capacity sweep micro (fp32)")


def test_claims_print_one_line_each_with_their_verdict():
    from memscope.studies import claims_text
    claims = [{"id": "C1", "claim": "a", "rule": "r1", "held": True, "evidence": "e1"},
              {"id": "C2", "claim": "b", "rule": "r2", "held": False, "evidence": "e2"}]
    assert claims_text(claims) == "- held: a. e1\n- DID NOT HOLD: b. e2"
    assert claims_text(claims, with_id=True, with_rule=True) == \
        "- held: C1 a (rule: r1). e1\n- DID NOT HOLD: C2 b (rule: r2). e2"
