"""Sweeps: grid files, ensembles equal to solo runs, the index, resume after a kill, pool and Ray executors."""
import json

import pytest
from safetensors.torch import load_file

from memscope import store
from memscope.sweep import estimate_train_s, expand, list_runs, load_grid, make_groups, run_many
from memscope.train import build_run_config, train

from helpers import kill_when_ready

GRID = {
    "name": "tiny",
    "task": "arithmetic",
    "models": ["n14"],
    "seeds": 2,
    "settings": {"steps": 40, "eval_interval": 20, "batch_size": 32, "eval_samples": 2, "warmup_steps": 5,
                 "lr_decay_steps": 40},
    "grid": {"withheld": ["5,7", "2,3"]},
}


def _grid_file(tmp_path, grid=None, suffix=".json"):
    path = tmp_path / f"grid{suffix}"
    path.write_text(json.dumps(grid or GRID))
    return path


def _weights(run_dir):
    return load_file(run_dir / "model.safetensors")


def _figures(summary):
    return {k: v for k, v in summary.items() if k not in ("wall_s", "ensemble_size")}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The tiny grid trained once, in process: 4 runs of one shape, so one ensemble of 4."""
    root = tmp_path_factory.mktemp("sweep")
    grid = _grid_file(root)
    from memscope.cli import main
    assert main(["-q", "sweep", str(grid), "--store", str(root / "store")]) == 0
    return root / "store", load_grid(grid)


def test_grid_expands_to_named_runs(tmp_path):
    specs = expand(load_grid(_grid_file(tmp_path)))
    assert [n for n, _ in specs] == ["arithmetic-n14-withheld=5_7-seed0", "arithmetic-n14-withheld=5_7-seed1",
                                     "arithmetic-n14-withheld=2_3-seed0", "arithmetic-n14-withheld=2_3-seed1"]
    assert specs[2][1].task_params["withheld"] == ((2, 3),) and specs[1][1].train.seed == 1
    toml = tmp_path / "grid.toml"
    toml.write_text('task = "arithmetic"\nmodel = "n14"\nseeds = [3]\n[settings]\nsteps = 10\n')
    (name, rc), = expand(load_grid(toml))
    assert name == "arithmetic-n14-seed3" and rc.train.steps == 10


def test_groups_are_scheduled_costliest_first(tmp_path):
    """A pool takes jobs in order: the longest go first so that its last jobs are short ones."""
    specs = [(f"{m}-{steps}", build_run_config("arithmetic", m, {"steps": str(steps), "batch_size": "441"}))
             for m, steps in (("n14", 100), ("n56", 50), ("n14", 400), ("n28", 80))]
    groups = make_groups(specs, tmp_path)
    assert [g[0][0] for g in groups] == ["n14-400", "n56-50", "n28-80", "n14-100"]


def test_sweep_trains_every_run_as_one_ensemble_equal_to_solo_runs(swept, tmp_path):
    root, grid = swept
    rows = list_runs(root)
    assert len(rows) == 4 and all(r["status"] == "done" for r in rows)
    specs = expand(grid)
    for name, rc in specs:
        summary = json.loads((root / name / "summary.json").read_text())
        assert summary["ensemble_size"] == 4 and summary["steps_run"] == 40
    name, rc = specs[3]
    solo = train(rc, tmp_path / "solo")
    assert _figures(solo) == _figures(json.loads((root / name / "summary.json").read_text()))
    a, b = _weights(root / name), _weights(tmp_path / "solo")
    assert all((a[k] == b[k]).all() for k in a)
    # the stacked file holds all four; one member loads alone
    (ens_file,) = (root / "ensembles").iterdir()
    member, meta = store.load_row(ens_file, 3)
    assert meta["members"][3].endswith(name) and all((member[k] == a[k]).all() for k in a)


def test_rerun_trains_nothing(swept):
    root, grid = swept
    specs = expand(grid)
    assert make_groups(specs, root) == []
    before = {n: (root / n / "model.safetensors").stat().st_mtime_ns for n, _ in specs}
    run_many(specs, root)
    assert before == {n: (root / n / "model.safetensors").stat().st_mtime_ns for n, _ in specs}


def test_killed_sweep_finishes_only_what_is_missing(tmp_path, swept):
    root_ref, _ = swept
    grid = dict(GRID, settings=dict(GRID["settings"], steps=240, lr_decay_steps=240))
    grid_file = _grid_file(tmp_path, grid)
    root = tmp_path / "store"

    def second_ensemble_checkpointed():  # two runs of the second ensemble at step 100 or later
        steps = [store.read_metadata(p).get("step", 0) for p in root.glob("*/checkpoint.safetensors")]
        return len([s for s in steps if s >= 100]) >= 3

    kill_when_ready(["-q", "sweep", grid_file, "--store", root, "--ensemble", "2"], second_ensemble_checkpointed)
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in root.glob("*/summary.json")}
    assert len(done_before) < 4, "the sweep ended before it could be killed"
    specs = expand(load_grid(grid_file))
    run_many(specs, root, max_k=2)
    for name, mtime in done_before.items():  # finished runs were not trained again
        assert (root / name / "summary.json").stat().st_mtime_ns == mtime
    straight = tmp_path / "straight"
    run_many(specs, straight, max_k=2)
    for name, _ in specs:
        a, b = _weights(root / name), _weights(straight / name)
        assert all((a[k] == b[k]).all() for k in a), name
        resumed, uninterrupted = (store.read_metrics(d / name / "metrics.jsonl") for d in (root, straight))
        assert [dict(r, wall_s=0) for r in resumed] == [dict(r, wall_s=0) for r in uninterrupted], name


def test_pool_executor_matches_in_process(swept, tmp_path):
    root_ref, grid = swept
    specs = expand(grid)
    out = run_many(specs, tmp_path / "store", executor="pool", workers=2, max_k=1)
    for name, _ in specs:
        a, b = _weights(root_ref / name), _weights(tmp_path / "store" / name)
        assert all((a[k] == b[k]).all() for k in a), name
        assert out[name]["ensemble_size"] == 1


def test_ray_sweep_completes_on_a_local_instance(swept, tmp_path):
    pytest.importorskip("ray")
    root_ref, grid = swept
    specs = expand(grid)
    out = run_many(specs, tmp_path / "store", executor="ray", workers=2, max_k=2)
    assert sorted(out) == sorted(n for n, _ in specs)
    assert all(r["status"] == "done" for r in list_runs(tmp_path / "store"))
    for name, _ in specs:
        a, b = _weights(root_ref / name), _weights(tmp_path / "store" / name)
        assert all((a[k] == b[k]).all() for k in a), name


@pytest.mark.parametrize("grid,needle", [
    ({"task": "arithmetic", "model": "n14", "colour": 1}, "unknown key"),
    ({"task": "arithmetic", "model": "n14", "seeds": -1}, "seeds"),
    ({"task": "nosuch", "model": "n14"}, "unknown task"),
    ({"task": "arithmetic", "model": "n14", "settings": {"warp": 9}}, "unknown setting"),
    ({"task": "arithmetic", "model": "n14", "grid": {"withheld": "5,7"}}, "non-empty list"),
])
def test_bad_grid_files_get_one_line_errors(tmp_path, cli, grid, needle):
    code, out, err = cli("sweep", _grid_file(tmp_path, grid), "--store", tmp_path / "s")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_corrupt_grid_file_and_unknown_executor(tmp_path, cli):
    bad = tmp_path / "g.toml"
    bad.write_text("task = [")
    code, _, err = cli("sweep", bad, "--store", tmp_path / "s")
    assert code == 2 and "corrupt grid file" in err
    code, _, err = cli("sweep", _grid_file(tmp_path), "--store", tmp_path / "s", "--executor", "mpi")
    assert code == 2 and "--executor 'mpi' must be one of local, pool, ray" in err


def test_a_run_in_training_is_locked_against_a_second_trainer(tmp_path):
    from memscope.errors import MemscopeError
    (name, rc), = expand(load_grid(_grid_file(tmp_path, dict(GRID, seeds=1, grid={}))))
    run_dir = tmp_path / name
    run_dir.mkdir()
    with store.run_lock(run_dir):
        with pytest.raises(MemscopeError, match="being trained by another process"):
            train(rc, run_dir, resume=True)
    assert train(rc, run_dir, resume=True)["steps_run"] == 40


def test_the_estimate_times_each_group_once_and_counts_only_missing_runs(tmp_path, monkeypatch):
    import memscope.bench as bench
    calls = []

    def fake_time(rcs, device, steps, warmup):  # 10 ms per step of any group, counted
        calls.append(len(rcs))
        return 0.01, None
    monkeypatch.setattr(bench, "time_group_steps", fake_time)
    small = {"n_layer": "1", "n_embd": "8", "n_head": "1", "batch_size": "4", "eval_interval": "10"}
    specs = [(f"s{s}-{n}", build_run_config("arithmetic", "n14", {**small, "steps": str(n), "seed": str(s)}))
             for n in (10, 30) for s in (0, 1)]
    # two groups (the schedules differ) of one shape: timed once, each counted for its own steps
    assert estimate_train_s(specs, tmp_path) == pytest.approx(0.01 * (10 + 30))
    assert calls == [2]
    run_many(specs[:2], tmp_path)
    assert estimate_train_s(specs, tmp_path) == pytest.approx(0.01 * 30)
    assert estimate_train_s(specs[:2], tmp_path) == 0


def _ray_sweep(tmp_path, env_extra: dict, store: str = "s"):
    """`memscope sweep --executor ray` of one tiny run in a fresh process (Ray's settings come from the
    environment, which must not leak into the test process)."""
    import os
    import subprocess
    import sys
    grid = _grid_file(tmp_path, {"task": "arithmetic", "model": "n14", "seeds": 1, "settings": {
        "steps": 20, "eval_interval": 20, "batch_size": 16, "eval_samples": 1, "warmup_steps": 2,
        "lr_decay_steps": 20}})
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")},
           "PYTHONPATH": os.pathsep.join(sys.path), **env_extra}
    return subprocess.run([sys.executable, "-m", "memscope", "-q", "sweep", str(grid), "--store",
                           str(tmp_path / store), "--executor", "ray", "--workers", "1"], env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_ray_starts_where_its_token_file_cannot_be_written(tmp_path):
    """Current Ray starts a local instance with token authentication and writes the token to
    ~/.ray/auth_token; with a home where that cannot be written, the sweep still runs (the token goes
    through RAY_AUTH_TOKEN, one of Ray's documented token sources)."""
    pytest.importorskip("ray")
    not_a_dir = tmp_path / "home-is-a-file"
    not_a_dir.write_text("")
    done = _ray_sweep(tmp_path, {"HOME": str(not_a_dir)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "s" / "arithmetic-n14-seed0" / "summary.json").is_file()


def test_ray_that_cannot_start_is_one_line_and_leaves_no_store(tmp_path):
    pytest.importorskip("ray")
    done = _ray_sweep(tmp_path, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "no-token")})
    errors = [line for line in done.stderr.splitlines() if line.startswith("memscope: error:")]
    assert done.returncode == 2 and len(errors) == 1 and "could not start a local Ray instance" in errors[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "s").exists()
