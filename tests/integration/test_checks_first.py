"""Issue 27, classes 3 (a loop a user number makes endless or huge), 5 (checks after the work) and 6
(messages): every case is refused at once, in one line on stderr with exit status 2, nothing on stdout and
nothing written; `--json` is strict JSON; a closed pipe ends the command quietly.

Each case runs in-process under an alarm, so that a check that went missing fails the test (as a timeout)
instead of training, allocating gigabytes or hanging."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from memscope.cli import main

ALARM_S = 20
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
SAFE = ["batch_size=4", "eval_interval=1", "eval_samples=1"]
ARITH = ["--task", "arithmetic", "--model", "n14"]

PHASES = """model = "n14"
seeds = [0]
[settings]
sampler = "epochs"
batch_size = 16
eval_interval = 1
eval_samples = 1
[[phases]]
name = "one"
epochs = 1
[[phases.tasks]]
task = "arithmetic"
[[phases.tasks]]
task = "arithmetic"
withheld = "2,3"
share = {share}
"""
TWO_PHASES = """model = "n14"
seeds = [0]
[settings]
batch_size = 4
eval_interval = 1
eval_samples = 1
[[phases]]
name = "one"
steps = 2
[[phases.tasks]]
task = "arithmetic"
[[phases]]
name = "two"
steps = 2
[[phases.tasks]]
task = "capitals"
"""
GRID = """task = "arithmetic"
model = "n14"
seeds = 1
[settings]
steps = 2
eval_interval = 1
batch_size = 4
eval_samples = 1
{extra}
"""


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout(f"no answer within {ALARM_S} s: a check is missing")


@contextmanager
def _alarm():
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(ALARM_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _refused(capsys, argv, needle, *absent: Path):
    """The command exits 2 with one line naming `needle`, prints nothing on stdout, writes none of `absent`."""
    with _alarm():
        code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("memscope: error: ") and needle in lines[0], lines[0]
    for path in absent:
        assert not os.path.lexists(path), f"{path} was left behind"
    return lines[0]


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """An empty working directory: a default output (runs/...) would land here."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work
    assert not any(work.iterdir()), f"left behind: {sorted(p.name for p in work.iterdir())}"


# ------------------------------------------------------------------ class 3: loops bounded by a user number
@pytest.mark.parametrize("share", ["0.999999", "0.9999999999"])
def test_an_epoch_that_would_hold_millions_of_rows_is_refused(capsys, cwd, share):
    run_file = cwd.parent / "replay.toml"
    run_file.write_text(PHASES.format(share=share))
    line = _refused(capsys, ["train", "--config", run_file, "--out", cwd / "run"], "more than the limit",
                    cwd / "run")
    assert "the main task needs a share of at least" in line  # the bound that makes it impossible


def test_epoch_limits_name_the_bound():
    from memscope.data.samplers import MAX_EPOCH_ROWS, MAX_REPLAY_CYCLES, rows_per_epoch
    from memscope.errors import ConfigError
    assert rows_per_epoch([196, 196], [None, 0.25]) == [196, 65]
    with pytest.raises(ConfigError, match=f"limit of {MAX_EPOCH_ROWS:,}"):
        rows_per_epoch([196, 196], [None, 0.999999])
    # a replay task of one line asked for a million rows an epoch: a million shuffles of one line
    with pytest.raises(ConfigError, match=f"more than the limit of {MAX_REPLAY_CYCLES:,} times"):
        rows_per_epoch([1_000_000, 1], [None, 0.5])
    assert rows_per_epoch([10, 1], [None, 0.5]) == [10, 10]  # cycling a few times is fine


def test_replay_cycles_are_drawn_as_before():
    """The epoch order of a replay task that cycles is the same draws as one randperm per cycle."""
    from memscope.data.samplers import PhaseBatches, Source, derived_seed
    src_main = Source(list(range(40)), None, list(range(0, 40, 4)), list(range(3, 40, 4)))
    src_replay = Source(list(range(8)), None, [0, 4], [3, 7])
    b = PhaseBatches([[src_main, src_replay]], [None, 0.5], "epochs", 3, 4, [torch.Generator()], [7], 0,
                     torch.device("cpu"))
    tasks, lines = b._epoch_order(0, 0)
    g = torch.Generator().manual_seed(derived_seed(7, 0, 0, 1))
    expected = torch.cat([torch.randperm(2, generator=g) for _ in range(5)])[:10]
    assert sorted(lines[tasks == 1].tolist()) == sorted(expected.tolist())
    order = torch.randperm(20, generator=torch.Generator().manual_seed(derived_seed(7, 0, 0)))
    assert torch.equal(torch.cat([torch.arange(10), expected])[order], lines)


# ------------------------------------------------------------------ class 5: every check before the work
@NO_CUDA
def test_capacity_on_a_missing_cuda_device_fails_before_training(capsys, cwd):
    _refused(capsys, ["capacity", "--profile", "tiny", "--executor", "local", "--device", "cuda:0", "--out",
                      cwd / "cap"], "no CUDA device", cwd / "cap")


@NO_CUDA
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_train_on_a_missing_cuda_device_writes_nothing(capsys, cwd, device):
    _refused(capsys, ["train", *ARITH, "--steps", "2", *SAFE, f"device={device}", "--out", cwd / "run"],
             "no CUDA device", cwd / "run")


@pytest.mark.parametrize("extra, needle", [
    ('callbacks = "protocol,nosuch"', "unknown callback 'nosuch'"),
    pytest.param('device = "cuda"', "no CUDA device", marks=NO_CUDA),
    pytest.param('device = "cuda:7"', "no CUDA device", marks=NO_CUDA),
])
def test_a_sweep_that_cannot_train_fails_before_its_index(capsys, cwd, extra, needle):
    grid = cwd.parent / "grid.toml"
    grid.write_text(GRID.format(extra=extra))
    _refused(capsys, ["sweep", grid, "--store", cwd / "store"], needle, cwd / "store")


def test_a_sweep_of_an_impossible_epoch_fails_before_its_index(capsys, cwd):
    grid = cwd.parent / "grid.toml"
    grid.write_text(PHASES.format(share="0.999999"))
    _refused(capsys, ["sweep", grid, "--store", cwd / "store"], "more than the limit", cwd / "store")


@pytest.mark.parametrize("withheld", ["", " ", ";", "5,7;", "5", "5,7\n", "5;7", "a,b"])
def test_tbtt_refuses_empty_or_malformed_withheld_pairs(capsys, cwd, withheld):
    line = _refused(capsys, ["reproduce", "tbtt", "--profile", "tiny", "--executor", "local", "--withheld",
                             withheld, "--out", cwd / "tbtt"], "--withheld", cwd / "tbtt")
    assert "pairs of digits" in line


@pytest.mark.parametrize("given", [["--steps", "5"], ["steps=5"], ["train.steps=5"]])
def test_steps_with_a_run_of_phases_is_refused(capsys, cwd, given):
    run_file = cwd.parent / "two.toml"
    run_file.write_text(TWO_PHASES)
    line = _refused(capsys, ["train", "--config", run_file, *given, "--out", cwd / "run"], "steps", cwd / "run")
    assert "each phase sets its own length" in line


def test_steps_in_a_phased_run_files_settings_is_refused(capsys, cwd):
    run_file = cwd.parent / "two.toml"
    run_file.write_text(TWO_PHASES.replace("batch_size = 4", "batch_size = 4\nsteps = 9"))
    _refused(capsys, ["train", "--config", run_file, "--out", cwd / "run"], "each phase sets its own length",
             cwd / "run")


# ------------------------------------------------------------------ class 6: messages
@pytest.mark.parametrize("setting, needle", [
    ("learning_rate=1e308", "learning_rate"),
    ("learning_rate=1e30", "learning_rate"),
    ("weight_decay=1e308", "weight_decay"),
    ("weight_decay=1000", "weight_decay"),
    ("temperature=1e-300", "temperature"),
    ("min_lr=1e308", "min_lr"),
])
def test_huge_or_tiny_finite_values_are_one_line(capsys, cwd, setting, needle):
    _refused(capsys, ["train", *ARITH, "--steps", "2", *SAFE, setting, "--out", cwd / "run"], needle, cwd / "run")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["-q", "train", *ARITH, "--steps", "2", "--out", str(out), *SAFE]) == 0
    return out


def test_sample_with_a_vanishing_temperature_is_one_line(capsys, tiny_run):
    _refused(capsys, ["sample", tiny_run, "--prompt", "<1+", "--temperature", "1e-300"], "--temperature")


@pytest.mark.parametrize("args, needle", [
    (["--bits", "1e308"], "--bits"),
    (["--bits", "1e31"], "--bits"),
    (["--bits", "1e-300"], "--bits"),
    (["--bits", "1e308", "--json"], "--bits"),
])
def test_size_with_extreme_values_is_one_line(capsys, cwd, args, needle):
    _refused(capsys, ["size", *args], needle)


@pytest.mark.parametrize("bpp", [1e-300, 5e-324, 1e308, 65.0])
def test_size_with_an_extreme_capacity_file_is_one_line(capsys, cwd, bpp):
    results = cwd.parent / "results.json"
    results.write_text(json.dumps({"profile": {"name": "quick"}, "converged_share": 1.0,
                                   "bits_per_param": {"total": {"bits_per_param": bpp}}}))
    _refused(capsys, ["size", "--bits", "1e20", "--capacity", results, "--json"], "bits_per_param")


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in --json output")
    return json.loads(text, parse_constant=refuse)


def test_size_json_at_the_largest_bits_is_strict(capsys, cwd):
    with _alarm():
        assert main(["size", "--bits", "1e30", "--params", "1", "--json"]) == 0
    r = _strict(capsys.readouterr().out)
    assert r["params_to_memorize_all"] > 10 ** 28


def test_json_has_no_nan_or_infinity(capsys, cwd, monkeypatch):
    """`memscope runs --json` on an index holding Infinity and NaN: null in their place, and the reason."""
    import memscope.sweep as sweep
    rows = [{"status": "done", "name": "r", "config_hash": "h",
             "summary": {"best_acc": math.inf, "train_loss": math.nan, "ok": 1.5, "list": [1.0, -math.inf]}}]
    monkeypatch.setattr(sweep, "list_runs", lambda store: rows)
    with _alarm():
        assert main(["runs", "--store", str(cwd.parent), "--json"]) == 0
    r = _strict(capsys.readouterr().out)
    summary = r["runs"][0]["summary"]
    assert summary == {"best_acc": None, "train_loss": None, "ok": 1.5, "list": [1.0, None]}
    assert r["non_finite"] == {"runs[0].summary.best_acc": "inf", "runs[0].summary.train_loss": "nan",
                               "runs[0].summary.list[1]": "-inf"}


@pytest.mark.parametrize("name", ["bad\nname.toml", "bad\rname.toml", "esc\x1b[31mred.toml", "tab\tname.toml",
                                  "sep\u2028line.toml"])
def test_control_characters_in_paths_stay_on_one_line(capsys, cwd, name):
    line = _refused(capsys, ["train", "--config", cwd.parent / name, "--out", cwd / "run"], "", cwd / "run")
    assert "\x1b" not in line and "\r" not in line


@pytest.mark.parametrize("pair", ["lear\nning_rate=1", "x\x1b=1", "learning_rate=1\n2", "steps=\r5"])
def test_control_characters_in_keys_and_values_stay_on_one_line(capsys, cwd, pair):
    _refused(capsys, ["train", *ARITH, "--steps", "2", *SAFE, pair, "--out", cwd / "run"], "", cwd / "run")


def test_a_link_to_nothing_as_out_is_one_line(capsys, cwd):
    link = cwd.parent / "dangling"
    link.symlink_to(cwd.parent / "nowhere")
    _refused(capsys, ["train", *ARITH, "--steps", "2", *SAFE, "--out", link], "link to nothing")
    assert link.is_symlink() and not (cwd.parent / "nowhere").exists()


def test_library_errors_are_one_line():
    from memscope.errors import MemscopeError, escape
    assert str(MemscopeError("a\nb\x1b")) == "a\\nb\\x1b"
    assert escape("/tmp/a b") == "/tmp/a b" and escape("a\nb") == "'a\\nb'"


@pytest.mark.parametrize("argv", [["tasks"], ["tasks", "--json"], ["reproduce", "--list"]])
def test_a_closed_pipe_ends_quietly(tmp_path, argv):
    """`memscope tasks | head -0`: the reader is gone before the command writes; no traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        p = subprocess.run([sys.executable, "-m", "memscope", *argv], stdout=write, stderr=subprocess.PIPE,
                           timeout=120, cwd=tmp_path)
    finally:
        os.close(write)
    err = p.stderr.decode()
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert p.returncode in (0, 141), err
    assert not any(tmp_path.iterdir())
