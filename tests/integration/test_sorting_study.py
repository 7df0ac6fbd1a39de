"""`memscope reproduce sorting` end to end on a micro profile: runs, tables, figures, claims, resume."""
import json

from helpers import assert_claim_schema
from memscope.claims import VERDICTS
from memscope.studies.sorting import recipe


def micro(monkeypatch):
    p = recipe.SortingProfile("micro", n_values=6, min_length=2, max_length=3, duplicates=True, withheld_pair=(1, 4),
                              n_embd=(4, 8), n_layer=1, mlp_expansion=1, n_lists=(8, 32), seeds=2, steps=20,
                              batch_size=8, learning_rate=3e-3, measure_lists=8, note="test")
    monkeypatch.setitem(recipe.PROFILES, "micro", p)
    return p


def test_reproduce_sorting_writes_tables_figures_claims_and_resumes(cli, monkeypatch, tmp_path):
    p = micro(monkeypatch)
    out = tmp_path / "s"
    code, stdout, err = cli("-q", "reproduce", "sorting", "--profile", "micro", "--out", out, "--json")
    assert code == 0, err
    r = json.loads(stdout)
    n_runs = len(p.n_embd) * len(p.n_lists) * p.seeds + p.seeds
    assert r["n_runs"] == n_runs and r["estimated_train_s"] > 0
    assert (r["study"], r["profile"], r["seeds"], r["profile_settings"]["n_embd"]) == ("sorting", "micro", 2, [4, 8])
    for key in ("report", "tables_md", "tables_json", "figure_phase", "figure_curves"):
        assert (out / r["files"][key].split("/")[-1]).is_file()
    rows = r["generalization"]["rows"]
    assert set(rows) == {"GPT, learned positions", "GPT, NoPE", "P(next|prev), unconditioned",
                         "P(next|prev) over the input's values", "lookup of the nearest training list"}
    assert rows["lookup of the nearest training list"]["seen"]["em"]["mean"] == 1.0
    assert len(rows["GPT, NoPE"]["longer"]["em"]["values"]) == p.seeds
    assert [c["name"] for c in r["claims"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert all(c["verdict"] in VERDICTS and c["verdict"] != "not established" and c["rule"] for c in r["claims"])
    assert_claim_schema(r, plumbing=False)  # a micro profile, not a plumbing one: its rules decide
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["records"]) == n_runs and len(saved["baselines"]) == p.seeds and saved["claims"] == r["claims"]
    assert [s["n_embd"] for s in r["switch"]] == [4, 8]
    tables = json.loads((out / "tables.json").read_text())
    assert len(tables["cells"]) == len(p.n_embd) * len(p.n_lists)
    assert "Switch per model size" in (out / "tables.md").read_text()
    # a rerun trains nothing and gives the same figures
    mtimes = {d.name: (d / "model.safetensors").stat().st_mtime_ns for d in (out / "runs").iterdir() if d.is_dir()
              and (d / "model.safetensors").exists()}
    assert len(mtimes) == n_runs
    code, stdout2, _ = cli("-q", "reproduce", "sorting", "--profile", "micro", "--out", out, "--json")
    r2 = json.loads(stdout2)
    assert code == 0 and r2["claims"] == r["claims"]
    assert (r2["estimated_train_s"], r2["train_wall_s"]) == (r["estimated_train_s"], r["train_wall_s"])
    assert mtimes == {n: (out / "runs" / n / "model.safetensors").stat().st_mtime_ns for n in mtimes}


def test_unknown_profile_is_one_line_exit_2(cli, tmp_path):
    code, out, err = cli("reproduce", "sorting", "--profile", "huge", "--out", tmp_path / "o")
    assert code == 2 and "unknown profile of study 'sorting' 'huge'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
