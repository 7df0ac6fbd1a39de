"""The metamorphic study's figures per run, cells over seeds, Markdown, and the claims' rules.

Pure functions of the metamorphic summaries (metamorphic/core.py: score_items) of each trained run.

The rules (written in code before the quick profile's first run; the git history shows it):
- **The deciding metric of the multiple-choice models is `acc`** (the option of highest log-likelihood;
  lm-evaluation-harness). `acc_norm` (divided by the option's characters) is reported beside it and
  decides nothing: it favours the long "None of the other answers" option. The TBTT arithmetic models
  are scored by greedy exact match (their task's scorer).
- Every statistic is one number per run; a claim compares models on the same statistic, and its
  interval is the 95% Student t interval over seeds (`measure.stats.over_seeds`). Where two models are
  compared, the statistic is their per-seed difference (the two models of seed s train on seed s).
- C1, the nota drop is large on memorized items and small on computed ones. Statistic: the drop in acc
  under `nota` on the seen items (acc original - acc rewritten). Holds when (a) the capitals model's
  mean seen drop is at least LARGE_DROP, (b) the arithmetic model's is at most SMALL_DROP, and (c) the
  per-seed difference capitals - arithmetic has its 95% interval above 0.
- C2, the memorization gap separates a memorizer from a generalizer at the same size. (a) Statistic: the
  gap under `nota` in acc, drop(seen) - drop(held out) (metamorphic/stats.py); holds when the per-seed
  difference capitals - arithmetic has its 95% interval above 0. (b) The TBTT models n56 (memorizes the
  withheld pairs' neighbours) and n14 (can compute them), the arithmetic task relations pooled
  (commutation, negation, successor, zero), provenance by the rewrite (`rewritten_seen`: the rewritten
  equation is a training line): statistic the *withheld excess*, drop(rewrite withheld) - drop(rewrite
  seen) = -gap; holds when the per-seed difference n56 - n14 has its 95% interval above 0.
- C3, the control rewrite (`nota-distractor`: a wrong option replaced) leaves accuracy unchanged.
  Statistic: the drop in acc on all items; holds for a model when the 95% interval over seeds contains 0
  and |mean| <= SMALL_DROP; the claim holds when it holds for both multiple-choice models.
An interval from one seed does not exist: a claim that needs one does not hold (the tiny profile, a
plumbing check, reads `not established` whatever the rules say: studies.Study).
"""
from __future__ import annotations

from ...claims import Claim, clip, verdict_of
from ...measure.stats import over_seeds

MC_MODELS = ("mc-arithmetic", "mc-capitals")
TBTT_MODELS = ("tbtt-n14", "tbtt-n56")
MC_RELATIONS = ("nota", "nota-distractor", "shuffle")
TASK_RELATIONS = ("commutation", "negation", "successor", "zero")
DECIDING_METRIC = "acc"
LARGE_DROP = 0.2
"""C1: the memorizer's mean nota drop on seen items is at least this."""
SMALL_DROP = 0.1
"""C1: the computer's mean nota drop on seen items is at most this; C3: |mean control drop| at most this."""
GROUPS = ("all", "seen", "held_out")
STATS = ("acc_original", "acc_rewritten", "drop")


# ----------------------------------------------------------------------------- one run
def _value(s: dict | None, key: str) -> float | None:
    return None if not s or not s.get("n") or s.get(key) is None else s[key]["value"]


def run_figures(summary: dict, by: str, pooled: dict | None = None) -> dict:
    """{relation: {metric: {group: {acc_original, acc_rewritten, drop}, "gap": float | None}}} from one
    run's metamorphic summary; `by` is the provenance the groups follow (seen or rewritten_seen).
    pooled: the task relations' items pooled (recipe.py), kept as relation "pooled"."""
    out: dict = {}
    relations = dict(summary["relations"])
    if pooled is not None:
        relations["pooled"] = {"metrics": pooled}
    for rel, entry in relations.items():
        for metric, s in entry["metrics"].items():
            groups = {"all": s["all"], **(s.get(f"by_{by}") or {})}
            cell = {g: {k: _value(groups.get(g), k) for k in STATS} for g in GROUPS}
            gap = s.get(f"gap_{by}")
            cell["gap"] = None if gap is None else gap["value"]
            out.setdefault(rel, {})[metric] = cell
    return out


# ----------------------------------------------------------------------------- over seeds
def model_cells(runs: list[dict]) -> dict:
    """The same shape as run_figures, each number replaced by over_seeds of its values."""
    first = runs[0]
    out: dict = {}
    for rel, metrics in first.items():
        for metric, cell in metrics.items():
            c = {g: {k: over_seeds([r[rel][metric][g][k] for r in runs]) for k in STATS} for g in GROUPS}
            c["gap"] = over_seeds([r[rel][metric]["gap"] for r in runs])
            out.setdefault(rel, {})[metric] = c
    return out


def _stat(run: dict, rel: str, metric: str, group: str, key: str) -> float | None:
    if key == "gap":
        return run[rel][metric]["gap"]
    return run[rel][metric][group][key]


def paired(runs_a: list[dict], runs_b: list[dict], rel: str, metric: str, group: str, key: str) -> dict:
    """over_seeds of a - b per seed (seeds where both are defined)."""
    diffs = []
    for a, b in zip(runs_a, runs_b):
        va, vb = _stat(a, rel, metric, group, key), _stat(b, rel, metric, group, key)
        diffs.append(None if va is None or vb is None else va - vb)
    return over_seeds(diffs)


def _neg(s: dict) -> dict:
    """over_seeds of -x from over_seeds of x."""
    ci = s["ci95"]
    return {**s, "mean": None if s["mean"] is None else -s["mean"], "ci95": None if ci is None else [-ci[1], -ci[0]]}


# ----------------------------------------------------------------------------- claims
def _f(s: dict, scale: float = 100.0) -> str:
    if not s["n"] or s["mean"] is None:
        return "-"
    text = f"{scale * s['mean'] + 0.0:.1f}"
    if s["ci95"] is not None:
        text += f" [{scale * s['ci95'][0]:.1f}, {scale * s['ci95'][1]:.1f}]"
    return text


def _above_zero(s: dict) -> bool:
    return s["ci95"] is not None and s["ci95"][0] > 0


T_INTERVAL = "95% t interval over seeds"
DROP_BOUNDS = (-1.0, 1.0)
"""A drop is a difference of two accuracies."""
DIFF_BOUNDS = (-2.0, 2.0)
"""A per-seed difference of two drops, and a gap (drop(seen) - drop(held out))."""
GAP_DIFF_BOUNDS = (-4.0, 4.0)
"""A per-seed difference of two gaps (or withheld excesses)."""


def _claim(name: str, statement: str, rule: str, statistic: str, s: dict, bounds, threshold, held: bool,
           evidence: str) -> Claim:
    """A claim whose deciding statistic is the over_seeds cell s (mean, 95% t interval cut to bounds)."""
    ci = clip(s["ci95"], bounds)
    value = None if s["mean"] is None else s["mean"] + 0.0  # -0.0 (a negated 0) reads 0
    return Claim(name, statement, rule, statistic, value, ci, T_INTERVAL if ci is not None else "none", bounds,
                 threshold, verdict_of(held), evidence)


def claims(runs: dict[str, list[dict]]) -> list[Claim]:
    """C1-C3 (module docstring) from {model: [run_figures per seed, in seed order]}; a claim whose models
    are missing is left out."""
    out = []
    m = DECIDING_METRIC
    if all(k in runs for k in MC_MODELS):
        arith, caps = runs["mc-arithmetic"], runs["mc-capitals"]
        cap_seen = over_seeds([_stat(r, "nota", m, "seen", "drop") for r in caps])
        ar_seen = over_seeds([_stat(r, "nota", m, "seen", "drop") for r in arith])
        diff = paired(caps, arith, "nota", m, "seen", "drop")
        ok = (cap_seen["mean"] is not None and cap_seen["mean"] >= LARGE_DROP and ar_seen["mean"] is not None
              and ar_seen["mean"] <= SMALL_DROP and _above_zero(diff))
        out.append(_claim(
            "C1", "the nota drop is large on memorized items (capitals) and small on computed ones (arithmetic)",
            f"nota drop in {m} on seen items: capitals mean >= {100 * LARGE_DROP:.0f} points, "
            f"arithmetic mean <= {100 * SMALL_DROP:.0f} points, per-seed difference capitals - "
            "arithmetic with its 95% t interval above 0",
            f"per-seed difference capitals - arithmetic of the nota drop in {m} on seen items", diff, DIFF_BOUNDS,
            None, ok,
            f"seen-item nota drop (points, mean [95% t interval over seeds]): capitals "
            f"{_f(cap_seen)}, arithmetic {_f(ar_seen)}, difference {_f(diff)}"))
        gaps = {k: over_seeds([_stat(r, "nota", m, "", "gap") for r in runs[k]]) for k in MC_MODELS}
        diff = paired(caps, arith, "nota", m, "", "gap")
        out.append(_claim(
            "C2a", "the memorization gap separates a memorizer (capitals) from a generalizer (arithmetic) at the "
            "same size",
            f"nota gap in {m}, drop(seen) - drop(held out): per-seed difference capitals - "
            "arithmetic with its 95% t interval above 0",
            f"per-seed difference capitals - arithmetic of the nota gap in {m}", diff, GAP_DIFF_BOUNDS, 0.0,
            _above_zero(diff),
            f"gap (points): capitals {_f(gaps['mc-capitals'])}, arithmetic "
            f"{_f(gaps['mc-arithmetic'])}, difference {_f(diff)}"))
        ev, ok, cells = [], True, {}
        for k in MC_MODELS:
            s = over_seeds([_stat(r, "nota-distractor", m, "all", "drop") for r in runs[k]])
            held = (s["ci95"] is not None and s["ci95"][0] <= 0 <= s["ci95"][1] and abs(s["mean"]) <= SMALL_DROP)
            ok &= held
            cells[k] = (held, s)
            ev.append(f"{k.removeprefix('mc-')} {_f(s)} ({'unchanged' if held else 'changed or no interval'})")
        # the deciding model: one that fails the rule if any, else the one with the larger |mean|
        worst = max(MC_MODELS, key=lambda k: (not cells[k][0], abs(cells[k][1]["mean"] or 0.0)))
        out.append(_claim(
            "C3", "the control rewrite (nota-distractor) leaves accuracy unchanged",
            f"nota-distractor drop in {m} on all items: 95% t interval contains 0 and |mean| <= "
            f"{100 * SMALL_DROP:.0f} points, for both multiple-choice models",
            f"nota-distractor drop in {m} on all items, {worst} (the model farther from unchanged)",
            cells[worst][1], DROP_BOUNDS, None, bool(ok), "drop (points): " + "; ".join(ev)))
    if all(k in runs for k in TBTT_MODELS):
        n14, n56 = runs["tbtt-n14"], runs["tbtt-n56"]
        ex = {k: _neg(over_seeds([_stat(r, "pooled", "exact_match", "", "gap") for r in runs[k]]))
              for k in TBTT_MODELS}
        diff = _neg(paired(n56, n14, "pooled", "exact_match", "", "gap"))  # -(gap56 - gap14) = ex56 - ex14
        out.append(_claim(
            "C2b", "the memorization gap separates n56 (memorizer) from n14 (generalizer) on the TBTT arithmetic "
            "relations",
            "arithmetic relations pooled, greedy exact match, withheld excess = drop(rewrite withheld) "
            "- drop(rewrite seen): per-seed difference n56 - n14 with its 95% t interval above 0",
            "per-seed difference n56 - n14 of the withheld excess (exact match, arithmetic relations pooled)",
            diff, GAP_DIFF_BOUNDS, 0.0, _above_zero(diff),
            f"withheld excess (points): n56 {_f(ex['tbtt-n56'])}, n14 {_f(ex['tbtt-n14'])}, "
            f"difference {_f(diff)}"))
    order = {"C1": 0, "C2a": 1, "C2b": 2, "C3": 3}
    return sorted(out, key=lambda c: order[c.name])


# ----------------------------------------------------------------------------- Markdown
def tables_markdown(cells: dict[str, dict], seeds: int) -> str:
    """One table per model kind: relation x metric x provenance, mean [95% t interval] over seeds, points."""
    parts = []
    for title, models, metrics in (("Multiple-choice models (log-likelihood of each option)", MC_MODELS,
                                    ("acc", "acc_norm")),
                                   ("TBTT arithmetic models (greedy exact match; provenance of the rewrite)",
                                    TBTT_MODELS, ("exact_match",))):
        present = [k for k in models if k in cells]
        if not present:
            continue
        lines = [f"### {title}: accuracy and drop in points, mean [95% t interval] over {seeds} "
                 f"seed{'s' if seeds != 1 else ''}", "",
                 "| model | relation | metric | items | original | rewritten | drop | gap (seen - held out) |",
                 "|---|---|---|---|---|---|---|---|"]
        for k in present:
            for rel, per_metric in cells[k].items():
                for metric in metrics:
                    c = per_metric.get(metric)
                    if c is None:
                        continue
                    for g in GROUPS:
                        if not c[g]["drop"]["n"]:
                            continue
                        lines.append(f"| {k} | {rel} | {metric} | {g.replace('_', '-')} | "
                                     f"{_f(c[g]['acc_original'])} | {_f(c[g]['acc_rewritten'])} | "
                                     f"{_f(c[g]['drop'])} | {_f(c['gap']) if g == 'all' else ''} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
