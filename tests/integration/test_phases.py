"""The trainer's seams: samplers with exact exposure counts, phases with replay, loss masks, NoPE, callbacks."""
import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import kill_when_ready
from memscope.data.samplers import IGNORE
from memscope.models.gpt import GPT
from memscope.runconfig import build_run_config
from memscope.runfile import load_run_file
from memscope.train.loop import make_batches

SMALL = ["eval_interval=20", "batch_size=32", "eval_samples=1", "warmup_steps=10", "lr_decay_steps=400"]

TWO_PHASES = """
model = "n14"
seeds = [3]
[settings]
block_size = 48
sampler = "epochs"
batch_size = 32
eval_interval = 40
eval_samples = 1
warmup_steps = 10
lr_decay_steps = 200
callbacks = "protocol,best,early_stop,weight_norm"

[[phases]]
name = "arith"
epochs = 4
[[phases.tasks]]
task = "arithmetic"

[[phases]]
name = "capitals"
epochs = 60
restart = true
[[phases.tasks]]
task = "capitals"
[[phases.tasks]]
task = "arithmetic"
share = 0.25
"""


def _records(run):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_epochs_sampler_counts_every_line_exactly(cli_json, tmp_path):
    """sampler=epochs: each of arithmetic's 196 training lines is seen exactly once per epoch (7 steps of 32
    rows per epoch, the last one 4 rows), and exposures.json says so."""
    run = tmp_path / "epochs"
    s = cli_json("-q", "train", "--task", "arithmetic", "--model", "n14", "--out", run, *SMALL,
                 "sampler=epochs", "epochs=3")
    assert s["steps"] == 3 * 7 and s["steps_run"] == 21
    exposures = json.loads((run / "exposures.json").read_text())
    (phase,) = exposures["phases"]
    counts = phase["tasks"][0]["counts"]
    assert phase["sampler"] == "epochs" and len(counts) == 196 and set(counts) == {3}


def test_epochs_batches_hold_each_line_once_and_mask_past_its_end():
    rc = build_run_config("arithmetic", "n14", {"sampler": "epochs", "batch_size": "50", "epochs": "1"})
    batches = make_batches([rc], torch.device("cpu"))
    task, vocab = rc.make_task(), rc.vocab()
    lines = []
    for step in range(batches.steps_per_epoch):
        x, y = batches.next(step)
        assert (x[0, :, 0] == vocab.stoi["\n"]).all()  # every row starts at its line's BOS
        lines += [vocab.decode(row.tolist()) for row in y[0]]
    assert sorted(lines) == sorted(task.lines())  # arithmetic lines fill the window exactly


def test_a_task_can_mask_its_prompt_out_of_the_loss():
    """minGPT's adder convention: with mask_prompt, `<a+b=` is no target; the answer, padding and newline are."""
    rc = build_run_config("arithmetic", "n14", {"sampler": "epochs", "batch_size": "64", "epochs": "1",
                                               "mask_prompt": "true"})
    batches = make_batches([rc], torch.device("cpu"))
    _, y = batches.next(0)
    assert batches.masked and ((y[0] != IGNORE).sum(1) == 4).all()
    assert (y[0, :, :5] == IGNORE).all() and (y[0, :, 5:] != IGNORE).all()  # targets of `<a+b=` masked
    windows = make_batches([build_run_config("arithmetic", "n14", {"mask_prompt": "true"})], torch.device("cpu"))
    _, y = windows.next(0)
    assert windows.masked and 0 < (y == IGNORE).float().mean() < 0.6


def test_replay_share_is_drawn_fresh_each_epoch(tmp_path):
    (tmp_path / "run.toml").write_text(TWO_PHASES)
    rc = load_run_file(tmp_path / "run.toml")
    batches = make_batches([rc], torch.device("cpu"), _plan(rc)[1])
    assert batches.epoch_rows == [50, 17]  # 25% of the rows: 17 replayed arithmetic lines beside 50 capitals
    for step in range(2 * batches.steps_per_epoch):
        batches.next(step)
    capitals, replay = batches.counts[0]
    assert set(capitals.tolist()) == {2} and replay.sum() == 34 and replay.max() <= 2


def _plan(rc):
    from memscope.data.phases import phase_plan
    return phase_plan(rc)


def test_two_phase_run_killed_in_phase_two_resumes_to_the_uninterrupted_run(tmp_path, cli_json):
    """A run file with two phases (epochs sampler; phase 2 new data with 25% replay and a fresh optimizer),
    SIGKILLed inside phase 2 and resumed, ends with every figure, exposure count and weight of the run
    trained straight through."""
    run_file = tmp_path / "run.toml"
    run_file.write_text(TWO_PHASES)
    killed = tmp_path / "killed"

    def in_phase_two():
        metrics = killed / "metrics.jsonl"
        return metrics.is_file() and metrics.read_text().count('"phase": "capitals"') >= 3

    kill_when_ready(["-q", "train", "--config", run_file, "--out", killed], in_phase_two)
    assert not (killed / "summary.json").exists(), "the run ended before it could be killed"
    assert '"phase": "capitals"' in (killed / "metrics.jsonl").read_text()
    resumed = cli_json("-q", "train", "--config", run_file, "--out", killed, "--resume")
    straight = cli_json("-q", "train", "--config", run_file, "--out", tmp_path / "straight")
    drop = {"wall_s"}
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in straight.items() if k not in drop}
    assert _records(killed) == _records(tmp_path / "straight")
    assert (killed / "exposures.json").read_text() == (tmp_path / "straight" / "exposures.json").read_text()
    a, b = load_file(killed / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the figures of both tasks, the monitor and the phase are in every record; phase 2 restarts the schedule
    recs = _records(killed)
    assert {"arithmetic.seen_acc", "capitals.facts_acc", "seen_acc", "weight_norm", "phase"} <= set(recs[-1])
    phases = straight["phases"]
    assert [p["name"] for p in phases] == ["arith", "capitals"] and phases[1]["start"] == 4 * 7
    first_in_two = next(r for r in recs if r["phase"] == "capitals")
    assert first_in_two["lr"] < recs[0]["lr"] * 50  # warming up again, far below the peak
    exposures = json.loads((killed / "exposures.json").read_text())["phases"]
    assert set(exposures[0]["tasks"][0]["counts"]) == {4}
    assert set(exposures[1]["tasks"][0]["counts"]) == {60}
    assert sum(exposures[1]["tasks"][1]["counts"]) == 60 * 17


def test_nope_model_trains_and_evaluates(cli_json, tmp_path):
    rc = build_run_config("arithmetic", "n14", {"pos_encoding": "none"})
    model = GPT(rc.model)
    assert model.transformer.wpe is None and "transformer.wpe.weight" not in model.state_dict()
    learned = GPT(build_run_config("arithmetic", "n14").model)
    assert learned.count_params("paper") == model.count_params("paper")  # the paper's count omits positions
    assert learned.count_params("total") - model.count_params("total") == 9 * 14
    run = tmp_path / "nope"
    s = cli_json("-q", "train", "--task", "arithmetic", "--model", "n14", "--steps", "60", "--out", run, *SMALL,
                 "pos_encoding=none")
    assert s["steps_run"] == 60  # one sample per prompt: combined = the mean of add and sub (100 prompts each)
    assert 200 * s["combined_acc"] == pytest.approx(100 * s["add_acc"] + 100 * s["sub_acc"])
    m = cli_json("-q", "eval", run)
    assert m["add_acc"] == s["add_acc"] and m["withheld_correct"] == s["withheld_correct"]


def test_context_longer_than_the_training_window():
    rc = build_run_config("arithmetic", "n14", {"block_size": "32", "window": "9"})
    x, _ = make_batches([rc], torch.device("cpu")).next(0)
    assert rc.model.block_size == 32 and x.shape[-1] == 9


@pytest.mark.parametrize("text, needle", [
    (TWO_PHASES.replace('model = "n14"', 'models = ["n14", "n28"]'), "several runs"),
    (TWO_PHASES.replace("restart = true", "restart = true\nwarmup = 3"), "unknown key(s) warmup"),
    (TWO_PHASES.replace("share = 0.25", "share = 1.5"), "share in (0, 1)"),
    (TWO_PHASES.replace("epochs = 60", "epochs = 60\nsteps = 3"), "exactly one of steps or epochs"),
    (TWO_PHASES.replace('task = "capitals"', 'task = "nope"'), "unknown task 'nope'"),
    (TWO_PHASES.replace("weight_norm", "no_such_monitor"), "unknown callback 'no_such_monitor'"),
    (TWO_PHASES.replace("block_size = 48", ""), "a line of task 'capitals' has 41 characters"),
])
def test_bad_run_files_are_one_line_errors(tmp_path, cli, text, needle):
    path = tmp_path / "run.toml"
    path.write_text(text)
    code, out, err = cli("-q", "train", "--config", path, "--out", tmp_path / "run")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "run").exists()
