"""Outputs of `memscope reproduce grokking`: tables (Markdown, JSON), one figure per monitor (a panel per
(weight decay, train fraction) setting, a line per seed, log x), report.html. Plotting never trains."""
from __future__ import annotations

import html
from pathlib import Path

from matplotlib.figure import Figure

from ... import store
from ...claims import claims_html, claims_markdown
from ...report import figure_png, img, png_data_uri, table, write_page
from .tables import FOURIER

# Figures: name -> (title, y label, [(metrics key, line style, label)])
FIGURES = {
    "accuracy": ("accuracy (greedy, teacher forced)", "accuracy",
                 [("train_greedy_acc", "--", "train"), ("heldout_greedy_acc", "-", "held-out")]),
    "memorized": ("memorized bits (N_train x held-out - train NLL)", "bits", [("memorized_bits", "-", "signed")]),
    "utilization": ("capacity utilization (estimate)", "share of capacity", [("capacity_utilization", "-", "")]),
    "weight_norm": ("weight norm", "L2 norm", [("weight_norm", "-", "")]),
    "fourier": ("Fourier sparsity of the residue embeddings", "top-5 frequency share", [(FOURIER, "-", "")]),
}


def monitor_figure(name: str, histories: dict[str, list[dict]], settings: list[tuple[float, float]],
                   weight_decays: list[float], fractions: list[float]) -> Figure:
    """Rows: weight decay; columns: train fraction; one colour per seed; x is the step on a log scale."""
    title, ylabel, series = FIGURES[name]
    fig = Figure(figsize=(3.3 * len(fractions), 2.4 * len(weight_decays)))
    axes = fig.subplots(len(weight_decays), len(fractions), squeeze=False, sharex=True)
    for r, wd in enumerate(weight_decays):
        for c, f in enumerate(fractions):
            ax = axes[r][c]
            runs = sorted(n for n in histories if n.startswith(f"wd{wd:g}-frac{f:g}-"))
            for i, run in enumerate(runs):
                for key, style, label in series:
                    pts = [(h["step"], h[key]) for h in histories[run] if h["step"] > 0 and h.get(key) is not None]
                    if pts:
                        ax.plot(*zip(*pts), style, color=f"C{i}", lw=1.1,
                                label=f"{run.rsplit('-', 1)[-1]} {label}".strip())
            ax.set_xscale("log")
            if name == "accuracy":
                ax.set_ylim(-0.03, 1.03)
            ax.set_title(f"weight decay {wd:g}, fraction {f:g}", fontsize=9)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            if r == len(weight_decays) - 1:
                ax.set_xlabel("step (log)", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _runs_table(result: dict) -> str:
    rows = []
    for s in result["settings"]:
        for r in s["runs"]:
            rows.append([r["name"], r["train_step"], r["heldout_step"] if r["heldout_step"] is not None else "never",
                         "-" if r["delay_ratio"] is None else f"{r['delay_ratio']:.1f}",
                         "-" if r["peak_memorized_bits"] is None else f"{r['peak_memorized_bits']:.0f}",
                         "-" if r["final_memorized_bits"] is None else f"{r['final_memorized_bits']:.0f}",
                         r["jump_step"], r["fourier_rise_step"]])
    return table(["run", "train 99% step", "held-out 99% step", "ratio", "peak memorized bits",
                  "final memorized bits", "held-out 90% step", "Fourier half-rise step"], rows)


def write_outputs(result: dict, histories: dict[str, list[dict]], out: Path) -> dict[str, str]:
    """tables.md, tables.json, figure_<monitor>.png and report.html in out; returns their paths."""
    out = Path(out)
    claims_md = claims_markdown(result["claims"])
    store.write_text(out / "tables.md", f"{result['tables_md']}\n### Claims\n\n{claims_md}\n")
    files = {"tables_md": str(out / "tables.md"), "tables_json": str(out / "tables.json")}
    settings = [(s["weight_decay"], s["train_fraction"]) for s in result["settings"]]
    sections = [("Claims", claims_html(result["claims"])),
                ("Settings", "<pre>" + html.escape(result["tables_md"]) + "</pre>"),
                ("Runs", _runs_table(result))]
    for name, (title, _, _) in FIGURES.items():
        png = figure_png(monitor_figure(name, histories, settings, result["weight_decays"], result["fractions"]))
        store.atomic_write_bytes(out / f"figure_{name}.png", png)
        files[f"figure_{name}"] = str(out / f"figure_{name}.png")
        sections.append((title, img(png_data_uri(png), title)))
    sections.append(("Protocol", f"<p>Profile <code>{html.escape(result['profile'])}</code>: "
                                 f"{html.escape(result['note'])}; {result['n_runs']} runs; training wall time this "
                                 f"invocation {result['train_wall_s']:.0f} s. Capacity utilization uses "
                                 f"{result['bits_per_param']} bits per parameter "
                                 f"({html.escape(str(result['bits_per_param_source']))}) over "
                                 f"{result['n_params']} parameters: an estimate.</p>"))
    write_page(out / "report.html", "Grokking, watched by memscope's monitors", sections)
    files["report"] = str(out / "report.html")
    store.write_json(out / "tables.json", {**result, "files": files})
    return files
