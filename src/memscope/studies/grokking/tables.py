"""Per-run grokking figures read from metrics.jsonl, tables over seeds, and the claims' rules.

The rules below were fixed before the quick profile's runs (docs/RESULTS.md) and are the same for every
setting. Accuracies are the `memorization` monitor's greedy (teacher-forced argmax) accuracies.
- train step: the first evaluation with training accuracy >= 99%;
- held-out step: the first with held-out accuracy >= 99% (None: never within the run);
- jump step: the first with held-out accuracy >= 90% (the held-out jump). Not 50%: addition commutes, so
  a model that has memorized the training pairs answers the held-out pairs whose swap it was trained on,
  a plateau near the train fraction (about 50% at fraction 0.5) long before the jump (first probe runs,
  docs/RESULTS.md);
- Fourier rise step: the first at which the top-5 Fourier share has covered half its rise from step 0 to
  its maximum over the run.
"""
from __future__ import annotations

from ...claims import Claim, verdict_of
from ...measure.stats import over_seeds

SATURATED = 0.99
JUMP = 0.9
DELAY_RATIO = 2.0
"""'Long after': the held-out step is at least this multiple of the train step."""
FALL_SHARE = 0.5
"""'Fall': the final memorized bits are at most this share of their peak."""
FOURIER = "fourier_top5_share"


def _first(history: list[dict], key: str, threshold: float) -> int | None:
    return next((h["step"] for h in history if h.get(key) is not None and h[key] >= threshold), None)


def run_figures(history: list[dict]) -> dict:
    """One run's steps and peaks (module docstring)."""
    train = _first(history, "train_greedy_acc", SATURATED)
    held = _first(history, "heldout_greedy_acc", SATURATED)
    jump = _first(history, "heldout_greedy_acc", JUMP)
    last = history[-1]
    mem = [(h["step"], h["memorized_bits"]) for h in history if h.get("memorized_bits") is not None]
    peak_step, peak = max(mem, key=lambda sv: sv[1]) if mem else (None, None)
    fourier = [(h["step"], h[FOURIER]) for h in history if h.get(FOURIER) is not None]
    rise = None
    if fourier:
        f0, fmax = fourier[0][1], max(v for _, v in fourier)
        rise = next(s for s, v in fourier if v >= f0 + 0.5 * (fmax - f0))
    return {
        "steps": last["step"], "train_step": train, "heldout_step": held, "jump_step": jump,
        "delay_ratio": held / train if held is not None and train else None,
        "final_train_acc": last.get("train_greedy_acc"), "final_heldout_acc": last.get("heldout_greedy_acc"),
        "peak_memorized_bits": peak, "peak_memorized_step": peak_step,
        "final_memorized_bits": last.get("memorized_bits"),
        "peak_utilization": max((h["capacity_utilization"] for h in history
                                 if h.get("capacity_utilization") is not None), default=None),
        "final_weight_norm": last.get("weight_norm"),
        "fourier_start": fourier[0][1] if fourier else None, "fourier_final": fourier[-1][1] if fourier else None,
        "fourier_rise_step": rise,
    }


def censored_heldout_steps(runs: list[dict]) -> list[float]:
    """Steps to 99% held-out accuracy, a run that never gets there counted at its length (a lower bound)."""
    return [r["heldout_step"] if r["heldout_step"] is not None else r["steps"] for r in runs]


def setting_row(runs: list[dict]) -> dict:
    """One (weight decay, fraction) setting over its seeds."""
    return {
        "seeds": len(runs),
        "generalized": sum(r["heldout_step"] is not None for r in runs),
        "train_step": over_seeds([r["train_step"] for r in runs]),
        "heldout_step": over_seeds([r["heldout_step"] for r in runs]),
        "heldout_step_censored": over_seeds(censored_heldout_steps(runs)),
        "delay_ratio": over_seeds([r["delay_ratio"] for r in runs]),
        "final_heldout_acc": over_seeds([r["final_heldout_acc"] for r in runs]),
        "peak_memorized_bits": over_seeds([r["peak_memorized_bits"] for r in runs]),
        "final_memorized_bits": over_seeds([r["final_memorized_bits"] for r in runs]),
        "peak_utilization": over_seeds([r["peak_utilization"] for r in runs]),
        "final_weight_norm": over_seeds([r["final_weight_norm"] for r in runs]),
        "fourier_final": over_seeds([r["fourier_final"] for r in runs]),
    }


def _fmt(s: dict, spec: str = ".0f") -> str:
    if not s["n"]:
        return "-"
    text = format(s["mean"], spec)
    if s["ci95"] is not None:
        text += f" [{format(s['ci95'][0], spec)}, {format(s['ci95'][1], spec)}]"
    return text


T_INTERVAL = "95% t interval over seeds"


def claims(rows: dict[tuple[float, float], dict], runs: dict[tuple[float, float], list[dict]],
           weight_decays: tuple[float, ...], fractions: tuple[float, ...]) -> list[Claim]:
    """The four claims, each judged by its rule over every setting (rules in the module docstring)."""
    wd_max, wd_0 = max(weight_decays), min(weight_decays)
    out = []

    # C1. delayed generalization at the largest weight decay
    ev, ok, worst = [], True, None
    for f in fractions:
        row = rows[(wd_max, f)]
        ratio = row["delay_ratio"]
        all_gen = row["generalized"] == row["seeds"]
        lo = ratio["ci95"][0] if ratio["ci95"] else ratio["mean"]
        held = all_gen and ratio["mean"] is not None and ratio["mean"] >= DELAY_RATIO and lo is not None and lo > 1.0
        ok &= held
        if ratio["mean"] is not None and (worst is None or ratio["mean"] < worst["mean"]):
            worst = ratio
        ev.append(f"fraction {f}: {row['generalized']}/{row['seeds']} seeds reach 99% held-out, "
                  f"held-out step / train step {_fmt(ratio, '.1f')}")
    out.append(Claim(
        "C1", "held-out accuracy rises long after training accuracy saturates",
        f"weight decay {wd_max}: every seed reaches 99% held-out, mean delay ratio >= {DELAY_RATIO}, "
        "95% interval above 1",
        f"smallest seed-mean delay ratio (held-out 99% step / train 99% step) over the train fractions at weight "
        f"decay {wd_max}", None if worst is None else worst["mean"],
        None if worst is None or worst["ci95"] is None else tuple(worst["ci95"]),
        T_INTERVAL if worst is not None and worst["ci95"] is not None else "none", None, DELAY_RATIO,
        verdict_of(ok), "; ".join(ev)))

    # C2. weight decay decides whether and how soon
    ev, ok, margin = [], True, None
    for f in fractions:
        stats = [rows[(wd, f)]["heldout_step_censored"] for wd in sorted(weight_decays)]
        means = [s["mean"] for s in stats]
        monotone = all(a >= b for a, b in zip(means, means[1:])) and means[-1] < means[0]
        hi = stats[-1]["ci95"][1] if stats[-1]["ci95"] else stats[-1]["mean"]
        lo = stats[0]["ci95"][0] if stats[0]["ci95"] else stats[0]["mean"]
        disjoint = hi < lo
        ok &= monotone and disjoint
        margin = lo - hi if margin is None else min(margin, lo - hi)
        ev.append(f"fraction {f}: " + ", ".join(
            f"wd {wd}: {_fmt(s)} ({rows[(wd, f)]['generalized']}/{rows[(wd, f)]['seeds']} generalize)"
            for wd, s in zip(sorted(weight_decays), stats)))
    out.append(Claim(
        "C2", "weight decay decides whether and how soon",
        f"steps to 99% held-out (never = the run's length) fall as weight decay rises, wd {wd_max}'s 95% "
        f"interval below wd {wd_0}'s",
        f"smallest margin in steps between wd {wd_0}'s interval low end and wd {wd_max}'s high end over the "
        "train fractions (steps to 99% held-out)", margin, None,
        "none (the margin lies between two 95% t intervals over seeds)", None, 0.0, verdict_of(ok),
        "; ".join(ev)))

    # C3. memorized bits rise while memorizing, fall as held-out accuracy rises
    grokked = [r for f in fractions for r in runs[(wd_max, f)] if r["heldout_step"] is not None]
    good = [r for r in grokked if r["peak_memorized_step"] is not None and r["peak_memorized_step"] < r["heldout_step"]
            and r["final_memorized_bits"] <= FALL_SHARE * r["peak_memorized_bits"] and r["peak_memorized_bits"] > 0]
    falls = [r["final_memorized_bits"] / r["peak_memorized_bits"] for r in grokked if r["peak_memorized_bits"]]
    out.append(Claim(
        "C3", "memorized bits rise while the model memorizes and fall as held-out accuracy rises",
        f"every grokking run at wd {wd_max}: peak before the held-out step, final <= {FALL_SHARE:.0%} of peak",
        f"share of the grokking runs at wd {wd_max} whose memorized bits peak before the held-out step and end "
        f"at most {FALL_SHARE:.0%} of the peak", len(good) / len(grokked) if grokked else None, None, "none",
        (0.0, 1.0), 1.0, verdict_of(bool(grokked) and len(good) == len(grokked)),
        f"{len(good)} of {len(grokked)} grokking runs; final / peak "
        f"{_fmt(over_seeds(falls), '.2f')}; peak {_fmt(rows[(wd_max, fractions[0])]['peak_memorized_bits'])} "
        f"bits at fraction {fractions[0]}"))

    # C4. Fourier sparsity rises before the held-out jump
    leads = [r["jump_step"] - r["fourier_rise_step"] for r in grokked
             if r["jump_step"] is not None and r["fourier_rise_step"] is not None]
    s = over_seeds(leads)
    lo = s["ci95"][0] if s["ci95"] else s["mean"]
    out.append(Claim(
        "C4", "the Fourier sparsity of the embeddings rises before the held-out jump",
        f"grokking runs at wd {wd_max}: half the rise before held-out accuracy passes {JUMP:.0%}; 95% interval "
        "of the lead above 0 steps",
        f"mean lead in steps (held-out {JUMP:.0%} step - Fourier half-rise step) over the grokking runs at wd "
        f"{wd_max}", s["mean"], None if s["ci95"] is None else tuple(s["ci95"]),
        "95% t interval over the grokking runs" if s["ci95"] is not None else "none", None, 0.0,
        verdict_of(bool(leads) and lo is not None and lo > 0),
        f"lead (jump step - Fourier half-rise step) {_fmt(s)} steps over {len(leads)} runs; "
        f"{sum(v > 0 for v in leads)} of {len(leads)} positive"))
    return out


def tables_markdown(rows: dict[tuple[float, float], dict]) -> str:
    header = ("| weight decay | train fraction | generalized | train 99% step | held-out 99% step | ratio | "
              "final held-out acc | peak memorized bits | final memorized bits | peak utilization | "
              "final weight norm | final Fourier top-5 share |")
    lines = [header, "|" + "---|" * 12]
    for (wd, f), r in sorted(rows.items()):
        lines.append(f"| {wd} | {f} | {r['generalized']}/{r['seeds']} | {_fmt(r['train_step'])} | "
                     f"{_fmt(r['heldout_step'])} | {_fmt(r['delay_ratio'], '.1f')} | {_fmt(r['final_heldout_acc'], '.3f')} | "
                     f"{_fmt(r['peak_memorized_bits'])} | {_fmt(r['final_memorized_bits'])} | "
                     f"{_fmt(r['peak_utilization'], '.4f')} | {_fmt(r['final_weight_norm'], '.1f')} | "
                     f"{_fmt(r['fourier_final'], '.2f')} |")
    return "\n".join(lines) + "\n\nMean [95% t interval] over seeds; held-out step over the seeds that reach it.\n"
