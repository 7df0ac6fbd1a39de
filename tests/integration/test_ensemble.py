import pytest
import torch

from memscope.models.ensemble import EnsembleGPT, ensemble_step, make_ensemble_optimizer
from memscope.evaluate import eval_generator, evaluate
from memscope.runconfig import build_run_config
from memscope.train.loop import lr_at, make_batches

SEEDS = [1337, 1]


def _train(seeds, steps, overrides=None):
    """An ensemble of the paper's n14 on arithmetic (batch 882, warmup 2000), one member per seed."""
    torch.set_num_threads(1)
    rcs = [build_run_config("arithmetic", "n14", {**(overrides or {}), "seed": str(s)}) for s in seeds]
    rc, task = rcs[0], rcs[0].make_task()
    model = EnsembleGPT.from_seeds(rc.model, seeds)
    opt = make_ensemble_optimizer(model, rc.train)
    batches = make_batches(rcs, torch.device("cpu"))
    losses = torch.stack([ensemble_step(model, model, opt, *batches.next(s), rc.train, lr_at(s, rc.train))
                          for s in range(steps)])  # (steps, K)
    return task, model, losses


def test_members_follow_their_solo_trajectories_for_200_steps():
    """A single run is the ensemble of one: each member's losses (200 steps, the paper's settings), weights
    and evaluation equal those of training it alone."""
    task, ens, losses = _train(SEEDS, 200)
    for k, seed in enumerate(SEEDS):
        _, solo, solo_losses = _train([seed], 200)
        diff = (losses[:, k] - solo_losses[:, 0]).abs().max().item()
        assert diff < 1e-5, f"member {k} drifts from its solo run by {diff}"
        for name in ens.names:
            torch.testing.assert_close(ens.p(name)[k], solo.p(name)[0], rtol=0, atol=1e-5, msg=name)
        kw = dict(n_samples=10, temperature=0.01, top_k=10, generator=eval_generator(seed, 200))
        assert evaluate(ens.gpt(k), task, **kw) == evaluate(solo.gpt(0), task, **dict(
            kw, generator=eval_generator(seed, 200)))


def test_nope_members_follow_their_solo_trajectories():
    """The same with no positional encoding (pos_encoding=none) in both the engine and the reference GPT."""
    nope = {"pos_encoding": "none", "batch_size": "64"}
    task, ens, losses = _train(SEEDS[:2], 50, nope)
    assert "transformer.wpe.weight" not in ens.names
    for k, seed in enumerate(SEEDS[:2]):
        _, solo, solo_losses = _train([seed], 50, nope)
        assert (losses[:, k] - solo_losses[:, 0]).abs().max().item() < 1e-5
        for name in ens.names:
            torch.testing.assert_close(ens.p(name)[k], solo.p(name)[0], rtol=0, atol=1e-5, msg=name)
        idx = torch.randint(ens.config.vocab_size, (3, 9))
        torch.testing.assert_close(ens(idx[None].expand(2, 3, 9))[0][k].T.reshape(3, 9, -1),
                                   ens.gpt(k)(idx)[0], rtol=1e-5, atol=1e-5)


def test_engine_forward_equals_gpt_forward():
    """The engine computes what model.GPT computes (the reference used for evaluation)."""
    torch.manual_seed(0)
    for overrides in ({}, {"bias": "true", "n_head": "2", "n_layer": "2", "mlp_expansion": "4"}):
        rc = build_run_config("arithmetic", "n14", overrides)
        ens = EnsembleGPT.from_seeds(rc.model, [3, 4])
        idx = torch.randint(rc.model.vocab_size, (2, 5, 9))
        logits, losses = ens(idx, idx)
        for k in range(2):
            ref_logits, ref_loss = ens.gpt(k)(idx[k], idx[k])
            torch.testing.assert_close(logits[k].T.reshape(5, 9, -1), ref_logits, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(losses[k], ref_loss, rtol=1e-5, atol=1e-6)


def test_members_may_train_on_different_texts():
    rcs = [build_run_config("arithmetic", "n14", {"batch_size": "32", "seed": "0", **w})
           for w in ({}, {"withheld": "1,2;3,4"})]
    texts = [rc.make_task() for rc in rcs]
    data = [torch.tensor(t.vocab.encode(t.text)) for t in texts]
    assert len(data[0]) != len(data[1])
    x, y = make_batches(rcs, torch.device("cpu")).next(0)
    assert x.shape == y.shape == (2, 32, 9)
    solo_ix = torch.randint(len(data[1]) - 9, (32,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(x[1], data[1][solo_ix[:, None] + torch.arange(9)])


def test_aligned_batches_start_at_sequence_starts():
    rc = build_run_config("random-tokens", "n14", {"n_sequences": "20", "length": "6", "batch_size": "50"})
    task = rc.make_task()
    x, y = make_batches([rc], torch.device("cpu")).next(0)
    bos = task.vocab.stoi["\n"]
    assert (x[0, :, 0] == bos).all() and (y[0, :, -1] == bos).all() and not (x[0, :, 1:] == bos).any()


def test_ensemble_rejects_mixed_shapes():
    a = build_run_config("arithmetic", "n14").model
    b = build_run_config("arithmetic", "n28").model
    from memscope.models.gpt import GPT
    with pytest.raises(ValueError, match="share one ModelConfig"):
        EnsembleGPT(a, [GPT(a), GPT(b)])


def test_bf16_autocast_trains_close_to_fp32():
    """precision=bf16 runs the matmuls under autocast (weights, optimiser and loss stay fp32)."""
    runs = {}
    for precision in ("fp32", "bf16"):
        _, model, losses = _train([0], 30, {"batch_size": "64", "precision": precision, "warmup_steps": "5"})
        runs[precision] = losses[:, 0]
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert runs["bf16"][-1] < runs["bf16"][0] - 0.3  # it learns
    assert (runs["bf16"] - runs["fp32"]).abs().max() < 0.1


def test_configure_cpu_flushes_denormals():
    """Training, evaluation and bench flush denormal floats on CPU (they slow a trained n14 step ~1.7x)."""
    from memscope.runtime import configure_cpu
    try:
        torch.set_flush_denormal(False)
        denormal = torch.tensor([1e-39])
        assert denormal.item() != 0.0 and (denormal * 1.0).item() != 0.0
        configure_cpu(torch.device("cpu"), 1)
        assert torch.get_num_threads() == 1 and (denormal * 1.0).item() == 0.0
    finally:
        configure_cpu(torch.device("cpu"), 1)
