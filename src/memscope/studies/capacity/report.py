"""Figures and the report of a capacity sweep (HTML with embedded figures, Markdown with PNG files).

Reads results.json's dict only: plotting never trains or measures.
"""
from __future__ import annotations

import html
import math
from collections import defaultdict
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ... import report, store
from ...claims import claims_html, claims_markdown
from .analysis import BUDGET_TOL, CEILING_SHARE, PLATEAU_TOL

FIGURES = {"memorized": "fig_memorized_bits.png", "capacity": "fig_capacity_vs_params.png",
           "double_descent": "fig_double_descent.png"}


def _axes(width: float) -> tuple[Figure, Axes]:
    """A new figure (no pyplot: no global state) with one axes, width x 4.8 inches."""
    fig = Figure(figsize=(width, 4.8))
    return fig, fig.subplots()


def _colors(results: dict):
    n = len(results["sizes"])
    return colormaps["viridis"]([i / max(n - 1, 1) for i in range(n)])


def _finish(fig, ax, xlabel: str, ylabel: str, title: str, minor_y_labels: bool = False):
    """Log-log axes labelled 300, 1,000, ... (not 3x10^2), labels, title, legend."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(fmt)
        axis.set_minor_formatter(fmt if minor_y_labels and axis is ax.yaxis else NullFormatter())
    ax.legend(fontsize=7)
    return fig


def fig_memorized(results: dict) -> Figure:
    """Memorized bits against dataset size, one curve per model size, plateaus marked (Morris Fig. 1)."""
    fig, ax = _axes(7.5)
    by_cell: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in results["records"]:
        by_cell[(f"d{r['n_embd']}-l{r['n_layer']}", r["n_sequences"])].append(r["memorized_bits"])
        ax.scatter(r["n_sequences"], r["memorized_bits"], s=9, color="0.6", zorder=1)
    colors = _colors(results)
    for s, c in zip(results["sizes"], colors):
        ns = sorted(n for size, n in by_cell if size == s["size"])
        means = [sum(by_cell[(s["size"], n)]) / len(by_cell[(s["size"], n)]) for n in ns]
        ax.plot(ns, means, "o-", color=c, label=f"{s['size']} ({s['n_params_total']:,} params)", zorder=2)
        ax.axhline(s["capacity_bits"], color=c, ls=":", lw=1)
    all_n = sorted({r["n_sequences"] for r in results["records"]})
    bits_seq = results["records"][0]["dataset_bits"] / results["records"][0]["n_sequences"]
    ax.plot(all_n, [n * bits_seq for n in all_n], "k--", lw=1, label="dataset entropy N·S·log2 V")
    ax.plot(all_n, [n * max(bits_seq - math.log2(n), 0) for n in all_n], color="0.4", ls="-.", lw=1,
            label="ceiling N·(S·log2 V − log2 N)")
    return _finish(fig, ax, "dataset size N (sequences)", "memorized bits (signed sum)",
                   "Memorized bits plateau at each model's capacity (dotted: capacity = max over N)")


def fig_capacity(results: dict) -> Figure:
    """Capacity against parameters (all parameters) with the fitted line and the paper's slopes; sizes
    that failed a convergence check drawn hollow (lower bounds, left out of the fit)."""
    fig, ax = _axes(6.5)
    caps = results["capacities"]
    conv = {s["n_embd"] for s in results["sizes"] if s["converged"]}
    for ok, style in ((True, {"color": "C0", "label": "capacity of one (size, seed)"}),
                      (False, {"facecolor": "none", "edgecolor": "C0", "label": "lower bound (not converged)"})):
        pts = [c for c in caps if (c["n_embd"] in conv) == ok]
        if pts:
            ax.scatter([c["n_params_total"] for c in pts], [c["capacity_bits"] for c in pts], zorder=3, **style)
    fit = results["bits_per_param"]["total"]
    ps = [min(c["n_params_total"] for c in caps) * 0.8, max(c["n_params_total"] for c in caps) * 1.25]
    paper = results["paper"]
    lines = [(paper["bits_per_param_fp32"], "C3--", "Morris et al. fp32 mean: 3.83"),
             (paper["fitted_slope_bf16"], "C1--", "Morris et al. fitted slope (bf16): 3.64")]
    if fit is not None:
        ci = f", 95% CI {fit['ci95'][0]:.2f}–{fit['ci95'][1]:.2f}" if fit["ci95"] else ""
        lines.insert(0, (fit["bits_per_param"], "C0-", f"memscope fitted slope {fit['bits_per_param']:.2f}{ci}"))
    for slope, style, label in lines:
        ax.plot(ps, [slope * p for p in ps], style, lw=1.5 if style == "C0-" else 1, label=label)
    return _finish(fig, ax, "parameters (all, incl. embeddings)", "capacity (bits)",
                   "Capacity against parameters (fit through the origin)")


def fig_double_descent(results: dict) -> Figure:
    """Train and held-out loss against dataset bits / capacity; held-out peak of each size marked."""
    fig, ax = _axes(7.5)
    dd = results["double_descent"]
    colors = _colors(results)
    for s, c in zip(results["sizes"], colors):
        pts = sorted((p for p in dd["points"] if p["size"] == s["size"]), key=lambda p: p["ratio"])
        x = [p["ratio"] for p in pts]
        ax.plot(x, [p["train_loss_bits_per_token"] for p in pts], "s--", color=c, ms=4)
        ax.plot(x, [p["heldout_loss_bits_per_token"] for p in pts], "o-", color=c, label=s["size"])
        peak = dd["peaks"][s["size"]]
        ax.scatter([peak["ratio"]], [peak["heldout_loss_bits_per_token"]], marker="*", s=160, color=c,
                   edgecolor="k", zorder=4)
    ax.axhline(dd["uniform_floor_bits_per_token"], color="k", lw=1, ls=":", label="log2 V (uniform)")
    ax.axvline(1.0, color="0.5", lw=1)
    return _finish(fig, ax, "dataset bits / model capacity", "loss (bits per token)",
                   "Train (dashed) and held-out (solid) loss; ★ held-out peak per size", minor_y_labels=True)


def _fmt(v, spec=",.0f") -> str:
    return "-" if v is None else format(v, spec)


def _ci(f) -> str:
    return "-" if not f or not f["ci95"] else f"{f['ci95'][0]:.2f} – {f['ci95'][1]:.2f}"


def _v(f, spec=".2f") -> str:
    return "-" if f is None else format(f["bits_per_param"], spec)


def _tables(results: dict) -> dict[str, tuple[list[str], list[list]]]:
    paper, prec = results["paper"], results["precision"]
    fits, ratio = results["bits_per_param"], results["mean_ratio"]
    total = fits["total"]
    pooled = None if total is None else total["pooled_through_origin"]
    inter = None if total is None else total["pooled_with_intercept"]
    summary = [
        ["memscope: fitted slope through 0 (per seed, mean)", _v(total), _ci(total), prec],
        ["Morris et al.: fitted slope", f"{paper['fitted_slope_bf16']}", "-", "bf16"],
        ["memscope: mean of per-size ratios", _v(ratio), _ci(ratio), prec],
        ["Morris et al.: mean of 16 configurations", f"{paper['bits_per_param_fp32']}",
         f"range {paper['range_fp32'][0]} – {paper['range_fp32'][1]}", "fp32"],
        ["Morris et al.: mean of 16 configurations", f"{paper['bits_per_param_bf16']}",
         f"range {paper['range_bf16'][0]} – {paper['range_bf16'][1]}", "bf16"],
        ["memscope: pooled slope through 0", _v(pooled), _ci(pooled), prec],
        ["memscope: pooled slope with intercept", _v(inter), _ci(inter), prec],
        ["memscope: non-embedding parameters (slope)", _v(fits["non_embedding"]), _ci(fits["non_embedding"]), prec]]
    sizes = []
    for s in results["sizes"]:
        mix = s["parameter_mix"]
        sizes.append([s["size"], f"{s['n_params_total']:,}",
                      f"{mix['token_embedding']} / {mix['position_embedding']} / {mix['matrices']} / {mix['vectors']}",
                      _fmt(s["capacity_bits"]), _fmt(s["capacity_sd_bits"]), f"{s['bits_per_param']:.2f}",
                      f"{s['learning_rate']:g}", ", ".join(map(str, s["at_n_sequences"])),
                      "converged" if s["converged"] else "lower bound: " + ", ".join(s["failed_checks"]),
                      f"{s['levelled_off_runs']}/{s['runs']}"])
    def row(name, k, extra):
        change = k["budget"]["rel_change"]
        mark = lambda ok: " ok" if ok else " FAIL"  # noqa: E731
        return [name, *extra, "-" if change is None else f"{change:+.1%}" + mark(k["budget"]["passed"]),
                f"{k['plateau']['rel_diff']:.1%}" + mark(k["plateau"]["passed"]),
                f"{k['ceiling']['share']:.1%}" + mark(k["ceiling"]["passed"]), "yes" if k["passed"] else "no"]
    checks = [row(s["size"], s["checks"], ["mean of seeds", _fmt(s["capacity_bits"])]) for s in results["sizes"]]
    checks += [row(c["size"], c["checks"], [f"seed {c['seed']} (evidence)", _fmt(c["capacity_bits"])])
               for c in results["capacities"]]
    sweep = [[f"d{row['n_embd']}", " / ".join(str(n) for n in row["n_sequences"].values()), row["passes"],
              "; ".join(f"{lr}: " + " / ".join(f"{b:,.0f}" for b in cells.values())
                        for lr, cells in row["memorized_bits"].items()),
              ", ".join(f"{lr}: {b:,.0f}" for lr, b in row["plateau_bits"].items()), f"{row['chosen']:g}"]
             for row in results["lr_sweep"]]
    runs = [[r["name"], f"{r['dataset_bits']:,.0f}", _fmt(r["memorized_bits"]), _fmt(r["memorized_clipped_bits"]),
             _fmt(r["ceiling_bits"]), f"{r['train_loss_bits_per_token']:.3f}",
             f"{r['heldout_loss_bits_per_token']:.3f}", r["passes"],
             {True: "yes", False: "no", None: "-"}[r["levelled_off"]]]
            for r in results["records"] + results["rerun_records"]]
    return {
        "summary": (["estimate", "bits per parameter", "95% interval", "precision"], summary),
        "sizes": (["size", "params (all)", "token emb. / position emb. / matrices / vectors", "capacity bits",
                   "sd over seeds", "bits/param", "learning rate", "N at max", "status", "loss levelled off"], sizes),
        "checks": (["size", "cells", "capacity bits", f"budget: 2x passes (< {BUDGET_TOL:.0%})",
                    f"plateau: 2x vs 4x cell (<= {PLATEAU_TOL:.0%})",
                    f"ceiling: 0.5x cell (>= {CEILING_SHARE:.0%})", "passed"], checks),
        "lr_sweep": (["size", "N (2x / 4x cells)", "passes", "memorized bits by learning rate (2x / 4x)",
                      "smaller plateau cell", "chosen"], sweep),
        "runs": (["run", "dataset bits", "memorized (signed)", "memorized (clipped)", "ceiling",
                  "train loss bits/token", "held-out loss bits/token", "passes", "loss levelled off"], runs)}


def _notes(results: dict) -> list[str]:
    p = results["profile"]
    dd = results["double_descent"]
    conv = results["convergence"]
    peaks = ", ".join(f"{k} {v['ratio']:.2f}" for k, v in dd["peaks"].items())
    return [
        f"Data: N sequences of S={p['length']} symbols uniform over V={p['vocab_size']} "
        f"({p['length'] * math.log2(p['vocab_size']):.0f} bits each); seed s draws dataset s and initialises model s. "
        f"Each size trains at N whose dataset bits are {', '.join(f'{r:g}' for r in p['ratios'])} x its expected "
        f"capacity ({p['expected_bits_per_param']} bits per parameter, a prior that only places the cells).",
        f"Training: full batch (one step = one pass over the N sequences), {p['passes']:,} passes, AdamW without "
        f"weight decay, warmup then the peak rate held and decayed linearly to 1% over the last "
        f"{p['cooldown_fraction']:.0%} (warmup-stable-decay); each size's rate is the best of "
        f"{', '.join(f'{lr:g}' for lr in p['learning_rates'])} in a sweep on its 2x and 4x cells (seed 0) at the grid's passes, chosen by the smaller of the two "
        "(a capacity must hold on both plateau cells).",
        "Memorized bits of a sequence = S·log2 V − NLL in bits (uniform reference); the BOS newline before each "
        "sequence is context and never scored. Dataset memorization = the signed sum (capacity uses it); the "
        "clipped sum (negatives set to 0) is shown beside it. Given only the BOS, no model can store more than "
        "N·(S·log2 V − log2 N) bits (the ceiling).",
        f"Convergence, three checks fixed before the runs: the 2x cell rerun at twice the passes changes its "
        f"memorized bits by less than {BUDGET_TOL:.0%}; the 2x and 4x cells agree within {PLATEAU_TOL:.0%}; the "
        f"0.5x cell stores at least {CEILING_SHARE:.0%} of its ceiling, each on the cells' memorized bits averaged "
        f"over the seeds. {conv['passed']}/{conv['sizes']} sizes passed ({results['converged_share']:.0%}); a size "
        "that fails is a lower bound and is left out of the fits. The same checks on each seed's own cells "
        f"({conv['per_seed']['passed']}/{conv['per_seed']['cells']} passed) are shown as evidence.",
        "Bits per parameter: the slope of capacity against all parameters through the origin, fitted per seed "
        "(mean ± 95% t-interval over seeds; compare Morris et al.'s fitted slope 3.64), and the mean over sizes of "
        "capacity / parameters (± 95% t-interval over sizes; compare their means 3.83 fp32, 3.51 bf16). In models "
        "this small the embeddings, LayerNorm gains and biases are a large share of the parameters (the sizes "
        "table gives the mix).",
        "Double descent: held-out sequences are fresh uniform draws, so no model can get their loss below "
        f"log2 V = {dd['uniform_floor_bits_per_token']:.2f} bits/token; what the held-out loss shows is the "
        "cost of memorization (over-confidence on the training sequences), not generalization. "
        f"Held-out peak at dataset bits / capacity = {peaks}.",
        f"Profile note: {p['note']}",
    ]


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(results: dict, out: Path) -> dict[str, str]:
    """report.html (self-contained), report.md and the three PNG figures in `out`; returns their paths
    (keys report, report_md, figure_memorized, figure_capacity, figure_double_descent)."""
    out = Path(out)
    pngs = {key: report.figure_png(fn(results)) for key, fn in
            (("memorized", fig_memorized), ("capacity", fig_capacity), ("double_descent", fig_double_descent))}
    for key, data in pngs.items():
        store.atomic_write_bytes(out / FIGURES[key], data)
    uri = {k: report.png_data_uri(v) for k, v in pngs.items()}
    tables = _tables(results)
    notes = _notes(results)
    title = f"memscope capacity: {results['profile']['name']} profile, {results['precision']}"
    claims = results.get("claims", [])
    report.write_page(out / "report.html", title, [
        ("Claims", claims_html(claims)),
        ("Bits per parameter", report.table(*tables["summary"])),
        ("Memorized bits against dataset size", report.img(uri["memorized"], "memorized bits")),
        ("Capacity against parameters", report.img(uri["capacity"], "capacity")),
        ("Double descent", report.img(uri["double_descent"], "double descent")),
        ("Capacity per model size", report.table(*tables["sizes"])),
        ("Convergence checks", report.table(*tables["checks"])),
        ("Learning-rate sweep", report.table(*tables["lr_sweep"])),
        ("Method and caveats", "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"),
        ("Runs", report.table(*tables["runs"]))])
    md = [f"# {title}", "", "## Claims", claims_markdown(claims), "", "## Bits per parameter", _md_table(*tables["summary"]), "",
          f"![memorized bits]({FIGURES['memorized']})", "", f"![capacity]({FIGURES['capacity']})", "",
          f"![double descent]({FIGURES['double_descent']})", "", "## Capacity per model size",
          _md_table(*tables["sizes"]), "", "## Convergence checks", _md_table(*tables["checks"]), "",
          "## Learning-rate sweep", _md_table(*tables["lr_sweep"]), "", "## Method and caveats", *[f"- {n}" for n in notes], "",
          "## Runs", _md_table(*tables["runs"]), ""]
    store.write_text(out / "report.md", "\n".join(md))
    return {"report": str(out / "report.html"), "report_md": str(out / "report.md"),
            **{f"figure_{key}": str(out / name) for key, name in FIGURES.items()}}
