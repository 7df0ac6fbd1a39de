"""The forgetting study's known answers: exposure counts equal the sampler's schedule, replay feeds its share,
a never-inserted canary sits at the uniform-rank mean and a heavily inserted one at maximum exposure, the
stem scorer equals plain scoring; a bad profile is one line. The tiny study end to end: tests/slow/test_forgetting_study.py."""
import json
import math
import statistics

import numpy as np
import pytest
import torch

from memscope import store
from memscope.models.gpt import GPT
from memscope.models.lm import LanguageModel
from memscope.runconfig import build_run_config
from memscope.studies.forgetting import recipe
from memscope.train import train
from memscope.monitors.memory import stem_score_fn

TINY = recipe.PROFILES["tiny"]


def _counts(run_dir):
    return store.read_json(run_dir / "exposures.json", "exposures")["phases"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The tiny profile's smallest model, seed 0, without replay and with r = 0.25."""
    root = tmp_path_factory.mktemp("fg")
    out = {}
    for r in (0.0, 0.25):
        rc = recipe.run_config(TINY, TINY.sizes[0], 0, r)
        train(rc, root / str(r))
        out[r] = (rc, root / str(r))
    return out


def test_exposure_counts_per_line_equal_the_samplers_schedule(two_runs):
    rc, run_dir = two_runs[0.25]
    p1, p2 = _counts(run_dir)
    canaries, facts, arithmetic = (t["counts"] for t in p1["tasks"])
    E1, E2 = TINY.epochs_phase1, TINY.epochs_phase2
    assert set(canaries) == {E1} and set(facts) == {E1 * TINY.facts_repeats}
    assert set(arithmetic) == {E1 * TINY.arithmetic_repeats}
    task = rc.phases[0].tasks[0].make()
    lines = task.lines()
    for text, d in zip(task.canaries, task.repeats):  # a canary inserted d times: d x E1 rows in phase 1
        assert sum(c for line, c in zip(lines, canaries) if line == text + "\n") == d * E1
    for text in task.held_out_canaries:
        assert text + "\n" not in lines
    new_filler, new_facts = p2["tasks"][0]["counts"], p2["tasks"][1]["counts"]
    assert set(new_filler) == {E2} and set(new_facts) == {E2 * TINY.facts_repeats}


def test_replay_zero_feeds_no_phase1_line_and_r_feeds_r(two_runs):
    rc0, dir0 = two_runs[0.0]
    p2 = _counts(dir0)[1]
    phase1_specs = {(t.task, json.dumps(t.params, sort_keys=True)) for t in rc0.phases[0].tasks}
    assert len(p2["tasks"]) == 2
    assert not {(t.task, json.dumps(t.params, sort_keys=True)) for t in rc0.phases[1].tasks} & phase1_specs
    rc, run_dir = two_runs[0.25]
    p2 = _counts(run_dir)[1]
    rows = [sum(t["counts"]) for t in p2["tasks"]]
    share = sum(rows[2:]) / sum(rows)
    # rows per epoch are rounded per replay task: within 3 rows per epoch of r exactly
    assert abs(share - 0.25) <= 3 * TINY.epochs_phase2 / sum(rows)
    # phase-1 lines come back in their phase-1 proportions (canaries, facts, arithmetic)
    p1_rows = [sum(t["counts"]) for t in _counts(run_dir)[0]["tasks"]]
    assert np.allclose(np.array(rows[2:]) / sum(rows[2:]), np.array(p1_rows) / sum(p1_rows), atol=0.05)


def test_phase1_is_the_same_with_and_without_replay(two_runs):
    h0 = store.read_metrics(two_runs[0.0][1] / store.METRICS)
    h1 = store.read_metrics(two_runs[0.25][1] / store.METRICS)
    end = store.read_json(two_runs[0.0][1] / store.SUMMARY, "s")["phases"][0]["steps"]
    a = [h for h in h0 if h["step"] <= end]
    b = [h for h in h1 if h["step"] <= end]
    drop = lambda h: {k: v for k, v in h.items() if k != "wall_s"}  # noqa: E731
    assert [drop(h) for h in a] == [drop(h) for h in b]
    assert len(a[-1]["canaries.exposure_bits"]) == len(TINY.repeats) * TINY.canaries_per_repeat


def test_never_inserted_canaries_sit_at_the_uniform_rank_mean_and_a_heavily_inserted_one_at_the_maximum(tmp_path):
    n_held = 40
    params = {"tagged": "true", "secret_digits": "2", "repeats": "48", "held_out": str(n_held), "n_sequences": "32",
              "length": "8", "sampler": "epochs", "epochs": "50", "batch_size": "16", "n_embd": "32",
              "n_head": "2", "mlp_expansion": "4", "learning_rate": "1e-2", "warmup_steps": "10",
              "lr_decay_steps": "250", "eval_interval": "1000", "callbacks": "memory", "train.seed": "1", "task.seed": "1"}
    rc = build_run_config("canaries", "n14", params)
    train(rc, tmp_path / "run")
    last = store.read_metrics(tmp_path / "run" / store.METRICS)[-1]
    assert last["canaries.max_exposure_bits"] == pytest.approx(math.log2(100))
    assert last["canaries.exposure_bits"] == [pytest.approx(math.log2(100))]  # rank 1 of 100
    assert last["canaries.extracted"] == [1]
    held = last["canaries.held_out_exposure_bits"]
    # uniform rank over 100 candidates: mean log2 100 - log2(100!)/100 = 1.39 bits, sd from the distribution
    exact = [math.log2(100) - math.log2(r) for r in range(1, 101)]
    mean, sd = statistics.fmean(exact), statistics.pstdev(exact)
    assert abs(statistics.fmean(held) - mean) < 3.5 * sd / math.sqrt(n_held)
    assert sum(last["canaries.held_out_extracted"]) <= 2  # 1% each by chance


def test_stem_scoring_equals_plain_scoring():
    rc = recipe.run_config(TINY, TINY.sizes[0], 0, 0.0)
    gpt = GPT(rc.model, torch.Generator().manual_seed(0)).eval()
    lm = LanguageModel.from_gpt(gpt, rc.vocab())
    task = rc.phases[0].tasks[0].make()
    fmt_texts = [task.prefix_of(task.canaries[0]) + f"{i:02d}" for i in range(100)] + ["pin 12", "pin 1"]
    plain = lm.sequence_nll_bits(lm.encode(fmt_texts)).numpy()
    assert np.allclose(stem_score_fn(lm)(fmt_texts), plain, atol=1e-4)


@pytest.mark.parametrize("argv, needle", [
    (["--profile", "nope"], "unknown profile of study 'forgetting' 'nope'"),
    (["--profile", "tiny", "--seeds", "0"], "seeds"),
    (["--profile", "tiny", "--executor", "mpi"], "--executor 'mpi' must be one of pool, local, ray"),
    (["--profile", "tiny", "--precision", "bf16"], "--precision is not an option of study 'forgetting'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, argv, needle):
    code, out, err = cli("reproduce", "forgetting", *argv, "--out", tmp_path / "o")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and out == ""
    assert not (tmp_path / "o").exists()
