"""One model interface: a memscope GPT and a Hugging Face causal LM sample through LanguageModel.sample, and
`memscope eval` runs a task's protocol on either."""
import pytest
import torch

from memscope.config import ModelConfig
from memscope.evaluate import eval_generator, evaluate
from memscope.models.generate import sample_tokens
from memscope.models.gpt import GPT
from memscope.models.lm import LanguageModel
from memscope.models.load import load_lm
from memscope.tasks import make_task

from helpers import save_tiny_gpt2


def _one_line_error(code, out, err, needle):
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def arithmetic():
    return make_task("arithmetic")


@pytest.fixture(scope="module")
def hf_arithmetic(tmp_path_factory, arithmetic):
    """A tiny random GPT-2 over the arithmetic task's characters, context 16 (shorter than prompt + answer
    in the greedy test, so the sliding context is exercised)."""
    return save_tiny_gpt2(tmp_path_factory.mktemp("hf") / "gpt2-arith", arithmetic.vocab.chars, n_positions=16)


def _gpt(task, dropout: float = 0.0):
    cfg = ModelConfig(vocab_size=len(task.vocab), block_size=8, n_embd=16, n_head=2, dropout=dropout)
    return GPT(cfg, torch.Generator().manual_seed(0))


def test_gpt_as_language_model_samples_what_sample_tokens_samples(arithmetic):
    gpt = _gpt(arithmetic, dropout=0.1)
    gpt.train()  # as the trainer hands it over: sampling must run in eval mode and leave it training
    prompts = [arithmetic.vocab.encode(t) for t in ("<1+2=", "<3-", "<9+9=", "<")]
    args = dict(n_samples=7, max_new_tokens=12, temperature=1.0, top_k=5)  # 13+ tokens: past block_size 8
    expected = sample_tokens(gpt, prompts, generator=torch.Generator().manual_seed(3), **args)
    lm = LanguageModel.from_gpt(gpt, arithmetic.vocab)
    assert lm.sample(prompts, generator=torch.Generator().manual_seed(3), **args) == expected
    assert gpt.training
    assert (lm.kind, lm.bos, lm.vocab_size, lm.block_size) == ("memscope run", "\n", len(arithmetic.vocab), 8)


def test_evaluate_takes_a_gpt_or_its_language_model_alike(arithmetic):
    gpt = _gpt(arithmetic).eval()
    kw = dict(n_samples=2, temperature=1.0, top_k=None)
    plain = evaluate(gpt, arithmetic, generator=eval_generator(0, 5), **kw)
    wrapped = evaluate(LanguageModel.from_gpt(gpt, arithmetic.vocab), arithmetic, generator=eval_generator(0, 5),
                       **kw)
    assert plain == wrapped


def test_hf_sample_near_zero_temperature_is_greedy(hf_arithmetic, arithmetic):
    lm = load_lm(hf_arithmetic, "cpu")
    assert lm.kind == "hugging face" and lm.block_size == 16
    prompts = lm.tokenize(["<1+2=", "<3-4=", "<9"])
    rows = lm.sample(prompts, 3, 20, temperature=1e-6, top_k=None, generator=torch.Generator().manual_seed(0))
    greedy = lm.greedy(prompts, [20] * len(prompts))
    assert all(len(r) == 20 for per_prompt in rows for r in per_prompt)
    assert rows == [[g] * 3 for g in greedy]


def test_eval_of_a_hugging_face_model_reports_the_task_figures(hf_arithmetic, cli_json):
    m = cli_json("-q", "eval", hf_arithmetic, "--task", "arithmetic")
    assert m["kind"] == "hugging face" and m["task"] == "arithmetic"
    assert m["withheld_total"] == 40  # 4 withheld prompts x the protocol's 10 samples
    # 100 prompts per operation x 10 samples; combined = the mean of add and sub = the seen prompts' share
    # (1,960 samples) plus the withheld 40's, counted sample by sample
    assert 2000 * m["combined_acc"] == pytest.approx(1000 * m["add_acc"] + 1000 * m["sub_acc"])
    assert 2000 * m["combined_acc"] == pytest.approx(1960 * m["seen_acc"] + m["withheld_correct"])
    assert cli_json("-q", "eval", hf_arithmetic, "--task", "arithmetic") == m  # seeded: the same figures
    other = cli_json("-q", "eval", hf_arithmetic, "--task", "arithmetic", "--samples", "2", "--seed", "1",
                     "withheld=2,3")
    assert other["withheld_total"] == 8 and set(other["withheld_by_prompt"]) == {"<2+3=", "<3+2=", "<2-3=", "<3-2="}


def test_bad_eval_input_is_one_line(hf_arithmetic, cli, tmp_path):
    _one_line_error(*cli("eval", hf_arithmetic), "is a Hugging Face model: name a task (--task")
    _one_line_error(*cli("eval", hf_arithmetic, "--task", "nonsense"), "unknown task 'nonsense'")
    _one_line_error(*cli("eval", hf_arithmetic, "--task", "arithmetic", "colour=red"), "unknown task")
    _one_line_error(*cli("eval", hf_arithmetic, "--task", "arithmetic", "--samples", "0"), "must be positive")
    _one_line_error(*cli("eval", hf_arithmetic, "--task", "arithmetic", "--weights", "best"),
                    "applies to memscope runs only")
    (tmp_path / "config.json").write_text('{"colour": "red"}')
    _one_line_error(*cli("eval", tmp_path), "neither a memscope run nor a Hugging Face model")
