"""Known-answer tests of the modular task's split and of the grokking monitors' estimators."""
import math

import pytest
import torch

from memscope.errors import ConfigError
from memscope.measure.progress import (answer_scores, capacity_utilization, fourier_power, fourier_top_share,
                                       generalization_gap)
from memscope.tasks import make_task
from memscope.vocab import BOS


# ----------------------------------------------------------------------------- the task
def test_split_is_exact_disjoint_and_seeded():
    t = make_task("modular", {"p": 13, "train_fraction": 0.3, "split_seed": 4})
    train, held = t.split
    assert len(train) == round(0.3 * 169) == 51 and len(held) == 169 - 51
    assert set(train).isdisjoint(held) and set(train) | set(held) == {(a, b) for a in range(13) for b in range(13)}
    assert make_task("modular", {"p": 13, "train_fraction": 0.3, "split_seed": 4}).split == t.split
    assert set(make_task("modular", {"p": 13, "train_fraction": 0.3, "split_seed": 5}).split[0]) != set(train)


def test_lines_answers_and_mask():
    t = make_task("modular", {"p": 7, "operator": "/", "train_fraction": 0.5})
    assert all(b != 0 for a, b in t.split[0] + t.split[1])  # no division by zero
    for line, (a, b) in zip(t.lines(), t.split[0]):
        c = ord(line[4]) - 0x100
        assert (c * b) % 7 == a and line[1] == "/" and line.endswith("\n")
    assert t.line_loss_mask(t.lines()[0]) == [False, False, False, False, True, False]
    suites = {s.name: s for s in t.eval_suites()}
    assert len(suites["train"].prompts) == len(t.split[0]) and not any(p.withheld for p in suites["train"].prompts)
    assert all(p.withheld for p in suites["heldout"].prompts)
    # every residue has a token in residue order, even one no training line uses
    ids = [t.vocab.stoi[c] for c in t.residue_chars]
    assert ids == sorted(ids) and len(t.vocab) == 7 + 3


@pytest.mark.parametrize("params, match", [
    ({"p": 1}, "p=1"), ({"p": 12, "operator": "/"}, "prime"), ({"operator": "^"}, "operator"),
    ({"train_fraction": 1.0}, "train_fraction"), ({"p": 3, "train_fraction": 0.01}, "at least one"),
    ({"p": 301}, "p=301")])
def test_bad_settings_are_config_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        make_task("modular", params)


# ----------------------------------------------------------------------------- memorized bits
def _lookup_logits(task, table: set, logit: float, held_uniform: bool):
    """A model over the task's vocabulary that puts `logit` on the right answer of pairs in `table`; other
    pairs get a uniform distribution over the p residues (held_uniform) or the same treatment."""
    v = task.vocab
    res_ids = torch.tensor([v.stoi[c] for c in task.residue_chars])

    def fn(idx):  # (B, T) -> (B, T, V); only the last position is read
        out = torch.zeros(idx.shape[0], idx.shape[1], len(v))
        for i, row in enumerate(idx.tolist()):
            a, b = (ord(v.chars[row[1]]) - 0x100, ord(v.chars[row[3]]) - 0x100)
            if (a, b) in table or not held_uniform:
                out[i, -1, v.stoi[chr(0x100 + task.result(a, b))]] = logit
            else:
                out[i, -1] = -1e9
                out[i, -1, res_ids] = 0.0
        return out
    return fn


def _scored(task, fn):
    seqs, held = [], []
    for s in task.eval_suites():
        for p in s.prompts:
            seqs.append(task.vocab.encode(BOS + p.text + p.answer))
            held.append(p.withheld)
    nll, correct = answer_scores(fn, seqs, [1] * len(seqs), torch.device("cpu"))
    mask = torch.tensor(held)
    return generalization_gap(nll[~mask], nll[mask]), correct, mask


def test_memorized_bits_zero_when_train_and_heldout_alike():
    t = make_task("modular", {"p": 11, "train_fraction": 0.4})
    gap, correct, _ = _scored(t, _lookup_logits(t, set(), 3.0, held_uniform=False))  # the rule, everywhere
    assert gap.train_nll_bits == pytest.approx(gap.heldout_nll_bits) and gap.heldout_nll_bits > 0.1
    assert abs(gap.memorized_bits) < 1e-4 and gap.memorized_clipped_bits < 1e-4 and bool(correct.all())  # float32 logits


def test_memorized_bits_of_a_lookup_table_equal_the_exact_gap():
    t = make_task("modular", {"p": 11, "train_fraction": 0.4})
    logit = 5.0
    gap, correct, mask = _scored(t, _lookup_logits(t, set(t.split[0]), logit, held_uniform=True))
    v = len(t.vocab)
    q = math.exp(logit) / (math.exp(logit) + v - 1)
    expected = len(t.split[0]) * (math.log2(11) + math.log2(q))  # N_train x (log2 p - (-log2 q))
    assert gap.train_nll_bits == pytest.approx(-math.log2(q), rel=1e-6)
    assert gap.heldout_nll_bits == pytest.approx(math.log2(11), rel=1e-6)
    assert gap.memorized_bits == pytest.approx(expected, rel=1e-6)
    assert gap.memorized_clipped_bits == pytest.approx(expected, rel=1e-6)  # every item is below the reference
    assert bool(correct[~mask].all())
    assert capacity_utilization(gap.memorized_bits, 1000, 3.6) == pytest.approx(expected / 3600)


def test_clipped_sum_drops_items_above_the_reference():
    gap = generalization_gap(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([4.0, 4.0]))
    assert gap.memorized_bits == pytest.approx(3 + 1 - 1) and gap.memorized_clipped_bits == pytest.approx(3 + 1)


# ----------------------------------------------------------------------------- Fourier sparsity
def test_fourier_share_high_for_few_frequencies_low_for_random():
    p, d = 59, 64
    g = torch.Generator().manual_seed(0)
    x = torch.arange(p, dtype=torch.float64)[:, None]
    freqs = (3, 11, 17)
    cols = [torch.cos(2 * math.pi * f * x / p + torch.rand(1, d, generator=g, dtype=torch.float64) * 6.28)
            * torch.randn(1, d, generator=g, dtype=torch.float64) for f in freqs]
    sparse = sum(cols)
    assert fourier_top_share(sparse) == pytest.approx(1.0, abs=1e-9)
    top = fourier_power(sparse).argsort(descending=True)[:3].tolist()
    assert sorted(top) == sorted(freqs)
    random = torch.randn(p, d, generator=g, dtype=torch.float64)
    share = fourier_top_share(random)
    assert share < 0.35  # 5 of 30 frequencies: about 5/30 plus the order-statistic excess
    # Parseval: the per-frequency powers add up to p x the squared norm
    for emb in (random, random[:58]):
        assert float(fourier_power(emb).sum()) == pytest.approx(emb.shape[0] * float(emb.pow(2).sum()))
