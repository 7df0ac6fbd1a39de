"""`memscope reproduce metamorphic`: the tiny profile end to end through the CLI, a rerun that trains
nothing, and bad input refused in one line before anything is written."""
import json

from helpers import assert_claim_schema


def test_reproduce_metamorphic_tiny_writes_everything_and_resumes(cli, tmp_path):
    out = tmp_path / "m"
    code, stdout, err = cli("reproduce", "metamorphic", "--profile", "tiny", "--out", out, "--executor", "local",
                            "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert [c["name"] for c in result["claims"]] == ["C1", "C2a", "C2b", "C3"]
    # tiny is a plumbing profile: no claim is judged, and with one seed (no interval) no rule holds anyway
    assert_claim_schema(result, plumbing=True)
    assert all(c["reason"] == "plumbing profile; the rule alone reads 'did not hold'" for c in result["claims"])
    assert all(c["interval"] is None and c["statistic"] for c in result["claims"])
    assert (result["study"], result["profile"], result["seeds"], result["n_runs"]) == ("metamorphic", "tiny", 1, 4)
    assert set(result["cells"]) == {"mc-arithmetic", "mc-capitals", "tbtt-n14", "tbtt-n56"}
    nota = result["cells"]["mc-capitals"]["nota"]
    assert set(nota) == {"acc", "acc_norm"} and nota["acc"]["seen"]["drop"]["n"] == 1
    assert set(result["cells"]["tbtt-n56"]) == {"commutation", "negation", "successor", "zero", "pooled"}
    for name in ("report.html", "tables.md", "tables.json"):
        assert (out / name).is_file()
    assert (out / "figure_accuracy.png").stat().st_size > 1000
    assert len(list((out / "metamorphic").glob("*.json"))) == 4
    assert json.loads((out / "tables.json").read_text())["claims"] == result["claims"]
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    assert len(stamps) == 4
    code, stdout2, err = cli("reproduce", "metamorphic", "--profile", "tiny", "--out", out, "--executor", "local",
                             "--json")
    assert code == 0, err
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")} == stamps  # nothing retrained
    assert json.loads(stdout2)["cells"] == result["cells"]  # scoring is deterministic


def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path):
    for args, needle in ((["--profile", "huge"], "unknown profile of study 'metamorphic' 'huge'"),
                         (["--profile", "tiny", "--n-choices", "9"], "--n-choices 9 must lie in [2, 6]"),
                         (["--profile", "tiny", "--n-choices", "three"], "--n-choices 'three' is not a valid int"),
                         (["--profile", "tiny", "--seeds", "0"], "--seeds 0")):
        code, _, err = cli("reproduce", "metamorphic", *args, "--out", tmp_path / "m")
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "m").exists()
