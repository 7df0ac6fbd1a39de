"""The README's one-minute shell example runs as written, in under a minute on this machine."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_shell_example() -> str:
    section = README.read_text().split("## One minute", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "one ```bash block under ## One minute"
    return blocks[0]


def test_the_readme_shell_example_runs_in_under_a_minute(tmp_path):
    script = _readme_shell_example()
    assert ".venv/bin/memscope train" in script and ".venv/bin/memscope audit" in script
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "memscope").is_file():
        pytest.skip(f"no memscope entry point beside {sys.executable} (install with pip install -e .)")
    (tmp_path / ".venv").symlink_to(bin_dir.parent, target_is_directory=True)  # `.venv/bin/memscope` as written
    start = time.perf_counter()
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    assert elapsed < 60, f"the README's shell example took {elapsed:.1f} s"
    assert (tmp_path / "runs" / "first" / "summary.json").is_file()
    assert (tmp_path / "runs" / "first" / "audit" / "report.html").is_file()
    assert re.search(r"withheld_total\s+40", done.stdout), done.stdout[-2000:]
    assert re.search(r"loss\s+[01]\.\d{3}", done.stdout), done.stdout[-2000:]
