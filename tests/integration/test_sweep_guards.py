"""Sweeps that must refuse or fail cleanly (issue 17): other settings in the store, huge grids, an unreachable
Ray cluster, a job failing with any exception, tasks with their own seed, half-done writes, a corrupt index;
and Hugging Face weights read from safetensors only."""
import json
import shutil
import time

import pytest

from memscope.errors import MemscopeError
from memscope.sweep import MAX_RUNS, expand, grid_size, list_runs, load_grid, parse_grid, run_many, within

from helpers import save_tiny_gpt2

TINY = {"n_sequences": 16, "length": 4, "steps": 10, "eval_interval": 5, "warmup_steps": 2, "lr_decay_steps": 10,
        "eval_samples": 1}
GRID = {"name": "tiny-rt", "task": "random-tokens", "model": "n14", "seeds": [0, 1], "settings": TINY}
ARITH = {"name": "tiny", "task": "arithmetic", "model": "n14", "seeds": [0, 1],
         "settings": {"steps": 10, "eval_interval": 5, "warmup_steps": 2, "lr_decay_steps": 10, "batch_size": 8,
                      "eval_samples": 1}}


def _grid_file(tmp_path, grid=None, name="grid.json"):
    path = tmp_path / name
    path.write_text(json.dumps(grid or GRID))
    return path


def _one_line(code, err, needle):
    assert code == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1, err


def _sweep(tmp_path_factory, grid):
    from memscope.cli import main
    root = tmp_path_factory.mktemp(grid["name"])
    assert main(["-q", "sweep", str(_grid_file(root, grid)), "--store", str(root / "store")]) == 0
    return root / "store"


@pytest.fixture(scope="module")
def rt_store(tmp_path_factory):
    """The random-tokens grid (a task with its own `seed`) swept once through the command line."""
    return _sweep(tmp_path_factory, GRID)


@pytest.fixture(scope="module")
def arith_store(tmp_path_factory):
    return _sweep(tmp_path_factory, ARITH)


def test_a_grid_over_random_tokens_expands_and_trains(rt_store):
    specs = expand(load_grid(_grid_file(rt_store.parent)))
    assert [rc.train.seed for _, rc in specs] == [0, 1]
    assert all(rc.task_params["seed"] == 0 and rc.task_params["n_sequences"] == 16 for _, rc in specs)
    rows = list_runs(rt_store)
    assert [r["status"] for r in rows] == ["done", "done"] and [r["seed"] for r in rows] == [0, 1]
    assert all(json.loads((rt_store / n / "summary.json").read_text())["steps"] == 10 for n, _ in specs)


def test_a_grid_over_canaries_expands():
    (name, rc), = expand(parse_grid({"task": "canaries", "model": "n14", "seeds": [2]}))
    assert name == "canaries-n14-seed2" and rc.train.seed == 2 and rc.task_params["seed"] == 0


@pytest.mark.parametrize("key", ["seed", "train.seed"])
def test_a_training_seed_in_the_settings_is_refused_for_seeds(key):
    with pytest.raises(MemscopeError, match="'seeds'"):
        parse_grid(dict(GRID, settings=dict(TINY, **{key: 3})))
    (_, rc), = expand(parse_grid(dict(GRID, seeds=[4], settings=dict(TINY, **{"task.seed": 3}))))
    assert rc.train.seed == 4 and rc.task_params["seed"] == 3


def test_a_store_holding_runs_of_other_settings_refuses_the_sweep(arith_store, tmp_path, cli):
    index_before = list_runs(arith_store)
    configs_before = {p: p.read_bytes() for p in arith_store.glob("*/config.json")}
    shorter = dict(ARITH, settings=dict(ARITH["settings"], steps=5, lr_decay_steps=5))
    code, _, err = cli("sweep", _grid_file(tmp_path, shorter), "--store", arith_store)
    _one_line(code, err, "arithmetic-n14-seed0 holds a run with other settings (train.lr_decay_steps, "
                         "train.steps): choose another --store or remove it")
    assert list_runs(arith_store) == index_before  # nothing written: not even the index
    assert configs_before == {p: p.read_bytes() for p in arith_store.glob("*/config.json")}
    # a runtime setting is not another run
    (name, rc), = expand(parse_grid(dict(ARITH, seeds=[0], settings=dict(ARITH["settings"], threads=2))))
    assert run_many([(name, rc)], arith_store)[name]["steps"] == 10


def test_refused_settings_write_no_index(arith_store, tmp_path, cli):
    root = tmp_path / "s"
    root.mkdir()
    shutil.copytree(arith_store / "arithmetic-n14-seed1", root / "arithmetic-n14-seed1")
    other = dict(ARITH, settings=dict(ARITH["settings"], batch_size=4))
    code, _, err = cli("sweep", _grid_file(tmp_path, other), "--store", root)
    _one_line(code, err, "(train.batch_size): choose another --store")
    assert sorted(p.name for p in root.iterdir()) == ["arithmetic-n14-seed1"]


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path, cli):
    grid = dict(GRID, grid={"task.recall_prompts": list(range(100)), "learning_rate": [1e-3] * 100,
                            "min_lr": [1e-5] * 50}, seeds=2)
    assert grid_size(parse_grid(grid)) == 1_000_000 > MAX_RUNS
    t0 = time.perf_counter()
    code, _, err = cli("sweep", _grid_file(tmp_path, grid), "--store", tmp_path / "s")
    assert time.perf_counter() - t0 < 5
    _one_line(code, err, "grid expands to 1,000,000 runs, more than --max-runs 10,000 allows")
    code, _, err = cli("sweep", _grid_file(tmp_path), "--store", tmp_path / "s", "--max-runs", 1)
    _one_line(code, err, "grid expands to 2 runs, more than --max-runs 1 allows")
    assert not (tmp_path / "s").exists()
    assert len(expand(load_grid(_grid_file(tmp_path)), max_runs=2)) == 2


def test_an_unknown_executor_leaves_no_store(tmp_path, cli):
    code, _, err = cli("sweep", _grid_file(tmp_path, ARITH), "--store", tmp_path / "s", "--executor", "bogus")
    _one_line(code, err, "--executor 'bogus' must be one of local, pool, ray")
    assert not (tmp_path / "s").exists()


def test_deadline_helper():
    t0 = time.perf_counter()
    with pytest.raises(MemscopeError, match="too slow"):
        within(lambda: time.sleep(10), 0.3, "too slow")
    assert time.perf_counter() - t0 < 2
    assert within(lambda: 3, 5, "") == 3
    with pytest.raises(ZeroDivisionError):
        within(lambda: 1 / 0, 5, "")


def test_a_ray_address_that_does_not_answer_fails_in_one_line(tmp_path, cli):
    pytest.importorskip("ray")
    t0 = time.perf_counter()
    code, _, err = cli("sweep", _grid_file(tmp_path, ARITH), "--store", tmp_path / "s", "--executor", "ray",
                       "--address", "bogus:1")
    assert time.perf_counter() - t0 < 40
    _one_line(code, err, "no Ray cluster at --address bogus:1")
    assert not (tmp_path / "s").exists()  # the cluster is joined before the store is written: nothing left


def test_a_local_job_failing_with_any_exception_is_recorded(tmp_path, cli, monkeypatch):
    def boom(group, root):
        raise RuntimeError("out of cheese")
    monkeypatch.setattr("memscope.sweep.executors.train_group_job", boom)
    code, _, err = cli("-q", "sweep", _grid_file(tmp_path, ARITH), "--store", tmp_path / "s")
    assert code == 2 and "Traceback" not in err  # a log line as each group fails, then one error line
    assert err.strip().splitlines()[-1] == ("memscope: error: 1 group(s) failed, first arithmetic-n14-seed0: "
                                            "out of cheese; rerun the sweep to retry")
    assert {r["status"] for r in list_runs(tmp_path / "s")} == {"failed"}


def test_a_corrupt_index_is_one_line(tmp_path, cli):
    root = tmp_path / "s"
    root.mkdir()
    (root / "index.sqlite").write_bytes(b"\x00garbage, not sqlite\xff" * 64)
    code, _, err = cli("runs", "--store", root)
    _one_line(code, err, f"corrupt run index: {root / 'index.sqlite'}")
    code, _, err = cli("sweep", _grid_file(tmp_path, ARITH), "--store", root)
    _one_line(code, err, f"corrupt run index: {root / 'index.sqlite'}")


def test_a_hugging_face_model_in_pickle_format_is_refused(tmp_path, cli, capsys):
    path = save_tiny_gpt2(tmp_path / "bin-only", "\n0123456789+=", n_positions=16, safe_serialization=False)
    capsys.readouterr()  # transformers' own progress bar
    assert (path / "pytorch_model.bin").is_file() and not (path / "model.safetensors").exists()
    code, _, err = cli("eval", path, "--task", "arithmetic", "--samples", 1)
    _one_line(code, err, f"no model.safetensors in {path}: memscope loads safetensors only (never pickle); "
                         "convert with save_pretrained(safe_serialization=True)")


def test_a_run_file_takes_its_seed_as_train_seed(tmp_path):
    """A run file's seed (and `memscope train --config --seed`) is train.seed, for any task."""
    from memscope.sweep import load_run_file
    path = _grid_file(tmp_path, dict(GRID, seeds=[3]), "run.json")
    rc = load_run_file(path)
    assert rc.train.seed == 3 and rc.task_params["seed"] == 0
    assert load_run_file(path, {"train.seed": "5"}).train.seed == 5
