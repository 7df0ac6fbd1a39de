"""Multiple-choice questions with their options in the prompt: a computable source and a memorizable one.

Each question is asked MMLU-style, its options listed in the prompt (choice_format.render_question):
`3+4 (8|7|5) 7` and `Capital of Peru? (Lima|Quito|Oslo) Lima`; a training line is the rendered question,
a space and the correct option's text, then the newline. Scoring a model on it the lm-evaluation-harness
way (metamorphic/core.py) reads the same rendering, so a rewrite of the options (nota, shuffle) changes
what the model reads. Sources:
- `arithmetic`: every ordered pair a op b over the operands 0..digits-1 (operators + and/or -); the answer
  can be worked out, so a held-out pair is computable though never seen;
- `capitals`: the 50 countries of tasks/capitals.py; a held-out country's answer is not knowable from
  training (its capital never appears as its answer), only memorizable.
A share `held_out_share` of the questions, chosen by `seed`, never appears in training in any form.

Training: each seen question appears in `variants` lines, each with its own seeded distractors and order.
Variant 0 is plain (the correct option present, no "None of the other answers") and is exactly the seen
question's evaluation item. Of all training lines, a share `nota_share` has the correct option replaced by
"None of the other answers", which is then the answer, and a share `nota_distractor_share` has it in
place of a wrong option (the answer unchanged): the option is in distribution, and listing it does not
mean answering it. Why several variants per question: with one option list per question a model could
tie the answer to the list's surface rather than to the question; with several, what stays fixed is the
question and its answer, and whether the answer is listed changes from line to line, so reading the
options is what the task asks. Distractors are plausible: the nearest other results (arithmetic), other
capitals (capitals). Everything is drawn from local generators seeded by `seed`: deterministic.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

from ..choice_format import CHOICES_MARKER, NOTA, render_question
from ..config import MAX_SEED
from ..settings import validate
from ..errors import ConfigError
from ..vocab import BOS, Vocab
from .base import Prompt, Suite, Task, register_task
from .capitals import CAPITALS

SOURCES = ("arithmetic", "capitals")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b}
PLAIN, NOTA_ANSWER, NOTA_DISTRACTOR = "plain", "nota", "nota-distractor"


@dataclass(frozen=True)
class ChoiceItem:
    """A question with its options (the `{choices}` marker in `question` shows them), the index of the
    answer and whether the question is in training."""

    question: str
    choices: tuple[str, ...]
    answer: int
    seen: bool

    @property
    def text(self) -> str:
        return render_question(self.question, self.choices)

    @property
    def line(self) -> str:
        """The training line: the rendered question, a space, the answer's text, the newline."""
        return f"{self.text} {self.choices[self.answer]}{BOS}"


@register_task("choice")
@dataclass(frozen=True)
class Choice(Task):
    """Multiple-choice questions, options in the prompt (`3+4 (8|7|5) 7`): arithmetic or capitals."""

    aligned = True

    source: str = "arithmetic"
    """arithmetic (computable answers) or capitals (memorizable only)."""
    n_choices: int = 3
    """Options per question."""
    digits: int = 10
    """arithmetic: operands run over 0..digits-1."""
    operators: str = "+"
    """arithmetic: a non-empty subset of '+-'."""
    held_out_share: float = 0.2
    """Share of the questions never in training (chosen by seed)."""
    variants: int = 4
    """Training lines per seen question (variant 0 plain: the evaluation item)."""
    nota_share: float = 0.2
    """Share of all training lines whose correct option is replaced by NOTA (the answer is then NOTA)."""
    nota_distractor_share: float = 0.2
    """Share of all training lines with NOTA in place of a wrong option (the answer unchanged)."""
    seed: int = 0
    mask_prompt: bool = True
    """Train on the answers only (minGPT's adder convention): the question and its options are excluded
    from the loss, so capacity goes to answering, not to memorizing the drawn option lists."""

    def __post_init__(self):
        validate(self)
        if self.source not in SOURCES:
            raise ConfigError(f"source={self.source!r} must be one of {', '.join(SOURCES)}")
        if not 2 <= self.n_choices <= 6:
            raise ConfigError(f"n_choices={self.n_choices} must lie in 2..6")
        if not 2 <= self.digits <= 50:
            raise ConfigError(f"digits={self.digits} must lie in 2..50")
        if not self.operators or any(op not in _OPS for op in self.operators) \
                or len(set(self.operators)) != len(self.operators):
            raise ConfigError(f"operators={self.operators!r} must be a non-empty subset of '+-'")
        if not 0.0 <= self.held_out_share <= 0.9:
            raise ConfigError(f"held_out_share={self.held_out_share} must lie in [0, 0.9]")
        if not 1 <= self.variants <= 32:
            raise ConfigError(f"variants={self.variants} must lie in 1..32")
        shares = (self.nota_share, self.nota_distractor_share)
        if any(not 0.0 <= s < 1.0 for s in shares) or sum(shares) > (self.variants - 1) / self.variants:
            raise ConfigError(f"nota_share={self.nota_share} and nota_distractor_share={self.nota_distractor_share} "
                              f"must be in [0, 1) and sum to at most (variants-1)/variants = "
                              f"{(self.variants - 1) / self.variants:.3g} (variant 0 of each question is plain)")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed={self.seed} must lie in 0..{MAX_SEED}")
        n_answers = len({a for _, a in self._questions()})
        if n_answers < self.n_choices:
            raise ConfigError(f"n_choices={self.n_choices} needs at least that many distinct answers; "
                              f"this source has {n_answers}")

    # ------------------------------------------------------------------ questions and their options
    def _questions(self) -> list[tuple[str, str]]:
        """(question with its marker, answer text), in a fixed order."""
        if self.source == "capitals":
            return [(f"Capital of {country}? {{choices}}", capital) for country, capital in CAPITALS]
        return [(f"{a}{op}{b} {{choices}}", str(_OPS[op](a, b)))
                for op in self.operators for a in range(self.digits) for b in range(self.digits)]

    def _distractor_pool(self, answer: str, answers: list[str]) -> list[str]:
        """Plausible wrong answers: the nearest other results (arithmetic), every other capital."""
        others = [a for a in answers if a != answer]
        if self.source == "capitals":
            return others
        others.sort(key=lambda a: (abs(int(a) - int(answer)), int(a)))
        return others[: 2 * (self.n_choices - 1)]

    def _options(self, answer: str, pool: list[str], status: str, rng: random.Random) -> tuple[tuple[str, ...], int]:
        """A seeded option list for one line and the index of its answer."""
        wrong = rng.sample(pool, self.n_choices - 1)
        opts = [answer, *wrong]
        rng.shuffle(opts)
        if status == NOTA_ANSWER:
            k = opts.index(answer)
            opts[k] = NOTA
            return tuple(opts), k
        if status == NOTA_DISTRACTOR:
            opts[rng.choice([i for i, o in enumerate(opts) if o != answer])] = NOTA
        return tuple(opts), opts.index(answer)

    @cached_property
    def _draw(self) -> tuple[list[ChoiceItem], list[tuple[ChoiceItem, str]]]:
        """(evaluation items: seen first, then held out; training lines' items with their status, in order)."""
        questions = self._questions()
        answers = sorted({a for _, a in questions})
        rng = random.Random(f"choice:{self.source}:{self.seed}")
        order = list(range(len(questions)))
        rng.shuffle(order)
        n_held = round(self.held_out_share * len(questions))
        held = set(order[:n_held])
        seen_ids = [i for i in range(len(questions)) if i not in held]
        # statuses of the non-plain slots (question, variant >= 1): exact counts, seeded places
        total = len(seen_ids) * self.variants
        n_nota, n_dis = round(self.nota_share * total), round(self.nota_distractor_share * total)
        slots = [(i, v) for i in seen_ids for v in range(1, self.variants)]
        rng.shuffle(slots)
        status = {s: NOTA_ANSWER for s in slots[:n_nota]}
        status.update({s: NOTA_DISTRACTOR for s in slots[n_nota:n_nota + n_dis]})
        evals, train = [], []
        for i, (q, ans) in enumerate(questions):
            pool = self._distractor_pool(ans, answers)
            for v in range(self.variants if i not in held else 1):
                st = status.get((i, v), PLAIN)
                choices, k = self._options(ans, pool, st, rng)
                item = ChoiceItem(q, choices, k, i not in held)
                if v == 0:
                    evals.append(item)
                if i not in held:
                    train.append((item, st))
        rng.shuffle(train)
        evals.sort(key=lambda it: not it.seen)
        return evals, train

    def items(self) -> list[ChoiceItem]:
        """The evaluation items: each question once in its plain form (a seen one exactly as trained)."""
        return list(self._draw[0])

    def training_items(self) -> list[tuple[ChoiceItem, str]]:
        """Every training line's item and its status (plain, nota, nota-distractor), in line order."""
        return list(self._draw[1])

    # ------------------------------------------------------------------ the Task protocol
    def lines(self) -> list[str]:
        return [it.line for it, _ in self._draw[1]]

    def line_loss_mask(self, line: str) -> list[bool] | None:
        """With mask_prompt: the answer and the newline are targets, the rendered question and the space
        before the answer are not (the question ends at the `)` closing the options)."""
        if not self.mask_prompt:
            return None
        start = line.rindex(") ") + 2
        return [False] * start + [True] * (len(line) - start)

    @cached_property
    def text(self) -> str:
        return BOS + "".join(self.lines())

    @cached_property
    def vocab(self) -> Vocab:
        """Every character any question, answer or option can hold, trained or held out: the same for every
        seed (so the seeds of a profile train together as one ensemble)."""
        texts = "".join(q + a for q, a in self._questions()).replace(CHOICES_MARKER, "")
        return Vocab.from_text(BOS + NOTA + " " + render_question(CHOICES_MARKER, ("", "")) + texts)

    @property
    def block_size(self) -> int:
        """A bound on any line of this task or of an item's NOTA rewrites, the same for every seed: the
        longest question with the longest options (NOTA among them) and the longest answer."""
        questions = self._questions()
        q_len = max(len(q.replace(CHOICES_MARKER, "")) for q, _ in questions)
        answers = sorted((len(a) for _, a in questions), reverse=True)
        options = [len(NOTA), *answers[: self.n_choices - 1]]
        rendered = len(render_question(CHOICES_MARKER, ["x" * n for n in options]))
        return q_len + rendered + 1 + max(len(NOTA), answers[0]) + len(BOS)

    @property
    def batch_size(self) -> int:
        return min(len(self.lines()), 128)

    def eval_suites(self) -> list[Suite]:
        """The evaluation items in plain form, the answer's text scored on the first generated line; the
        held-out questions are the withheld prompts."""
        items = self.items()
        prompts = tuple(Prompt(f"{BOS}{it.text} ", it.choices[it.answer], withheld=not it.seen) for it in items)
        return [Suite("choice", prompts, max_new_tokens=max(len(p.answer) for p in prompts) + 1, scorer="line")]
