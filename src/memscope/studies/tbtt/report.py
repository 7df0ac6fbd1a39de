"""Outputs of `memscope reproduce tbtt`: tables (Markdown, JSON), the three grid figures, report.html."""
from __future__ import annotations

import html
from pathlib import Path

from matplotlib.figure import Figure

from ... import store
from ...claims import claims_html, claims_markdown
from ...report import figure_png, img, png_data_uri, write_page
from .tables import COLUMNS, PUBLISHED, TABLE_OF_TASK, TASKS, tables_markdown

# Panels of each task's grid figure: (metrics.jsonl key, title, y label).
PANELS = {
    "arithmetic": [("add_acc", "addition", "accuracy"), ("sub_acc", "subtraction", "accuracy"),
                   ("withheld_correct", "withheld pairs", "correct of 40"), ("train_loss", "training loss", "nats")],
    "capitals": [("facts_acc", "capitals", "accuracy"), ("train_loss", "training loss", "nats")],
    "combined": [("add_acc", "addition", "accuracy"), ("sub_acc", "subtraction", "accuracy"),
                 ("facts_acc", "capitals", "accuracy"), ("withheld_correct", "withheld pairs", "correct of 40"),
                 ("train_loss", "training loss", "nats")],
}


def grid_figure(task: str, histories: dict[str, list[list[dict]]]) -> Figure:
    """Rows: models; columns: the task's panels; one line per seed."""
    panels = PANELS[task]
    models = list(histories)
    fig = Figure(figsize=(3.2 * len(panels), 2.4 * len(models)))
    axes = fig.subplots(len(models), len(panels), squeeze=False, sharex=True)
    for r, model in enumerate(models):
        for c, (key, title, ylabel) in enumerate(panels):
            ax = axes[r][c]
            for seed, hist in enumerate(histories[model]):
                pts = [(h["step"], h[key]) for h in hist if h.get(key) is not None]
                if pts:
                    ax.plot(*zip(*pts), lw=1.2, label=f"seed {seed}")
            if key == "withheld_correct":
                ax.set_ylim(-2, 42)
            elif key.endswith("_acc"):
                ax.set_ylim(-0.03, 1.03)
            ax.set_title(f"{model}: {title}", fontsize=9)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            if r == len(models) - 1:
                ax.set_xlabel("step", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{task}: one line per seed", fontsize=11)
    fig.tight_layout()
    return fig


def _claims_html(claims: list[dict]) -> str:
    return ("<p>Every claim is judged on one statistic for every size: the figure at the best checkpoint, "
            "chosen on non-withheld accuracy (the withheld prompts never choose it); 40/40 at any evaluation "
            "and at the end are shown as secondary evidence and decide nothing.</p>" + claims_html(claims))


def _table_html(task: str, rows: dict, seeds: int) -> str:
    cols = COLUMNS[task]
    head = "".join(f"<th>{c} (memscope)</th>" for c in cols) + "".join(f"<th>{c} (paper)</th>" for c in cols)
    body = ""
    for model, row in rows.items():
        pub = PUBLISHED.get((task, model), {})
        ours = "".join(f"<td>{_cell_text(c, row[c])}</td>" for c in cols)
        theirs = "".join(f"<td>{_pub_text(c, pub.get(c))}</td>" for c in cols)
        body += f"<tr><td>{model}</td>{ours}{theirs}</tr>"
    return (f"<p>Table {TABLE_OF_TASK[task]}: best checkpoint (chosen on non-withheld accuracy), mean ± sd "
            f"over {seeds} seeds.</p><table><tr><th>model</th>{head}</tr>{body}</table>")


def _cell_text(col: str, c: dict) -> str:
    if col == "withheld_correct":
        ci = "" if c["ci95"] is None else f" [{c['ci95'][0]:.1f}, {c['ci95'][1]:.1f}]"
        return (f"{c['mean']:.1f}/{c['total']}{ci}; all right in {c['seeds_40_at_best']} of {len(c['values'])} "
                f"seeds at best (decides); secondary: {c['seeds_40_ever']} ever, {c['seeds_40_final']} at the end")
    return f"{100 * c['mean']:.1f} ± {100 * c['sd']:.1f}%"


def _pub_text(col: str, v) -> str:
    if v is None:
        return "-"
    return f"{v}/40" if col == "withheld_correct" else f"{100 * v:.1f}%"


def write_outputs(result: dict, summaries: dict[str, dict], out: Path, models: tuple[str, ...],
                  seeds: int) -> dict[str, str]:
    """Write tables.md, tables.json, one figure per task and report.html; returns their paths."""
    out = Path(out)
    md = tables_markdown(result["tables"], seeds)
    claims_md = claims_markdown(result["claims"])
    store.write_text(out / "tables.md", f"{md}\n### Claims\n\n{claims_md}\n")
    store.write_json(out / "tables.json", result)
    files = {"tables_md": str(out / "tables.md"), "tables_json": str(out / "tables.json")}
    sections = [("Claims", _claims_html(result["claims"]))]
    for task in TASKS:
        if task not in result["tables"]:
            continue
        histories = {m: [store.read_metrics(out / "runs" / f"{task}-{m}-seed{s}" / store.METRICS)
                         for s in range(seeds) if f"{task}-{m}-seed{s}" in summaries] for m in models}
        png = figure_png(grid_figure(task, {m: h for m, h in histories.items() if h}))
        uri = png_data_uri(png)
        store.atomic_write_bytes(out / f"figure_{task}.png", png)
        files[f"figure_{task}"] = str(out / f"figure_{task}.png")
        sections.append((f"{task}", _table_html(task, result["tables"][task], seeds) + img(uri, task)))
    sections.append(("Protocol", f"<p>Profile <code>{html.escape(result['profile'])}</code>: "
                                 f"{html.escape(result['note'])}; withheld pair {html.escape(result['withheld'])}; "
                                 f"{result['n_runs']} runs; training wall time this invocation "
                                 f"{result['train_wall_s']:.0f} s. Published numbers: Barron &amp; White 2025, "
                                 "one seed, withheld pair 5,7.</p>"))
    write_page(out / "report.html", "Too Big to Think, reproduced by memscope", sections)
    files["report"] = str(out / "report.html")
    return files

