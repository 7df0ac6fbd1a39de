"""Every report in a real browser: each study's tiny profile, an audit and the index page, rendered by
headless Chromium at 1280 px: every image loads, no script error, nothing wider than the window."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import memscope

pytestmark = pytest.mark.slow

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
WIDTH = 1280
PROBE = """<script>window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.target && e.target.src)), true);
window.addEventListener('load', () => { const imgs = [...document.images];
  document.title = JSON.stringify({images: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    width: document.documentElement.scrollWidth, errors: window.__errors}); });</script>"""


def render(page, tmp_path) -> dict:
    """Load a copy of the page with a probe in its head; the probe writes what it saw into the title."""
    probed = page.parent / f".probe-{page.name}"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    try:
        done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},900",
                               "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
                              capture_output=True, text=True, timeout=120)
    finally:
        probed.unlink()
    title = re.search(r"<title>(\{.*?\})</title>", done.stdout)
    assert title, f"no probe result from {page}: {done.stderr[-1000:]}"
    return json.loads(title.group(1).replace("&quot;", '"'))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    if BROWSER is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` (.ci/run installs it where it can)")
    root = tmp_path_factory.mktemp("reports")
    pages = []
    for study in ("tbtt", "grokking", "sorting", "forgetting", "metamorphic", "capacity"):
        r = memscope.reproduce(study, profile="tiny", executor="local", out=root / study)
        pages.append(r["files"]["report"])
    audit = memscope.audit(root / "tbtt" / "runs" / "arithmetic-n14-seed0", members=["<3+4=7>", "<2+6=8>"],
                           nonmembers=["<5+7=12>", "<7-5=2>"], device="cpu")
    from memscope.audit import write_audit
    files = write_audit(audit, root / "audit")
    pages.append(files["report"])
    from memscope.report_index import build_index
    build_index(root)
    pages.append(str(root / "index.html"))
    return [Path(p) for p in pages]


def test_every_report_renders_whole_in_a_browser(reports, tmp_path):
    assert len(reports) == 8
    for page in reports:
        seen = render(page, tmp_path)
        assert seen["broken"] == 0 and not seen["errors"], (page, seen)
        assert seen["width"] <= WIDTH, (page, seen)
        if "index" not in page.name:
            assert seen["images"] >= 1, (page, seen)
