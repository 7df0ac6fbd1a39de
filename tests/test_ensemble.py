import pytest
import torch

from memscope.ensemble import EnsembleBatches, EnsembleGPT, ensemble_step, make_ensemble_optimizer
from memscope.evaluate import eval_generator, evaluate
from memscope.train import build_run_config, setup, train_step

SEEDS = [1337, 1, 2]
OVERRIDES: dict = {}  # the paper's n14 settings: batch 882, warmup 2000


def _solo(seed, steps):
    rc = build_run_config("arithmetic", "n14", {**OVERRIDES, "seed": str(seed)})
    task = rc.make_task()
    model, opt, batches = setup(rc, task, torch.device("cpu"))
    losses = [train_step(model, model, opt, batches, rc.train, s).item() for s in range(steps)]
    return rc, task, model, losses


def _compare_with_solo(steps):
    torch.set_num_threads(1)
    solos = [_solo(s, steps) for s in SEEDS]
    rc, task = solos[0][0], solos[0][1]
    ens = EnsembleGPT.from_seeds(rc.model, SEEDS)
    opt = make_ensemble_optimizer(ens, rc.train)
    data = torch.tensor(task.vocab.encode(task.text))
    batches = EnsembleBatches([data] * len(SEEDS), rc.model.block_size, rc.train.batch_size,
                              [torch.Generator().manual_seed(s) for s in SEEDS])
    losses = torch.stack([ensemble_step(ens, opt, batches, rc.train, s) for s in range(steps)])  # (steps, K)
    for k, (_, _, solo_model, solo_losses) in enumerate(solos):
        diff = (losses[:, k] - torch.tensor(solo_losses)).abs().max().item()
        assert diff < 1e-5, f"member {k} drifts from its solo run by {diff}"
        member = ens.member(k)
        for (name, a), b in zip(solo_model.state_dict().items(), member.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)
        kw = dict(n_samples=10, temperature=0.01, top_k=10)
        solo_eval = evaluate(solo_model, task, generator=eval_generator(SEEDS[k], steps), **kw)
        member_eval = evaluate(member, task, generator=eval_generator(SEEDS[k], steps), **kw)
        assert solo_eval == member_eval


def test_members_follow_their_solo_trajectories():
    """Losses agree to 1e-5 and weights to 1e-5 for the first 120 steps at the paper's n14 settings."""
    _compare_with_solo(120)


@pytest.mark.xfail(strict=True, reason="ulp-level differences of batched vs single matmuls grow "
                   "exponentially from about step 160 (to 1e-2 by step 200): issue 3 asks for 1e-5 over 200")
def test_members_follow_their_solo_trajectories_for_200_steps():
    _compare_with_solo(200)


def test_members_may_train_on_different_texts():
    rc = build_run_config("arithmetic", "n14", OVERRIDES)
    texts = [rc.make_task(), build_run_config("arithmetic", "n14", {"withheld": "1,2;3,4"}).make_task()]
    data = [torch.tensor(t.vocab.encode(t.text)) for t in texts]
    assert len(data[0]) != len(data[1])
    batches = EnsembleBatches(data, 9, 32, [torch.Generator().manual_seed(0) for _ in data])
    x, y = batches.next()
    assert x.shape == y.shape == (2, 32, 9)
    solo_ix = torch.randint(len(data[1]) - 9, (32,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(x[1], data[1][solo_ix[:, None] + torch.arange(9)])


def test_ensemble_rejects_mixed_shapes():
    a = build_run_config("arithmetic", "n14").model
    b = build_run_config("arithmetic", "n28").model
    from memscope.model import GPT
    with pytest.raises(ValueError, match="share one ModelConfig"):
        EnsembleGPT(a, [GPT(a), GPT(b)])
