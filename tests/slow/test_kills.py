"""Real SIGKILLs in every window of a run's and a sweep's life, each resumed: the end equals the
uninterrupted result, every figure and weight. Windows no poll can aim at (inside a checkpoint or summary
write) are recreated on disk by tests/integration/test_run_guards.py."""
import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import kill_when_ready
from memscope import store

pytestmark = pytest.mark.slow

ARGS = ["--task", "arithmetic", "--model", "n14", "--steps", "600", "eval_interval=20", "batch_size=32",
        "eval_samples=1"]


def _records(run):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _same_weights(a, b):
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return all(torch.equal(x[k], y[k]) for k in x)


def test_a_run_killed_again_and_again_ends_as_the_uninterrupted_one(tmp_path, cli_json):
    run = tmp_path / "killed"
    evaluations = lambda: (run / "metrics.jsonl").read_text().count("\n") if (run / "metrics.jsonl").is_file() else 0
    windows = [lambda: (run / "config.json").is_file(),  # before (or at) the first checkpoint
               lambda: evaluations() >= 5, lambda: evaluations() >= 12, lambda: evaluations() >= 20]
    for i, ready in enumerate(windows):
        kill_when_ready(["-q", "train", *ARGS, "--out", run, *(["--resume"] if i else [])], ready)
        assert not (run / "summary.json").exists(), f"the run ended before kill {i}"
    resumed = cli_json("-q", "train", *ARGS, "--out", run, "--resume")
    straight = cli_json("-q", "train", *ARGS, "--out", tmp_path / "straight")
    assert {k: v for k, v in resumed.items() if k != "wall_s"} == {k: v for k, v in straight.items() if k != "wall_s"}
    assert _records(run) == _records(tmp_path / "straight") and _same_weights(run, tmp_path / "straight")


def test_a_sweep_killed_in_each_of_its_windows_trains_only_what_is_missing(tmp_path, cli_json):
    grid = tmp_path / "grid.toml"
    grid.write_text('task = "arithmetic"\nmodels = ["n14", "n28"]\nseeds = 2\n[settings]\nsteps = 300\n'
                    'eval_interval = 20\nbatch_size = 32\neval_samples = 1\nwarmup_steps = 10\n'
                    'lr_decay_steps = 300\n')
    root = tmp_path / "store"

    def checkpoints_at(step, n):
        return lambda: len([p for p in root.glob("*/checkpoint.safetensors")
                            if store.read_metadata(p).get("step", 0) >= step]) >= n

    for i, ready in enumerate([lambda: (root / "index.sqlite").is_file(), checkpoints_at(100, 2),
                               checkpoints_at(300, 2), checkpoints_at(100, 3)]):
        kill_when_ready(["-q", "sweep", grid, "--store", root, "--ensemble", "2"], ready)
    finished = cli_json("-q", "sweep", grid, "--store", root, "--ensemble", "2")
    straight = cli_json("-q", "sweep", grid, "--store", tmp_path / "straight", "--ensemble", "2")
    assert finished["runs"].keys() == straight["runs"].keys()
    for name in straight["runs"]:
        assert _records(root / name) == _records(tmp_path / "straight" / name), name
        assert _same_weights(root / name, tmp_path / "straight" / name), name
