"""`memscope train --resume RUN --steps N`: a finished run continued for more steps as a new phase, recorded
in config.json, its metrics appended, exact under a kill; and the one-line refusals."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from helpers import kill_when_ready
from memscope.runconfig import load_run_config
from memscope.train.loop import lr_at

TINY = ["--task", "arithmetic", "--model", "n14", "eval_interval=20", "batch_size=64", "eval_samples=2"]


def _records(run):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _figures(summary):
    return {k: v for k, v in summary.items() if k != "wall_s"}


def _same_weights(a, b, name="model.safetensors"):
    x, y = load_file(a / name), load_file(b / name)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 40-step run (evaluated at 0, 20, 40), never changed: tests continue copies of it."""
    from memscope.cli import main
    out = tmp_path_factory.mktemp("continue") / "run40"
    assert main(["-q", "train", *TINY, "--steps", "40", "--out", str(out)]) == 0
    return out


def _copy(finished, path):
    shutil.copytree(finished, path)
    return path


def _tree(run):
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def test_continuing_to_80_steps_appends_a_phase_with_the_final_learning_rate(finished, tmp_path, cli_json):
    run = _copy(finished, tmp_path / "run")
    s = cli_json("-q", "train", "--resume", run, "--steps", "80")
    assert s["steps"] == 80 and s["steps_run"] == 80 and s["stopped_step"] is None
    recs = _records(run)
    assert recs[:3] == _records(finished)  # the first part's records stay as they were
    assert [r["step"] for r in recs] == [0, 20, 40, 60, 80]
    assert [r.get("phase") for r in recs] == [None, None, None, "continue1", "continue1"]
    final_lr = recs[2]["lr"]
    assert recs[3]["lr"] == recs[4]["lr"] == final_lr  # constant: the rate the run ended with
    config = json.loads((run / "config.json").read_text())
    (phase,) = config["continued"]
    assert phase["steps"] == 40 and phase["restart"] is False and phase["constant_lr"] == final_lr
    assert phase["tasks"] == [{"task": "arithmetic", "params": config["task_params"], "share": None}]
    assert config["train"]["steps"] == 40 and config["train"]["continue_lr"] == "constant"
    assert [(p["name"], p["start"], p["steps"]) for p in s["phases"]] == [("phase1", 0, 40), ("continue1", 40, 40)]
    assert load_run_config(run).phase_list()[-1].constant_lr == final_lr
    assert json.loads((run / "summary.json").read_text()) == s
    assert load_file(run / "model.safetensors").keys() == load_file(finished / "model.safetensors").keys()
    assert not _same_weights(run, finished)  # trained on
    # asked again, the continued run is complete: nothing changes, with its own steps or the first ones
    before = _tree(run)
    assert cli_json("-q", "train", "--resume", run, "--steps", "80") == s
    assert cli_json("-q", "train", *TINY, "--steps", "40", "--out", run, "--resume") == s
    assert cli_json("-q", "train", "--resume", run) == s
    assert _tree(run) == before


def test_rewarm_restarts_the_schedule_with_a_new_warmup(finished, tmp_path, cli_json):
    run = _copy(finished, tmp_path / "run")
    s = cli_json("-q", "train", *TINY, "--steps", "80", "--out", run, "--resume", "--continue-lr", "rewarm")
    recs = _records(run)
    cfg = load_run_config(run).train
    assert recs[3]["lr"] == lr_at(59 - 40, cfg) and recs[4]["lr"] == lr_at(79 - 40, cfg)
    assert recs[3]["lr"] < recs[2]["lr"]  # warming up again from the new phase's start
    phase = json.loads((run / "config.json").read_text())["continued"][0]
    assert phase["restart"] is True and "constant_lr" not in phase
    assert s["phases"][1]["restart"] is True and s["steps"] == 80


def test_a_kill_in_the_continuation_then_resume_equals_the_uninterrupted_continuation(finished, tmp_path,
                                                                                       cli_json):
    straight, killed = _copy(finished, tmp_path / "straight"), _copy(finished, tmp_path / "killed")
    steps = "600"

    def step_100_evaluated():
        metrics = killed / "metrics.jsonl"
        return metrics.is_file() and metrics.read_text().count("\n") >= 6

    kill_when_ready(["-q", "train", "--resume", killed, "--steps", steps], step_100_evaluated)
    assert not (killed / "summary.json").exists(), "the continuation ended before it could be killed"
    assert json.loads((killed / "config.json").read_text())["continued"][0]["steps"] == 560
    resumed = cli_json("-q", "train", "--resume", killed)  # its own settings: the continued run
    uninterrupted = cli_json("-q", "train", "--resume", straight, "--steps", steps)
    assert _figures(resumed) == _figures(uninterrupted) and resumed["steps"] == 600
    assert _records(killed) == _records(straight)
    assert [r["step"] for r in _records(killed)] == list(range(0, 601, 20))
    assert _same_weights(killed, straight) and _same_weights(killed, straight, "best.safetensors")
    assert (killed / "config.json").read_text() == (straight / "config.json").read_text()


def test_a_kill_between_the_new_config_and_the_old_summary_still_continues(finished, tmp_path, cli_json):
    """config.json is written before the first part's summary.json is removed: a run holding both (a kill
    in between) is a continuation to finish, not a complete run."""
    from memscope.runconfig import build_run_config
    from memscope.train.loop import _check_dir
    straight, killed = _copy(finished, tmp_path / "straight"), _copy(finished, tmp_path / "killed")
    rc = build_run_config("arithmetic", "n14", {"eval_interval": "20", "batch_size": "64", "eval_samples": "2",
                                                "steps": "80"})
    continued, extends = _check_dir(rc, killed, resume=True)
    assert extends and len(continued.continued) == 1
    (killed / "config.json").write_text(json.dumps(continued.to_dict()))
    resumed = cli_json("-q", "train", "--resume", killed)
    uninterrupted = cli_json("-q", "train", "--resume", straight, "--steps", "80")
    assert _figures(resumed) == _figures(uninterrupted) and _records(killed) == _records(straight)
    assert _same_weights(killed, straight)


def _one_line(code, out, err, needle):
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


def test_refusals_are_one_line_and_change_nothing(finished, tmp_path, cli):
    run = _copy(finished, tmp_path / "run")
    before = _tree(run)
    _one_line(*cli("train", "--resume", run, "--steps", "30"), "the run already has 40 steps")
    _one_line(*cli("train", *TINY, "--steps", "20", "--out", run, "--resume"), "the run already has 40 steps")
    _one_line(*cli("train", "--resume", run, "--steps", "80", "learning_rate=0.005"), "other settings "
              "(train.learning_rate)")
    _one_line(*cli("train", *TINY, "--steps", "80", "n_embd=28", "--out", run, "--resume"), "model.n_embd")
    _one_line(*cli("train", "--resume", run, "--steps", "80", "withheld=2,3"), "model and training settings")
    _one_line(*cli("train", "--resume", "--steps", "80"), "--resume RUN")
    _one_line(*cli("train", "--resume", run, "--out", tmp_path / "other", "--steps", "80"), "one run")
    _one_line(*cli("train", "--resume", run, "--steps", "80", "--continue-lr", "warm"), "continue_lr")
    assert _tree(run) == before
    # killed after its last checkpoint, before its summary: it has not finished
    (run / "summary.json").unlink()
    before = _tree(run)
    _one_line(*cli("train", "--resume", run, "--steps", "80"), "has not finished its 40 steps")
    assert _tree(run) == before
    # stopped early (stop_patience): not continued
    run = _copy(finished, tmp_path / "stopped")
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "stopped_step": 20}))
    _one_line(*cli("train", "--resume", run, "--steps", "80"), "stopped early at step 20")
    # without --resume, a run directory is refused as before
    _one_line(*cli("train", *TINY, "--steps", "80", "--out", run), "pass --resume")
