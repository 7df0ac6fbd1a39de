"""Outputs of memscope metamorphic: results.json, items.jsonl (one row per relation x item) and report.html
(a table per relation; original vs rewritten accuracy by provenance)."""
from __future__ import annotations

import html
from pathlib import Path

from .. import store
from ..report import figure_to_data_uri, img, table, write_page
from .core import MetamorphicResult

STATS = ("acc_original", "acc_rewritten", "drop", "relative_drop", "consistency")


def _cell(stat: dict | None) -> str:
    if not stat or stat.get("value") is None:
        return "-"
    ci = stat.get("ci")
    return f"{stat['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def relation_rows(entry: dict) -> list[list]:
    rows = []
    for metric, s in entry["metrics"].items():
        groups = [("all", s["all"])] + [(f"{key}={g}", s[f"by_{key}"][g]) for key in ("seen", "rewritten_seen")
                                        if f"by_{key}" in s for g in ("seen", "held_out")]
        for label, g in groups:
            if not g.get("n"):
                continue
            mc = g["mcnemar"]
            rows.append([metric, label, g["n"], *(_cell(g.get(k)) for k in STATS),
                         f"b={mc['b']} c={mc['c']} p={mc['p']:.3g}"])
        for key in ("seen", "rewritten_seen"):
            if s.get(f"gap_{key}"):
                rows.append([metric, f"gap by {key}", "", "", "", _cell(s[f"gap_{key}"]), "", "", ""])
    return rows


def accuracy_figure(summary: dict):
    """Original vs rewritten accuracy per relation and provenance (first metric of each relation)."""
    from matplotlib.figure import Figure
    bars = []
    for name, entry in summary["relations"].items():
        metric, s = next(iter(entry["metrics"].items()))
        groups = [(g, s["by_seen"][g]) for g in ("seen", "held_out")] if "by_seen" in s else [("all", s["all"])]
        bars += [(f"{name}\n{g}", st) for g, st in groups if st.get("n")]
    fig = Figure(figsize=(max(4, 1.3 * len(bars) + 1), 3.2))
    ax = fig.add_subplot()
    for j, (key, label) in enumerate((("acc_original", "original"), ("acc_rewritten", "rewritten"))):
        xs = [i + (j - 0.5) * 0.38 for i in range(len(bars))]
        vals = [st[key]["value"] for _, st in bars]
        err = [[v - st[key]["ci"][0] for v, (_, st) in zip(vals, bars)],
               [st[key]["ci"][1] - v for v, (_, st) in zip(vals, bars)]]
        ax.bar(xs, vals, width=0.38, label=label, yerr=err, capsize=3)
    ax.set_xticks(range(len(bars)), [b for b, _ in bars], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.legend(fontsize=8)
    return fig


def write_metamorphic(result: MetamorphicResult, out: Path) -> dict:
    """Write the three files (each atomically) and return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"results": out / "results.json", "items": out / "items.jsonl", "report": out / "report.html"}
    header = ["metric", "group", "n", *STATS, "McNemar (exact)"]
    s = result.summary
    sections = [("Target", f"<p><code>{html.escape(s['target'])}</code> ({html.escape(s['kind'])}), "
                 f"{html.escape(s['format'])} items, {s['n_items']} items, seed {s['seed']}, "
                 f"{s['n_resamples']} bootstrap resamples</p>")]
    if any(e["n"] for e in s["relations"].values()):
        sections.append(("Original vs rewritten accuracy by provenance", img(figure_to_data_uri(accuracy_figure(s)))))
    for name, entry in s["relations"].items():
        sections.append((f"{name}: {entry['description']}", table(header, relation_rows(entry))))
    store.write_json(files["results"], s)
    store.write_text(files["items"], "".join(store.dumps(r) + "\n" for r in result.rows))
    write_page(files["report"], "memscope metamorphic", sections)
    return {k: str(v) for k, v in files.items()}
