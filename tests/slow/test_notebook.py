"""The example notebook runs as written: its code cells, in order, as one script in a fresh interpreter
(nbclient would need a Jupyter kernel; the cells use no magics, so a plain run is the same program)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def notebook_script(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_the_example_notebook_runs(tmp_path):
    pytest.importorskip("pandas")
    script = notebook_script(NOTEBOOK) + "\nprint('claims:', [c['verdict'] for c in study['claims']])\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loss-attack AUC:" in done.stdout and "report:" in done.stdout
    assert "claims: ['not established'" in done.stdout  # the plumbing profile judges nothing
    assert (tmp_path / "runs" / "nb-tbtt" / "report.html").is_file()
