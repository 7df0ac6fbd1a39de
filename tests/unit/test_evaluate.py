from types import SimpleNamespace

import pytest
import torch

from memscope.evaluate import evaluate, score_integer, score_line
from memscope.models.generate import sample_tokens
from memscope.tasks import make_task


@pytest.mark.parametrize("completion, answer, ok", [
    ("14>\n", "14", True),
    ("14", "14", True),          # no closing '>': still the integer after '='
    ("14<", "14", True),
    ("-3>\n", "-3", True),
    ("3>\n", "-3", False),
    ("1>\n<", "14", False),
    (">\n<1", "1", False),
    (" 7>", "7", True),
    ("", "0", False),
])
def test_integer_scorer(completion, answer, ok):
    assert score_integer(completion, answer) is ok


@pytest.mark.parametrize("completion, answer, ok", [
    ("Paris \nCapital of", "Paris", True),
    ("paris", "Paris", True),
    ("Washington DC \n", "Washington DC", True),
    ("Pari", "Paris", False),
    ("Paris is", "Paris", False),
    ("\nParis", "Paris", False),
    ("", "Paris", False),
])
def test_line_scorer(completion, answer, ok):
    assert score_line(completion, answer) is ok


class Oracle(torch.nn.Module):
    """Puts all probability on the next character of the full training line that the context is part
    of; for withheld prompts (absent from the text) it answers a wrong integer."""

    def __init__(self, task, lines):
        super().__init__()
        self.vocab, self.lines = task.vocab, lines
        self.config = SimpleNamespace(block_size=task.block_size)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, idx, last_only=True):
        self.calls += 1
        out = torch.full((idx.size(0), 1, len(self.vocab)), -10.0)
        for i, row in enumerate(idx.tolist()):
            text = self.vocab.decode(row)
            nxt = next((line[j + len(text)] for line in self.lines for j in range(len(line) - len(text))
                        if line.startswith(text, j)), "0")
            out[i, 0, self.vocab.stoi[nxt]] = 10.0
        return out, None


def test_oracle_scores_everything_but_the_withheld():
    task = make_task("arithmetic")
    oracle = Oracle(task, task.lines())
    m = evaluate(oracle, task, n_samples=3, temperature=0.01, top_k=10, generator=torch.Generator().manual_seed(0))
    assert m["withheld_correct"] == 0 and m["withheld_total"] == 12
    assert m["add_acc"] == pytest.approx(98 / 100) and m["sub_acc"] == pytest.approx(98 / 100)
    assert m["seen_acc"] == 1.0
    assert m["withheld_by_prompt"] == {"<5+7=": 0, "<7+5=": 0, "<5-7=": 0, "<7-5=": 0}
    # batched: one forward per new token (all prompts share a length), not one per sample
    assert oracle.calls == 2 * 4


def test_oracle_that_knows_the_withheld_lines_scores_all():
    task = make_task("combined")
    full = make_task("arithmetic", {"withheld": ""}).lines() + make_task("capitals").lines()
    m = evaluate(Oracle(task, full), task, n_samples=2, temperature=0.01, top_k=10,
                 generator=torch.Generator().manual_seed(0))
    assert m["add_acc"] == m["sub_acc"] == m["facts_acc"] == m["combined_acc"] == 1.0
    assert m["withheld_correct"] == m["withheld_total"] == 8


def test_sampling_respects_top_k_and_temperature():
    class Fixed(torch.nn.Module):
        config = SimpleNamespace(block_size=4)

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, idx, last_only=True):
            return torch.tensor([0.0, 1.0, 2.0, 3.0]).expand(idx.size(0), 1, 4), None

    g = torch.Generator().manual_seed(0)
    rows = sample_tokens(Fixed(), [[0], [1, 2]], 50, 6, temperature=1.0, top_k=2, generator=g)
    tokens = {t for per_prompt in rows for row in per_prompt for t in row}
    assert tokens == {2, 3}  # top 2 only, both drawn at temperature 1
    cold = sample_tokens(Fixed(), [[0]], 20, 3, temperature=0.01, top_k=10, generator=g)
    assert {t for row in cold[0] for t in row} == {3}


def test_summary_selects_on_seen_accuracy_and_tracks_the_withheld_score():
    from memscope.models.gpt import GPT
    from memscope.runconfig import build_run_config
    from memscope.train.callbacks import make_callbacks
    from memscope.train.summary import summarize
    rc = build_run_config("arithmetic", "n14")
    callbacks = make_callbacks(rc)

    def rec(step, seen, held):
        return {"step": step, "train_loss": 1.0, "add_acc": seen, "sub_acc": seen, "combined_acc": seen,
                "seen_acc": seen, "withheld_correct": held, "withheld_total": 40}

    history = [rec(0, 0.0, 0), rec(250, 0.9, 40), rec(500, 1.0, 0), rec(750, 1.0, 40), rec(1000, 0.99, 40),
               rec(1250, 0.98, 40)]
    s = summarize(rc, history, GPT(rc.model), callbacks, 12.0, torch.device("cpu"))
    assert s["best"]["step"] == 750  # highest seen accuracy, latest among equals; withheld never consulted
    assert s["first_withheld_step"] == 250
    assert s["withheld_perfect_from"] == 750
    assert s["withheld_perfect_share"] == pytest.approx(4 / 6)
    assert s["withheld_correct"] == 40 and s["n_evals"] == 6
    history[-1] = rec(1250, 0.98, 30)
    s = summarize(rc, history, GPT(rc.model), callbacks, 12.0, torch.device("cpu"))
    assert s["withheld_perfect_from"] is None and s["withheld_correct"] == 30
