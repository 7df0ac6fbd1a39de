"""Real SIGKILLs in every window of a run's and a sweep's life, each resumed: the end equals the
uninterrupted result, every figure and weight. Windows no poll can aim at (inside a checkpoint or summary
write) are recreated on disk by tests/integration/test_run_guards.py."""
import json
import time

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


def test_a_ray_sweep_killed_mid_run_finishes_as_the_uninterrupted_one(tmp_path, cli_json):
    """The sweep's driver SIGKILLed while Ray trains its groups; rerun on Ray, it trains only what is
    missing and ends with the figures and weights of an uninterrupted sweep."""
    pytest.importorskip("ray")
    grid = tmp_path / "grid.toml"
    grid.write_text('task = "arithmetic"\nmodels = ["n14"]\nseeds = 2\n[settings]\nsteps = 300\n'
                    'eval_interval = 20\nbatch_size = 32\neval_samples = 1\nwarmup_steps = 10\n'
                    'lr_decay_steps = 300\n')
    root = tmp_path / "store"
    argv = ["-q", "sweep", grid, "--store", root, "--ensemble", "1", "--executor", "ray", "--workers", "2"]
    before = _ray_sessions()
    kill_when_ready(argv, lambda: any(store.read_metadata(p).get("step", 0) >= 100
                                      for p in root.glob("*/checkpoint.safetensors")), timeout_s=240)
    _end_orphans_of(_ray_sessions() - before)  # Ray's agents outlive a SIGKILLed driver: not ours to keep
    deadline = time.monotonic() + 60  # Ray's own processes of the killed driver end with it
    while time.monotonic() < deadline and any(lock.exists() for lock in root.glob("*/.lock")) \
            and _lock_held(root):
        time.sleep(0.5)
    finished = cli_json(*argv)
    straight = cli_json("-q", "sweep", grid, "--store", tmp_path / "straight", "--ensemble", "1")
    assert finished["runs"].keys() == straight["runs"].keys()
    for name in straight["runs"]:
        assert _records(root / name) == _records(tmp_path / "straight" / name), name
        assert _same_weights(root / name, tmp_path / "straight" / name), name


def _lock_held(root) -> bool:
    """Whether any run of the store is still locked by a trainer (an orphaned Ray worker)."""
    import fcntl
    for lock in root.glob("*/.lock"):
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
            except OSError:
                return True
    return False


def _ray_sessions() -> set[str]:
    from pathlib import Path
    base = Path("/tmp/ray")
    return {p.name for p in base.glob("session_2*")} if base.is_dir() else set()


def _end_orphans_of(sessions: set[str]) -> None:
    """SIGKILL the processes left by the Ray sessions of a killed driver (those holding files of them)."""
    import os
    import signal
    from pathlib import Path
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            targets = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:
            continue
        if any(f"/tmp/ray/{s}/" in t for s in sessions for t in targets):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass
