"""Monitors: callbacks that measure a run at every evaluation, switched on per run by name
(`callbacks=protocol,best,memorization,fourier,weight_norm`). Estimators in measure/progress.py.

- `memorization`: for every task with training and held-out items (modular's held-out pairs, TBTT
  arithmetic's withheld equations), the answers' mean code length on each (`train_nll_bits`,
  `heldout_nll_bits`), greedy (teacher-forced argmax) accuracy on each (`train_greedy_acc`,
  `heldout_greedy_acc`), memorized bits signed and clipped, and capacity utilization. A task without
  held-out items (capitals, random tokens) has no reference and gives no figures. Several such tasks: each
  task's figures under `<label>.`.
- `fourier`: for a modular task, the share of the residue embeddings' squared norm in the top
  FOURIER_TOP_K frequencies (`fourier_top5_share`).
"""
from __future__ import annotations

import logging

import torch

from ..measure.progress import (DEFAULT_BITS_PER_PARAM, FOURIER_TOP_K, answer_scores, capacity_utilization,
                                fourier_top_share, generalization_gap)
from ..sizing import bits_per_param_source
from ..runconfig import RunConfig
from ..tasks import Task
from ..vocab import BOS, Vocab
from ..train.callbacks import Callback, EvalContext, register_callback

log = logging.getLogger(__name__)


def _items(task: Task, vocab: Vocab) -> tuple[list[list[int]], list[int], list[bool]] | None:
    """BOS + prompt + answer ids, answer lengths and withheld flags of a task's scored prompts; None when
    the task has no held-out items or no training items among them."""
    seqs, n_answer, held = [], [], []
    for suite in task.eval_suites():
        for p in suite.prompts:
            seqs.append(vocab.encode(BOS + p.text + p.answer))
            n_answer.append(len(p.answer))
            held.append(p.withheld)
    if not any(held) or all(held):
        return None
    return seqs, n_answer, held


@register_callback("memorization")
class MemorizationMonitor(Callback):
    """Memorized bits against the held-out items, and the capacity they use (measure/progress.py)."""

    def __init__(self, rc: RunConfig):
        super().__init__(rc)
        self._cache: dict[str, tuple | None] = {}
        self.bits_per_param, self.bits_source = self._bits_per_param()

    @staticmethod
    def _bits_per_param() -> tuple[float, str]:
        try:
            return bits_per_param_source()
        except Exception as e:  # an unreadable capacity result must not stop a training run
            log.warning("capacity results unreadable (%s): %.1f bits per parameter assumed", e, DEFAULT_BITS_PER_PARAM)
            return DEFAULT_BITS_PER_PARAM, "Morris et al. 2025 (assumed)"

    def on_eval(self, ctx: EvalContext) -> dict:
        figures: dict = {}
        labelled = [(label, task) for label, task in ctx.tasks]
        device = next(ctx.model.parameters()).device
        n_params = ctx.model.count_params("total")
        measured = 0
        for label, task in labelled:
            if label not in self._cache:
                self._cache[label] = _items(task, ctx.vocab)
            items = self._cache[label]
            if items is None:
                continue
            seqs, n_answer, held = items
            nll, correct = answer_scores(lambda idx: ctx.model(idx)[0], seqs, n_answer, device)
            mask = torch.tensor(held)
            gap = generalization_gap(nll[~mask], nll[mask])
            f = {"train_nll_bits": gap.train_nll_bits, "heldout_nll_bits": gap.heldout_nll_bits,
                 "train_greedy_acc": float(correct[~mask].double().mean()),
                 "heldout_greedy_acc": float(correct[mask].double().mean()),
                 "memorized_bits": gap.memorized_bits, "memorized_clipped_bits": gap.memorized_clipped_bits,
                 "capacity_utilization": capacity_utilization(gap.memorized_bits, n_params, self.bits_per_param)}
            figures[label] = f
            measured += 1
        if measured == 1:
            return next(iter(figures.values()))
        return {f"{label}.{k}": v for label, f in figures.items() for k, v in f.items()}

    def summarize(self, history: list[dict]) -> dict:
        return {"bits_per_param": self.bits_per_param, "bits_per_param_source": self.bits_source,
                "capacity_note": "utilization = memorized bits / (all parameters x bits per parameter): an "
                                 "estimate; the held-out mean stands in for a reference model"}


@register_callback("fourier")
class FourierMonitor(Callback):
    """Fourier sparsity of the residue embeddings of a modular task (Nanda et al. 2023)."""

    def on_eval(self, ctx: EvalContext) -> dict:
        for _, task in ctx.tasks:
            chars = getattr(task, "residue_chars", None)
            if chars is None:
                continue
            ids = torch.tensor([ctx.vocab.stoi[c] for c in chars])
            with torch.no_grad():
                emb = ctx.model.transformer.wte.weight[ids.to(ctx.model.transformer.wte.weight.device)].cpu()
            return {f"fourier_top{FOURIER_TOP_K}_share": fourier_top_share(emb)}
        return {}
