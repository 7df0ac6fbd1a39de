"""memscope export: a run leaves as a Hugging Face GPT-2 directory with logits equal to memscope's."""
import json

import pytest
import torch

from memscope.models.load import load_model

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import memscope
    d = tmp_path_factory.mktemp("export") / "run"
    # trained until its answers are clear: sampling at temperature 0.01 then picks the same tokens from
    # either generator (the run's own step, or step 0 for a Hugging Face directory)
    memscope.train(task="arithmetic", model="n14", out=d, steps=1500, eval_interval=1500, batch_size=64,
                   eval_samples=1, warmup_steps=100, lr_decay_steps=1500, **{"model.bias": True})
    return d


def test_export_loads_in_transformers_with_equal_logits_and_token_ids(cli_json, run, tmp_path):
    r = cli_json("-q", "export", run, "--out", tmp_path / "hf")
    assert r["architecture"] == "GPT2LMHeadModel" and "model.safetensors" in r["files"]
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True,
                                                               use_safetensors=True).eval()
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf", local_files_only=True)
    rc, task, gpt, _ = load_model(run, device="cpu")
    texts = ["\n" + line.rstrip("\n") for line in task.lines()[:64]]  # BOS, then the line
    for text in texts:
        assert tok(text, add_special_tokens=False)["input_ids"] == rc.vocab().encode(text)
        assert tok.decode(rc.vocab().encode(text)) == text
    x = torch.tensor([rc.vocab().encode(t) for t in texts if len(t) == len(texts[0])])
    with torch.no_grad():
        # within 1e-5 (absolute, plus 1e-5 relative: trained logits reach tens, where float32 steps are ~2e-6)
        torch.testing.assert_close(model(x).logits, gpt(x)[0], rtol=1e-5, atol=1e-5)


def test_the_exported_model_predicts_every_token_the_run_predicts(run, tmp_path):
    """Greedy next-token predictions over every line of the task (the answers included) agree token for
    token, so any accuracy computed from them agrees too."""
    from memscope.export import export_run
    export_run(run, tmp_path / "hf")
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True,
                                                               use_safetensors=True).eval()
    rc, task, gpt, _ = load_model(run, device="cpu")
    lines = ["\n" + line.rstrip("\n") for line in task.lines()]
    x = torch.tensor([rc.vocab().encode(t) for t in lines if len(t) == len(lines[0])])
    with torch.no_grad():
        assert torch.equal(model(x).logits.argmax(-1), gpt(x)[0].argmax(-1))


def test_bad_exports_are_one_line_and_write_nothing(cli, run, tmp_path):
    import memscope
    nope = tmp_path / "nope"
    memscope.train(task="arithmetic", model="n14", out=nope, steps=20, eval_interval=20, batch_size=16,
                   eval_samples=1, warmup_steps=2, lr_decay_steps=20, pos_encoding="none")
    for argv, needle in ((["export", nope, "--out", tmp_path / "a"], "NoPE model has no GPT-2 counterpart"),
                         (["export", run, "--out", tmp_path / "b", "--format", "onnx"], "unknown export format"),
                         (["export", run, "--out", run], "exists")):
        code, out, err = cli(*argv)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory left
    assert json.loads((run / "config.json").read_text())  # the run itself untouched
