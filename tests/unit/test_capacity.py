"""Capacity (Morris et al. 2025): known answers for the estimator, plateau and fit on synthetic numbers,
convergence rule, the recipe end to end on a micro grid, and the command's bad input."""
import json
import math
from dataclasses import replace

import pytest
import torch

from memscope.studies.capacity import recipe as cap
from memscope.train.callbacks import convergence_step
from memscope.measure.capacity import (ceiling_bits, dataset_memorization, fit_bits_per_param,
                                       plateau, sequence_ids)
from memscope.measure.stats import t_quantile as t975
from memscope.models.gpt import GPT
from memscope.tasks import make_task
from memscope.train import build_run_config

CPU = torch.device("cpu")


def _task(n=32, length=16, vocab=16, seed=0):
    return make_task("random-tokens", {"n_sequences": n, "length": length, "vocab_size": vocab, "seed": seed})


def _empirical_logits_fn(task, one_hot_scale: float | None = None):
    """A fake model that has memorized the dataset as well as possible given only the BOS: each next token
    gets probability (sequences with this prefix and that token) / (sequences with this prefix). With a
    single sequence that is probability 1 on the right token (one_hot_scale: logits of +scale / -scale)."""
    seqs = sequence_ids(task)
    V = len(task.vocab)
    counts: dict[tuple, torch.Tensor] = {}
    for s in seqs:
        for t in range(1, len(s)):
            counts.setdefault(tuple(s[:t]), torch.zeros(V))[s[t]] += 1

    def logits_fn(idx):
        out = torch.full((*idx.shape, V), -1e4)
        for b, row in enumerate(idx.tolist()):
            for t in range(len(row)):
                c = counts.get(tuple(row[: t + 1]))
                if c is not None:
                    out[b, t] = torch.where(c > 0, c.log(), torch.tensor(-1e4))
        return out
    return logits_fn


# ----------------------------------------------------------------------------- estimator known answers
def test_untrained_model_stores_about_zero_bits():
    """A fresh GPT is near uniform over its 17 tokens (16 symbols + the BOS), so it stores slightly less
    than nothing: exactly N*S*log2(16/17) for a model with all-zero logits, and about that at init."""
    task = _task()
    zero = dataset_memorization(lambda idx: torch.zeros(*idx.shape, 17), task, CPU)
    assert zero.signed_bits == pytest.approx(32 * 16 * math.log2(16 / 17), rel=1e-5)
    assert zero.clipped_bits == 0.0
    rc = build_run_config("random-tokens", "n14", {"n_sequences": "32", "n_embd": "16", "n_layer": "1"})
    model = GPT(rc.model, generator=torch.Generator().manual_seed(0))
    mem = dataset_memorization(lambda idx: model(idx)[0], task, CPU)
    assert abs(mem.signed_bits) < 0.05 * mem.entropy_bits
    assert mem.clipped_bits < 0.02 * mem.entropy_bits


def test_probability_one_on_the_sequence_stores_all_its_bits():
    task = _task(n=1, length=24)
    mem = dataset_memorization(_empirical_logits_fn(task), task, CPU)
    assert mem.entropy_bits == 24 * 4
    assert mem.signed_bits == pytest.approx(mem.entropy_bits, abs=1e-6)
    assert mem.clipped_bits == pytest.approx(mem.entropy_bits, abs=1e-6)
    assert mem.loss_bits_per_token == pytest.approx(0.0, abs=1e-9)


def test_a_perfect_memorizer_of_n_sequences_reaches_the_ceiling_not_the_entropy():
    """Given only the BOS, the best any model can do is 1/N per sequence: N*(S*log2 V - log2 N) bits."""
    task = _task(n=40)
    mem = dataset_memorization(_empirical_logits_fn(task), task, CPU)
    assert mem.ceiling_bits == pytest.approx(ceiling_bits(40, 64.0)) == pytest.approx(40 * (64 - math.log2(40)))
    assert mem.signed_bits == pytest.approx(mem.ceiling_bits, abs=1e-3)
    assert mem.signed_bits < mem.entropy_bits


@pytest.mark.parametrize("seed", range(4))
def test_never_more_than_the_dataset_entropy(seed):
    task = _task(n=20, seed=seed)
    g = torch.Generator().manual_seed(seed)
    scale = [0.1, 3.0, 30.0, 300.0][seed]
    mem = dataset_memorization(lambda idx: scale * torch.randn(*idx.shape, 17, generator=g), task, CPU)
    assert mem.signed_bits <= mem.clipped_bits <= mem.ceiling_bits <= mem.entropy_bits


def test_the_bos_is_context_and_every_symbol_is_scored():
    task = _task(n=3, length=5)
    ids = sequence_ids(task)
    assert all(len(s) == 6 and task.vocab.decode(s[:1]) == "\n" for s in ids)
    assert dataset_memorization(lambda idx: torch.zeros(*idx.shape, 17), task, CPU).loss_bits_per_token == \
        pytest.approx(math.log2(17))


# ----------------------------------------------------------------------------- plateau, fit, convergence
def test_plateau_is_the_max_over_n_and_says_whether_it_was_reached():
    rising_then_flat = [(8, 100.0), (16, 180.0), (32, 200.0), (64, 196.0), (128, 150.0)]
    p = plateau(rising_then_flat)
    assert (p.capacity_bits, p.at_n_sequences, p.reached) == (200.0, 32, True)
    assert p.plateau_mean_bits == pytest.approx((200 + 196) / 2)
    assert plateau([(8, 100.0), (16, 150.0), (32, 180.0)]).reached is False  # still rising at the edge
    assert plateau([(8, 100.0), (16, 176.0), (32, 180.0)]).reached is True  # levelled off within 5%


def test_capacities_exactly_proportional_give_that_slope_with_a_tight_interval():
    params = [219, 485, 1064, 2509, 6622]
    caps = {seed: [(p, 3.6 * p) for p in params] for seed in range(3)}
    fit = fit_bits_per_param(caps)
    assert fit["bits_per_param"] == pytest.approx(3.6)
    assert fit["ci95"][1] - fit["ci95"][0] < 1e-9
    assert fit["pooled_through_origin"]["bits_per_param"] == pytest.approx(3.6)
    inter = fit["pooled_with_intercept"]
    assert inter["bits_per_param"] == pytest.approx(3.6) and inter["intercept_bits"] == pytest.approx(0, abs=1e-6)


def test_noisy_capacities_give_an_interval_around_the_slope():
    g = torch.Generator().manual_seed(0)
    params = [300, 1000, 3000, 10000, 30000]
    caps = {s: [(p, 2.0 * p * (1 + 0.05 * float(torch.randn(1, generator=g)))) for p in params] for s in range(5)}
    fit = fit_bits_per_param(caps)
    lo, hi = fit["ci95"]
    assert lo < 2.0 < hi and hi - lo < 0.4 and fit["n_seeds"] == 5
    assert fit_bits_per_param({0: [(100, 250.0), (200, 500.0)]})["ci95"] is None  # one seed: no interval


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706, abs=1e-3) and t975(4) == pytest.approx(2.776, abs=1e-3)
    assert t975(1000) == pytest.approx(1.962, abs=1e-3)


def test_convergence_is_the_trainers_early_stop_rule():
    falling = [(s, 3.0 / (1 + s / 100)) for s in range(100, 2100, 100)]
    assert convergence_step(falling, patience=4, rel_tol=0.01) is None
    flat = [(0, None), (250, 2.0), (500, 1.5), (750, 1.49), (1000, 1.495), (1250, 1.489), (1500, 1.488)]
    # best before the last 4 is 1.5 (after step 500); 1.488 is only 0.8% better: stop at step 1500
    assert convergence_step(flat, patience=4, rel_tol=0.01) == 1500
    assert convergence_step(flat, patience=4, rel_tol=0.005) is None
    assert convergence_step(flat, patience=0, rel_tol=0.01) is None


# ----------------------------------------------------------------------------- the recipe
MICRO = cap.CapacityProfile(
    name="micro", vocab_size=8, length=8, n_embd=(3, 6), n_layer=1, mlp_expansion=1,
    n_sequences=(4, 8, 16, 32, 64), expected_bits_per_param=1.5, ratio_from=0.5, points_per_size=2, seeds=2,
    steps=60, learning_rate=1e-2, warmup_steps=5, eval_interval=20, stop_patience=2, stop_rel_tol=0.5,
    heldout_sequences=16)


def test_profiles_span_30x_in_parameters_and_cross_capacity():
    for name in ("quick", "paper"):
        p = cap.get_profile(name)
        params = [cap.n_params(cap.run_config(p, d, p.n_sequences[0], 0, "fp32"), "total") for d in p.n_embd]
        assert len(params) >= 5 and max(params) / min(params) >= 30 and p.seeds >= 2
        for n in params:
            grid = cap.dataset_grid(p, n)
            ratios = [g * p.length * math.log2(p.vocab_size) / (p.expected_bits_per_param * n) for g in grid]
            assert len(grid) >= 4 and ratios[0] < 1 < ratios[-1]


def test_capacity_recipe_end_to_end_and_rerun_skips_finished_runs(tmp_path):
    r = cap.run_capacity(MICRO, "fp32", tmp_path)
    assert r["runs"] == len(r["records"]) == 2 * 2 * 2
    for rec in r["records"]:
        assert rec["memorized_bits"] <= rec["memorized_clipped_bits"] <= rec["ceiling_bits"] <= rec["dataset_bits"]
        assert rec["steps_trained"] <= 60 and isinstance(rec["converged"], bool)
        assert rec["heldout_loss_bits_per_token"] > 0
    assert {c["size"] for c in r["capacities"]} == {"d3-l1", "d6-l1"}
    assert set(r["bits_per_param"]) == {"total", "non_embedding"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["bits_per_param"] == r["bits_per_param"] and saved["paper"]["bits_per_param_fp32"] == 3.83
    for name in ("report.html", "report.md", *cap_report_figures()):
        assert (tmp_path / name).stat().st_size > 500
    html = (tmp_path / "report.html").read_text()
    assert "3.83" in html and "3.51" in html and "data:image/png;base64," in html
    weights = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/model.safetensors")}
    assert len(weights) == 8
    (tmp_path / "report.html").unlink()
    again = cap.run_capacity(MICRO, "fp32", tmp_path)
    assert again["bits_per_param"] == r["bits_per_param"] and (tmp_path / "report.html").is_file()
    assert {p: p.stat().st_mtime_ns for p in weights} == weights  # nothing retrained


def cap_report_figures():
    from memscope.studies.capacity.report import FIGURES
    return FIGURES.values()


def test_interrupted_sweep_finishes_only_the_missing_runs(tmp_path):
    small = replace(MICRO, n_embd=(3,), seeds=1)
    cap.run_capacity(small, "fp32", tmp_path)
    runs = sorted((tmp_path / "runs").iterdir())
    kept = runs[0] / "model.safetensors"
    before = kept.stat().st_mtime_ns
    for f in runs[1].iterdir():  # a run that never started
        f.unlink()
    cap.run_capacity(small, "fp32", tmp_path)
    assert kept.stat().st_mtime_ns == before and (runs[1] / "summary.json").is_file()


@pytest.mark.parametrize("argv, needle", [
    (["capacity", "--profile", "huge"], "unknown capacity profile 'huge'"),
    (["capacity", "--precision", "fp16"], "--precision 'fp16' must be fp32 or bf16"),
    (["capacity", "--seeds", "0"], "--seeds 0 must be at least 1"),
])
def test_capacity_bad_input_is_one_line_and_exit_2(cli, argv, needle, tmp_path):
    code, out, err = cli(*argv, "--out", tmp_path / "c")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and out == ""
    assert not (tmp_path / "c").exists()
