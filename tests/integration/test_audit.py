"""memscope audit: known answers for every measure, tiny models trained here, the Hugging Face path, bad input."""
import json
import math
import re
import string

import numpy as np
import pytest
import torch

from memscope.audit.core import audit, read_samples
from memscope.errors import MemscopeError
from memscope.models.load import load_lm
from memscope.measure import exposure, extraction, membership, memorization
from memscope.tasks import make_task
from memscope.train import build_run_config, train

from helpers import save_tiny_gpt2

SCHEDULE = {"learning_rate": "3e-3", "warmup_steps": "50"}
RANDOM = {"task.vocab_size": "16", "recall_prompts": "8"}


def _train(tmp_path_factory, task, preset, **overrides):
    steps = overrides["steps"]
    rc = build_run_config(task, preset, {**SCHEDULE, "lr_decay_steps": steps, "eval_interval": steps,
                                         **overrides})
    out = tmp_path_factory.mktemp("runs") / task
    train(rc, out)
    return out, rc.make_task()


def _write(path, texts):
    path.write_text("".join(t + "\n" for t in texts))
    return path


def _one_line_error(code, out, err, needle):
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


# ------------------------------------------------------------------------------- metrics, known answers
def test_auc_of_separated_and_identical_scores():
    roc = membership.roc_curve([3, 4, 5], [0, 1, 2])
    assert membership.auc(roc) == 1.0 and membership.tpr_at_fpr(roc, 0.01) == 1.0
    assert membership.auc(membership.roc_curve([1, 1, 1], [1, 1])) == 0.5
    assert membership.auc(membership.roc_curve([0, 1], [2, 3])) == 0.0
    # Mann-Whitney: member 2 beats non-member 1 and ties 2 (half), member 0 beats none -> 1.5 / 4
    assert membership.auc(membership.roc_curve([2, 0], [1, 2])) == pytest.approx(0.375)


def test_tpr_at_fpr_and_best_f1_on_a_hand_made_example():
    members = [0.9, 0.8, 0.7, 0.3]
    nonmembers = [0.85, 0.2, 0.1, 0.05, 0.0] * 20  # 100 non-members, 20 of them at 0.85
    roc = membership.roc_curve(members, nonmembers)
    # above 0.85 only the 0.9 member: TPR 1/4 at FPR 0; the next threshold costs 20% FPR and then every
    # member is above the remaining non-members
    assert membership.tpr_at_fpr(roc, 0.01) == 0.25 and membership.tpr_at_fpr(roc, 0.001) == 0.25
    # LiRA reads FPR strictly below x: at x = 0.2 = 20/100 the 20 false positives are not below it
    assert membership.tpr_at_fpr(roc, 0.2) == 0.25 and membership.tpr_at_fpr(roc, 0.201) == 1.0
    # best F1: threshold 0.3 catches all 4 members with 20 false positives -> 8/28; threshold 0.9 -> 2/5
    assert membership.best_f1(roc, 4, 100) == pytest.approx(2 / 5)
    m = membership.attack_metrics(members, nonmembers)
    assert m["auc"] == pytest.approx((1.0 + 3 * 0.8) / 4)  # the 0.9 member beats all, the others 80%


def test_zlib_ratio_and_min_k():
    text = "abcabcabcabcabcabcabcabc"
    bits = 8 * len(__import__("zlib").compress(text.encode(), 9))
    assert membership.zlib_bits(text) == bits
    assert membership.zlib_ratio(2.5, text) == pytest.approx(2.5 / bits)  # mean bits per token / zlib bits
    nll = torch.tensor([1.0, 5.0, 2.0, 8.0, 0.5, 3.0, 4.0, 6.0, 7.0, 9.0])  # 10 tokens: k = 20% = 2
    assert membership.min_k_logprob_bits(nll) == pytest.approx(-(9.0 + 8.0) / 2)
    assert membership.min_k_logprob_bits(torch.tensor([2.0, 4.0])) == -4.0  # at least one token


def test_memorized_bits_clip_at_zero_and_uniform_reference():
    assert memorization.clipped_memorized_bits(np.array([10.0, 70.0]), np.array([64.0, 64.0])).tolist() == [54.0, 0.0]
    assert memorization.uniform_nll_bits(np.array([16]), 16).tolist() == [64.0]


def test_exposure_on_a_hand_made_ranking():
    assert exposure.exposure_from_rank_bits(1, 1024) == 10.0
    assert exposure.exposure_from_rank_bits(1024, 1024) == 0.0
    # the canary (2.0) among the candidates: two more likely, itself, and a tie that counts against it
    assert exposure.rank_of(2.0, np.array([1.0, 2.0, 3.0, 0.5, 2.0])) == 4
    score = lambda texts: np.array([float(int(t[-2:])) for t in texts])  # noqa: E731  "pin 00" most likely
    rows = exposure.canary_exposure(score, [{"text": "pin 00", "format": "pin {dd}"},
                                            {"text": "pin 99", "format": "pin {dd}"},
                                            {"text": "pin 49", "format": "pin {dd}"}], torch.Generator())
    assert [r["rank"] for r in rows] == [1, 100, 50]
    assert rows[0]["exposure_bits"] == pytest.approx(math.log2(100)) and rows[1]["exposure_bits"] == 0.0
    assert all(r["method"].startswith("exact") and r["n_candidates"] == 100 for r in rows)


def test_estimated_exposure_agrees_with_the_exact_rank():
    """Digit-sum scores over 10^6 candidates: the sampled skew-normal estimate against the exact rank."""
    score = lambda texts: np.array([float(sum(map(int, t))) for t in texts])  # noqa: E731
    canary = "120123"  # digit sum 9: few candidates sum lower
    sums = np.add.outer(np.add.outer(np.arange(10), np.arange(10)).ravel(), np.arange(10)).ravel()  # 3 digits
    exact_rank = int(np.sum(np.add.outer(sums, sums).ravel() <= 9))  # ties count against the canary
    (row,) = exposure.canary_exposure(score, [{"text": canary, "format": "{dddddd}"}],
                                      torch.Generator().manual_seed(0), max_candidates=4000)
    assert row["method"].startswith("estimated: skew-normal") and row["rank"] is None
    exact_bits = exposure.exposure_from_rank_bits(exact_rank, 10 ** 6)
    assert row["exposure_bits"] == pytest.approx(exact_bits, abs=1.0)
    assert row["sampled_exposure_bits"] == pytest.approx(exact_bits, abs=1.0)


def test_canary_formats():
    positions = exposure.parse_format("id {dh}-{?}", alphabet="xy")
    assert positions == ("i", "d", " ", string.digits, string.digits + "abcdef", "-", "xy")
    assert exposure.n_candidates(positions) == 10 * 16 * 2
    cands = exposure.enumerate_candidates(positions)
    assert cands[exposure.candidate_index("id 7c-y", positions)] == "id 7c-y"
    assert exposure.fits("id 7c-y", positions) and not exposure.fits("id 7g-y", positions)
    for bad in ("pin {dd", "pin {}", "pin {q}", "pin {?}", "pin }"):
        with pytest.raises(MemscopeError):
            exposure.parse_format(bad)


def test_extraction_split_and_greedy_on_a_known_model():
    assert extraction.split_lengths(100) == (32, 32)
    assert extraction.split_lengths(16) == (8, 8) and extraction.split_lengths(2) == (1, 1)
    # a "model" whose next token is always (last token + 1) mod 10
    logits_fn = lambda idx: torch.nn.functional.one_hot((idx + 1) % 10, 10).float()  # noqa: E731
    greedy = lambda p, n: extraction.greedy_continue(logits_fn, p, n, 4, torch.device("cpu"))  # noqa: E731
    rows = extraction.extract(greedy, [[0, 1, 2, 3, 4], [0, 1, 2, 3, 7], [0, 5]])
    assert rows[0]["exact"] and rows[0]["generated"] == [3, 4]
    assert not rows[1]["exact"] and rows[1]["token_match"] == 0.5 and rows[2] is None
    assert extraction.extraction_rates(rows) == {"n": 2, "exact_match_rate": 0.5, "token_match_rate": 0.75,
                                                 "n_exact": 1}


def test_tfidf_rarity_and_spearman():
    rarity = memorization.tfidf_rarity([[1, 1], [1, 2], [1, 3]])
    assert rarity[0] < rarity[1] == rarity[2]
    assert memorization.spearman([1, 2, 3, 4], [10, 20, 30, 40])["rho"] == pytest.approx(1.0)
    assert memorization.spearman([1, 1, 1], [1, 2, 3])["rho"] is None


def test_sample_files_plain_and_jsonl(tmp_path):
    assert read_samples(_write(tmp_path / "a.txt", ["abc", "", "  de f"]), "members") == ["abc", "  de f"]
    rows = [json.dumps({"text": "x y"}), json.dumps({"text": "z", "id": 3})]
    assert read_samples(_write(tmp_path / "b.txt", rows), "members") == ["x y", "z"]
    with pytest.raises(MemscopeError, match="line 2: no non-empty"):
        read_samples(_write(tmp_path / "c.jsonl", [json.dumps({"text": "a"}), json.dumps({"txt": "b"})]), "members")


def test_canaries_task_inserts_each_canary_its_repeats():
    task = make_task("canaries", {"n_sequences": 50, "repeats": (1, 3, 9), "held_out": 2, "seed": 4})
    lines = task.lines()
    assert [lines.count(c + "\n") for c in task.canaries] == [1, 3, 9]
    assert all(c + "\n" not in lines for c in task.held_out_canaries) and len(task.held_out_canaries) == 2
    assert len(lines) == 50 + 13 and task.sequences == make_task("random-tokens", {
        "n_sequences": 50, "vocab_size": 10, "seed": 4}).sequences
    assert task.canary_records()[0] == {"text": task.canaries[0], "format": "pin {dddd}"}
    assert all(task.text[s] == "\n" and s + task.block_size < len(task.text) for s in task.window_starts())
    assert set("0123456789pin \n") == set(task.vocab.chars)


# ------------------------------------------------------------------------------- memscope models trained here
@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """64 random 16-symbol strings and a model with ~7k parameters: memorizes them all."""
    run, task = _train(tmp_path_factory, "random-tokens", "n28", **RANDOM, n_sequences="64", n_embd="32", steps="1000",
                        learning_rate="1e-2")
    files = tmp_path_factory.mktemp("samples")
    held_out = make_task("random-tokens", {**task.params(), "seed": 1}).sequences
    return run, _write(files / "members.txt", task.sequences), _write(files / "nonmembers.txt", held_out)


def test_memorized_bits_against_the_uniform_alphabet_code_by_hand(overfit):
    """Each sample's likelihood from the model's own loss (not memscope's scorer) and the uniform code over
    the samples' 16 symbols: memorized bits = max(0, 16 log2 16 - NLL). (The model's 17-token vocabulary,
    the old reference, would add 16 log2(17/16) = 1.4 bits to every sample.)"""
    from memscope.models.load import load_model
    run, members, nonmembers = overfit
    result = audit(run, members, nonmembers)
    assert result.summary["reference"]["alphabet_size"] == 16
    _, task, model, _ = load_model(run, "final", "cpu")
    texts = [r["text"] for r in result.samples]
    ids = torch.tensor([task.vocab.encode("\n" + t) for t in texts])  # (N, 17): BOS + 16 symbols
    with torch.no_grad():
        nll_bits = [16 * model(x[None, :-1], x[None, 1:])[1].item() / math.log(2) for x in ids]
    got = [r["memorized_bits"] for r in result.samples]
    assert got == pytest.approx([max(0.0, 64.0 - b) for b in nll_bits], abs=1e-3)
    assert [r["target_nll_bits"] for r in result.samples] == pytest.approx(nll_bits, rel=1e-5)


def test_overfit_model_is_caught_and_extracted(overfit, cli, tmp_path):
    run, members, nonmembers = overfit
    code, out, err = cli("-q", "audit", "--target", run, "--members", members, "--nonmembers", nonmembers,
                         "--out", tmp_path / "audit", "--json")
    assert code == 0, err
    s = json.loads(out)  # stdout is exactly one JSON object
    for name in ("loss", "reference", "zlib", "min_k"):
        assert s["membership"][name]["auc"] >= 0.95, (name, s["membership"][name])
    assert s["membership"]["loss"]["tpr_at_1pct_fpr"] >= 0.5
    h = s["headline"]  # the strongest attack, its AUC's bootstrap interval, and what it means
    assert h["auc"] == max(m["auc"] for m in s["membership"].values()) and h["auc_interval"][0] > 0.5
    assert "members are distinguishable from non-members" in h["sentence"]
    assert "Strongest attack:" in (tmp_path / "audit" / "report.html").read_text()
    ex = s["extraction"]
    assert ex["splits_used"] == {"8+8": 128}
    assert ex["members"]["exact_match_rate"] >= 0.9 and ex["nonmembers"]["exact_match_rate"] <= 0.05
    mem = s["memorization"]
    assert mem["members"]["mean_bits"] > 40 > 1 > mem["nonmembers"]["mean_bits"]  # of 16 log2 17 = 65.4
    assert "uniform" in s["conventions"]["reference"] and s["conventions"]["n_longer_than_context"]["target"] == 0
    assert len(s["top_memorized"]) == 20 and all(r["member"] for r in s["top_memorized"])
    report = (tmp_path / "audit" / "report.html").read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', report)) == 2
    assert "Extraction" in report and "top memorized" in report and "http" not in report.split("<body>")[1]
    rows = [json.loads(line) for line in (tmp_path / "audit" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 128 and sum(r["member"] for r in rows) == 64
    assert json.loads((tmp_path / "audit" / "audit.json").read_text())["membership"] == s["membership"]


def test_text_output_names_every_section(overfit, cli):
    run, members, nonmembers = overfit
    code, out, err = cli("-q", "audit", "--target", run, "--members", members, "--nonmembers", nonmembers)
    assert code == 0, err
    for needle in ("memorized bits", "membership", "extraction", "rarity", "uniform distribution"):
        assert needle in out


def test_a_model_that_cannot_memorize_gives_chance_auc(tmp_path_factory):
    """20,000 random strings seen about once each by a ~700-parameter model: members and non-members alike.
    3,000 of each keep the AUC's standard error near 0.0075, so +-0.05 is over six of them."""
    run, task = _train(tmp_path_factory, "random-tokens", "n14", **RANDOM, n_sequences="20000", n_embd="8", steps="200",
                       batch_size="128")
    files = tmp_path_factory.mktemp("samples")
    held_out = make_task("random-tokens", {**task.params(), "n_sequences": 3000, "seed": 7}).sequences
    result = audit(run, _write(files / "m.txt", task.sequences[:3000]), _write(files / "n.txt", held_out))
    for name, m in result.summary["membership"].items():
        assert abs(m["auc"] - 0.5) <= 0.05, (name, m)
    mem = result.summary["memorization"]
    assert mem["members"]["mean_bits"] == pytest.approx(mem["nonmembers"]["mean_bits"], abs=0.2)


def test_canary_exposure_unseen_small_repeated_near_maximum(tmp_path_factory, cli_json):
    run, task = _train(tmp_path_factory, "canaries", "n28", n_sequences="128", n_embd="32", steps="800",
                       repeats="1,64", held_out="4")
    files = tmp_path_factory.mktemp("samples")
    canaries = files / "canaries.jsonl"
    canaries.write_text("".join(json.dumps(r) + "\n" for r in task.canary_records()))
    held = make_task("random-tokens", {"n_sequences": 128, "length": 16, "vocab_size": 10, "seed": 5}).sequences
    s = cli_json("-q", "audit", "--target", run, "--members", _write(files / "m.txt", task.sequences),
                 "--nonmembers", _write(files / "n.txt", held), "--canaries", canaries)
    by_text = {c["text"]: c for c in s["exposure"]}
    assert all(c["method"] == "exact: all 10000 candidates ranked" for c in s["exposure"])
    repeated = by_text[task.canaries[1]]
    assert repeated["exposure_bits"] >= 0.9 * repeated["max_exposure_bits"] == pytest.approx(0.9 * math.log2(1e4))
    unseen = [by_text[t]["exposure_bits"] for t in task.held_out_canaries]
    assert np.mean(unseen) < 4 and max(unseen) < 8, unseen


# ------------------------------------------------------------------------------- Hugging Face
@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    """A 1-layer GPT-2 with a character tokenizer (no downloads), context 16."""
    return save_tiny_gpt2(tmp_path_factory.mktemp("hf") / "gpt2-tiny", "\n0123456789abcdef", n_positions=16,
                          n_embd=32)


def test_hf_likelihood_equals_transformers_loss(hf_model):
    from transformers import GPT2LMHeadModel
    lm = load_lm(hf_model, "cpu")
    assert (lm.kind, lm.block_size, lm.vocab_size, lm.bos) == ("hugging face", 16, 19, "<s>")
    (ids,) = lm.encode(["0a1b2c3d"])
    assert ids[0] == 0 and len(ids) == 9
    model = GPT2LMHeadModel.from_pretrained(hf_model, local_files_only=True).eval()
    with torch.no_grad():
        loss_nats = model(torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()  # mean over 8 tokens
    assert float(lm.sequence_nll_bits([ids])[0]) == pytest.approx(8 * loss_nats / math.log(2), rel=1e-5)
    assert lm.decode(lm.greedy([ids[:5]], [3])[0]) == lm.decode(
        model.generate(torch.tensor([ids[:5]]), max_new_tokens=3, do_sample=False)[0, 5:].tolist())


def test_hf_model_audited_through_the_cli(hf_model, cli_json, tmp_path):
    members = _write(tmp_path / "m.txt", ["0123456789abcdef", "fedcba9876543210" * 3, "00ff00ff"])
    nonmembers = _write(tmp_path / "n.jsonl", [json.dumps({"text": t}) for t in ("13579bdf", "2468ace0aa")])
    canaries = tmp_path / "c.jsonl"
    canaries.write_text(json.dumps({"text": "7f", "format": "{dh}"}) + "\n")
    other = save_tiny_gpt2(tmp_path / "gpt2-other", "\n0123456789abcdef", n_positions=16, n_embd=32, seed=1)
    s = cli_json("-q", "audit", "--target", hf_model, "--reference", other, "--members", members,
                 "--nonmembers", nonmembers, "--canaries", canaries, "--out", tmp_path / "out")
    assert s["target"]["kind"] == "hugging face" and s["n_members"] == 3 and s["n_nonmembers"] == 2
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    from transformers import GPT2LMHeadModel
    for name, key in ((hf_model, "target_nll_bits"), (other, "reference_nll_bits")):  # within the context
        model = GPT2LMHeadModel.from_pretrained(name, local_files_only=True).eval()
        for r in (r for r in rows if r["n_tokens"] < 16):
            ids = load_lm(name, "cpu").encode([r["text"]])[0]
            with torch.no_grad():
                loss = model(torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
            assert r[key] == pytest.approx(r["n_tokens"] * loss / math.log(2), rel=1e-5)
    assert s["memorization"]["members"]["total_bits"] == pytest.approx(
        sum(max(0.0, r["reference_nll_bits"] - r["target_nll_bits"]) for r in rows if r["member"]))
    assert s["conventions"]["n_longer_than_context"] == {"target": 1, "reference": 1}  # the 48-character one
    assert s["exposure"][0]["n_candidates"] == 160 and s["exposure"][0]["rank"] >= 1
    assert s["extraction"]["members"]["n"] == 3
    assert (tmp_path / "out" / "report.html").is_file()


# ------------------------------------------------------------------------------- bad input
def test_bad_audit_input_is_one_line(overfit, cli, tmp_path):
    run, members, nonmembers = overfit
    base = ["audit", "--target", run, "--nonmembers", nonmembers]
    empty = _write(tmp_path / "empty.txt", [])
    _one_line_error(*cli(*base, "--members", empty), "holds no samples")
    _one_line_error(*cli(*base, "--members", tmp_path / "nowhere.txt"), "no members file")
    outside = _write(tmp_path / "outside.txt", ["0123456789abcdef", "0123456789abcdeZ"])
    _one_line_error(*cli(*base, "--members", outside), "members sample 2: characters outside the vocabulary: 'Z'")
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    args = ["--members", members, "--nonmembers", nonmembers]
    _one_line_error(*cli("audit", "--target", not_a_model, *args), "is not a model directory")
    (not_a_model / "config.json").write_text('{"colour": "red"}')
    _one_line_error(*cli("audit", "--target", not_a_model, *args), "neither a memscope run nor a Hugging Face")
    _one_line_error(*cli("audit", "--target", tmp_path / "nothing", *args), "no model directory")
    bad_canary = tmp_path / "c.jsonl"
    bad_canary.write_text(json.dumps({"text": "pin 12a", "format": "pin {ddd}"}) + "\n")
    _one_line_error(*cli(*base, "--members", members, "--canaries", bad_canary), "does not fit its format")
    bad_canary.write_text(json.dumps({"text": "0A", "format": "{hA}"}) + "\n")
    _one_line_error(*cli(*base, "--members", members, "--canaries", bad_canary),
                    "canary format '{hA}': characters outside the vocabulary: 'A', 'B'")
    _one_line_error(*cli(*base, "--members", members, "--prefix-tokens", "0"), "--prefix-tokens 0 must lie in [1, 1_048_576]")


def test_hf_directory_without_weights_is_one_line(hf_model, cli, tmp_path, overfit):
    _, members, nonmembers = overfit
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((hf_model / "config.json").read_text())
    _one_line_error(*cli("audit", "--target", broken, "--members", members, "--nonmembers", nonmembers),
                    "memscope loads safetensors only")
