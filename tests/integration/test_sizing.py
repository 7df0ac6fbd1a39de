"""`memscope size`: information bounds, the memorize-all parameter count, the membership regime, bad input."""
import json
import math
import random

import pytest

from memscope.sizing import MORRIS_BITS_PER_PARAM, membership_regime, size_dataset, uniform_bits


def _uniform_text(n=20_000, alphabet="abcdefghijklmnopqrstuvwxyzABCDEF", seed=0):
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_uniform_random_text_uniform_bound_is_its_entropy_and_compressors_cannot_beat_it():
    text = _uniform_text()
    r = size_dataset(text=text, capacity=None)
    entropy = 20_000 * math.log2(32)
    assert r["bounds_bits"]["uniform"] == pytest.approx(entropy)
    assert entropy <= r["bounds_bits"]["deflate"] < 1.3 * entropy
    assert entropy <= r["bounds_bits"]["lzma"] < 1.3 * entropy
    assert r["information_source"] == "uniform" and r["information_bits"] == pytest.approx(entropy)


def test_repetitive_text_compresses_far_below_the_uniform_bound():
    r = size_dataset(text="the cat sat on the mat. " * 2000)
    b = r["bounds_bits"]
    assert b["deflate"] < 0.02 * b["uniform"] and b["lzma"] < 0.02 * b["uniform"]
    assert r["information_source"] in ("deflate", "lzma")
    assert r["params_to_memorize_all"] == math.ceil(r["information_bits"] / r["bits_per_param"])


def test_bits_given_directly_and_the_regimes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no default capacity results here: Morris et al.'s 3.6
    r = size_dataset(bits=3.6e6, params=10_000, tokens=5_000_000)
    assert r["bits_per_param"] == MORRIS_BITS_PER_PARAM and r["params_to_memorize_all"] == 1_000_000
    assert r["at_memorize_all"]["regime"] == "memorize-all"
    assert r["at_params"]["regime"] == "chance" and r["at_params"]["tokens_per_param"] == 500
    assert r["params_at_mia_chance"] == 50_000
    assert membership_regime(10.0, 5.0, 20.0)["regime"] == "capacity-limited"
    assert membership_regime(10.0, 5.0, None)["regime"] == "capacity-limited"


def test_measured_bits_per_param_come_from_a_capacity_results_file(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"profile": {"name": "quick"}, "precision": "fp32", "converged_share": 1.0,
                                   "bits_per_param": {"total": {"bits_per_param": 2.0}}}))
    r = size_dataset(bits=1000.0, capacity=results)
    assert r["bits_per_param"] == 2.0 and r["params_to_memorize_all"] == 500
    assert "quick" in r["bits_per_param_source"]


def test_size_cli_json_and_text(cli, cli_json, tmp_path):
    f = tmp_path / "data.txt"
    f.write_text("abab" * 1000)
    r = cli_json("size", "--text", f, "--params", 40)
    assert r["n_chars"] == 4000 and r["bounds_bits"]["uniform"] == pytest.approx(uniform_bits("abab" * 1000))
    assert r["at_params"]["n_params"] == 40 and r["at_params"]["tokens_per_param"] == 100
    code, out, err = cli("size", "--bits", "7200")
    assert code == 0 and "could memorize all of it" in out


def test_size_with_a_reference_model(cli_json, tmp_path):
    run = tmp_path / "ref"
    cli_json("-q", "train", "--task", "random-tokens", "--model", "n14", "--out", run, "n_sequences=32",
             "length=8", "steps=30", "eval_interval=30", "warmup_steps=5", "lr_decay_steps=30")
    f = tmp_path / "t.txt"
    f.write_text("0123456789abcdef" * 20)
    r = cli_json("size", "--text", f, "--reference", run)
    assert 0 < r["bounds_bits"]["reference"] and r["reference_run"] == str(run)
    assert r["reference_saw_text_lines"] == 0 and "never trained on this text" in r["reference_caution"]
    seen = tmp_path / "seen.txt"  # the reference's own training lines: the bound undercounts, and it says so
    from memscope.models.load import load_model
    seen.write_text(load_model(run, "final", "cpu")[1].text)
    r = cli_json("size", "--text", seen, "--reference", run)
    assert r["reference_saw_text_lines"] == 32 and "32 of the text's 32 lines" in r["reference_caution"]


@pytest.mark.parametrize("make_argv, needle", [
    (lambda d: ["size", "--text", d / "missing.txt"], "missing text file"),
    (lambda d: ["size", "--text", d / "empty.txt"], "is empty"),
    (lambda d: ["size", "--bits", "-5"], "must be a positive number"),
    (lambda d: ["size"], "one of the arguments --text --bits is required"),
    (lambda d: ["size", "--text", d / "empty.txt", "--bits", "3"], "not allowed with argument"),
    (lambda d: ["size", "--bits", "100", "--reference", d], "--reference needs text"),
    (lambda d: ["size", "--bits", "100", "--capacity", d / "nope.json"], "missing capacity results"),
])
def test_size_bad_input_is_one_line_and_exit_2(cli, tmp_path, make_argv, needle):
    (tmp_path / "empty.txt").write_text("")
    code, out, err = cli(*make_argv(tmp_path))
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and out == ""
