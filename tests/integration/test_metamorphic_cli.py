"""memscope metamorphic end to end: a memscope run's task relations, the HTML report, bad input, and the
Hugging Face path (multiple choice and paired) on a tiny GPT-2 made here."""
import json
import math

import pytest
import torch

from memscope.metamorphic.core import option_logliks
from memscope.models.load import load_lm
from memscope.train import build_run_config, train

from helpers import save_tiny_gpt2


@pytest.fixture(scope="module")
def arith_run(tmp_path_factory):
    """An arithmetic run of a few steps: the pipeline, not the model, is under test here."""
    rc = build_run_config("arithmetic", "n14", {"steps": "4", "eval_interval": "4", "warmup_steps": "1",
                                                "lr_decay_steps": "4", "task.withheld": "5,7"})
    out = tmp_path_factory.mktemp("runs") / "arith"
    train(rc, out)
    return out


def _one_line_error(code, out, err, needle):
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err, err


def test_task_relations_and_report(arith_run, cli, cli_json, tmp_path):
    s = cli_json("-q", "metamorphic", "--target", arith_run)
    assert s["format"] == "task" and list(s["relations"]) == ["commutation", "negation", "successor", "zero"]
    com = s["relations"]["commutation"]
    assert com["n"] == 90 and com["metrics"]["exact_match"]["by_seen"]["held_out"]["n"] == 2  # 5+7, 7+5
    out = tmp_path / "report"
    s = cli_json("-q", "metamorphic", "--target", arith_run, "--relations", "negation", "--out", out)
    assert list(s["relations"]) == ["negation"] and set(s["files"]) == {"results", "items", "report"}
    page = (out / "report.html").read_text()
    assert "negation: a-b rewritten b-a" in page and "data:image/png;base64" in page
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert len(rows) == 90 and {"output_original", "consistent", "seen"} <= set(rows[0])
    code, text, _ = cli("metamorphic", "--list")
    assert code == 0 and "nota-distractor" in text and "applies to arithmetic" in text


def test_bad_input_is_one_line_and_writes_nothing(arith_run, cli, tmp_path):
    out = tmp_path / "never"
    _one_line_error(*cli("metamorphic", "--target", arith_run, "--relations", "template", "--out", out),
                    "does not apply to 'arithmetic'")
    _one_line_error(*cli("metamorphic", "--target", arith_run, "--relations", "swap", "--out", out),
                    "unknown relation 'swap'; known:")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "1+1=", "choices": ["2", "3"], "answer": 5}\n')
    _one_line_error(*cli("metamorphic", "--target", arith_run, "--items", bad, "--out", out), f"{bad}:1:")
    bad.write_text('{"question": "1+1=", "choices": ["2", "None of the other answers"], "answer": 0}\n')
    _one_line_error(*cli("metamorphic", "--target", arith_run, "--items", bad, "--out", out), "already has")
    bad.write_text('{"question": "1+1=", "choices": ["2", "3"], "answer": 0}\n'
                   '{"question": "Capital of France?", "choices": ["2", "3"], "answer": 0}\n')
    _one_line_error(*cli("metamorphic", "--target", arith_run, "--items", bad, "--relations", "shuffle", "--out",
                         out), f"{bad}:2: characters outside the vocabulary")
    _one_line_error(*cli("metamorphic", "--target", arith_run, "--items", bad, "--out", out),
                    f"{bad}:1: characters outside the vocabulary")  # "None of the other answers" itself
    _one_line_error(*cli("metamorphic", "--out", out), "--target is required")
    assert not out.exists()


CHARS = "\n 0123456789+-=?abcdefghijklmnopqrstuvwxyzN"


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("hf") / "gpt2-tiny", CHARS, n_positions=64, n_embd=16)


def test_hf_option_loglik_equals_transformers(hf_model):
    from transformers import GPT2LMHeadModel
    lm = load_lm(hf_model, "cpu")
    ll = option_logliks(lm, [("1+2= ", "3"), ("1+2=", "none of them")])
    model = GPT2LMHeadModel.from_pretrained(hf_model, local_files_only=True).eval()
    # the harness moves a context's trailing space into the continuation: "1+2=" + "  3" (3 tokens)
    for (q, c), text, n_cont in ((("1+2= ", "3"), "1+2=  3", 3), (("1+2=", "none of them"), "1+2= none of them", 13)):
        ids = lm.encode([text])[0]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
        want = sum(logp[t - 1, ids[t]].item() for t in range(len(ids) - n_cont, len(ids)))
        assert ll[q, c] == pytest.approx(want, rel=1e-5)


def test_hf_multiple_choice_and_paired_through_the_cli(hf_model, cli, cli_json, tmp_path):
    mc = tmp_path / "mc.jsonl"
    mc.write_text("".join(json.dumps({"question": f"{a}+{a}=", "choices": [str(2 * a), "x", "yz"], "answer": 0,
                                      "seen": a < 3}) + "\n" for a in range(5)))
    s = cli_json("-q", "metamorphic", "--target", hf_model, "--items", mc, "--out", tmp_path / "mc")
    assert s["kind"] == "hugging face" and list(s["relations"]) == ["shuffle", "nota", "nota-distractor"]
    m = s["relations"]["nota"]["metrics"]
    assert set(m) == {"acc", "acc_norm"} and m["acc"]["all"]["n"] == 5 and "gap_seen" in m["acc"]
    assert len((tmp_path / "mc" / "items.jsonl").read_text().splitlines()) == 15
    paired = tmp_path / "paired.jsonl"
    paired.write_text("".join(json.dumps({"original": f"{a}+1=", "rewritten": f"1+{a}=", "answer_original": str(a + 1),
                                          "answer_rewritten": str(a + 1), "relation": "swap"}) + "\n"
                              for a in range(4)))
    s = cli_json("-q", "metamorphic", "--target", hf_model, "--items", paired)
    em = s["relations"]["swap"]["metrics"]["exact_match"]["all"]
    assert em["n"] == 4 and em["consistency"]["value"] is not None and "by_seen" not in s["relations"]["swap"]
    code, out, err = cli("metamorphic", "--target", hf_model)
    assert code == 2 and "give --items" in err
    code, out, err = cli("metamorphic", "--target", hf_model, "--items", paired, "--relations", "other")
    assert code == 2 and "'other' is not in" in err


@pytest.mark.parametrize("task, settings, relation, n", [
    ("capitals", {"task.templates": "3", "task.template_countries": "10"}, "template", 50),
    ("sorting", {"task.n_lists": "40", "task.eval_lists": "6", "task.max_length": "4"}, "permutation", 12),
])
def test_capitals_templates_and_sorting_runs(tmp_path, cli_json, task, settings, relation, n):
    rc = build_run_config(task, "n14", {"steps": "2", "eval_interval": "2", "warmup_steps": "1",
                                        "lr_decay_steps": "2", **settings})
    train(rc, tmp_path / task)
    s = cli_json("-q", "metamorphic", "--target", tmp_path / task)
    entry = s["relations"][relation]
    assert list(s["relations"]) == [relation] and entry["n"] == n
    groups = entry["metrics"]["exact_match"]
    if task == "capitals":  # every original is seen; the held-out template was seen for the first 10
        assert "by_seen" not in groups and groups["by_rewritten_seen"]["seen"]["n"] == 10
    else:
        assert groups["by_seen"]["seen"]["n"] == 6 and groups["by_seen"]["held_out"]["n"] == 6
