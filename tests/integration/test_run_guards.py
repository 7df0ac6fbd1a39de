"""What a run directory survives: kills in every window of a run's life, planted links, a second trainer,
a cut log, a failed start. Each test failed before its fix (issue 17)."""
import fcntl
import json
import os

import pytest
import torch
from safetensors.torch import load_file

from memscope import store
from memscope.errors import MemscopeError

ARGS = ["--task", "arithmetic", "--model", "n14", "--steps", "60", "eval_interval=20", "batch_size=32",
        "eval_samples=1"]


def _figures(summary):
    return {k: v for k, v in summary.items() if k != "wall_s"}


def _same_weights(a, b):
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A complete run and its summary, trained straight through."""
    from memscope.cli import main
    out = tmp_path_factory.mktemp("runs") / "straight"
    assert main(["-q", "train", *ARGS, "--out", str(out)]) == 0
    return out, json.loads((out / "summary.json").read_text())


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _one_line(code, out, err, needle):
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err


def test_killed_after_its_final_checkpoint_the_run_finishes_on_resume(finished, tmp_path, cli_json):
    """The window between the last checkpoint and the summary: resume writes the summary and the final
    weights of the uninterrupted run (before: `missing summary`, forever)."""
    straight, summary = finished
    run = _copy(straight, tmp_path / "run")
    (run / "summary.json").unlink()
    (run / "model.safetensors").unlink()
    resumed = cli_json("-q", "train", *ARGS, "--out", run, "--resume")
    assert _figures(resumed) == _figures(summary) and _same_weights(run, straight)


def test_killed_while_writing_the_summary_or_a_checkpoint_resumes_and_cleans_its_temporary_files(
        finished, tmp_path, cli_json):
    straight, summary = finished
    run = _copy(straight, tmp_path / "run")
    (run / "summary.json").unlink()
    (run / ".summary.json.x1.tmp").write_text('{"torn')
    (run / ".checkpoint.safetensors.x2.tmp").write_bytes(b"\0" * 10)
    resumed = cli_json("-q", "train", *ARGS, "--out", run, "--resume")
    assert _figures(resumed) == _figures(summary)
    assert not list(run.glob(".*.tmp"))


def test_a_cut_log_is_refused_on_resume(finished, tmp_path, cli):
    """metrics.jsonl is checked against the checkpoint's count of evaluations (before: the lost
    evaluations vanished from the summary without a word)."""
    run = _copy(finished[0], tmp_path / "run")
    (run / "summary.json").unlink()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n")
    _one_line(*cli("-q", "train", *ARGS, "--out", run, "--resume"), "the log was cut")


def test_a_planted_lock_link_is_not_followed(finished, tmp_path, cli):
    run = _copy(finished[0], tmp_path / "run")
    (run / "summary.json").unlink()
    target = tmp_path / "outside" / "created-by-memscope"
    target.parent.mkdir()
    (run / ".lock").unlink(missing_ok=True)
    os.symlink(target, run / ".lock")
    _one_line(*cli("-q", "train", *ARGS, "--out", run, "--resume"), "is a link")
    assert not target.exists()


def test_a_trainer_refused_by_the_lock_changes_nothing(finished, tmp_path, cli):
    run = _copy(finished[0], tmp_path / "run")
    (run / "summary.json").unlink()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with open(run / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _one_line(*cli("-q", "train", *ARGS, "threads=2", "--out", run, "--resume"), "another process")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # config.json still says threads=1


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path, cli, cli_json):
    """best_metric names no figure: found at the first evaluation, after config.json was written (before:
    config.json and .lock stayed, so the fixed rerun was refused as `already holds files`)."""
    out = tmp_path / "run"
    _one_line(*cli("-q", "train", *ARGS, "best_metric=no_such_acc", "--out", out), "best_metric='no_such_acc'")
    assert not out.exists()
    assert cli_json("-q", "train", *ARGS, "--out", out)["steps_run"] == 60


def test_json_is_written_and_read_strictly(tmp_path):
    with pytest.raises(MemscopeError, match="non-finite"):
        store.write_json(tmp_path / "x.json", {"loss": float("nan")})
    assert not (tmp_path / "x.json").exists()
    for text, needle in (('{"a": 1, "a": 2}', "duplicate key 'a'"), ('{"a": NaN}', "non-finite"),
                         ("[" * 100_000 + "]" * 100_000, "corrupt"), ('{"a": ' + "9" * 5000 + "}", "corrupt")):
        (tmp_path / "y.json").write_text(text)
        with pytest.raises(MemscopeError, match=needle):
            store.read_json(tmp_path / "y.json", "config")
