"""The public API: `import memscope` is cheap, the names resolve to the CLI's functions, and the README's
Python example runs as written."""
import os
import re
import subprocess
import sys
from pathlib import Path

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
    assert train is memscope.train.__globals__["train"] is sys.modules["memscope.train.loop"].train
    assert evaluate.__module__ == "memscope.evaluate" and audit.__module__ == "memscope.audit.core"
    from memscope.studies import reproduce
    assert memscope.reproduce is reproduce and set(memscope.__all__) <= set(dir(memscope))
    for name in memscope.__all__:
        assert callable(getattr(memscope, name)), name


def _readme_python_example() -> str:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "one ```python block under ## Python API"
    return blocks[0]


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_python_example(), "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert re.search(r"addition accuracy after 40 steps: [01]\.\d\d", out), out
    assert (tmp_path / "runs" / "api-demo" / "summary.json").is_file()
