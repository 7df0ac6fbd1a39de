"""Hugging Face model directories: loaded through one checked function (no code from the directory ever
runs, causal LMs with safetensors weights only, no special files, stdin never read), one prompt convention
per model used by eval, sample, audit and metamorphic alike, and texts the tokenizer cannot represent
refused rather than scored as something else. Every model is a tiny GPT-2 built here."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from memscope.audit.core import audit
from memscope.errors import MemscopeError
from memscope.metamorphic.core import option_logliks, score_paired
from memscope.metamorphic.items import PairedItem
from memscope.models.lm import LanguageModel
from memscope.models.load import load_lm
from memscope.runs import eval_model, sample_run
from memscope.tasks import make_task

from helpers import save_tiny_gpt2

pytest.importorskip("transformers")

ARITH = make_task("arithmetic")
TIMEOUT_S = 120


def _one_line_error(code, out, err, needle):
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("hf") / "gpt2-arith", ARITH.vocab.chars, n_positions=32)


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    d = tmp_path_factory.mktemp("items")
    (d / "members.txt").write_text("1+2=3\n4+4=8\n9-3=6\n")
    (d / "nonmembers.txt").write_text("2+2=4\n7-1=6\n")
    (d / "paired.jsonl").write_text(json.dumps({"original": "1+2=", "rewritten": "2+1=", "answer_original": "3",
                                                "answer_rewritten": "3", "relation": "swap"}) + "\n")
    return d


def _copy(model, dest):
    shutil.copytree(model, dest)
    return dest


def _edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def _memscope(args, stdin="y\n" * 20):
    """`python -m memscope ARGS` in a subprocess whose stdin answers yes to any question."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-m", "memscope", *map(str, args)], input=stdin, capture_output=True,
                       text=True, env=env, timeout=TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


# --------------------------------------------------------------------------------------- remote code
def _remote_code_dir(hf_model, tmp_path, where="config"):
    """The tiny model with an auto_map pointing at a Python file that leaves a marker if it ever runs."""
    d = _copy(hf_model, tmp_path / f"remote-{where}")
    marker = tmp_path / f"EXECUTED-{where}"
    (d / "evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                               "from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast\n"
                               "class EvilConfig(GPT2Config):\n    model_type = 'evil-gpt2'\n"
                               "class EvilModel(GPT2LMHeadModel):\n    config_class = EvilConfig\n"
                               "class EvilTokenizer(PreTrainedTokenizerFast):\n    pass\n")
    if where == "config":
        _edit_config(d, model_type="evil-gpt2", architectures=["EvilModel"],  # unknown: transformers asks
                     auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"})
    else:
        tc = json.loads((d / "tokenizer_config.json").read_text())
        tc["auto_map"] = {"AutoTokenizer": [None, "evil.EvilTokenizer"]}
        tc["tokenizer_class"] = "EvilTokenizer"
        (d / "tokenizer_config.json").write_text(json.dumps(tc))
    return d, marker


@pytest.mark.parametrize("where", ["config", "tokenizer"])
def test_remote_code_is_refused_and_never_runs_even_when_stdin_says_yes(hf_model, items, tmp_path, where):
    d, marker = _remote_code_dir(hf_model, tmp_path, where)
    out = tmp_path / "out"
    for args in (["audit", "--target", d, "--members", items / "members.txt", "--nonmembers",
                  items / "nonmembers.txt", "--out", out],
                 ["eval", d, "--task", "arithmetic"],
                 ["sample", d, "--prompt", "1+1="],
                 ["metamorphic", "--target", d, "--items", items / "paired.jsonl"],
                 ["audit", "--target", hf_model, "--reference", d, "--members", items / "members.txt",
                  "--nonmembers", items / "nonmembers.txt"]):
        code, stdout, err = _memscope(args)
        _one_line_error(code, stdout, err, "auto_map")
        assert "memscope never runs code from a model directory" in err
        assert not marker.exists(), f"code from the model directory ran: {args}"
        assert not out.exists()


def test_loader_never_reads_stdin(hf_model, monkeypatch):
    class Exploding:
        def __getattr__(self, name):
            raise AssertionError(f"stdin read ({name})")
    monkeypatch.setattr(sys, "stdin", Exploding())
    assert load_lm(hf_model, "cpu").kind == "hugging face"
    assert isinstance(sys.stdin, Exploding)  # restored


# ------------------------------------------------------------------------- not a causal LM, no weights
@pytest.mark.parametrize("changes,needle", [
    ({"model_type": "no-such-model"}, "model_type 'no-such-model' is not a causal language model"),
    ({"model_type": ["gpt2"]}, "model_type must be a non-empty string"),
    ({"architectures": ["GPT2ForSequenceClassification"]},
     "architecture 'GPT2ForSequenceClassification' is not a causal language model"),
    ({"architectures": "GPT2LMHeadModel"}, "architectures must be a list of class names"),
    ({"n_layer": 2}, "do not cover"),  # weights of one layer for a model of two
    ({"n_layer": 20000, "n_embd": 4096}, "declares a model of"),  # refused before it is built (minutes, GBs)
])
def test_directories_that_are_not_a_known_causal_lm_are_one_line(hf_model, items, tmp_path, cli, changes, needle):
    d = _copy(hf_model, tmp_path / "m")
    _edit_config(d, **changes)
    out = tmp_path / "out"
    _one_line_error(*cli("audit", "--target", d, "--members", items / "members.txt", "--nonmembers",
                         items / "nonmembers.txt", "--out", out), needle)
    _one_line_error(*cli("eval", d, "--task", "arithmetic"), needle)
    _one_line_error(*cli("sample", d, "--prompt", "1+1="), needle)
    assert not out.exists()


def test_a_special_file_in_the_directory_is_refused_without_blocking(hf_model, items, tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    d = _copy(hf_model, tmp_path / "m")
    (d / "tokenizer.json").unlink()
    os.mkfifo(d / "tokenizer.json")  # reading it would block forever
    code, out, err = _memscope(["sample", d, "--prompt", "1+1="])
    _one_line_error(code, out, err, "is not a regular file")


def test_safetensors_are_required(hf_model, tmp_path, cli):
    d = _copy(hf_model, tmp_path / "m")
    (d / "model.safetensors").rename(d / "model.bin")
    _one_line_error(*cli("sample", d, "--prompt", "1+1="), "memscope loads safetensors only")


# -------------------------------------------------------------------------------- one prompt convention
class _Spy:
    """Records the ids every scoring and generating entry point of LanguageModel receives."""

    def __init__(self, monkeypatch):
        self.sampled, self.greedy, self.scored = [], [], []
        for name, log in (("sample", self.sampled), ("greedy", self.greedy), ("token_nll_bits", self.scored),
                          ("sequence_nll_bits", self.scored)):
            original = getattr(LanguageModel, name)

            def spy(lm, seqs, *a, _original=original, _log=log, **kw):
                _log.append([list(s) for s in seqs])
                return _original(lm, seqs, *a, **kw)
            monkeypatch.setattr(LanguageModel, name, spy)


def test_one_text_gets_the_same_ids_and_likelihood_through_every_command(hf_model, monkeypatch):
    prompt = ARITH.eval_suites()[0].prompts[0].text  # what `memscope eval` gives the model first
    lm = load_lm(hf_model, "cpu")
    ids = lm.encode([prompt])[0]
    assert ids[0] == lm.bos_id == 0 and ids[1:] == lm.tokenize([prompt])[0]  # "<s>": GPT-2 adds none itself
    assert lm.prompt_ids([prompt]) == [ids]
    spy = _Spy(monkeypatch)

    eval_model(hf_model, "arithmetic", n_samples=1, device="cpu")  # memscope eval
    assert spy.sampled[0][0] == ids
    sample_run(hf_model, prompt, n=1, max_new_tokens=2, device="cpu")  # memscope sample
    assert spy.sampled[-1] == [ids]
    result = audit(hf_model, [prompt, "1+1=2"], ["3+3=6"])  # memscope audit
    assert spy.scored[0][0] == ids
    audit_bits = result.samples[0]["target_nll_bits"]
    score_paired(lm, [PairedItem(prompt, prompt, "0", "0", "swap")], {}, from_task=False)  # metamorphic
    assert spy.greedy[-1][0] == ids

    # the likelihood: audit's, metamorphic's (log P(" " + x | BOS) of an option after an empty question),
    # and that of the ids eval and sample prompted with, all one number
    text = " " + prompt
    nats = option_logliks(lm, [("", prompt)])["", prompt]
    assert spy.scored[-1] == [lm.encode([text])[0]]
    bits = audit(hf_model, [text, "1+1=2"], ["3+3=6"]).samples[0]["target_nll_bits"]
    assert -nats / torch.log(torch.tensor(2.0)).item() == pytest.approx(bits, rel=1e-6)
    assert lm.sequence_nll_bits([spy.sampled[0][0]]).item() == pytest.approx(audit_bits, rel=1e-9)


def test_sample_works_on_a_hugging_face_directory(hf_model, cli_json, cli):
    s = cli_json("-q", "sample", hf_model, "--prompt", "1+2=", "--n", "3", "--max-new-tokens", "4")["samples"]
    assert len(s) == 3 and all(t.startswith("1+2=") for t in s)
    assert cli_json("-q", "sample", hf_model, "--prompt", "1+2=", "--n", "3", "--max-new-tokens", "4")["samples"] == s
    _one_line_error(*cli("sample", hf_model, "--prompt", "1+2=", "--weights", "best"), "memscope runs only")


def _bos_adding_model(tmp_path):
    """A tiny GPT-2 whose tokenizer puts its own token ("<bos>", not its bos_token "<s>") before a text, as
    Llama's does: the convention is that token, once, never doubled."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    path = save_tiny_gpt2(tmp_path / "llama-like", ARITH.vocab.chars, n_positions=32)
    vocab = {t: i for i, t in enumerate(["<s>", "<unk>", *ARITH.vocab.chars])}
    vocab["<bos>"] = vocab.pop(ARITH.vocab.chars[-1])  # ">"'s id: the model's embedding stays the same size
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<s>",
                                                     unk_token="<unk>", additional_special_tokens=["<bos>"])
    tokenizer.save_pretrained(path)
    return path, vocab["<bos>"]


def test_a_tokenizer_that_adds_its_own_bos_is_followed(tmp_path):
    path, bos = _bos_adding_model(tmp_path)
    lm = load_lm(path, "cpu")
    assert lm.bos_id == bos and lm.bos == "<bos>"
    ids = lm.encode(["1+2="])[0]
    assert ids[0] == bos and bos not in ids[1:]
    assert lm.prompt_ids(["1+2="]) == [ids]


# ----------------------------------------------------------------------------- texts it cannot represent
def test_unrepresentable_text_is_refused_not_scored(hf_model, items, tmp_path, cli):
    lm = load_lm(hf_model, "cpu")
    with pytest.raises(MemscopeError, match="cannot represent 'ééé'"):
        lm.encode(["ééé"])
    with pytest.raises(MemscopeError, match="members sample 2: .*cannot represent"):
        audit(hf_model, ["1+1=2", "ééé"], ["3+3=6"])
    members = tmp_path / "members.txt"
    members.write_text("1+1=2\nééé\n")
    out = tmp_path / "out"
    _one_line_error(*cli("audit", "--target", hf_model, "--members", members, "--nonmembers",
                         items / "nonmembers.txt", "--out", out), "cannot represent 'ééé'")
    assert not out.exists()
    paired = tmp_path / "paired.jsonl"  # metamorphic: an item whose rewrite holds a character it drops
    paired.write_text(json.dumps({"original": "1+1=", "rewritten": "1+1\u2028=", "answer_original": "2",
                                  "answer_rewritten": "2", "relation": "swap"}) + "\n")
    _one_line_error(*cli("metamorphic", "--target", hf_model, "--items", paired, "--out", out),
                    "cannot represent '1+1\\u2028='")
    _one_line_error(*cli("sample", hf_model, "--prompt", "é1+"), "cannot represent")
    assert not out.exists()
