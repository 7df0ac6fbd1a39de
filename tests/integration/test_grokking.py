"""The grokking monitors in real training runs (modular and TBTT arithmetic), and `memscope reproduce grokking`."""
import json
import math

import pytest

from helpers import assert_claim_schema
from memscope import store
from memscope.train import build_run_config, train

MONITOR_KEYS = {"train_nll_bits", "heldout_nll_bits", "train_greedy_acc", "heldout_greedy_acc", "memorized_bits",
                "memorized_clipped_bits", "capacity_utilization"}


def test_monitors_in_a_modular_run(tmp_path):
    rc = build_run_config("modular", "n14", {
        "p": "11", "train_fraction": "0.5", "n_embd": "16", "n_head": "2", "sampler": "epochs", "epochs": "40",
        "batch_size": "60", "learning_rate": "1e-2", "min_lr": "1e-2", "warmup_steps": "0", "lr_decay_steps": "0",
        "eval_interval": "20", "callbacks": "memorization,fourier,weight_norm", "seed": "3"})
    summary = train(rc, tmp_path / "run")
    history = store.read_metrics(tmp_path / "run" / store.METRICS)
    assert [h["step"] for h in history] == [0, 20, 40]
    for h in history:
        assert MONITOR_KEYS | {"fourier_top5_share", "weight_norm"} <= set(h)
        assert all(math.isfinite(h[k]) for k in MONITOR_KEYS)
        assert 0 < h["fourier_top5_share"] <= 1
    # 40 full-batch steps at lr 1e-2 fit part of the training pairs: the gap opens
    assert history[-1]["train_greedy_acc"] > history[0]["train_greedy_acc"]
    assert history[-1]["memorized_bits"] > history[0]["memorized_bits"]
    assert history[-1]["memorized_clipped_bits"] >= history[-1]["memorized_bits"]
    assert summary["bits_per_param"] > 0 and summary["bits_per_param_source"]
    util = history[-1]["memorized_bits"] / (summary["n_params_total"] * summary["bits_per_param"])
    assert history[-1]["capacity_utilization"] == pytest.approx(util)


def test_memorization_monitor_on_tbtt_arithmetic_uses_the_withheld_equations(tmp_path):
    rc = build_run_config("arithmetic", "n14", {"steps": "20", "batch_size": "32", "eval_interval": "20",
                                                 "callbacks": "memorization,weight_norm"})
    train(rc, tmp_path / "run")
    last = store.read_metrics(tmp_path / "run" / store.METRICS)[-1]
    assert MONITOR_KEYS <= set(last) and "fourier_top5_share" not in last
    # capitals has no held-out items: no reference, no figures
    rc = build_run_config("capitals", "n14", {"steps": "10", "batch_size": "8", "eval_interval": "10",
                                               "callbacks": "memorization"})
    train(rc, tmp_path / "cap")
    assert not MONITOR_KEYS & set(store.read_metrics(tmp_path / "cap" / store.METRICS)[-1])


def test_reproduce_grokking_tiny_writes_everything_and_resumes(cli, tmp_path):
    out = tmp_path / "g"
    code, stdout, err = cli("reproduce", "grokking", "--profile", "tiny", "--seeds", "2", "--out", out,
                            "--executor", "local", "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert [c["name"] for c in result["claims"]] == ["C1", "C2", "C3", "C4"]
    assert_claim_schema(result, plumbing=True)  # a plumbing profile judges nothing
    assert (result["study"], result["profile"], result["seeds"]) == ("grokking", "tiny", 2)
    assert {s["weight_decay"] for s in result["settings"]} == {0.0, 1.0}
    assert (out / "report.html").is_file() and (out / "tables.md").is_file()
    for name in ("accuracy", "memorized", "utilization", "weight_norm", "fourier"):
        assert (out / f"figure_{name}.png").stat().st_size > 1000
    saved = json.loads((out / "tables.json").read_text())
    assert saved["claims"] == result["claims"] and saved["n_runs"] == 4
    # a rerun trains nothing: every run's summary stays as it was
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    assert len(stamps) == 4
    assert cli("reproduce", "grokking", "--profile", "tiny", "--seeds", "2", "--out", out, "--executor", "local")[0] == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")} == stamps


def test_unknown_profile_is_one_line_exit_2(cli, tmp_path):
    code, out, err = cli("reproduce", "grokking", "--profile", "huge", "--out", tmp_path / "g")
    assert code == 2 and "unknown profile of study 'grokking' 'huge'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g").exists()
