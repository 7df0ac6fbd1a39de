"""The paper's evaluation protocol: sample every prompt n times at low temperature and score the answers.

It runs on any LanguageModel (a memscope GPT or a Hugging Face causal LM), so a task's figures can be
compared across both; the trainer passes its GPT as is.
"""
from __future__ import annotations

import re

import torch

from .models.lm import LanguageModel
from .tasks import Suite, Task

_INTEGER = re.compile(r"\s*(-?\d+)")


def score_integer(completion: str, answer: str) -> bool:
    """The integer right after `=` must equal the answer; the closing `>` is not required."""
    m = _INTEGER.match(completion)
    return m is not None and int(m.group(1)) == int(answer)


def score_line(completion: str, answer: str) -> bool:
    """First generated line, stripped of spaces and a final period, equals the answer ignoring case."""
    lines = completion.splitlines()
    first = lines[0].strip().rstrip(".") if lines else ""
    return first.lower() == answer.lower()


def score_exact(completion: str, answer: str) -> bool:
    """First generated line equals the answer exactly (case matters: random symbols)."""
    lines = completion.splitlines()
    return (lines[0] if lines else "") == answer


SCORERS = {"integer": score_integer, "line": score_line, "exact": score_exact}


def eval_generator(seed: int, step: int) -> torch.Generator:
    """The sampling RNG of the evaluation at `step`: depends on nothing but (seed, step), so a resumed
    run and `memscope eval` draw the same samples as the original run."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) % 2 ** 64)  # torch seeds are 64-bit


def evaluate(model, task: Task, *, n_samples: int, temperature: float, top_k: int | None,
             generator: torch.Generator, suites: list[Suite] | None = None, vocab=None) -> dict:
    """Accuracy per suite (`<name>_acc` over all its prompts, withheld ones included, as the paper's grid),
    `seen_acc` over non-withheld prompts only (the one safe for checkpoint selection), `combined_acc`
    over all samples, and the withheld score as correct samples out of n_samples x withheld prompts.

    model: a LanguageModel, or a memscope GPT read with `vocab` (a run with several tasks has their union;
    default the task's own). Prompts are the model's prompt_ids: without a BOS for a memscope GPT, as the
    GPTs were trained (a prompt's `<` follows the previous line's newline there); with the model's BOS for
    a Hugging Face model, the one convention its audit and metamorphic scores use.
    """
    lm = model if isinstance(model, LanguageModel) else LanguageModel.from_gpt(model, vocab or task.vocab)
    suites = task.eval_suites() if suites is None else suites
    metrics: dict = {}
    correct_all = total_all = seen_correct = seen_total = held_correct = held_total = 0
    by_prompt: dict[str, int] = {}
    for suite in suites:
        prompts = lm.prompt_ids([p.text for p in suite.prompts])
        samples = lm.sample(prompts, n_samples, suite.max_new_tokens, temperature, top_k, generator)
        score = SCORERS[suite.scorer]
        correct = 0
        for prompt, rows in zip(suite.prompts, samples):
            c = sum(score(lm.decode(row), prompt.answer) for row in rows)
            correct += c
            if prompt.withheld:
                by_prompt[prompt.text] = c
                held_correct, held_total = held_correct + c, held_total + n_samples
            else:
                seen_correct, seen_total = seen_correct + c, seen_total + n_samples
        total = n_samples * len(suite.prompts)
        metrics[f"{suite.name}_acc"] = correct / total
        correct_all, total_all = correct_all + correct, total_all + total
    metrics["combined_acc"] = correct_all / total_all if total_all else None
    metrics["seen_acc"] = seen_correct / seen_total if seen_total else None
    metrics["withheld_correct"] = held_correct if held_total else None
    metrics["withheld_total"] = held_total if held_total else None
    metrics["withheld_by_prompt"] = by_prompt or None
    return metrics


def evaluate_tasks(model, tasks: list[tuple[str, Task]], vocab, *, n_samples: int, temperature: float,
                   top_k: int | None, seed: int, step: int) -> dict:
    """Every task of a run scored with evaluate(), each with the sampling RNG of (seed, step). One task: its
    figures as they are (`add_acc`, `seen_acc`, ...). Several: each task's figures under `<label>.`, and
    `seen_acc` the mean of the tasks' seen_acc (what the best checkpoint is chosen on)."""
    figures: dict = {}
    for label, task in tasks:
        m = evaluate(model, task, n_samples=n_samples, temperature=temperature, top_k=top_k,
                     generator=eval_generator(seed, step), vocab=vocab)
        if len(tasks) == 1:
            return m
        figures.update({f"{label}.{k}": v for k, v in m.items()})
    seen = [figures[f"{label}.seen_acc"] for label, _ in tasks if figures[f"{label}.seen_acc"] is not None]
    figures["seen_acc"] = sum(seen) / len(seen) if seen else None
    return figures
