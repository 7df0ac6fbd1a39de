"""The `memory` monitor: what a run remembers at every evaluation, for forgetting curves.

At each evaluation, on the run's weights, for every task of the run (all phases):
- canaries (the first canaries task of the run): per canary, inserted and held out, the Secret Sharer's
  exposure by exact rank among every candidate of its format (Carlini et al. 2019; measure/exposure.py), the
  negative log2-likelihood of its secret given its prefix, and whether greedy decoding from its prefix
  reproduces the secret (extraction, Carlini et al. 2021/2022's per-sample prefix);
- facts: recall of the trained facts and of the held-out ones (chance), first generated line;
- arithmetic: accuracy on the seen equations and the withheld ones (the skill).
Recall and accuracy use the run's evaluation protocol (evaluate.py) with one sample per prompt at the run's
temperature (0.01: effectively greedy).

Figures go to metrics.jsonl under `<task label>.`: per-canary lists (`exposure_bits`, `secret_nll_bits`,
`extracted`, and `held_out_*`, in the task's order of `repeats`) and per-repeat means
(`exposure_bits.d<d>`, `d0` for the held-out canaries) for the log.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import torch
from torch.nn import functional as F

from ..evaluate import eval_generator, evaluate
from ..measure.exposure import canary_exposure, enumerate_candidates, n_candidates, parse_format
from ..measure.likelihood import LOG2E
from ..models.lm import LanguageModel
from ..tasks import Suite
from ..tasks.arithmetic import Arithmetic
from ..tasks.canaries import Canaries
from ..tasks.facts import Facts
from ..vocab import BOS
from ..train.callbacks import Callback, EvalContext, register_callback

MAX_EXACT_CANDIDATES = 10 ** 6
"""Formats with more candidates than this are ranked from a sample (measure/exposure.py's estimate)."""


def stem_score_fn(lm: LanguageModel):
    """texts -> (N,) negative log2-likelihoods (BOS + text, the BOS unscored), computed once per stem.

    Texts that differ only in their last character share one forward pass over BOS + the text: the stem's
    token NLLs and the log-softmax at the last position give every continuation. Exact (the same sums as
    sequence_nll_bits) and |alphabet| times cheaper on a canary's candidates."""
    def score(texts: list[str]) -> np.ndarray:
        out = np.zeros(len(texts))
        stems: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(texts):
            stems[t[:-1]].append(i)
        keys = list(stems)
        last_id = {ch: lm.tokenize([ch])[0][0] for ch in {t[-1] for t in texts}}
        for b in range(0, len(keys), lm.batch_size):
            chunk = keys[b: b + lm.batch_size]
            seqs = lm.encode([k + texts[stems[k][0]][-1] for k in chunk])
            if len({len(s) for s in seqs}) != 1:  # stems of several lengths: score them one by one
                for k in chunk:
                    out[stems[k]] = lm.sequence_nll_bits(lm.encode([texts[i] for i in stems[k]])).numpy()
                continue
            with torch.no_grad(), lm._inference():
                idx = torch.tensor(seqs, dtype=torch.long, device=lm.device)  # (B, T)
                logp = F.log_softmax(lm.logits_fn(idx[:, :-1]).float(), dim=-1) * LOG2E  # (B, T-1, V)
                stem_nll = -logp[:, :-1].gather(-1, idx[:, 1:-1, None]).squeeze(-1).sum(-1)  # (B,)
                last = -logp[:, -1]  # (B, V)
            rows = torch.tensor([row for row, k in enumerate(chunk) for _ in stems[k]])
            ends = torch.tensor([last_id[texts[i][-1]] for k in chunk for i in stems[k]])
            ids = [i for k in chunk for i in stems[k]]
            out[ids] = (stem_nll[rows].double() + last[rows, ends].double()).cpu().numpy()
        return out
    return score


def secret_nll_bits(lm: LanguageModel, texts: list[str], secret_tokens: int) -> list[float]:
    """Negative log2-likelihood of each text's last secret_tokens tokens given all before them."""
    per_token = lm.token_nll_bits(lm.encode(texts))
    return [float(t[-secret_tokens:].double().sum()) for t in per_token]


def canary_figures(lm: LanguageModel, task: Canaries, generator: torch.Generator) -> dict:
    """Exposure, secret NLL and greedy extraction of every canary of the task (inserted, then held out)."""
    records = task.canary_records()
    n_in = len(task.canaries)
    positions = parse_format(records[0]["format"])
    score = stem_score_fn(lm)
    if n_candidates(positions) <= MAX_EXACT_CANDIDATES:  # every format's candidates in one batched pass
        formats = list(dict.fromkeys(r["format"] for r in records))
        texts = [t for f in formats for t in enumerate_candidates(parse_format(f))]
        cache = dict(zip(texts, score(texts)))
        score = lambda xs: np.array([cache[x] for x in xs])  # noqa: E731
    rows = canary_exposure(score, records, generator, max_candidates=MAX_EXACT_CANDIDATES)
    texts = [r["text"] for r in records]
    nll = secret_nll_bits(lm, texts, task.secret_digits)
    prefixes = [task.prefix_of(t) for t in texts]
    greedy = lm.greedy(lm.encode(prefixes), [task.secret_digits] * len(texts))
    extracted = [int(lm.decode(g) == t[len(p):]) for g, t, p in zip(greedy, texts, prefixes)]
    exposure = [r["exposure_bits"] for r in rows]
    out = {"exposure_bits": exposure[:n_in], "held_out_exposure_bits": exposure[n_in:],
           "secret_nll_bits": nll[:n_in], "held_out_secret_nll_bits": nll[n_in:],
           "extracted": extracted[:n_in], "held_out_extracted": extracted[n_in:],
           "max_exposure_bits": rows[0]["max_exposure_bits"]}
    by_d: dict[int, list[float]] = defaultdict(list)
    for d, e in zip(task.repeats, exposure[:n_in]):
        by_d[d].append(e)
    for d in sorted(by_d):
        out[f"exposure_bits.d{d}"] = float(np.mean(by_d[d]))
    if exposure[n_in:]:
        out["exposure_bits.d0"] = float(np.mean(exposure[n_in:]))
    return out


def after_bos(suites: list[Suite]) -> list[Suite]:
    """The suites with every prompt after a BOS: one-line-per-row samplers (epochs) train each line right
    after its BOS, so a prompt without one would sit one position off (learned positions)."""
    return [replace(s, prompts=tuple(p if p.text.startswith(BOS) else replace(p, text=BOS + p.text)
                                     for p in s.prompts)) for s in suites]


def protocol_figures(lm: LanguageModel, task, seed: int, step: int, temperature: float, top_k: int) -> dict:
    """Seen accuracy (facts recall, arithmetic) and the held-out/withheld share, one sample per prompt,
    every prompt after a BOS."""
    m = evaluate(lm, task, n_samples=1, temperature=temperature, top_k=top_k, generator=eval_generator(seed, step),
                 suites=after_bos(task.eval_suites()))
    held = None if not m["withheld_total"] else m["withheld_correct"] / m["withheld_total"]
    return {"seen_acc": m["seen_acc"], "held_out_acc": held}


@register_callback("memory")
class MemoryMonitor(Callback):
    """Canary exposure and extraction, facts recall and arithmetic accuracy at every evaluation."""

    def on_eval(self, ctx: EvalContext) -> dict:
        cfg = self.rc.train
        lm = LanguageModel.from_gpt(ctx.model, ctx.vocab)
        out: dict = {}
        canaries_done = False
        for label, task in ctx.tasks:
            if isinstance(task, Canaries) and not canaries_done:
                gen = torch.Generator().manual_seed(cfg.seed)
                out.update({f"{label}.{k}": v for k, v in canary_figures(lm, task, gen).items()})
                canaries_done = True
            elif isinstance(task, (Facts, Arithmetic)):
                figs = protocol_figures(lm, task, cfg.seed, ctx.step, cfg.temperature, cfg.top_k)
                out.update({f"{label}.{k}": v for k, v in figs.items()})
        return out
