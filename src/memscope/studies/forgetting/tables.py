"""The forgetting study's numbers, read from stored runs: per-run points, cells over seeds, Markdown, and
the claims judged on rules fixed here before any run. Pure functions of the runs' logs and exposure counts.

Every claim uses the same statistic for every model size: a per-seed quantity (seed s = the same data for
every size), its mean and 95% Student t interval over seeds (measure/stats.py); a claim holds when the
interval lies on the claimed side of zero for every size the rule names (the Claim record carries the
size it turns on: the one whose interval lies least on the claimed side; threshold 0). A claim whose
quantity is undefined at this scale (nothing memorized to forget), or that has one seed, is "not
established", never "held".
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ...claims import NOT_ESTABLISHED, Claim, verdict_of
from ...measure.forgetting import duplication_slope, excess_bits, replay_share, retention
from ...measure.stats import over_seeds

MIN_GAP_BITS = 0.5
"""Retention of excess exposure is defined only where phase 1 left at least this much (bits)."""
MIN_GAP_ACC = 0.1
"""Retention of an accuracy is defined only where phase 1 left it this far above its baseline."""
HIGH_D, LOW_D = 16, 4
"""Rarely vs often seen: canaries with d <= LOW_D against d >= HIGH_D."""
T_INTERVAL = "95% t interval over seeds"

REFERENCES = {
    "duplication": "Carlini et al. 2019 (Secret Sharer), 2022 (log-linear in duplicates); Kandpal et al. 2022",
    "few": "seed 003 (memorized from one or a few passes); Carlini et al. 2019 (secrets exposed early)",
    "size": "Tirumala et al. 2022; Carlini et al. 2022 (larger models memorize more, in fewer exposures)",
    "forget": "Jagielski et al. 2022 (memorized examples are forgotten over later training)",
    "replay": "Ibrahim et al. 2024 (replay of old data prevents forgetting in continued pretraining)",
    "replay1": "Ibrahim et al. 2024 (1% replay already reduces forgetting)",
    "rare": "Jagielski et al. 2022; Chang et al. 2024 (the rarely seen are forgotten first)",
    "skill": "seed 003 (memorized content must be revisited; a skill that generalizes persists)",
    "size_forget": "Tirumala et al. 2022 (larger models forget less)",
}


# ----------------------------------------------------------------------------- one run
def _canaries(h: dict, repeats: list[int]) -> dict:
    exp, held = h["canaries.exposure_bits"], h["canaries.held_out_exposure_bits"]
    nll, held_nll = h["canaries.secret_nll_bits"], h["canaries.held_out_secret_nll_bits"]
    ext = h["canaries.extracted"]
    by_d: dict[int, list[int]] = defaultdict(list)
    for i, d in enumerate(repeats):
        by_d[d].append(i)
    out = {"held_out_exposure_bits": float(np.mean(held)), "held_out_extracted": float(np.mean(h["canaries.held_out_extracted"])),
           "excess_all_bits": excess_bits(exp, held), "by_d": {}}
    for d, idx in sorted(by_d.items()):
        out["by_d"][d] = {"exposure_bits": float(np.mean([exp[i] for i in idx])),
                          "excess_bits": excess_bits([exp[i] for i in idx], held),
                          "extracted": float(np.mean([ext[i] for i in idx])),
                          "memorized_bits": float(np.mean(held_nll) - np.mean([nll[i] for i in idx]))}
    return out


def _acc(h: dict, key: str) -> float | None:
    return h.get(key)


def run_point(rec: dict) -> dict:
    """A run's grid point and its figures after phase 1 and at the end, with its phase-2 curve."""
    rc, hist = rec["rc"], rec["history"]
    p1_end = rec["summary"]["phases"][0]["steps"]
    h1 = next(h for h in hist if h["step"] == p1_end)
    hn = hist[-1]
    repeats = list(rc.phases[0].tasks[0].params["repeats"])
    shares = [t.share for t in rc.phases[1].tasks]
    replay = round(sum(s for s in shares[2:]), 6)
    counts = rec["exposures"]["phases"]
    point = {"name": rec["name"], "size": f"d{rc.model.n_embd}-l{rc.model.n_layer}",
             "n_params": rec["summary"]["n_params_total"], "seed": rc.train.seed, "replay": replay,
             "phase1_steps": p1_end, "steps": hn["step"],
             "after_phase1": {"canaries": _canaries(h1, repeats), "facts": _acc(h1, "facts.seen_acc"),
                              "facts_held_out": _acc(h1, "facts.held_out_acc"),
                              "arithmetic": _acc(h1, "arithmetic.seen_acc")},
             "end": {"canaries": _canaries(hn, repeats), "facts": _acc(hn, "facts.seen_acc"),
                     "facts_held_out": _acc(hn, "facts.held_out_acc"), "arithmetic": _acc(hn, "arithmetic.seen_acc"),
                     "new_facts": _acc(hn, "facts2.seen_acc")},
             "replay_share_measured": replay_share(counts[1]["tasks"], set(range(2, len(counts[1]["tasks"])))),
             "phase1_line_counts": {"canaries": counts[0]["tasks"][0]["counts"]}}
    curve = []
    for h in hist:
        if h["step"] < p1_end:
            continue
        c = _canaries(h, repeats)
        curve.append({"step": h["step"] - p1_end, "excess_by_d": {d: v["excess_bits"] for d, v in c["by_d"].items()},
                      "excess_all_bits": c["excess_all_bits"], "facts": h.get("facts.seen_acc"),
                      "arithmetic": h.get("arithmetic.seen_acc"), "new_facts": h.get("facts2.seen_acc")})
    point["curve"] = curve
    return point


def _retention_excess(pt: dict, ds: list[int] | None = None) -> float | None:
    """Retained share of the excess exposure of the canaries with d in ds (all when None)."""
    b, e = pt["after_phase1"]["canaries"], pt["end"]["canaries"]
    keep = [d for d in b["by_d"] if ds is None or d in ds]
    if not keep:
        return None
    before = float(np.mean([b["by_d"][d]["excess_bits"] for d in keep]))
    after = float(np.mean([e["by_d"][d]["excess_bits"] for d in keep]))
    return retention(before, after, min_gap=MIN_GAP_BITS)


def _retention_acc(pt: dict, key: str, baseline_key: str | None = None) -> float | None:
    b, e = pt["after_phase1"][key], pt["end"][key]
    if b is None or e is None:
        return None
    bb = pt["after_phase1"][baseline_key] if baseline_key else 0.0
    be = pt["end"][baseline_key] if baseline_key else 0.0
    return retention(b, e, bb or 0.0, be or 0.0, min_gap=MIN_GAP_ACC)


# ----------------------------------------------------------------------------- cells over seeds
def cell(values: list[float | None]) -> dict:
    """Mean, sd and 95% t interval over the seeds with a defined value, and the values."""
    return {**over_seeds(values), "values": values}


def analyse(records: list[dict], profile) -> dict:
    points = [run_point(r) for r in records]
    sizes = sorted({p["size"] for p in points}, key=lambda s: next(p["n_params"] for p in points if p["size"] == s))
    shares = sorted({p["replay"] for p in points})
    by = {(p["size"], p["replay"], p["seed"]): p for p in points}
    seeds = sorted({p["seed"] for p in points})
    ds = sorted(points[0]["after_phase1"]["canaries"]["by_d"])
    phase1, phase2 = {}, {}
    identical = True
    for s in sizes:
        base = [by[(s, 0.0, k)] for k in seeds]
        for r in shares[1:]:  # phase 1 is the same data and order for every r
            for k in seeds:
                a, b = by[(s, 0.0, k)]["after_phase1"], by[(s, r, k)]["after_phase1"]
                identical &= a == b
        c = [p["after_phase1"]["canaries"] for p in base]
        phase1[s] = {
            "n_params": base[0]["n_params"],
            "by_d": {d: {m: cell([x["by_d"][d][m] for x in c]) for m in ("exposure_bits", "excess_bits", "extracted",
                                                                          "memorized_bits")} for d in ds},
            "held_out_exposure_bits": cell([x["held_out_exposure_bits"] for x in c]),
            "held_out_extracted": cell([x["held_out_extracted"] for x in c]),
            "slope_bits_per_doubling": cell([duplication_slope(ds, [x["by_d"][d]["exposure_bits"] for d in ds]) for x in c]),
            "excess_all_bits": cell([x["excess_all_bits"] for x in c]),
            "facts": cell([p["after_phase1"]["facts"] for p in base]),
            "facts_held_out": cell([p["after_phase1"]["facts_held_out"] for p in base]),
            "arithmetic": cell([p["after_phase1"]["arithmetic"] for p in base]),
        }
        for r in shares:
            pts = [by[(s, r, k)] for k in seeds]
            phase2[(s, r)] = {
                "excess_all_before_bits": cell([p["after_phase1"]["canaries"]["excess_all_bits"] for p in pts]),
                "excess_all_after_bits": cell([p["end"]["canaries"]["excess_all_bits"] for p in pts]),
                "excess_change_bits": cell([p["end"]["canaries"]["excess_all_bits"]
                                            - p["after_phase1"]["canaries"]["excess_all_bits"] for p in pts]),
                "retention_canaries": cell([_retention_excess(p) for p in pts]),
                "retention_low_d": cell([_retention_excess(p, [d for d in ds if d <= LOW_D]) for p in pts]),
                "retention_high_d": cell([_retention_excess(p, [d for d in ds if d >= HIGH_D]) for p in pts]),
                "excess_after_by_d": {d: cell([p["end"]["canaries"]["by_d"][d]["excess_bits"] for p in pts]) for d in ds},
                "extracted_after_by_d": {d: cell([p["end"]["canaries"]["by_d"][d]["extracted"] for p in pts]) for d in ds},
                "facts_after": cell([p["end"]["facts"] for p in pts]),
                "retention_facts": cell([_retention_acc(p, "facts", "facts_held_out") for p in pts]),
                "arithmetic_after": cell([p["end"]["arithmetic"] for p in pts]),
                "retention_arithmetic": cell([_retention_acc(p, "arithmetic") for p in pts]),
                "new_facts": cell([p["end"]["new_facts"] for p in pts]),
                "replay_share_measured": cell([p["replay_share_measured"] for p in pts]),
            }
    return {"sizes": sizes, "shares": shares, "ds": ds, "seeds_run": seeds, "phase1": phase1,
            "phase2": {f"{s}|{r}": v for (s, r), v in phase2.items()}, "phase1_identical_across_r": identical,
            "points": points}


# ----------------------------------------------------------------------------- the claims
def _paired(results: dict, fn) -> dict:
    """Per size: a cell of the per-seed quantity fn(size, seed) (None where undefined)."""
    by = {(p["size"], p["replay"], p["seed"]): p for p in results["points"]}
    return {s: cell([fn(by, s, k) for k in results["seeds_run"]]) for s in results["sizes"]}


def _fmt_cell(c: dict, digits: int = 2) -> str:
    if c["mean"] is None:
        return "n/a"
    ci = c["ci95"]
    return f"{c['mean']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else " (one seed)")


def _verdict(cells: dict, side: str, which: list[str]) -> str:
    """held when every named size's interval lies above (side '>') or below ('<') zero; not established
    when any is undefined (no value or a single seed)."""
    picked = [cells[s] for s in which]
    if any(c["ci95"] is None for c in picked):
        return NOT_ESTABLISHED
    ok = all(c["ci95"][0] > 0 for c in picked) if side == ">" else all(c["ci95"][1] < 0 for c in picked)
    return verdict_of(ok)


def _deciding(cells: dict, side: str, which: list[str]) -> str:
    """The named size the verdict turns on: the first without an interval, else the one whose interval lies
    least on the claimed side (lowest lower end for '>', highest upper end for '<')."""
    missing = [s for s in which if cells[s]["ci95"] is None]
    if missing:
        return missing[0]
    if side == ">":
        return min(which, key=lambda s: cells[s]["ci95"][0])
    return max(which, key=lambda s: cells[s]["ci95"][1])


def claims(results: dict) -> list[Claim]:
    """Each claim: its rule (fixed before the runs), verdict, per-size numbers and reference."""
    sizes, ds, shares = results["sizes"], results["ds"], results["shares"]
    small, large = sizes[0], sizes[-1]
    r_max, r_min = shares[-1], (shares[1] if len(shares) > 1 else None)
    out = []

    def add(key, claim, rule, statistic, cells, side, which):
        s = _deciding(cells, side, which)
        c = cells[s]
        if len(which) > 1:
            statistic = f"{statistic}, {s} (of the {len(which)} sizes, the one whose interval lies least on the " \
                        f"claimed side)"
        elif s not in statistic:
            statistic = f"{statistic}, {s}"
        evidence = "; ".join(f"{k}: {_fmt_cell(v)}" for k, v in cells.items())
        out.append(Claim(key, claim, rule, statistic, c["mean"], c["ci95"],
                         T_INTERVAL if c["ci95"] is not None else "none", None, 0.0,
                         _verdict(cells, side, which), f"{evidence} ({REFERENCES[key]})"))

    def p1(by, s, k):
        return by[(s, 0.0, k)]["after_phase1"]["canaries"]

    add("duplication", "exposure grows with the number of duplicates",
        "per seed, the slope of mean exposure on log2 d after phase 1 (bits per doubling); interval > 0 for every size",
        "mean per-seed slope of exposure on log2 d after phase 1 (bits per doubling)",
        _paired(results, lambda by, s, k: duplication_slope(ds, [p1(by, s, k)["by_d"][d]["exposure_bits"] for d in ds])),
        ">", sizes)
    add("few", f"a canary inserted once per epoch (d = {ds[0]}) is more exposed than a never-inserted one",
        f"per seed, exposure of the d = {ds[0]} canaries minus the held-out canaries' after phase 1 (bits); interval > 0 "
        "for the largest size", f"mean per-seed exposure of the d = {ds[0]} canaries minus the held-out canaries' "
        "after phase 1 (bits)", _paired(results, lambda by, s, k: p1(by, s, k)["by_d"][ds[0]]["excess_bits"]), ">", [large])
    add("size", "larger models memorize more (excess exposure over all canaries)",
        f"per seed, excess exposure of {large} minus {small} after phase 1 (bits); interval > 0",
        "mean per-seed difference in excess exposure after phase 1 (bits)",
        {f"{large} - {small}": cell([p1(by, large, k)["excess_all_bits"] - p1(by, small, k)["excess_all_bits"]
                                     for by in [{(p['size'], p['replay'], p['seed']): p for p in results['points']}]
                                     for k in results["seeds_run"]])}, ">", [f"{large} - {small}"])

    def change(by, s, k, r=0.0):
        p = by[(s, r, k)]
        return p["end"]["canaries"]["excess_all_bits"] - p["after_phase1"]["canaries"]["excess_all_bits"]
    add("forget", "continued pretraining without replay forgets memorized canaries",
        "per seed at r = 0, excess exposure at the end minus after phase 1 (bits); interval < 0 for every size",
        "mean per-seed change in excess exposure over phase 2 at r = 0 (bits)",
        _paired(results, change), "<", sizes)
    if r_min is not None:
        add("replay", f"replay (r = {r_max:g}) keeps more than no replay",
            f"per seed, excess exposure at the end with r = {r_max:g} minus with r = 0 (bits); interval > 0 for every size",
            f"mean per-seed excess exposure at the end, r = {r_max:g} minus r = 0 (bits)",
            _paired(results, lambda by, s, k: change(by, s, k, r_max) - change(by, s, k)), ">", sizes)
        add("replay1", f"the smallest replay share (r = {r_min:g}) already keeps more than none",
            f"per seed, excess exposure at the end with r = {r_min:g} minus with r = 0 (bits); interval > 0 for every size",
            f"mean per-seed excess exposure at the end, r = {r_min:g} minus r = 0 (bits)",
            _paired(results, lambda by, s, k: change(by, s, k, r_min) - change(by, s, k)), ">", sizes)
    add("rare", f"the rarely seen (d <= {LOW_D}) are forgotten before the often seen (d >= {HIGH_D})",
        f"per seed at r = 0, retained share of excess exposure, d >= {HIGH_D} minus d <= {LOW_D} (defined where "
        f"phase 1 left >= {MIN_GAP_BITS} bits in both); interval > 0 for every size",
        f"mean per-seed retained share of excess exposure at r = 0, d >= {HIGH_D} minus d <= {LOW_D}",
        _paired(results, lambda by, s, k: _diff(_retention_excess(by[(s, 0.0, k)], [d for d in ds if d >= HIGH_D]),
                                                _retention_excess(by[(s, 0.0, k)], [d for d in ds if d <= LOW_D]))),
        ">", sizes)
    add("skill", "memorized facts are forgotten before the arithmetic skill",
        f"per seed at r = 0, retained share of arithmetic accuracy minus retained share of facts recall above "
        f"held-out recall (defined where phase 1 left >= {MIN_GAP_ACC} of each); interval > 0 for every size",
        "mean per-seed retained share at r = 0, arithmetic accuracy minus facts recall above held-out recall",
        _paired(results, lambda by, s, k: _diff(_retention_acc(by[(s, 0.0, k)], "arithmetic"),
                                                _retention_acc(by[(s, 0.0, k)], "facts", "facts_held_out"))),
        ">", sizes)
    add("size_forget", "larger models forget less",
        f"per seed at r = 0, retained share of excess exposure of {large} minus {small}; interval > 0",
        "mean per-seed difference in the retained share of excess exposure at r = 0",
        {f"{large} - {small}": cell([_diff(_retention_excess(by[(large, 0.0, k)]), _retention_excess(by[(small, 0.0, k)]))
                                     for by in [{(p['size'], p['replay'], p['seed']): p for p in results['points']}]
                                     for k in results["seeds_run"]])}, ">", [f"{large} - {small}"])
    return out


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# ----------------------------------------------------------------------------- Markdown
def tables_markdown(results: dict) -> str:
    ds, n = results["ds"], len(results["seeds_run"])
    head = ["size", "params"] + [f"d={d}" for d in ds] + ["held out (d=0)", "bits/doubling"]
    lines = [f"### After phase 1: canary exposure (bits; mean [95% t interval] over {n} seeds)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s, row in results["phase1"].items():
        lines.append("| " + " | ".join([s, f"{row['n_params']:,}"] + [_fmt_cell(row["by_d"][d]["exposure_bits"], 1) for d in ds]
                                       + [_fmt_cell(row["held_out_exposure_bits"], 1), _fmt_cell(row["slope_bits_per_doubling"])]) + " |")
    head = ["size"] + [f"d={d}" for d in ds] + ["held out"]
    for metric, title in (("extracted", "greedy extraction rate of the secret from its prefix"),
                          ("memorized_bits", "memorized bits of the secret vs held-out canaries")):
        lines += ["", f"### After phase 1: {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for s, row in results["phase1"].items():
            held = _fmt_cell(row["held_out_extracted"]) if metric == "extracted" else "0 (reference)"
            lines.append("| " + " | ".join([s] + [_fmt_cell(row["by_d"][d][metric]) for d in ds] + [held]) + " |")
    lines += ["", "### After phase 1: facts recall and arithmetic", "",
              "| size | facts recall | held-out facts (chance) | arithmetic (seen) |", "|---|---|---|---|"]
    for s, row in results["phase1"].items():
        lines.append(f"| {s} | {_fmt_cell(row['facts'])} | {_fmt_cell(row['facts_held_out'])} | {_fmt_cell(row['arithmetic'])} |")
    lines += ["", "### After phase 2 (continued pretraining), by replay share r", "",
              "| size | r | replay rows (measured) | excess exposure after p1 -> end (bits) | retained (canaries) | "
              "facts after p1 -> end | arithmetic after p1 -> end | new facts |", "|---|---|---|---|---|---|---|---|"]
    for key, row in results["phase2"].items():
        s, r = key.split("|")
        p1 = results["phase1"][s]
        lines.append(f"| {s} | {float(r):g} | {_fmt_cell(row['replay_share_measured'], 3)} | "
                     f"{_fmt_cell(row['excess_all_before_bits'])} -> {_fmt_cell(row['excess_all_after_bits'])} | "
                     f"{_fmt_cell(row['retention_canaries'])} | {_fmt_cell(p1['facts'])} -> {_fmt_cell(row['facts_after'])} | "
                     f"{_fmt_cell(p1['arithmetic'])} -> {_fmt_cell(row['arithmetic_after'])} | {_fmt_cell(row['new_facts'])} |")
    lines += ["", "### Excess exposure at the end of phase 2 by d (bits)", "",
              "| size | r | " + " | ".join(f"d={d}" for d in ds) + " |", "|---|---|" + "---|" * len(ds)]
    for key, row in results["phase2"].items():
        s, r = key.split("|")
        lines.append(f"| {s} | {float(r):g} | " + " | ".join(_fmt_cell(row["excess_after_by_d"][d], 1) for d in ds) + " |")
    lines.append("")
    lines.append(f"Phase-1 figures identical across replay shares (same seed, same data order): "
                 f"{results['phase1_identical_across_r']}")
    return "\n".join(lines) + "\n"
