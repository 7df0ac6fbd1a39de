"""Known answers for the published conventions (issue 12): each test fails under the convention it replaced."""
import json
import math
import zlib

import numpy as np
import pytest
import torch
from scipy import stats

from memscope import sizing
from memscope.measure import capacity, exposure, extraction, likelihood, membership, memorization

CPU = torch.device("cpu")


# ------------------------------------------------------------------------------- canary exposure
def test_a_model_uniform_over_the_candidates_gives_exposure_zero():
    """Secret Sharer / TF-Privacy: ties count against the canary, so equal likelihoods give rank |R|."""
    flat = lambda texts: np.full(len(texts), 7.0)  # noqa: E731
    rows = exposure.canary_exposure(flat, [{"text": "pin 42", "format": "pin {dd}"}], torch.Generator())
    assert rows[0]["rank"] == 100 and rows[0]["exposure_bits"] == 0.0  # old convention: rank 1, 6.64 bits
    (est,) = exposure.canary_exposure(flat, [{"text": "pin 4242", "format": "pin {dddd}"}],
                                      torch.Generator().manual_seed(0), max_candidates=500)
    assert est["sampled_exposure_bits"] == 0.0 and est["exposure_bits"] == 0.0  # k = S: old -log2(1/501)
    assert "same NLL" in est["method"]


def test_rank_counts_ties_against_the_canary():
    nll = np.array([1.0, 3.0, 3.0, 3.0, 5.0])  # the canary is one of the three at 3.0
    assert exposure.rank_of(3.0, nll) == 4  # old: 1 + #{< 3} = 2
    assert exposure.exposure_from_rank_bits(exposure.rank_of(3.0, nll), 5) == pytest.approx(math.log2(5 / 4))
    assert exposure.sampled_exposure_bits(3.0, np.array([3.0, 3.0, 4.0])) == pytest.approx(-math.log2(3 / 4))


def test_skew_normal_exposure_reads_the_true_cdf_of_skew_normal_data():
    """Candidates' NLLs drawn from a known skew-normal: the fitted exposure is -log2 of the true CDF."""
    a, loc, scale = 5.0, 40.0, 6.0
    sampled = stats.skewnorm.rvs(a, loc, scale, size=20_000, random_state=np.random.default_rng(0))
    for p, tol in ((0.5, 0.1), (1e-2, 0.25), (1e-4, 0.6)):  # the tail is extrapolated: wider there
        x = stats.skewnorm.ppf(p, a, loc, scale)
        assert exposure.skewnorm_exposure_bits(x, sampled) == pytest.approx(-math.log2(p), abs=tol), p


# ------------------------------------------------------------------------------- membership metrics
def test_a_null_attacks_best_f1_equals_its_chance_floor():
    m, n = 30, 50
    metrics = membership.attack_metrics(np.zeros(m), np.zeros(n))  # every score tied: accept-all or nothing
    assert metrics["best_f1_chance"] == pytest.approx(2 * m / (2 * m + n)) == pytest.approx(60 / 110)
    assert metrics["best_f1"] == pytest.approx(metrics["best_f1_chance"])
    assert metrics["best_f1"] > 0.5  # the old comparison with 0.5 called this leakage
    rng = np.random.default_rng(1)
    noise = membership.attack_metrics(rng.normal(size=2000), rng.normal(size=2000))
    assert noise["best_f1_chance"] == pytest.approx(2 / 3)
    assert 2 / 3 <= noise["best_f1"] < 2 / 3 + 0.02


def test_tpr_at_fpr_is_read_strictly_below_x_where_n_x_is_whole():
    """100 non-members, one above every member but one: FPR 1/100 = 0.01 exactly, not below 1%."""
    members = [10.0, 5.0, 4.0, 3.0]
    nonmembers = [6.0] + [0.0] * 99
    roc = membership.roc_curve(members, nonmembers)
    assert membership.tpr_at_fpr(roc, 0.01) == 0.25  # LiRA: fpr < 0.01 leaves only the 10.0 member
    assert membership.tpr_at_fpr(roc, 0.0101) == 1.0  # old `<=` gave 1.0 at 0.01
    m = membership.attack_metrics(members, nonmembers)
    assert m["tpr_at_1pct_fpr"] == 0.25 and m["fpr_resolution"] == 0.01
    assert m["tpr_at_1pct_fpr_is_at_zero_fpr"] and m["tpr_at_0.1pct_fpr_is_at_zero_fpr"]
    big = membership.attack_metrics(members, [0.0] * 1001)
    assert not big["tpr_at_0.1pct_fpr_is_at_zero_fpr"] and not big["tpr_at_1pct_fpr_is_at_zero_fpr"]
    assert "TPR at 1% and 0.1% FPR is the TPR at 0 FPR" in membership.fpr_caveat(100)
    assert "0 FPR" not in membership.fpr_caveat(1001)
    with pytest.raises(ValueError):
        membership.tpr_at_fpr(roc, 0.0)


def test_zlib_attack_divides_the_mean_nll_per_token_on_variable_length_samples():
    short, long = "0123456789", "0123456789" * 10
    z_short, z_long = 8 * len(zlib.compress(short.encode(), 9)), 8 * len(zlib.compress(long.encode(), 9))
    token_nll = [torch.full((10,), 3.0), torch.full((100,), 1.0)]  # totals 30 and 100 bits
    scores = membership.attack_scores(token_nll, [short, long], np.zeros(2))["zlib"]
    assert scores.tolist() == pytest.approx([-3.0 / z_short, -1.0 / z_long])
    # Carlini et al.: the long, predictable sample is the likelier member; total bits / zlib said the opposite
    assert scores[1] > scores[0] and 100.0 / z_long > 30.0 / z_short


# ------------------------------------------------------------------------------- uniform reference
def test_the_uniform_reference_is_over_the_datas_alphabet():
    texts = ["0123", "9999", "0"]
    assert memorization.data_alphabet(texts) == "012399"[:5] == "01239"
    assert memorization.alphabet_uniform_nll_bits(texts).tolist() == pytest.approx(
        [4 * math.log2(5), 4 * math.log2(5), math.log2(5)])
    assert memorization.uniform_code_bits(16, 10) == pytest.approx(16 * math.log2(10))
    assert memorization.uniform_code_bits(7, 1) == 0.0


# ------------------------------------------------------------------------------- sliding-window likelihood
def test_sliding_window_likelihood_by_hand():
    """A logits function that puts logit t on token 1 at window position t: p(1) = sigmoid(t). A BOS and
    nine 1s with block 4: windows (0,4) score targets 1-4 at positions 0-3, (2,6) targets 5-6 at 2-3,
    (4,8) targets 7-8 at 2-3, (5,9) target 9 at 3 (stride 2: each target after the first window sees at
    least 2 tokens of context)."""
    def logits_fn(idx):
        t = torch.arange(idx.size(1), dtype=torch.float32).expand(idx.size(0), -1)
        return torch.stack([torch.zeros_like(t), t], dim=-1)  # (B, T, 2)

    positions = [0, 1, 2, 3, 2, 3, 2, 3, 3]
    expected = [-math.log2(1 / (1 + math.exp(-t))) for t in positions]
    (got,) = likelihood.token_nll_bits(logits_fn, [[0] + [1] * 9], 4, CPU)
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    assert float(likelihood.sequence_nll_bits(logits_fn, [[0] + [1] * 9], 4, CPU)[0]) == pytest.approx(sum(expected))


# ------------------------------------------------------------------------------- extraction
def test_extraction_with_a_prefix_longer_than_the_context():
    """A model that repeats the first token of its window: with block 4 the window is the prefix's last 4
    tokens, so [.., 6, 7, 8, 9] continues 6, 7, 8 (conditioning on the whole prefix would give 0, 0, 0)."""
    def logits_fn(idx):
        return torch.nn.functional.one_hot(idx[:, :1].expand_as(idx), 10).float()

    assert extraction.greedy_continue(logits_fn, [list(range(10))], [3], 4, CPU) == [[6, 7, 8]]
    greedy = lambda p, n: extraction.greedy_continue(logits_fn, p, n, 4, CPU)  # noqa: E731
    (row,) = extraction.extract(greedy, [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 6, 7, 8]], prefix_tokens=9, suffix_tokens=3)
    assert row["prefix_tokens"] == 9 and row["exact"] and row["generated"] == [6, 7, 8]


# ------------------------------------------------------------------------------- capacity fit errors
def test_pooled_and_with_intercept_standard_errors_match_independent_fits():
    rng = np.random.default_rng(3)
    x = np.array([200.0, 500.0, 1000.0, 2500.0, 6600.0] * 2)
    y = 1.6 * x + rng.normal(0, 150, size=x.size)
    b0, se0 = capacity.slope_through_origin(x.tolist(), y.tolist())
    coef, rss, *_ = np.linalg.lstsq(x[:, None], y, rcond=None)
    assert b0 == pytest.approx(coef[0]) and se0 == pytest.approx(math.sqrt(rss[0] / (x.size - 1) / (x @ x)))
    b1, a1, se1 = capacity.slope_with_intercept(x.tolist(), y.tolist())
    lr = stats.linregress(x, y)
    assert (b1, a1, se1) == pytest.approx((lr.slope, lr.intercept, lr.stderr))
    fit = capacity.fit_bits_per_param({0: list(zip(x[:5].astype(int), y[:5])), 1: list(zip(x[5:].astype(int), y[5:]))})
    lo, hi = fit["pooled_with_intercept"]["ci95"]
    assert (hi - lo) / 2 == pytest.approx(stats.t.ppf(0.975, x.size - 2) * lr.stderr)
    lo, hi = fit["pooled_through_origin"]["ci95"]
    assert (hi - lo) / 2 == pytest.approx(stats.t.ppf(0.975, x.size - 1) * se0)


# ------------------------------------------------------------------------------- memscope size
def _results(path, share, bpp=2.0):
    body = {"profile": {"name": "quick"}, "precision": "fp32", "bits_per_param": {"total": {"bits_per_param": bpp}}}
    if share is not None:
        body["converged_share"] = share
    path.write_text(json.dumps(body))
    return path


def test_size_uses_only_a_converged_capacity_result(tmp_path):
    bpp, source = sizing.bits_per_param_source(_results(tmp_path / "a.json", 0.95))
    assert bpp == 2.0 and "95% of its sizes converged" in source
    for share in (None, 0.5):
        bpp, source = sizing.bits_per_param_source(_results(tmp_path / "b.json", share, bpp=1.54))
        assert bpp == sizing.MORRIS_BITS_PER_PARAM and "not converged" in source and "1.54" in source
    none = tmp_path / "c.json"  # a sweep where no size converged has no fit at all
    none.write_text(json.dumps({"profile": {"name": "quick"}, "converged_share": 0.0,
                                "bits_per_param": {"total": None, "non_embedding": None}}))
    bpp, source = sizing.bits_per_param_source(none)
    assert bpp == sizing.MORRIS_BITS_PER_PARAM and "no size converged" in source


def test_size_regime_tests_tokens_per_parameter_first_on_compressible_text(tmp_path, monkeypatch):
    """'abab...': 8,000 characters hold about 200 bits, which 80 parameters can store; at 100 characters
    per parameter the attack is still at chance (the old rule said memorize-all)."""
    monkeypatch.chdir(tmp_path)
    r = sizing.size_dataset(text="abab" * 2000, params=80)
    p = r["at_params"]
    assert p["tokens_per_param"] == 100 and p["dataset_bits_per_capacity"] < 1
    assert p["regime"] == "chance" and "BPE" in p["prediction"]
    assert sizing.membership_regime(10.0, 50.0, 20.0)["regime"] == "memorize-all"
    assert "0.5" not in sizing.format_size(r).replace("F1 has chance 0.5", "")


def test_auc_interval_and_headline_known_answers():
    """Separated scores: AUC 1 and an interval at 1; identical scores: AUC 0.5 and an interval around it;
    the headline picks the strongest attack and says whether the interval clears chance."""
    sep = membership.auc_interval(np.arange(10, 20.0), np.arange(10.0), seed=0)
    assert sep == (1.0, 1.0)
    same = membership.auc_interval(np.zeros(30), np.zeros(30), seed=0)
    assert same == (0.5, 0.5)
    noisy = membership.auc_interval(np.random.default_rng(1).normal(0, 1, 40),
                                    np.random.default_rng(2).normal(0, 1, 40), seed=0)
    assert noisy[0] < 0.5 < noisy[1]
    assert membership.auc_interval([1.0], [0.0, 1.0]) is None
    metrics = {"loss": {"auc": 0.9, "tpr_at_1pct_fpr": 0.4}, "zlib": {"auc": 0.6, "tpr_at_1pct_fpr": 0.1}}
    h = membership.headline(metrics, {"loss": (0.8, 0.97), "zlib": (0.45, 0.75)})
    assert h["attack"] == "loss" and "distinguishable" in h["sentence"] and "not" not in h["sentence"]
    h = membership.headline({"loss": {"auc": 0.55, "tpr_at_1pct_fpr": 0.0}}, {"loss": (0.4, 0.7)})
    assert "not distinguishable" in h["sentence"]
