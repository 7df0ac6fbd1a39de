"""Too Big to Think's Tables 2-4 read from stored run summaries: the published numbers, table cells over
seeds, Markdown, and the paper's claims judged on rules fixed in advance. Pure functions of summaries.

The claim rules (fixed before the runs; issue 12):
- **One statistic decides every claim, for every size alike: the figure at the best checkpoint**, the
  evaluation with the highest `best_metric` (non-withheld accuracy, `train/callbacks.py: BestCheckpoint`;
  the withheld prompts never choose it), as stored in each run's summary.json under "best".
- A size *generalizes* to the withheld pairs on a task when a majority of its seeds get every withheld
  sample right (40/40) at the best checkpoint (`generalizes`). The claim "n14 generalizes" holds when
  n14 does; "n28 and larger fail" when none of them does; "joint training generalizes for no size" when
  no size does on combined. The same test, on the same statistic, for every size.
- A size *memorizes* the capitals when its mean best-checkpoint accuracy over seeds is at least 90%, and
  *fails to memorize* them when it is below 50% (`memorizes`, `fails_to_memorize`).
- Intervals over seeds: every cell carries the 95% Student t interval of its mean (`measure/stats.py`).
- Secondary evidence, shown beside the verdict and never deciding it: how many seeds were at 40/40 at
  any evaluation ("ever") and at the last one ("final"), and the final scores.
"""
from __future__ import annotations

from ...claims import Claim, clip, verdict_of
from ...measure.stats import mean_sd, t_interval

TASKS = ("arithmetic", "capitals", "combined")

# docs/REFERENCE.md section 1: the paper's best checkpoints (one seed, withheld pairs 5,7).
PUBLISHED = {
    ("arithmetic", "n14"): {"add_acc": 1.00, "sub_acc": 1.00, "withheld_correct": 40},
    ("arithmetic", "n28"): {"add_acc": 0.98, "sub_acc": 0.98, "withheld_correct": 0},
    ("arithmetic", "n56"): {"add_acc": 0.98, "sub_acc": 0.98, "withheld_correct": 0},
    ("arithmetic", "mlt"): {"add_acc": 0.98, "sub_acc": 0.98, "withheld_correct": 0},
    ("capitals", "n14"): {"facts_acc": 0.082},
    ("capitals", "n28"): {"facts_acc": 1.00},
    ("capitals", "n56"): {"facts_acc": 1.00},
    ("capitals", "mlt"): {"facts_acc": 1.00},
    ("combined", "n14"): {"add_acc": 0.312, "sub_acc": 0.394, "facts_acc": 0.020, "combined_acc": 0.286,
                          "withheld_correct": 0},
    ("combined", "n28"): {"add_acc": 0.950, "sub_acc": 0.970, "facts_acc": 0.876, "combined_acc": 0.943,
                          "withheld_correct": 0},
    ("combined", "n56"): {"add_acc": 0.98, "sub_acc": 0.98, "facts_acc": 1.00, "combined_acc": 0.984,
                          "withheld_correct": 0},
    ("combined", "mlt"): {"add_acc": 0.98, "sub_acc": 0.98, "facts_acc": 1.00, "combined_acc": 0.984,
                          "withheld_correct": 0},
}
TABLE_OF_TASK = {"arithmetic": 2, "capitals": 3, "combined": 4}
COLUMNS = {"arithmetic": ("add_acc", "sub_acc", "withheld_correct"), "capitals": ("facts_acc",),
           "combined": ("add_acc", "sub_acc", "facts_acc", "combined_acc", "withheld_correct")}


# ----------------------------------------------------------------------------- reading runs back
def cell(summaries: list[dict], key: str) -> dict:
    """A table cell over seeds: the best checkpoint's figure (selected on non-withheld accuracy, never on
    the withheld pairs) as mean, spread and 95% t interval of the mean (None for one seed); for the
    withheld score also how many seeds are at every sample right at the best checkpoint (the deciding
    count), and as secondary evidence at any evaluation ("ever") and at the last ("final")."""
    values = [s["best"][key] for s in summaries]
    floats = [float(v) for v in values]
    mean, sd = mean_sd(floats)
    ci = t_interval(floats) if len(floats) > 1 else None
    out = {"mean": mean, "sd": 0.0 if sd is None else sd, "ci95": None if ci is None else list(ci),
           "values": values}
    if key == "withheld_correct":
        out["total"] = total = summaries[0]["best"]["withheld_total"]
        out["seeds_40_at_best"] = sum(v == total for v in values)
        out["seeds_40_ever"] = sum(s["first_withheld_step"] is not None for s in summaries)
        out["final"] = [s["withheld_correct"] for s in summaries]
        out["seeds_40_final"] = sum(v == total for v in out["final"])
    return out


def build_tables(summaries: dict[str, dict], models: tuple[str, ...], seeds: int) -> dict:
    """{task: {model: {column: cell}}} for the runs present."""
    tables: dict = {}
    for task in TASKS:
        for model in models:
            runs = [summaries.get(f"{task}-{model}-seed{s}") for s in range(seeds)]
            runs = [r for r in runs if r is not None]
            if runs:
                tables.setdefault(task, {})[model] = {c: cell(runs, c) for c in COLUMNS[task]}
    return tables


def _fmt(task: str, col: str, c: dict) -> str:
    if col == "withheld_correct":
        t, n = c["total"], len(c["values"])
        ci = "" if c["ci95"] is None else f" [{c['ci95'][0]:.1f}, {c['ci95'][1]:.1f}]"
        return (f"{c['mean']:.1f}/{t}{ci} ({t}/{t} at best: **{c['seeds_40_at_best']} of {n}**; "
                f"ever {c['seeds_40_ever']}, final {c['seeds_40_final']})")
    return f"{100 * c['mean']:.1f} ± {100 * c['sd']:.1f}"


def _fmt_published(col: str, v) -> str:
    return f"{v}/40" if col == "withheld_correct" else f"{100 * v:.1f}"


def tables_markdown(tables: dict, seeds: int) -> str:
    parts = []
    for task, rows in tables.items():
        cols = COLUMNS[task]
        head = ["model"] + [f"{c.replace('_acc', '').replace('_correct', '')} (memscope)" for c in cols] + \
               [f"{c.replace('_acc', '').replace('_correct', '')} (paper)" for c in cols]
        withheld = ("; withheld: mean [95% t interval], seeds with every withheld sample right at the best "
                    "checkpoint (decides), at any evaluation and at the end (secondary)"
                    if "withheld_correct" in cols else "")
        lines = [f"### Table {TABLE_OF_TASK[task]}: {task} (best checkpoint; mean ± sd over {seeds} "
                 f"seed{'s' if seeds != 1 else ''}, %{withheld})",
                 "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for model, row in rows.items():
            pub = PUBLISHED.get((task, model), {})
            lines.append("| " + " | ".join([model] + [_fmt(task, c, row[c]) for c in cols]
                                           + [_fmt_published(c, pub[c]) if c in pub else "-" for c in cols]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- the claims
MEMORIZED_FROM = 0.9
"""A size memorizes the capitals when its mean best-checkpoint accuracy over seeds is at least this."""
NOT_MEMORIZED_BELOW = 0.5
"""A size fails to memorize the capitals when its mean best-checkpoint accuracy is below this."""
BIGGER = ("n28", "n56", "mlt")


def generalizes(w: dict) -> bool:
    """The one test of every size on the withheld pairs: a majority of seeds with every withheld sample
    right (40/40) at the best checkpoint. "Ever" and "final" never enter it."""
    return 2 * w["seeds_40_at_best"] > len(w["values"])


def memorizes(c: dict) -> bool:
    """The capitals test of every size: mean best-checkpoint accuracy over seeds >= MEMORIZED_FROM."""
    return c["mean"] >= MEMORIZED_FROM


def fails_to_memorize(c: dict) -> bool:
    """Mean best-checkpoint capitals accuracy over seeds < NOT_MEMORIZED_BELOW."""
    return c["mean"] < NOT_MEMORIZED_BELOW


def _ci_text(c: dict, scale: float = 1.0, unit: str = "") -> str:
    if c["ci95"] is None:
        return "no interval from one seed"
    lo, hi = (scale * v for v in c["ci95"])
    return f"95% CI [{lo:.1f}, {hi:.1f}]{unit}"


def _withheld_evidence(model: str, w: dict) -> str:
    n, t = len(w["values"]), w["total"]
    return (f"{model}: {w['seeds_40_at_best']} of {n} seeds at {t}/{t} at the best checkpoint (scores "
            f"{w['values']}, mean {w['mean']:.1f}, {_ci_text(w)}); secondary, not deciding: "
            f"{w['seeds_40_ever']} of {n} ever at {t}/{t}, {w['seeds_40_final']} at the end (final {w['final']})")


def _caps_evidence(model: str, c: dict) -> str:
    return f"{model} {100 * c['mean']:.1f}% ({_ci_text(c, 100, '%')})"


RULES = {
    "n14 generalizes to the withheld pairs (all samples right)":
        "a majority of n14's seeds at 40/40 (every withheld sample right) at the best checkpoint",
    "n14 fails to memorize the capitals":
        f"n14's mean best-checkpoint capitals accuracy below {100 * NOT_MEMORIZED_BELOW:.0f}%",
    "n28 and larger memorize the capitals":
        f"every larger size's mean best-checkpoint capitals accuracy at least {100 * MEMORIZED_FROM:.0f}%",
    "n28 and larger fail the withheld pairs":
        "no larger size with a majority of seeds at 40/40 at the best checkpoint",
    "joint training (combined) generalizes for no size":
        "no size with a majority of seeds at 40/40 at the best checkpoint on combined",
}
"""Each claim's rule in words, as the reports print it; the code below applies exactly these."""


T_INTERVAL = "95% t interval over seeds, cut to [0, 1]"


def claims(tables: dict) -> list[Claim]:
    """Each of the paper's claims, its rule, whether it held here, and the numbers it rests on (the
    deciding best-checkpoint statistic first, the secondary evidence after it)."""
    out = []

    def add(name, statement, statistic, value, interval, threshold, held, evidence):
        out.append(Claim(name, statement, RULES[statement], statistic, value, clip(interval, (0.0, 1.0)),
                         T_INTERVAL if interval is not None else "none", (0.0, 1.0), threshold,
                         verdict_of(held), evidence))

    def share(w: dict) -> float:
        return w["seeds_40_at_best"] / len(w["values"])

    arith, caps, comb = (tables.get(t, {}) for t in TASKS)
    if "n14" in arith:
        w = arith["n14"]["withheld_correct"]
        add("C1", "n14 generalizes to the withheld pairs (all samples right)",
            "share of n14's seeds at every withheld sample right at the best checkpoint", share(w), None, 0.5,
            generalizes(w), _withheld_evidence("n14", w) + " (paper 40/40, one seed)")
    if "n14" in caps:
        c = caps["n14"]["facts_acc"]
        add("C2", "n14 fails to memorize the capitals", "n14's mean best-checkpoint capitals accuracy",
            c["mean"], c["ci95"], NOT_MEMORIZED_BELOW, fails_to_memorize(c),
            _caps_evidence("n14", c) + " (paper 8.2%)")
    big = [m for m in BIGGER if m in caps]
    if big:
        low = min(big, key=lambda m: caps[m]["facts_acc"]["mean"])
        add("C3", "n28 and larger memorize the capitals",
            "lowest mean best-checkpoint capitals accuracy among the larger sizes", caps[low]["facts_acc"]["mean"],
            caps[low]["facts_acc"]["ci95"], MEMORIZED_FROM, all(memorizes(caps[m]["facts_acc"]) for m in big),
            ", ".join(_caps_evidence(m, caps[m]["facts_acc"]) for m in big) + " (paper 100%)")
    big = [m for m in BIGGER if m in arith]
    if big:
        add("C4", "n28 and larger fail the withheld pairs",
            "largest share of seeds at every withheld sample right at the best checkpoint among the larger sizes",
            max(share(arith[m]["withheld_correct"]) for m in big), None, 0.5,
            not any(generalizes(arith[m]["withheld_correct"]) for m in big),
            "; ".join(_withheld_evidence(m, arith[m]["withheld_correct"]) for m in big) + " (paper 0/40)")
    if comb:
        add("C5", "joint training (combined) generalizes for no size",
            "largest share of seeds at every withheld sample right at the best checkpoint on combined",
            max(share(r["withheld_correct"]) for r in comb.values()), None, 0.5,
            not any(generalizes(r["withheld_correct"]) for r in comb.values()),
            "; ".join(_withheld_evidence(m, r["withheld_correct"]) for m, r in comb.items())
            + " (paper 0/40 for all)")
    return out
