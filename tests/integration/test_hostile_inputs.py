"""Hostile input (issue 17): every bad value is one line on stderr, exit status 2, no traceback, nothing
written. One table per kind of input; each row names the message's telling part."""
import importlib
import json
import os

import pytest
from safetensors.torch import load_file, save_file

from memscope.cli import main

ARITH = ["--task", "arithmetic", "--model", "n14"]


def _one_line_error(code, out, err, needle):
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["-q", "train", *ARITH, "--steps", "2", "--out", str(out), "eval_interval=2", "batch_size=8",
                 "eval_samples=1"]) == 0
    return out


# ------------------------------------------------------------------------------ config values (items 1, 2)
@pytest.mark.parametrize("setting, needle", [
    ("learning_rate=nan", "learning_rate='nan' is not a finite number"),
    ("learning_rate=inf", "learning_rate='inf' is not a finite number"),
    ("learning_rate=-inf", "learning_rate='-inf' is not a finite number"),
    ("temperature=nan", "temperature='nan' is not a finite number"),
    ("min_lr=NaN", "min_lr='NaN' is not a finite number"),
    ("dropout=nan", "dropout='nan' is not a finite number"),
    ("n_embd=99999999999", "n_embd=99999999999 must lie in [1, 65_536]"),
    ("batch_size=1000000000000", "batch_size=1000000000000 must lie in [1, 1_048_576]"),
    ("seed=9223372036854775808", "seed=9223372036854775808 must lie in [0, 9_223_372_036_854_775_807]"),
    ("seed=99999999999999999999999", "must lie in [0, 9_223_372_036_854_775_807]"),
    ("n_layer=100000", "n_layer=100000 must lie in [1, 1024]"),
    ("n_head=100000", "n_head=100000 must lie in [1, 1024]"),
    ("eval_samples=100000", "eval_samples=100000 must lie in [1, 10_000]"),
    ("steps=١٢", "steps='١٢' is not a valid int"),
    ("learning_rate=٠.١", "learning_rate='٠.١' is not a valid float"),
    ("steps=10000000000", "steps=10000000000 must lie in [1, 1_000_000_000]"),
    ("n_sequences=99999999999", "n_sequences=99999999999 must be at most"),
    ("length=99999999999", "length=99999999999 must be at most"),
])
def test_bad_setting_values(cli, setting, needle):
    task = ["--task", "random-tokens"] if setting.startswith(("n_sequences", "length")) else ARITH[:2]
    _one_line_error(*cli("info", *task, "--model", "n14", setting), needle)


@pytest.mark.parametrize("params, needle", [
    ({"repeats": [10 ** 12]}, "must be at most"),
    ({"held_out": 10 ** 12}, "held_out=1000000000000 must be at most"),
    ({"secret_digits": 10 ** 12}, "secret_digits=1000000000000 must be at most"),
    ({"n_sequences": 10 ** 7, "length": 10 ** 5}, "must be at most"),
])
def test_task_parameters_that_would_allocate(params, needle):
    from memscope.errors import ConfigError
    from memscope.tasks import make_task
    with pytest.raises(ConfigError, match=needle):
        make_task("canaries" if "repeats" in params or "held_out" in params or "secret_digits" in params
                  else "random-tokens", params)


@pytest.mark.parametrize("flags, needle", [
    (["--steps", "١٢"], "steps='١٢' is not a valid int"),
    (["--seed", "18446744073709551616"], "seed=18446744073709551616 must lie in [0, "),
])
def test_bad_train_flags_write_nothing(cli, tmp_path, flags, needle):
    out = tmp_path / "never"
    _one_line_error(*cli("train", *ARITH, *flags, "--out", out), needle)
    assert not out.exists()


@pytest.mark.parametrize("key, value, needle", [
    ("learning_rate", float("nan"), "non-finite number NaN"),
    ("temperature", float("inf"), "non-finite number Infinity"),
    ("learning_rate", 10 ** 400, "is not a valid float"),
    ("batch_size", 10 ** 12, "batch_size=1000000000000 must lie in [1, "),
])
def test_non_finite_or_huge_values_in_a_run_config(tiny_run, tmp_path, cli, key, value, needle):
    run = tmp_path / "run"
    run.mkdir()
    config = json.loads((tiny_run / "config.json").read_text())
    config["train"][key] = value
    (run / "config.json").write_text(json.dumps(config))  # json writes bare NaN and Infinity
    (run / "model.safetensors").write_bytes((tiny_run / "model.safetensors").read_bytes())
    _one_line_error(*cli("eval", run), needle)


def test_nan_in_a_run_file(cli, tmp_path):
    run_file = tmp_path / "run.json"
    run_file.write_text('{"task": "arithmetic", "model": "n14", "settings": {"learning_rate": NaN}}')
    _one_line_error(*cli("info", "--config", run_file), "non-finite number NaN")


# ------------------------------------------------------------------------------ command flags (items 3, 4)
@pytest.mark.parametrize("flags, needle", [
    (["--top-k", "0"], "--top-k 0 must be positive"),
    (["--top-k", "-3"], "--top-k -3 must be positive"),
    (["--n", "100000000"], "--n 100000000 must be at most 10000"),
    (["--max-new-tokens", "100000000"], "--max-new-tokens 100000000 must be at most"),
    (["--temperature", "nan"], "argument --temperature: 'nan' is not a finite number"),
    (["--seed", "18446744073709551616"], "--seed 18446744073709551616 must be at most"),
    (["--device", "banana"], "--device 'banana' must be auto, cpu, cuda, cuda:N or mps"),
    (["--device", "cuda:x"], "--device 'cuda:x' must be"),
])
def test_bad_sample_flags(tiny_run, cli, flags, needle):
    _one_line_error(*cli("sample", tiny_run, "--prompt", "<1+2=", *flags), needle)


@pytest.mark.parametrize("flags, needle", [
    (["--device", "banana"], "--device 'banana' must be"),
    (["--samples", "100000000"], "--samples 100000000 must be at most 10000"),
    (["--seed", "99999999999999999999"], "--seed 99999999999999999999 must be at most"),
])
def test_bad_eval_flags(tiny_run, cli, flags, needle):
    _one_line_error(*cli("eval", tiny_run, *flags), needle)


@pytest.mark.parametrize("argv, needle", [
    (["bench", "--threads", "0"], "--threads 0 must be positive"),
    (["bench", "--steps", "0"], "--steps 0 must be positive"),
    (["bench", "--steps", "-5"], "--steps -5 must be positive"),
    (["bench", "--device", "banana"], "--device 'banana' must be"),
    (["size", "--bits", "1000", "--device", "banana"], "--device 'banana' must be"),
    (["size", "--bits", "nan"], "argument --bits: 'nan' is not a finite number"),
    (["sweep", "grid.toml", "--workers", "-1"], "--workers -1 must lie in [1, 4096]"),
    (["sweep", "grid.toml", "--workers", "0"], "--workers 0 must lie in [1, 4096]"),
    (["sweep", "grid.toml", "--ensemble", "0"], "--ensemble 0 must lie in [1, 4096]"),
    (["sweep", "grid.toml", "--ensemble", "-2"], "--ensemble -2 must lie in [1, 4096]"),
    (["reproduce", "tbtt", "--profile", "nope", "--workers", "0"], "--workers 0 must lie in [1, 4096]"),
    (["reproduce", "tbtt", "--profile", "nope", "--workers", "-1"], "--workers -1 must lie in [1, 4096]"),
    (["capacity", "--profile", "nope", "--workers", "0"], "--workers 0 must lie in [1, 4096]"),
])
def test_bad_command_flags(cli, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    _one_line_error(*cli(*argv), needle)
    assert not any(tmp_path.iterdir())


def test_bad_device_on_audit(tiny_run, cli, tmp_path):
    samples = tmp_path / "s.txt"
    samples.write_text("<1+2=3>\n")
    _one_line_error(*cli("audit", "--target", tiny_run, "--members", samples, "--nonmembers", samples,
                         "--device", "banana"), "--device 'banana' must be")


def test_resolve_device_names_what_it_takes():
    from memscope.errors import ConfigError
    from memscope.runtime import resolve_device
    assert resolve_device("cpu").type == "cpu"
    for name in ("banana", "cuda:", "cuda:-1", "cpu:0:1", ""):
        with pytest.raises(ConfigError, match="must be auto, cpu, cuda, cuda:N or mps"):
            resolve_device(name)


# ------------------------------------------------------------------------------ files (item 5)
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("line, needle", [
    ('{"text": ' + DEEP + "}", "line 1: not a JSON object"),
    (DEEP, "line 1: not a JSON object"),
    ('{"text": ' + "1" * 5000 + "}", "line 1: not a JSON object"),
    ('{"text": "a", "text": "b"}', "line 1: duplicate key 'text'"),
])
def test_hostile_jsonl_samples(tiny_run, cli, tmp_path, line, needle):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line + "\n")
    _one_line_error(*cli("audit", "--target", tiny_run, "--members", bad, "--nonmembers", bad), needle)


def test_a_plain_sample_of_many_digits_is_text(tmp_path):
    from memscope.audit.core import read_samples
    plain = tmp_path / "digits.txt"
    plain.write_text("1" * 5000 + "\n")
    assert read_samples(plain, "members") == ["1" * 5000]


@pytest.mark.parametrize("row, needle", [
    ({"text": "pin a", "format": "pin {?}", "alphabet": 5}, "line 1: \"alphabet\" must be a string"),
    ({"text": "pin a", "format": "pin {?}", "alphabet": ["a"]}, "line 1: \"alphabet\" must be a string"),
])
def test_hostile_canary_rows(tiny_run, cli, tmp_path, row, needle):
    samples, canaries = tmp_path / "s.txt", tmp_path / "c.jsonl"
    samples.write_text("<1+2=3>\n")
    canaries.write_text(json.dumps(row) + "\n")
    _one_line_error(*cli("audit", "--target", tiny_run, "--members", samples, "--nonmembers", samples,
                         "--canaries", canaries), needle)


@pytest.mark.parametrize("text, needle", [
    (DEEP, "corrupt capacity results"),
    ('{"bits_per_param": ' + DEEP + "}", "corrupt capacity results"),
    ('{"bits_per_param": ' + "1" * 5000 + "}", "corrupt capacity results"),
    ('{"bits_per_param": {"total": {"bits_per_param": 3.0}}, "profile": "quick"}', "corrupt capacity results"),
    ('{"bits_per_param": {"total": {"bits_per_param": Infinity}}}', "non-finite number Infinity"),
    ('{"bits_per_param": {"total": {"bits_per_param": "x"}}}', "corrupt capacity results"),
    ('{"bits_per_param": [1, 2]}', "corrupt capacity results"),
])
def test_hostile_capacity_results(cli, tmp_path, text, needle):
    results = tmp_path / "results.json"
    results.write_text(text)
    _one_line_error(*cli("size", "--bits", "1000", "--capacity", results), needle)


@pytest.mark.parametrize("metadata, needle", [
    ({"json": json.dumps({"step": "2"})}, "corrupt weights file"),
    ({"json": json.dumps({"step": True})}, "corrupt weights file"),
    ({"json": json.dumps({"step": -1})}, "corrupt weights file"),
    ({"json": json.dumps([1, 2])}, "corrupt weights file"),
    ({"json": json.dumps("step")}, "corrupt weights file"),
])
def test_weights_with_metadata_of_the_wrong_type(tiny_run, cli, tmp_path, metadata, needle):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text((tiny_run / "config.json").read_text())
    save_file(load_file(tiny_run / "model.safetensors"), run / "model.safetensors", metadata=metadata)
    _one_line_error(*cli("eval", run), needle)


# ------------------------------------------------------------------------------ --out (item 6)
def test_train_out_that_is_a_file_or_under_one(cli, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    _one_line_error(*cli("train", *ARITH, "--steps", "2", "--out", a_file), "is a file, not a directory")
    _one_line_error(*cli("train", *ARITH, "--steps", "2", "--out", a_file / "run"), "is not a directory")
    assert a_file.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_train_out_in_a_read_only_directory(cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _one_line_error(*cli("train", *ARITH, "--steps", "2", "--out", locked / "run"), "is not writable")
    finally:
        locked.chmod(0o755)


def test_audit_checks_its_out_before_scoring(tiny_run, cli, tmp_path, monkeypatch):
    core = importlib.import_module("memscope.audit.core")  # memscope.audit is also a function's name

    def never(*args, **kwargs):
        raise AssertionError("scored before checking --out")
    monkeypatch.setattr(core, "_load", never)
    samples, a_file = tmp_path / "s.txt", tmp_path / "a-file"
    samples.write_text("<1+2=3>\n")
    a_file.write_text("keep me")
    for out, needle in ((a_file, "--out " + str(a_file) + " is a file"), (a_file / "x", "is not a directory")):
        _one_line_error(*cli("audit", "--target", tiny_run, "--members", samples, "--nonmembers", samples,
                             "--out", out), needle)
    assert a_file.read_text() == "keep me"


# ------------------------------------------------------------------------------ parser messages (item 7)
@pytest.mark.parametrize("argv, expected", [
    (["train", "--steps"], "memscope: error: train: argument --steps: expected one argument"),
    (["audit"], "memscope: error: audit: the following arguments are required: --target, --members, "
                "--nonmembers"),
    (["frobnicate"], "memscope: error: argument command: invalid choice: 'frobnicate'"),
    (["reproduce", "tbtt", "--seeds", "x"], "memscope: error: --seeds 'x' is not a valid int"),
])
def test_parser_errors_name_the_subcommand_once(cli, argv, expected):
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert err.strip().startswith(expected), err
    assert "memscope: error: memscope" not in err
