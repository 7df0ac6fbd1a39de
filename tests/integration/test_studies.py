"""The study registry and `memscope reproduce STUDY | --list`: lookup, options, the capacity alias."""
import json

import pytest

from memscope import studies
from memscope.errors import ConfigError


def test_unknown_study_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown study 'nope'; known: tbtt, capacity, grokking"):
        studies.get_study("nope")
    with pytest.raises(ConfigError, match=r"unknown study 'sortin'; known: .*; did you mean 'sorting'\?"):
        studies.get_study("sortin")


def test_each_study_has_a_description_profiles_and_its_options():
    found = studies.list_studies()
    assert list(found) == list(studies.STUDY_PACKAGES) and list(found)[:2] == ["tbtt", "capacity"]
    assert found["tbtt"].options.keys() == {"withheld"} and "tiny" in found["tbtt"].profiles
    assert found["capacity"].options.keys() == {"precision", "device"} and "tiny" in found["capacity"].profiles
    assert all(s.description and "\n" not in s.description for s in found.values())


def test_a_new_study_is_one_class(monkeypatch, tmp_path):
    """The skeleton owns options, profiles, seeds, the output directory, plumbing verdicts and the JSON
    result; a study writes its runs, measurements and claims."""
    from dataclasses import dataclass
    from typing import Annotated

    from memscope.claims import Claim, verdict_of
    from memscope.settings import Range

    from memscope.registry import Registry
    registry = Registry("study", sort_known=False)
    registry.update(studies._REGISTRY)
    monkeypatch.setattr(studies, "_REGISTRY", registry)
    monkeypatch.setattr(studies, "STUDY_PACKAGES", (*studies.STUDY_PACKAGES, "toy"))

    @dataclass(frozen=True)
    class ToyProfile:
        seeds: int
        value: float

    @dataclass(frozen=True)
    class ToyOptions:
        width: Annotated[int, Range(1, 8)] = 1
        """How wide."""

    @studies.register_study("toy")
    class Toy(studies.Study):
        """A toy study.

        More words, not in the description."""
        profiles = {"tiny": ToyProfile(1, 0.2), "quick": ToyProfile(3, 0.9)}
        Options = ToyOptions

        def specs(self, ctx):
            return []

        def measure(self, ctx, specs, summaries):
            v = ctx.profile.value * ctx.options.width / 8
            return {"v": v, "claims": [Claim("C1", "v is large", "v > 0.5", "v", v, None, "none", (0, 1), 0.5,
                                             verdict_of(v > 0.5))]}

    r = studies.reproduce("toy", profile="quick", width=8, seeds=2, out=tmp_path / "t")
    assert (r["study"], r["profile"], r["seeds"], r["v"], r["n_runs"]) == ("toy", "quick", 2, 0.9, 0)
    assert r["claims"][0]["verdict"] == "held" and r["claims"][0]["value"] == 0.9
    tiny = studies.reproduce("toy", profile="tiny", width=8, out=tmp_path / "t")
    assert tiny["claims"][0]["verdict"] == "not established"  # a plumbing profile judges nothing
    assert tiny["claims"][0]["reason"] == "plumbing profile; the rule alone reads 'did not hold'"
    assert studies.get_study("toy").describe() == {"description": "A toy study", "profiles": ["tiny", "quick"],
                                                   "options": ["width"]}
    assert studies.get_study("toy").options == {"width": "How wide."}
    with pytest.raises(ConfigError, match="study 'toy' has no option 'widht'; did you mean 'width'"):
        studies.reproduce("toy", widht=3)
    with pytest.raises(ConfigError, match=r"width=9 must lie in \[1, 8\]"):
        studies.reproduce("toy", width=9)
    with pytest.raises(ConfigError, match=r"seeds=0 must lie in \[1, 1000\]"):
        studies.reproduce("toy", seeds=0)
    with pytest.raises(ConfigError, match=r"executor='poll' must be one of pool, local, ray; did you mean 'pool'"):
        studies.reproduce("toy", executor="poll")
    with pytest.raises(TypeError):  # a study is a Study subclass
        studies.register_study("bad")(object)


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


def test_every_study_has_the_common_options_and_its_own_in_help(cli):
    from memscope.settings import describe
    for name, st in studies.list_studies().items():
        code, out, _ = cli("reproduce", name, "--help")
        assert code == 0
        for f in [*describe(studies.StudyOptions), *describe(st.Options)]:
            assert f"--{f.name.replace('_', '-')}" in out, (name, f.name)
            if f.default is not None:
                assert f"(default {f.default})" in " ".join(out.split()), (name, f.name)
