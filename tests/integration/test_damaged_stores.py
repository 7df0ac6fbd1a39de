"""Damaged runs and stores, special files and links (issue 27, classes 3 and 4): a FIFO where the lock goes,
damaged summaries, configs, checkpoints and index rows, links to nothing or out of the store. Each gets one
line naming the damaged file and what to do, changes nothing, and never hangs. Each test failed before its
fix."""
import json
import os
import sqlite3
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from memscope import store
from memscope.errors import MemscopeError
from memscope.sweep import list_runs, run_many

ARGS = ["--task", "arithmetic", "--model", "n14", "--steps", "60", "eval_interval=20", "batch_size=32",
        "eval_samples=1"]
GRID = {"name": "tiny", "task": "arithmetic", "model": "n14", "seeds": [0, 1],
        "settings": {"steps": 10, "eval_interval": 5, "warmup_steps": 2, "lr_decay_steps": 10, "batch_size": 8,
                     "eval_samples": 1}}
RUN0 = "arithmetic-n14-seed0"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    from memscope.cli import main
    out = tmp_path_factory.mktemp("runs") / "straight"
    assert main(["-q", "train", *ARGS, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    from memscope.cli import main
    root = tmp_path_factory.mktemp("sweep")
    (root / "grid.json").write_text(json.dumps(GRID))
    assert main(["-q", "sweep", str(root / "grid.json"), "--store", str(root / "store")]) == 0
    return root / "store"


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        if p.is_dir():
            _copy(p, dst / p.name)
        else:
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _files(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(root.rglob("*"))}


def _one_line(code, out, err, *needles):
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def _resume(cli, run, *extra):
    return cli("-q", "train", *ARGS, "--out", run, "--resume", *extra)


def _sweep(cli, store_dir, grid_dir):
    (grid_dir / "grid.json").write_text(json.dumps(GRID))
    return cli("-q", "sweep", grid_dir / "grid.json", "--store", store_dir)


# --- class 3: a FIFO where the lock goes ---------------------------------------------------------------

def test_a_fifo_where_the_lock_goes_is_refused_at_once(finished, tmp_path):
    """Before: os.open(O_WRONLY) on the FIFO waited for a reader forever."""
    run = _copy(finished, tmp_path / "run")
    (run / "summary.json").unlink()
    (run / ".lock").unlink(missing_ok=True)
    os.mkfifo(run / ".lock")
    before = _files(run)
    p = subprocess.run([sys.executable, "-m", "memscope", "-q", "train", *ARGS, "--out", str(run), "--resume"],
                       capture_output=True, text=True, timeout=120)
    _one_line(p.returncode, p.stdout, p.stderr, "is a FIFO", ".lock")
    assert _files(run) == before


@pytest.mark.parametrize("name", ["index.sqlite", "metrics.jsonl"])
def test_a_fifo_in_a_store_or_run_is_refused(tmp_path, name):
    os.mkfifo(tmp_path / name)
    with pytest.raises(MemscopeError, match="is a FIFO, not a regular file"):
        store.safe_path(tmp_path, name)
    if name == "metrics.jsonl":
        with pytest.raises(MemscopeError, match="is a FIFO"):
            store.append_jsonl(tmp_path / name, {"step": 0})  # O_NONBLOCK: no wait for a reader
    else:
        with pytest.raises(MemscopeError, match="is a FIFO"):
            list_runs(tmp_path)


def test_safe_path_keeps_links_inside_their_root(tmp_path):
    (tmp_path / "outside.json").write_text("{}")
    root = tmp_path / "run"
    root.mkdir()
    (root / "real.json").write_text("{}")
    os.symlink(root / "real.json", root / "inside.json")
    os.symlink(tmp_path / "outside.json", root / "out.json")
    os.symlink(tmp_path / "nowhere", root / "dangling.json")
    assert store.safe_path(root, "inside.json") == root / "inside.json"
    assert store.safe_path(root, "absent.json") == root / "absent.json"
    with pytest.raises(MemscopeError, match="link leading out of"):
        store.safe_path(root, "out.json")
    with pytest.raises(MemscopeError, match="link to nothing"):
        store.safe_path(root, "dangling.json")
    with pytest.raises(MemscopeError, match="link leading out of"):
        store.read_json(root / "out.json", "summary", root=root)
    with pytest.raises(MemscopeError, match="is a directory, not a regular file"):
        store.safe_path(tmp_path, "run")
    with pytest.raises(MemscopeError, match="a directory is in the way"):
        store.write_json(root, {})


# --- class 4: damaged runs -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, needle", [("", "Expecting value"), ("{}", "task is missing"),
                                          ("[1, 2]", "not a JSON object"), ('{"task": 3}', "task is int")])
def test_a_damaged_summary_is_one_line_on_resume(finished, tmp_path, cli, text, needle):
    """Before: `{}` gave a KeyError traceback after `already complete`."""
    run = _copy(finished, tmp_path / "run")
    (run / "summary.json").write_text(text)
    before = _files(run)
    _one_line(*_resume(cli, run), f"corrupt summary: {run / 'summary.json'}", needle, "remove it and resume")
    assert _files(run) == before


def test_a_run_without_its_config_is_refused_naming_it(finished, tmp_path, cli):
    run = _copy(finished, tmp_path / "run")
    (run / "config.json").unlink()
    _one_line(*_resume(cli, run), f"{run} holds files but no config.json")


def test_a_config_linked_out_of_the_run_is_refused(finished, tmp_path, cli):
    run = _copy(finished, tmp_path / "run")
    (tmp_path / "elsewhere.json").write_bytes((run / "config.json").read_bytes())
    (run / "config.json").unlink()
    os.symlink(tmp_path / "elsewhere.json", run / "config.json")
    _one_line(*_resume(cli, run), "link leading out of")


def _damage_checkpoint(run, meta=None, tensors=None):
    path = run / "checkpoint.safetensors"
    with safe_open(str(path), "pt") as f:
        state = json.loads(f.metadata()["json"])
    t = load_file(path)
    state.update(meta or {})
    t.update(tensors or {})
    save_file(t, path, {"json": json.dumps(state)})


@pytest.mark.parametrize("meta, tensors, needle", [
    ({"step": 1e30}, None, "step 1e+30 is not a step of this run (0..60)"),
    ({"step": 61}, None, "step 61 is not a step"),
    ({"step": -1}, None, "step -1 is not a step"),
    ({"step": "40"}, None, "step '40' is not a step"),
    ({"wall_s": float("inf")}, None, "wall_s inf is not a finite time"),
    ({"n_evals": -3}, None, "n_evals -3"),
    (None, {"model.transformer.wte.weight": torch.zeros(17, 14, dtype=torch.float64)}, "is torch.float64"),
    (None, {"model.transformer.wte.weight": torch.zeros(18, 14)}, "[18, 14]"),
    (None, {"optim.0.exp_avg": torch.zeros(3)}, "optim.0.exp_avg is"),
    (None, {"optim.99.exp_avg": torch.zeros(3)}, "unknown optimizer entry optim.99.exp_avg"),
    (None, {"optim.0.step": torch.tensor(float("nan"))}, "optim.0.step is nan"),
    (None, {"rng.batch": torch.zeros(10)}, "rng.batch is torch.float32"),
    (None, {"rng.torch": torch.zeros(10, dtype=torch.uint8)}, "rng.torch is"),
    (None, {"exposure.0.0": torch.tensor([-1, 2])}, "exposure.0.0 is not a count"),
    (None, {"model.transformer.ln_f.weight": torch.full((14,), float("nan"))}, "holds NaN or infinity"),
])
def test_a_damaged_resume_state_is_refused_before_use(finished, tmp_path, cli, meta, tensors, needle):
    """Before: step 1e30 resumed `from step 1000000000000000019884624838656` and wrote a summary and
    weights; other damage gave tracebacks or was loaded as it was."""
    run = _copy(finished, tmp_path / "run")
    (run / "summary.json").unlink()
    (run / "model.safetensors").unlink()
    _damage_checkpoint(run, meta, tensors)
    before = _files(run)
    _one_line(*_resume(cli, run), str(run / "checkpoint.safetensors"), needle)
    assert _files(run) == before


def test_a_dangling_out_is_one_line_from_python(tmp_path):
    from memscope.train import build_run_config, train
    os.symlink(tmp_path / "nowhere" / "run", tmp_path / "out")
    with pytest.raises(MemscopeError, match="is a link to nothing"):
        train(build_run_config("arithmetic", "n14", {"steps": "10"}), tmp_path / "out")
    assert not (tmp_path / "nowhere").exists()


# --- class 4: damaged stores ---------------------------------------------------------------------------

@pytest.mark.parametrize("damage, needle", [
    ("no-config", f"{RUN0} holds files but no config.json (a damaged run)"),
    ("empty-summary", "summary.json (Expecting value: line 1 column 1 (char 0)); remove it and rerun the sweep"),
    ("object-summary", "summary.json (task is missing)"),
    ("step", "step inf is not a step of this run (0..10)"),
    ("index-link", "index.sqlite is a link to nothing"),
    ("run-link", f"{RUN0} is a link leading out of"),
])
def test_a_damaged_store_refuses_the_sweep_and_changes_nothing(swept, tmp_path, cli, damage, needle):
    """Before: a finished run without config.json was reused silently, a dangling index link made sqlite
    create the index outside the store, an infinite checkpoint step gave an OverflowError traceback."""
    root = _copy(swept, tmp_path / "store")
    outside = tmp_path / "outside"
    outside.mkdir()
    if damage == "no-config":
        (root / RUN0 / "config.json").unlink()
    elif damage == "empty-summary":
        (root / RUN0 / "summary.json").write_text("")
    elif damage == "object-summary":
        (root / RUN0 / "summary.json").write_text("{}")
    elif damage == "step":
        (root / RUN0 / "summary.json").unlink()
        _damage_checkpoint(root / RUN0, {"step": float("inf")})
    elif damage == "index-link":
        (root / "index.sqlite").unlink()
        os.symlink(outside / "index.sqlite", root / "index.sqlite")
    elif damage == "run-link":
        _copy(root / RUN0, outside / RUN0)
        for p in (root / RUN0).iterdir():
            p.unlink()
        (root / RUN0).rmdir()
        os.symlink(outside / RUN0, root / RUN0)
    before, before_out = _files(root), _files(outside)
    _one_line(*_sweep(cli, root, tmp_path), needle)
    assert _files(root) == before and _files(outside) == before_out


def test_a_dangling_store_is_one_line_from_python(tmp_path):
    from memscope.sweep import expand, parse_grid
    os.symlink(tmp_path / "nowhere" / "store", tmp_path / "store")
    with pytest.raises(MemscopeError, match="is a link to nothing"):
        run_many(expand(parse_grid(GRID)), tmp_path / "store")
    assert not (tmp_path / "nowhere").exists()


def test_damaged_index_rows_are_listed_as_damaged(swept, tmp_path, cli):
    """Before: a text seed or a non-object summary gave a traceback (or `Infinity` in --json)."""
    root = _copy(swept, tmp_path / "store")
    db = sqlite3.connect(root / "index.sqlite")
    db.execute("UPDATE runs SET seed = 'abc', summary = '[1]' WHERE name = ?", (RUN0,))
    db.execute("INSERT INTO runs VALUES (?, 'h', 't', 'm', 1, 'done', '{\"a\": Infinity}', 0)", ("zz\nrun",))
    db.commit()
    db.close()
    code, out, err = cli("runs", "--store", root, "--json")
    assert code == 0, err
    rows = store.loads(out)["runs"]  # strict: no NaN / Infinity
    by_status = {r["name"]: r["status"] for r in rows}
    assert by_status == {RUN0: "damaged", "arithmetic-n14-seed1": "done", "'zz\\nrun'": "damaged"}
    damaged = next(r for r in rows if r["name"] == RUN0)
    assert "seed is str, not an integer" in damaged["damage"] and "summary is list" in damaged["damage"]
    code, out, err = cli("runs", "--store", root)
    assert code == 0 and len(out.strip().splitlines()) == 3 and out.count("damaged") == 2, out


def test_an_index_with_other_column_types_is_refused(tmp_path, cli):
    root = tmp_path / "s"
    root.mkdir()
    db = sqlite3.connect(root / "index.sqlite")
    db.execute("CREATE TABLE runs (name INTEGER PRIMARY KEY, config_hash TEXT, task TEXT, model TEXT, "
               "seed INTEGER, status TEXT, summary TEXT, updated REAL)")
    db.commit()
    db.close()
    code, out, err = cli("runs", "--store", root)
    _one_line(code, out, err, "corrupt run index", "column types")
