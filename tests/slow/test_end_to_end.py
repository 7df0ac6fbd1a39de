"""End-to-end checks that guard headline results: real training runs of minutes. Run in CI."""
import json
from dataclasses import replace

import pytest

from helpers import assert_claim_schema
from memscope.studies.capacity import recipe as cap

pytestmark = pytest.mark.slow


def test_n14_generalizes_to_the_withheld_pairs(cli_json, tmp_path):
    """The paper's central positive result (Too Big to Think, Table 2): n14 trained on arithmetic with
    the paper's settings (30,000 steps, seed 1337) reaches 40/40 on the four withheld equations, which it
    never saw, while learning the 196 it did see. (Whether it *stays* at 40/40 varies: docs/RESULTS.md.)
    The exact trajectory depends on the CPU's float kernels: on this project's AMD EPYC machine the run first
    reaches 40/40 at step 15,500 and its best checkpoint knows 99.5% of the seen prompts (the same at
    89b5895, before the trainer refactor), where an earlier machine reached 100%."""
    s = cli_json("-q", "train", "--task", "arithmetic", "--model", "n14", "--out", tmp_path / "n14")
    assert s["n_params"] == 1456 and s["steps"] == 30_000 and s["n_evals"] == 121
    assert s["withheld_total"] == 40
    assert s["first_withheld_step"] is not None
    assert s["seen_acc"] >= 0.99 and s["best"]["seen_acc"] >= 0.99


def test_reduced_reproduction_end_to_end(cli, tmp_path):
    out = tmp_path / "tbtt"
    code, stdout, err = cli("-q", "reproduce", "tbtt", "--profile", "tiny", "--seeds", "2", "--out", out,
                            "--executor", "local", "--json")
    assert code == 0, err
    r = json.loads(stdout)
    for name in ("tables.md", "tables.json", "report.html", "figure_arithmetic.png", "figure_capitals.png",
                 "figure_combined.png"):
        assert (out / name).is_file(), name
    back = json.loads((out / "tables.json").read_text())
    assert back["tables"] == r["tables"] and len(back["claims"]) == 5
    assert_claim_schema(r, plumbing=True)
    for c in back["claims"]:  # every verdict states its rule, decided at the best checkpoint
        assert "best checkpoint" in c["rule"] or "best-checkpoint" in c["rule"], c
    w = back["tables"]["arithmetic"]["n28"]["withheld_correct"]
    assert len(w["ci95"]) == 2 and w["ci95"][0] <= w["mean"] <= w["ci95"][1] and len(w["final"]) == 2
    assert set(back["tables"]) == {"arithmetic", "capitals", "combined"}
    cellv = back["tables"]["arithmetic"]["n14"]["add_acc"]
    assert len(cellv["values"]) == 2 and cellv["mean"] == pytest.approx(sum(cellv["values"]) / 2)
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Table 2" in html and "held" in html
    assert "rule (fixed before the runs)" in html and "rule:" in (out / "tables.md").read_text()
    # a rerun trains nothing and rebuilds the same tables
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/model.safetensors")}
    code, stdout, _ = cli("-q", "reproduce", "tbtt", "--profile", "tiny", "--seeds", "2", "--out", out,
                          "--executor", "local", "--json")
    assert code == 0 and json.loads(stdout)["tables"] == r["tables"]
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/model.safetensors")}


def test_quick_recipe_converges_for_one_size_and_two_seeds(tmp_path):
    """The quick profile's recipe at d=8 (1,064 parameters), two seeds: every convergence check passes
    (double budget < 3%, 2x vs 4x cells within 5% on the seed means, 0.5x cell >= 97% of its ceiling), the
    two seeds' capacities agree within 10% (measured: 1,971 and 1,933 bits at the swept rate 0.1, single
    runs scatter by a few percent), and bits per parameter lies where the quick profile put this size
    (1.82)."""
    p = replace(cap.get_profile("quick"), n_embd=(8,), seeds=2)
    r = cap.run_capacity(p, "fp32", tmp_path)
    assert r["converged_share"] == 1.0 and r["sizes"][0]["converged"]
    caps = [c["capacity_bits"] for c in r["capacities"]]
    assert abs(caps[0] - caps[1]) / (sum(caps) / 2) < 0.10
    assert 1.6 < r["bits_per_param"]["total"]["bits_per_param"] < 2.0
