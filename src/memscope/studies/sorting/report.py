"""Figures and report of the sorting study, from results.json's dict only (plotting never trains)."""
from __future__ import annotations

import html
import math
from pathlib import Path

from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from ... import report, store
from ...claims import claims_html, claims_markdown
from .tables import SWITCH_EM, generalization_rows, phase_rows, switch_rows, tables_markdown

FIGURES = {"phase": "fig_phase_gap.png", "curves": "fig_unseen_em.png"}


def _edges(values: list[float]) -> list[float]:
    """Cell edges on a log axis: geometric midpoints, the ends mirrored."""
    logs = [math.log(v) for v in values]
    if len(logs) == 1:
        return [values[0] / 1.5, values[0] * 1.5]
    mids = [(a + b) / 2 for a, b in zip(logs, logs[1:])]
    return [math.exp(x) for x in [2 * logs[0] - mids[0], *mids, 2 * logs[-1] - mids[-1]]]


def fig_phase(r: dict) -> Figure:
    """Heatmap of the seed-mean gap (seen - unseen EM) over N x parameters, with the line dataset bits =
    capacity and each size's switch."""
    ns = sorted({c["n_lists"] for c in r["cells"]})
    ps = sorted({c["n_params_total"] for c in r["cells"]})
    grid = [[float("nan")] * len(ns) for _ in ps]
    for c in r["cells"]:
        grid[ps.index(c["n_params_total"])][ns.index(c["n_lists"])] = c["gap"]["mean"]
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    mesh = ax.pcolormesh(_edges(ns), _edges(ps), grid, cmap=colormaps["RdBu_r"],
                         norm=TwoSlopeNorm(vcenter=0.0, vmin=-0.2, vmax=1.0))
    fig.colorbar(mesh, ax=ax, label="gap: EM seen − EM unseen (mean over seeds)")
    for i, p in enumerate(ps):
        for j, n in enumerate(ns):
            if not math.isnan(grid[i][j]):
                ax.text(n, p * 1.1, f"{grid[i][j]:.2f}", ha="center", va="bottom", fontsize=7)  # above the star
    p_line = [_edges(ps)[0], _edges(ps)[-1]]
    ax.plot([p * r["bits_per_param"] / r["bits_per_list"] for p in p_line], p_line, "k--", lw=1.5,
            label=f"dataset bits = capacity ({r['bits_per_param']:.2f} bits/param)")
    sw = [s for s in r["switch"] if s["n_switch"] is not None]
    ax.plot([s["n_switch"] for s in sw], [s["n_params_total"] for s in sw], "k*", ms=10,
            label=f"switch: unseen EM reaches {SWITCH_EM}")
    ax.set(xscale="log", yscale="log", xlim=(_edges(ns)[0], _edges(ns)[-1]), ylim=(_edges(ps)[0], _edges(ps)[-1]),
           xlabel="training lists N", ylabel="parameters (all)",
           title="Memorize or generalize: seen − unseen gap over data and model size")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def fig_curves(r: dict) -> Figure:
    """Unseen (solid) and seen (dashed) EM against dataset bits / capacity, one colour per size."""
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.subplots()
    sizes = sorted({c["n_embd"] for c in r["cells"]})
    colors = colormaps["viridis"]([i / max(len(sizes) - 1, 1) for i in range(len(sizes))])
    for d, col in zip(sizes, colors):
        cs = sorted((c for c in r["cells"] if c["n_embd"] == d), key=lambda c: c["ratio"])
        x = [c["ratio"] for c in cs]
        ax.plot(x, [c["unseen_em"]["mean"] for c in cs], "o-", color=col,
                label=f"width {d} ({cs[0]['n_params_total']:,} params)")
        ax.plot(x, [c["seen_em"]["mean"] for c in cs], "s--", color=col, ms=3, lw=1)
    ax.axvline(1.0, color="0.4", lw=1)
    ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="dataset bits / capacity",
           ylabel="exact match", title="Seen (dashed) and unseen (solid) exact match")
    ax.legend(fontsize=7)
    return fig


def _notes(r: dict) -> list[str]:
    p = r["profile_settings"]
    return [
        f"Task: lists of length {p['min_length']}-{p['max_length']} over {p['n_values']} values "
        f"(duplicates {'allowed' if p['duplicates'] else 'not allowed'}), written `<list>=<sorted>`; the input "
        "and `=` are masked from the loss. Training sets are N distinct lists; the pair "
        f"{tuple(p['withheld_pair'])} never occurs together in training.",
        f"Bits per list = log2 of the number of distinct lists of training lengths = {r['bits_per_list']:.2f} "
        "(the convention counts lists holding the withheld pair too). Capacity = all parameters x "
        f"{r['bits_per_param']:.2f} bits/parameter ({r['bits_per_param_source']}).",
        "EM: greedy decoding of the whole output, exact match; suites drawn afresh per seed (unseen lists are "
        "disjoint from training by SHA-256 of the input).",
        "Baselines are fitted to the same training set as each seed's table model. 'P(next|prev), "
        "unconditioned' is the critic's distribution alone: one most-likely chain for every input. 'over "
        "the input's values' restricts each greedy step to the values still unused in the input.",
        "Intervals: Student t over seeds (measure/stats.py). Rules of the claims: studies/sorting/tables.py, "
        "fixed before the runs.",
        "Not done here: sorting's metamorphic relation (permutation of the input gives the same output) "
        "belongs in the metamorphic registry, which does not exist yet.",
        f"Profile: {p['note']}. Training wall time {r['train_wall_s']:.0f} s for {r['n_runs']} runs (estimated "
        f"beforehand: {'-' if r['estimated_train_s'] is None else format(r['estimated_train_s'], '.0f')} s).",
    ]


def write_outputs(r: dict, out: Path) -> dict[str, str]:
    """tables.md, tables.json, the figures (PNG) and report.html in out; returns their paths."""
    out = Path(out)
    pngs = {"phase": report.figure_png(fig_phase(r)), "curves": report.figure_png(fig_curves(r))}
    for key, data in pngs.items():
        store.atomic_write_bytes(out / FIGURES[key], data)
    md = [f"# memscope sorting: {r['profile']} profile", "", tables_markdown(r), "## Claims",
          claims_markdown(r["claims"]), "",
          f"![phase diagram]({FIGURES['phase']})", "", f"![exact match]({FIGURES['curves']})", "",
          "## Notes", *[f"- {n}" for n in _notes(r)], ""]
    store.write_text(out / "tables.md", "\n".join(md))
    keep = ("bits_per_param", "bits_per_param_source", "bits_per_list", "generalization", "switch", "cells", "claims")
    store.write_json(out / "tables.json", {k: r[k] for k in keep})
    uri = {k: report.png_data_uri(v) for k, v in pngs.items()}
    report.write_page(out / "report.html", f"memscope sorting: {r['profile']} profile", [
        ("Claims", claims_html(r["claims"])),
        ("Generalization table", report.table(*generalization_rows(r["generalization"]))),
        ("Phase diagram", report.img(uri["phase"], "phase diagram")),
        ("Exact match against dataset bits / capacity", report.img(uri["curves"], "exact match")),
        ("Switch per model size", report.table(*switch_rows(r))),
        ("Cells", report.table(*phase_rows(r))),
        ("Notes", "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in _notes(r)) + "</ul>")])
    return {"report": str(out / "report.html"), "tables_md": str(out / "tables.md"),
            "tables_json": str(out / "tables.json"), **{f"figure_{k}": str(out / v) for k, v in FIGURES.items()}}

