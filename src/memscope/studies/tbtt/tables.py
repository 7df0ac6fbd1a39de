"""Too Big to Think's Tables 2-4 read from stored run summaries: the published numbers, table cells over
seeds, Markdown, and the paper's claims judged on rules fixed in advance. Pure functions of summaries."""
from __future__ import annotations

from ...measure.stats import mean_sd

TASKS = ("arithmetic", "capitals", "combined")

# ../shared/REFERENCE.md section 1: the paper's best checkpoints (one seed, withheld pairs 5,7).
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
    the withheld pairs) as mean and spread; for the withheld score also how many seeds reach 40/40."""
    values = [s["best"][key] for s in summaries]
    mean, sd = mean_sd([float(v) for v in values])
    out = {"mean": mean, "sd": 0.0 if sd is None else sd, "values": values}
    if key == "withheld_correct":
        out["total"] = summaries[0]["best"]["withheld_total"]
        out["seeds_40_at_best"] = sum(v == out["total"] for v in values)
        out["seeds_40_ever"] = sum(s["first_withheld_step"] is not None for s in summaries)
        out["final"] = [s["withheld_correct"] for s in summaries]
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
        t = c["total"]
        return (f"{c['mean']:.1f}/{t} ({t}/{t}: {c['seeds_40_at_best']} of {len(c['values'])} seeds at best, "
                f"{c['seeds_40_ever']} ever)")
    return f"{100 * c['mean']:.1f} ± {100 * c['sd']:.1f}"


def _fmt_published(col: str, v) -> str:
    return f"{v}/40" if col == "withheld_correct" else f"{100 * v:.1f}"


def tables_markdown(tables: dict, seeds: int) -> str:
    parts = []
    for task, rows in tables.items():
        cols = COLUMNS[task]
        head = ["model"] + [f"{c.replace('_acc', '').replace('_correct', '')} (memscope)" for c in cols] + \
               [f"{c.replace('_acc', '').replace('_correct', '')} (paper)" for c in cols]
        lines = [f"### Table {TABLE_OF_TASK[task]}: {task} (best checkpoint; mean ± sd over {seeds} seeds, %)",
                 "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for model, row in rows.items():
            pub = PUBLISHED.get((task, model), {})
            lines.append("| " + " | ".join([model] + [_fmt(task, c, row[c]) for c in cols]
                                           + [_fmt_published(c, pub[c]) if c in pub else "-" for c in cols]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- the claims
def claims(tables: dict) -> list[dict]:
    """Each of the paper's claims, whether it held here, and the numbers it rests on."""
    out = []

    def add(claim, held, evidence):
        out.append({"claim": claim, "held": held, "evidence": evidence})

    arith, caps, comb = (tables.get(t, {}) for t in TASKS)
    if "n14" in arith:
        w = arith["n14"]["withheld_correct"]
        n = len(w["values"])
        add("n14 generalizes to the withheld pairs (all samples right)", w["seeds_40_ever"] * 2 > n,
            f"{w['seeds_40_ever']} of {n} seeds reach {w['total']}/{w['total']} at some evaluation, {w['seeds_40_at_best']} at the "
            f"best checkpoint; best-checkpoint scores {w['values']}, final scores {w['final']}")
    if "n14" in caps:
        c = caps["n14"]["facts_acc"]
        add("n14 fails to memorize the capitals", c["mean"] < 0.5,
            f"capitals accuracy {100 * c['mean']:.1f}% ± {100 * c['sd']:.1f} (paper 8.2%)")
    big = [m for m in ("n28", "n56", "mlt") if m in caps]
    if big:
        accs = {m: caps[m]["facts_acc"]["mean"] for m in big}
        add("n28 and larger memorize the capitals", all(a >= 0.9 for a in accs.values()),
            ", ".join(f"{m} {100 * a:.1f}%" for m, a in accs.items()) + " (paper 100%)")
    big = [m for m in ("n28", "n56", "mlt") if m in arith]
    if big:
        w = {m: arith[m]["withheld_correct"] for m in big}
        add("n28 and larger fail the withheld pairs", all(c["seeds_40_at_best"] == 0 for c in w.values()),
            ", ".join(f"{m} {c['values']} of {c['total']} at best, all right ever in {c['seeds_40_ever']} seeds"
                      for m, c in w.items()) + " (paper 0/40)")
    if comb:
        w = {m: r["withheld_correct"] for m, r in comb.items()}
        add("joint training (combined) generalizes for no size", all(c["seeds_40_at_best"] == 0 for c in w.values()),
            ", ".join(f"{m} {c['values']} of {c['total']} at best" for m, c in w.items()) + " (paper 0/40 for all)")
    return out
