"""Outputs of `memscope reproduce metamorphic`: tables (Markdown, JSON), the figure of original vs rewritten
accuracy by provenance (a panel per model), report.html. Reading and plotting never train."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ... import store
from ...claims import claims_html, claims_markdown
from ...report import figure_png, img, png_data_uri, write_page
from .tables import DECIDING_METRIC, MC_MODELS, TBTT_MODELS

PANELS = [(m, DECIDING_METRIC, "seen") for m in MC_MODELS] + [(m, "exact_match", "rewrite seen") for m in TBTT_MODELS]


def _bar(cell: dict) -> tuple[float, float, float]:
    """mean and the distances to its 95% interval's ends (0 where there is no interval)."""
    m = cell["mean"]
    if m is None:
        return np.nan, 0.0, 0.0
    lo, hi = cell["ci95"] if cell["ci95"] else (m, m)
    return m, m - lo, hi - m


def accuracy_figure(cells: dict) -> Figure:
    """Per model: for each relation and provenance, accuracy on the original items (light) and their
    rewrites (dark), mean over seeds with the 95% t interval."""
    panels = [(m, metric, label) for m, metric, label in PANELS if m in cells]
    fig = Figure(figsize=(4.6 * len(panels), 3.4))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (model, metric, label) in zip(axes, panels):
        names, orig, rew = [], [], []
        for rel, per_metric in cells[model].items():
            if rel == "pooled" or metric not in per_metric:
                continue
            for g, short in (("seen", "seen"), ("held_out", "held")):
                c = per_metric[metric][g]
                if c["acc_original"]["n"]:
                    names.append(f"{rel}\n{short}")
                    orig.append(_bar(c["acc_original"]))
                    rew.append(_bar(c["acc_rewritten"]))
        x = np.arange(len(names))
        for off, vals, name, color in ((-0.2, orig, "original", "#9ecae1"), (0.2, rew, "rewritten", "#08519c")):
            if vals:
                means, lo, hi = zip(*vals)
                ax.bar(x + off, means, 0.4, yerr=[lo, hi], color=color, label=name, capsize=2)
        ax.set_xticks(x, names, fontsize=6)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{model} ({metric}; seen = {label})", fontsize=9)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("original vs rewritten accuracy by provenance (mean, 95% t interval over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def write_outputs(result: dict, out: Path) -> dict[str, str]:
    """tables.md, tables.json, figure_accuracy.png and report.html in out; returns their paths."""
    out = Path(out)
    store.write_text(out / "tables.md", f"{result['tables_md']}\n### Claims\n\n{claims_markdown(result['claims'])}\n")
    files = {"tables_md": str(out / "tables.md"), "tables_json": str(out / "tables.json"),
             "figure_accuracy": str(out / "figure_accuracy.png"), "report": str(out / "report.html")}
    png = figure_png(accuracy_figure(result["cells"]))
    store.atomic_write_bytes(out / "figure_accuracy.png", png)
    sections = [("Claims (rules fixed before the runs; decided on acc)", claims_html(result["claims"])),
                ("Original vs rewritten accuracy", img(png_data_uri(png), "original vs rewritten accuracy")),
                ("Tables", "<pre>" + html.escape(result["tables_md"]) + "</pre>"),
                ("Protocol", f"<p>Profile <code>{html.escape(result['profile'])}</code>: {html.escape(result['note'])}; "
                             f"{result['n_runs']} runs; training wall time this invocation {result['train_wall_s']:.0f} s, "
                             f"scoring {result['score_wall_s']:.0f} s. Final weights of each run. acc_norm divides "
                             "by the option's characters and so favours the long 'None of the other answers' "
                             "option: reported, never deciding.</p>")]
    write_page(out / "report.html", "Metamorphic evaluation on models with known membership", sections)
    store.write_json(out / "tables.json", {**result, "files": files})
    return files
