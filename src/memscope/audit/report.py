"""The audit's HTML report: ROC curves, the memorization histogram, the top memorized samples, extraction
and canary tables, in one self-contained page (report.py)."""
from __future__ import annotations

import html

import numpy as np
from matplotlib.figure import Figure

from ..measure.membership import fpr_caveat
from ..report import figure_to_data_uri, html_page, img, table

EXAMPLES = 10


def _num(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _para(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def roc_figure(rocs: dict, labels: dict, n_nonmembers: int) -> Figure:
    """Each attack's ROC, linear axes (left) and log-log (right, where low-FPR behaviour shows)."""
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    linear, log = fig.subplots(1, 2)
    for name, roc in rocs.items():
        for ax in (linear, log):
            ax.step(roc.fpr, roc.tpr, where="post", label=labels[name])
    for ax in (linear, log):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
    floor = 1.0 / max(n_nonmembers, 10)  # the smallest false-positive rate the data can show
    log.set_xscale("log")
    log.set_yscale("log")
    log.set_xlim(floor / 2, 1)
    log.set_ylim(floor / 2, 1.05)
    linear.set_title("ROC")
    log.set_title("ROC, log-log")
    linear.legend(fontsize=8, loc="lower right")
    return fig


def histogram_figure(member_bits: np.ndarray, nonmember_bits: np.ndarray) -> Figure:
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    top = max(float(np.max(member_bits, initial=0)), float(np.max(nonmember_bits, initial=0)), 1.0)
    bins = np.linspace(0, top, 41)
    ax.hist(member_bits, bins=bins, alpha=0.6, label=f"members ({len(member_bits)})")
    ax.hist(nonmember_bits, bins=bins, alpha=0.6, label=f"non-members ({len(nonmember_bits)})")
    ax.set_xlabel("memorized bits per sample")
    ax.set_ylabel("samples")
    ax.legend()
    return fig


def render_report(result) -> str:
    s = result.summary
    member = np.array([r["member"] for r in result.samples])
    bits = np.array([r["memorized_bits"] for r in result.samples])
    labels = {name: m["attack"] for name, m in s["membership"].items()}
    sections = [
        ("Summary", _summary_html(s)),
        ("Memorization", img(figure_to_data_uri(histogram_figure(bits[member], bits[~member])),
                             "memorized bits of members and non-members") + _memorization_table(s)),
        ("Membership inference", img(figure_to_data_uri(roc_figure(result.rocs, labels, s["n_nonmembers"])), "ROC curves")
         + _membership_table(s)),
        ("Extraction", _extraction_html(s, result.samples)),
    ]
    if s["exposure"]:
        sections.append(("Canary exposure", _exposure_table(s["exposure"])))
    sections.append(("Rarity and the top memorized samples", _rarity_html(s)))
    h = s.get("headline")
    lead = (f"Strongest attack: {s['membership'][h['attack']]['attack']}, AUC {h['auc']:.3f}, TPR at FPR < 1% "
            f"{h['tpr_at_1pct_fpr']:.3f}: {h['sentence']}." if h else "")
    return html_page(f"memscope audit of {s['target']['path']}", sections, lead=lead)


def _summary_html(s: dict) -> str:
    t, c = s["target"], s["conventions"]
    rows = [["target", f"{t['path']} ({t['kind']}, {t['n_params']:,} parameters, vocabulary {t['vocab_size']}, "
                       f"context {t['block_size']})"],
            ["reference", c["reference"]], ["samples", f"{s['n_members']} members, {s['n_nonmembers']} non-members"],
            ["first token", c["first_token"]], ["sliding window", c["sliding_window"]],
            ["memorized bits", c["memorized_bits"]]]
    return table(["", ""], rows)


def _memorization_table(s: dict) -> str:
    rows = [[label, _num(m["total_bits"], 1), _num(m["mean_bits"], 2), _num(m["median_bits"], 2),
             f"{m['n_positive']}/{m['n']}"]
            for label, m in (("members", s["memorization"]["members"]),
                             ("non-members", s["memorization"]["nonmembers"]))]
    return table(["samples", "total bits", "mean bits", "median bits", "samples with > 0 bits"], rows)


def _membership_table(s: dict) -> str:
    rows = [[m["attack"], _num(m["auc"]), _num(m["tpr_at_1pct_fpr"]), _num(m["tpr_at_0.1pct_fpr"]),
             _num(m["best_f1"]), _num(m["best_f1_chance"])] for m in s["membership"].values()]
    note = (f"{fpr_caveat(s['n_nonmembers'])}. Best F1 is maximised over every threshold, accept-all "
            "included: a chance-level attack scores the accept-all F1 2m/(2m+n) (the chance column), not 0.5.")
    return table(["attack", "ROC AUC", "TPR @ FPR < 1%", "TPR @ FPR < 0.1%", "best F1", "best F1 at chance"],
                 rows) + _para(note)


def _extraction_html(s: dict, samples: list[dict]) -> str:
    ex = s["extraction"]
    rows = [[label, ex[key]["n"], _pct(ex[key]["exact_match_rate"]), _pct(ex[key]["token_match_rate"])]
            for key, label in (("members", "members"), ("nonmembers", "non-members"))]
    head = _para(f"Greedy continuation of a {ex['prefix_tokens']}-token prefix, {ex['suffix_tokens']} tokens "
                 f"compared ({ex['note']}).")
    done = [r for r in samples if r["extraction"]]
    examples = ([r for r in done if r["extraction"]["exact"]][:EXAMPLES]
                + [r for r in done if not r["extraction"]["exact"]][:EXAMPLES // 2])
    ex_rows = [["member" if r["member"] else "non-member", r["extraction"]["prefix"], r["extraction"]["truth"],
                r["extraction"]["greedy"], _pct(r["extraction"]["token_match"])] for r in examples]
    return (head + table(["samples", "n", "exact match", "token match"], rows)
            + _para("Examples (extracted first):")
            + table(["sample", "prefix", "true continuation", "greedy continuation", "token match"], ex_rows))


def _exposure_table(rows: list[dict]) -> str:
    return table(["canary", "format", "candidates", "rank", "exposure bits", "max bits", "method"],
                 [[c["text"], c["format"], f"{c['n_candidates']:,}", c["rank"] if c["rank"] else "-",
                   _num(c["exposure_bits"], 2), _num(c["max_exposure_bits"], 2), c["method"]] for c in rows])


def _rarity_html(s: dict) -> str:
    r = s["rarity"]
    rows = [[m["measure"], _num(m["rho"]), _num(m["p_value"], 4), m["n"]]
            for key, m in r.items() if key != "over"]
    top = [[x["text"], "member" if x["member"] else "non-member", _num(x["memorized_bits"], 2),
            _num(x["tfidf_rarity"], 3)] for x in s["top_memorized"]]
    return (_para("Spearman correlation between rarity and memorized bits, over the members:")
            + table(["rarity", "Spearman rho", "p-value", "n"], rows)
            + table(["sample", "", "memorized bits", "TF-IDF rarity"], top))
