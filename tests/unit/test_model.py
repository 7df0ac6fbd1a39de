import pytest
import torch

from memscope.config import ModelConfig
from memscope.errors import ConfigError
from memscope.models.gpt import GPT
from memscope.runconfig import build_run_config
from memscope.train.loop import lr_at

# docs/REFERENCE.md section 1: the paper's convention (all but the position embedding).
PAPER_COUNTS = {
    "arithmetic": {"n14": 1456, "n28": 5264, "n56": 19936, "mlt": 10628352},
    "capitals": {"n14": 1932, "n28": 6216, "n56": 21840, "mlt": 10641408},
    "combined": {"n14": 2142, "n28": 6636, "n56": 22680, "mlt": 10647168},
}


@pytest.mark.parametrize("task", list(PAPER_COUNTS))
@pytest.mark.parametrize("model", ["n14", "n28", "n56", "mlt"])
def test_info_gives_the_papers_parameter_counts(cli_json, task, model):
    info = cli_json("info", "--task", task, "--model", model)
    assert info["n_params"] == PAPER_COUNTS[task][model]
    block = {"arithmetic": 9}.get(task, 24)
    n_embd = {"n14": 14, "n28": 28, "n56": 56, "mlt": 384}[model]
    assert info["n_params_total"] == info["n_params"] + block * n_embd  # plus the position embedding


def test_param_count_formula_with_bias_and_conventions():
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=8, mlp_expansion=3, vocab_size=11, block_size=5)
    m = GPT(cfg)
    L, n, e, V = 2, 8, 3, 11
    assert m.count_params("paper") == L * (4 * n * n + 2 * e * n * n + 2 * n) + n + V * n
    assert m.count_params("non_embedding") == m.count_params("paper") - V * n
    assert m.count_params("total") == m.count_params("paper") + 5 * n
    biased = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=8, mlp_expansion=3, vocab_size=11, block_size=5,
                             bias=True))
    # biases: qkv 3n, attn proj n, fc e*n, mlp proj n, two LayerNorms 2n per block; final LayerNorm n
    assert biased.count_params("paper") - m.count_params("paper") == L * (3 * n + n + e * n + n + 2 * n) + n


def test_shapes_tying_and_seeded_init():
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=8, vocab_size=11, block_size=5)
    m = GPT(cfg, torch.Generator().manual_seed(3))
    idx = torch.randint(11, (4, 5))
    logits, loss = m(idx, idx)
    assert logits.shape == (4, 5, 11) and loss.ndim == 0
    last, none = m(idx, last_only=True)
    assert last.shape == (4, 1, 11) and none is None
    torch.testing.assert_close(last[:, 0], logits[:, -1])
    assert m.lm_head.weight is m.transformer.wte.weight
    same = GPT(cfg, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), same.state_dict().values()))
    with pytest.raises(ValueError, match="exceeds block_size"):
        m(torch.zeros(1, 6, dtype=torch.long))


def test_untrained_loss_is_near_uniform():
    cfg = ModelConfig(vocab_size=17, block_size=9)
    _, loss = GPT(cfg, torch.Generator().manual_seed(0))(torch.randint(17, (64, 9)), torch.randint(17, (64, 9)))
    assert abs(loss.item() - torch.log(torch.tensor(17.0)).item()) < 0.05


@pytest.mark.parametrize("kwargs, message", [
    ({"n_embd": 15, "n_head": 2}, "n_embd=15 is not divisible by n_head=2"),
    ({"n_layer": 0}, r"^n_layer=0 must lie in \[1, 1024\]$"),
    ({"n_embd": -4}, r"^n_embd=-4 must lie in \[1, 65_536\]$"),
    ({"dropout": 1.5}, "dropout"),
])
def test_model_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_schedule_known_values():
    cfg = build_run_config("arithmetic", "n14").train
    assert lr_at(0, cfg) == pytest.approx(1e-2 / 2001)
    assert lr_at(1999, cfg) == pytest.approx(1e-2 * 2000 / 2001)
    assert lr_at(2000, cfg) == pytest.approx(1e-2)
    assert lr_at(13500, cfg) == pytest.approx((1e-2 + 1e-4) / 2)
    assert lr_at(25000, cfg) == pytest.approx(1e-4)
    assert lr_at(29999, cfg) == pytest.approx(1e-4)
    lrs = [lr_at(s, cfg) for s in range(2000, 25001, 500)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_presets_carry_the_papers_hyperparameters():
    n14 = build_run_config("arithmetic", "n14")
    assert (n14.train.batch_size, n14.train.learning_rate, n14.train.min_lr, n14.train.weight_decay) == \
        (882, 1e-2, 1e-4, 0.0)
    assert (n14.train.beta1, n14.train.beta2, n14.train.grad_clip, n14.train.warmup_steps,
            n14.train.lr_decay_steps, n14.train.steps, n14.train.seed) == (0.9, 0.99, 1.0, 2000, 25000, 30000, 1337)
    mlt = build_run_config("capitals", "mlt")
    assert (mlt.model.n_layer, mlt.model.n_head, mlt.model.n_embd, mlt.model.mlp_expansion, mlt.model.dropout) \
        == (6, 6, 384, 4, 0.2)
    assert (mlt.train.batch_size, mlt.train.learning_rate, mlt.train.min_lr, mlt.train.weight_decay) == \
        (576, 1e-5, 1e-6, 0.1)
    over = build_run_config("arithmetic", "n28", {"learning_rate": "3e-3", "model.dropout": "0.1",
                                                  "withheld": "1,2"})
    assert over.train.learning_rate == 3e-3 and over.model.dropout == 0.1
    assert over.task_params["withheld"] == ((1, 2),)


def test_cpu_attention_equals_pytorch_sdpa():
    """The written-out CPU attention (scores keys x queries) computes what the fused kernel does."""
    cfg = ModelConfig(n_layer=1, n_head=3, n_embd=24, vocab_size=20, block_size=7)
    attn = GPT(cfg, torch.Generator().manual_seed(1)).transformer.h[0].attn
    x = torch.randn(5, 6, 24, generator=torch.Generator().manual_seed(2))
    B, T, C = x.shape
    q, k, v = (t.view(B, T, 3, 8).transpose(1, 2) for t in attn.c_attn(x).split(C, dim=2))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    ref = attn.c_proj(ref.transpose(1, 2).contiguous().view(B, T, C))
    torch.testing.assert_close(attn(x), ref, rtol=1e-5, atol=1e-6)


def test_flops_per_step_known_answer():
    from memscope.bench import flops_per_step
    rc = build_run_config("arithmetic", "n14")
    # 6 * 1456 per token for the weights + 12 * L * d * T for attention, times 882 * 9 tokens
    assert flops_per_step(GPT(rc.model), 882, 9) == (6 * 1456 + 12 * 1 * 14 * 9) * 882 * 9
