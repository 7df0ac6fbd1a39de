"""`memscope reproduce forgetting --profile tiny` end to end: every output, claims with verdicts, and a rerun
that trains nothing (about 15 s alone, 30 s on a loaded machine)."""
import json

import pytest

from helpers import assert_claim_schema
from memscope.studies.forgetting import recipe

TINY = recipe.PROFILES["tiny"]
pytestmark = pytest.mark.slow


def test_tiny_study_end_to_end_and_a_rerun_trains_nothing(tmp_path, cli):
    out = tmp_path / "fg"
    code, stdout, err = cli("-q", "reproduce", "forgetting", "--profile", "tiny", "--out", out, "--json")
    assert code == 0, err
    r = json.loads(stdout)
    assert {c["name"] for c in r["claims"]} >= {"duplication", "few", "forget", "replay", "skill", "rare"}
    # tiny is a plumbing profile: every claim reads not established, the rule's own verdict kept in the reason
    assert_claim_schema(r, plumbing=True)
    assert all(c["threshold"] == 0.0 and c["statistic"] for c in r["claims"])
    for name in ("report", "results", "tables", "exposure_vs_d", "forgetting_curves", "retention_vs_replay",
                 "facts_vs_skill"):
        assert (out / r["files"][name].split("/")[-1]).is_file()
    assert r["phase1_identical_across_r"] is True
    metrics = sorted((out / "runs").glob("*/metrics.jsonl"))
    assert len(metrics) == len(TINY.sizes) * len(TINY.replay_shares) * TINY.seeds
    before = {p: p.stat().st_mtime_ns for p in metrics}
    code, stdout2, err = cli("-q", "reproduce", "forgetting", "--profile", "tiny", "--out", out, "--json")
    assert code == 0, err
    assert {p: p.stat().st_mtime_ns for p in metrics} == before
    assert json.loads(stdout2)["claims"] == r["claims"]
