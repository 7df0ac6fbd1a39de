"""Outputs of `memscope reproduce forgetting`: results.json, tables.md, four figures, report.html."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ... import store
from ...claims import claims_html, claims_markdown
from ...report import figure_png, img, png_data_uri, write_page
from .tables import MIN_GAP_BITS


def _mean_ci(cells: list[dict]) -> tuple[list, list, list]:
    m = [np.nan if c["mean"] is None else c["mean"] for c in cells]
    lo = [np.nan if c["ci95"] is None else c["mean"] - c["ci95"][0] for c in cells]
    hi = [np.nan if c["ci95"] is None else c["ci95"][1] - c["mean"] for c in cells]
    return m, lo, hi


def exposure_figure(r: dict) -> Figure:
    """Exposure after phase 1 against d (log x), one line per size; the held-out mean as a dashed line."""
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    ds = r["ds"]
    for s, row in r["phase1"].items():
        m, lo, hi = _mean_ci([row["by_d"][d]["exposure_bits"] for d in ds])
        line = ax.errorbar(ds, m, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], marker="o", capsize=3,
                           label=f"{s} ({row['n_params']:,} params)")
        ax.axhline(row["held_out_exposure_bits"]["mean"], ls="--", lw=0.8, color=line[0].get_color())
    ax.set_xscale("log", base=2)
    ax.set_xlabel("insertions d per epoch (log scale)")
    ax.set_ylabel("exposure (bits)")
    ax.set_title("Canary exposure after phase 1 (dashed: held-out canaries)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _curves(r: dict, size: str, replay: float) -> list[dict]:
    return [p["curve"] for p in r["points"] if p["size"] == size and p["replay"] == replay]


def forgetting_figure(r: dict) -> Figure:
    """Rows: sizes; columns: replay shares; lines: excess exposure per d over phase 2 (mean over seeds)."""
    sizes, shares, ds = r["sizes"], r["shares"], r["ds"]
    fig = Figure(figsize=(3.0 * len(shares), 2.4 * len(sizes)))
    axes = fig.subplots(len(sizes), len(shares), squeeze=False, sharey=True)
    for i, s in enumerate(sizes):
        for j, rep in enumerate(shares):
            ax = axes[i][j]
            curves = _curves(r, s, rep)
            steps = [c["step"] for c in curves[0]]
            for d in ds:
                y = np.mean([[c["excess_by_d"][d] for c in cur] for cur in curves], axis=0)
                ax.plot(steps, y, marker=".", lw=1.2, label=f"d={d}")
            ax.axhline(0, color="gray", lw=0.6)
            ax.set_title(f"{s}, r = {rep:g}", fontsize=9)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel("excess exposure (bits)", fontsize=8)
            if i == len(sizes) - 1:
                ax.set_xlabel("phase-2 step", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.suptitle("Forgetting curves: exposure above held-out canaries during continued pretraining", fontsize=10)
    fig.tight_layout()
    return fig


def retention_figure(r: dict) -> Figure:
    """Excess exposure at the end of phase 2 against the replay share, one line per size; phase-1 level dotted."""
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    shares = r["shares"]
    x = list(range(len(shares)))
    for s in r["sizes"]:
        m, lo, hi = _mean_ci([r["phase2"][f"{s}|{rep}"]["excess_all_after_bits"] for rep in shares])
        line = ax.errorbar(x, m, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], marker="o", capsize=3, label=s)
        ax.axhline(r["phase1"][s]["excess_all_bits"]["mean"], ls=":", color=line[0].get_color())
    ax.set_xticks(x, [f"{rep:g}" for rep in shares])
    ax.set_xlabel("replay share r of phase-1 data in phase 2")
    ax.set_ylabel("excess exposure at the end (bits)")
    ax.set_title("Retention against replay (dotted: after phase 1)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def skill_figure(r: dict) -> Figure:
    """Per size: facts recall, arithmetic accuracy and canary excess exposure (scaled to its phase-1 value)
    over phase 2, at r = 0 (solid) and the largest r (dashed)."""
    sizes, shares = r["sizes"], r["shares"]
    fig = Figure(figsize=(3.4 * len(sizes), 3.0))
    axes = fig.subplots(1, len(sizes), squeeze=False, sharey=True)[0]
    for ax, s in zip(axes, sizes):
        for rep, ls in ((shares[0], "-"), (shares[-1], "--")):
            curves = _curves(r, s, rep)
            steps = [c["step"] for c in curves[0]]
            for key, color in (("facts", "C0"), ("arithmetic", "C1")):
                y = np.mean([[np.nan if c[key] is None else c[key] for c in cur] for cur in curves], axis=0)
                ax.plot(steps, y, ls=ls, color=color, label=f"{key}, r={rep:g}")
            first = np.mean([cur[0]["excess_all_bits"] for cur in curves])
            if first >= MIN_GAP_BITS:
                y = np.mean([[c["excess_all_bits"] for c in cur] for cur in curves], axis=0) / first
                ax.plot(steps, y, ls=ls, color="C2", label=f"canaries (scaled), r={rep:g}")
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("phase-2 step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("accuracy / retained share", fontsize=8)
    axes[0].legend(fontsize=6)
    fig.suptitle("What is forgotten first: facts and canaries against the arithmetic skill", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES = {"exposure_vs_d": exposure_figure, "forgetting_curves": forgetting_figure,
           "retention_vs_replay": retention_figure, "facts_vs_skill": skill_figure}


def write_outputs(r: dict, out: Path) -> dict[str, str]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"results": str(out / "results.json"), "tables": str(out / "tables.md")}
    store.write_json(out / "results.json", {k: v for k, v in r.items() if k != "files"})
    store.write_text(out / "tables.md", f"{r['markdown']}\n### Claims\n\n{claims_markdown(r['claims'])}\n")
    sections = [("Setup", f"<p>{html.escape(r['note'])}; {r['n_runs']} runs, training wall time "
                          f"{r['train_wall_s']} s.</p>"),
                ("Claims", "<p>Evidence: mean [95% t interval] over seeds for each size, then the work the "
                           "claim tests.</p>" + claims_html(r["claims"]))]
    for name, make in FIGURES.items():
        png = figure_png(make(r))
        path = out / f"{name}.png"
        store.atomic_write_bytes(path, png)
        files[name] = str(path)
        sections.append((name.replace("_", " "), img(png_data_uri(png), name)))
    sections.append(("Tables", f"<pre>{html.escape(r['markdown'])}</pre>"))
    files["report"] = str(write_page(out / "report.html", "memscope: exposure and forgetting", sections))
    return files
