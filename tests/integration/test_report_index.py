"""memscope report DIR: one index page over a tbtt tiny study and an audit; the shared template and stylesheet,
verdict badges, the one missing mark, relative links that resolve, one-line errors."""
import json
import re
from importlib.resources import files
from pathlib import Path

import pytest

import memscope
from memscope import report
from memscope.audit.core import write_audit
from memscope.tasks import make_task

MISSING_CELL = '<td class="missing" title="no value">\u2013</td>'


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A tbtt tiny study (about 15 s) and an audit of one of its runs, in one directory."""
    root = tmp_path_factory.mktemp("results")
    memscope.reproduce("tbtt", profile="tiny", seeds=1, executor="local", out=root / "tbtt")
    lines = [t.strip() for t in make_task("arithmetic", {}).lines() if t.strip()]
    result = memscope.audit(root / "tbtt" / "runs" / "arithmetic-n14-seed0", members=lines[:40],
                            nonmembers=lines[40:80])
    write_audit(result, root / "audits" / "n14")
    return root


def _hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


def _body(page: str) -> str:
    return page.split("<body>")[1]


def test_index_lists_the_study_and_the_audit_with_badges_and_relative_links(results, cli):
    code, out, err = cli("-q", "report", results)
    assert code == 0, err
    assert out.splitlines()[0] == f"{results / 'index.html'}: 1 study run, 1 audit"
    page = (results / "index.html").read_text()
    assert _hrefs(page) == ["tbtt/report.html", "audits/n14/report.html"]
    assert all((results / h).is_file() for h in _hrefs(page))
    # the tiny profile is plumbing: every claim a grey badge, none red or green
    assert page.count("<span class='badge ne'") == 5  # the five claims (the legend's are in double quotes)
    assert page.count(">not established: plumbing profile</span>") == 5
    assert "<span class='badge no'" not in page and "<span class='badge ok'" not in page
    assert "<td>tbtt</td><td>tiny</td>" in page
    # the audit's strongest attack: the highest AUC of audit.json
    s = json.loads((results / "audits" / "n14" / "audit.json").read_text())
    best = max(s["membership"].values(), key=lambda m: m["auc"])
    assert f"<td>{best['attack']}</td><td>{best['auc']:.3f}</td>" in page
    # no commit recorded: the one missing mark, never None
    assert MISSING_CELL in page and "None" not in _body(page)
    assert "http" not in _body(page) and "<link" not in page and report.stylesheet() in page


def test_the_study_report_uses_the_shared_template(results):
    page = (results / "tbtt" / "report.html").read_text()
    assert f"<style>{report.stylesheet()}</style>" in page and '<meta name="generator" content="memscope">' in page
    assert page.count("<span class='badge ne'") == 5
    assert ">not established: plumbing profile</span><span class='why'>the rule alone reads" in page
    assert page.count('<figure class="fig"><img src="data:image/png;base64,') == 3
    assert "http" not in _body(page) and "<td>None</td>" not in page
    audit = (results / "audits" / "n14" / "report.html").read_text()
    assert f"<style>{report.stylesheet()}</style>" in audit


def test_json_output_and_another_out_directory(results, cli_json, tmp_path):
    site = tmp_path / "site"
    r = cli_json("-q", "report", results, "--out", site)
    assert r["index"] == str(site / "index.html") and not (site / "tbtt").exists()
    assert [s["study"] for s in r["studies"]] == ["tbtt"] and r["studies"][0]["profile"] == "tiny"
    assert [c["verdict"] for c in r["studies"][0]["claims"]] == ["not established"] * 5
    assert r["studies"][0]["commit"] is None and r["studies"][0]["train_wall_s"] > 0
    assert [a["dir"] for a in r["audits"]] == ["audits/n14"] and 0 <= r["audits"][0]["auc"] <= 1
    hrefs = _hrefs((site / "index.html").read_text())
    assert all(h.startswith("../") for h in hrefs) and all((site / h).resolve().is_file() for h in hrefs)


def test_verdicts_commit_and_damaged_files(results, tmp_path, cli_json):
    """Held green, did not hold red, a recorded commit shown, a result without its report a missing mark,
    a damaged result file skipped and named."""
    claim = json.loads((results / "tbtt" / "tables.json").read_text())["claims"][0]
    claims = [{**claim, "name": "A", "verdict": "held", "reason": ""},
              {**claim, "name": "B", "verdict": "did not hold", "reason": ""}]
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / "results.json").write_text(json.dumps(
        {"study": "tbtt", "profile": "quick", "claims": claims, "commit": "0123456789abcdef", "train_wall_s": 600}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "tables.json").write_text("{not json")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.json").write_text('{"no": "claims"}')  # not a study's: passed over
    r = cli_json("-q", "report", tmp_path)
    assert [s["dir"] for s in r["studies"]] == ["quick"] and [s["file"] for s in r["skipped"]] == ["broken/tables.json"]
    page = (tmp_path / "index.html").read_text()
    assert "<span class='badge ok'" in page and "<span class='badge no'" in page
    assert '<code title="0123456789abcdef">0123456789</code>' in page and "<td>10.0 min</td>" in page
    assert page.count(MISSING_CELL) >= 3  # seeds, runs and the report link
    assert "broken/tables.json" in page and "Skipped" in page


def test_nothing_found_or_a_bad_directory_is_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    for argv, needle in [(["report", tmp_path / "empty"], "no study or audit results under"),
                         (["report", tmp_path / "file"], "is not a directory"),
                         (["report", tmp_path / "missing"], "is not a directory")]:
        code, out, err = cli(*argv)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and needle in err, err
    assert list((tmp_path / "empty").iterdir()) == []


def test_out_that_is_a_file_is_one_line(results, cli, tmp_path):
    (tmp_path / "taken").write_text("x")
    code, _, err = cli("report", results, "--out", tmp_path / "taken")
    assert code == 2 and "--out" in err and "is a file" in err


def test_one_mark_for_a_missing_value_and_the_figure_grid():
    t = report.table(["a", "b", "c"], [[None, float("nan"), "-"], [1, 2.5, "x <y>"]])
    assert t.count(MISSING_CELL) == 3 and "None" not in t and "nan" not in t and "x &lt;y&gt;" in t
    assert report.settings_table({"steps": 200, "withheld": None}).count(MISSING_CELL) == 1
    fig = report.img("data:image/png;base64,AAAA", "a", "look at the gap")
    page = report.html_page("T", [("text", "<p>words</p>"), ("one", fig), ("two", fig + fig), ("table", t)])
    grids = re.findall(r'<div class="grid">(.*?)</div>', page, re.DOTALL)
    assert len(grids) == 1 and grids[0].count("<section>") == 2 and "<figcaption>look at the gap</figcaption>" in page
    css = report.stylesheet()
    for rule in ("img{max-width:100%", "grid-template-columns:repeat(2,minmax(0,1fr))", "overflow-x:auto",
                 ".badge.ok{", ".badge.no{", ".badge.ne{"):
        assert rule in css, rule


def test_the_template_and_stylesheet_ship_with_the_package():
    templates = files("memscope") / "templates"
    assert (templates / "page.html.j2").is_file() and (templates / "report.css").is_file()
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'memscope = ["templates/*"]' in pyproject and '"jinja2>=3.1"' in pyproject
