"""The public API: `import memscope` is cheap, the names resolve to the CLI's functions, and the README's
Python example runs as written."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import memscope

README = Path(__file__).resolve().parents[2] / "README.md"


def test_import_memscope_loads_no_submodule_and_no_torch():
    code = ("import sys, memscope; loaded = [m for m in sys.modules if m.startswith(('memscope.', 'torch'))]; "
            "assert not loaded, loaded; assert 'train' in dir(memscope)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_names_are_the_functions_even_where_a_submodule_shares_the_name():
    import memscope.audit.core  # noqa: F401  (submodules imported first must not shadow the functions)
    import memscope.evaluate  # noqa: F401
    import memscope.train.loop
    from memscope import audit, evaluate, train
    assert train is sys.modules["memscope.api"].train and train.__module__ == "memscope.api"
    assert evaluate.__module__ == "memscope.evaluate" and audit.__module__ == "memscope.api"
    from memscope.api import reproduce
    assert memscope.reproduce is reproduce and set(memscope.__all__) <= set(dir(memscope))
    for name in memscope.__all__:
        assert callable(getattr(memscope, name)), name


def _readme_python_example() -> str:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "one ```python block under ## Python API"
    return blocks[0]


def test_the_readme_python_example_runs_in_under_a_minute(tmp_path, monkeypatch, capsys):
    """The README's promise: its one-minute example, as written, on this machine (the shell half is run by
    tests/slow/test_readme_example.py)."""
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    exec(compile(_readme_python_example(), "README.md", "exec"), {"__name__": "readme"})
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"the README's Python example took {elapsed:.1f} s"
    out = capsys.readouterr().out
    assert re.search(r"addition accuracy after 40 steps: [01]\.\d\d", out), out
    assert (tmp_path / "runs" / "api-demo" / "summary.json").is_file()


def test_train_and_audit_take_keywords_typed_settings_and_strings_in_memory(tmp_path):
    """A notebook user's path: keywords or typed settings objects, samples as lists of strings, results
    as dicts with .to_dict() and tables with .to_frame(), errors as typed exceptions."""
    from memscope import ConfigError, TrainConfig
    tiny = dict(steps=40, eval_interval=20, batch_size=32, eval_samples=1, warmup_steps=4, lr_decay_steps=40)
    a = memscope.train(task="arithmetic", model="n14", out=tmp_path / "a", **tiny)
    b = memscope.train("arithmetic", out=tmp_path / "b", train_settings=TrainConfig(**tiny))
    assert a["steps"] == b["steps"] == 40 and a["add_acc"] == b["add_acc"]  # the same run, two spellings
    assert a.to_dict() == json.loads((tmp_path / "a" / "summary.json").read_text())
    pd = pytest.importorskip("pandas")
    frame = a.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame["step"]) == [0, 20, 40]
    with pytest.raises(ConfigError, match="learning_rate"):
        memscope.train(task="arithmetic", out=tmp_path / "c", learning_rate=-1, **tiny)
    assert not (tmp_path / "c").exists()
    members = ["<3+4=7>", "<2+2=4>"]
    result = memscope.audit(tmp_path / "a", members=members, nonmembers=["<9-9=0>", "<8-1=7>"], device="cpu")
    assert result.to_dict()["n_members"] == 2 and result.to_dict()["n_nonmembers"] == 2
    samples = result.to_frame()
    assert list(samples["text"])[:2] == members and set(result.to_frame("membership")["name"]) >= {"loss"}
