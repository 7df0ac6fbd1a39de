"""The sorting study's analysis: phase-diagram cells, the switch per model size, the generalization table,
and the claims, each judged by a rule written here before any run (means over seeds with 95% t-intervals,
measure/stats.py; the same statistic for every model compared)."""
from __future__ import annotations

import math
from collections import defaultdict

from ...claims import Claim, clip, verdict_of
from ...measure.stats import mean_sd, over_seeds

SUITES = ("seen", "unseen", "longer", "withheld")
SWITCH_EM = 0.5
"""A size's switch is where seed-mean unseen EM first reaches this (log-linear interpolation in N)."""
SHARP_LO, SHARP_HI = 0.2, 0.8
"""Sharpness: octaves of N between unseen EM reaching SHARP_LO and SHARP_HI."""

# Rules, fixed before the runs (the thresholds are part of the claim):
BELOW_RATIO, ABOVE_RATIO = 0.5, 2.0
"""Cells with dataset bits / capacity <= BELOW_RATIO count as 'the data fits'; >= ABOVE_RATIO as 'it does not'."""
MEMORIZE_GAP = 0.3
"""Claim 1: below the line, the seed-mean gap (seen - unseen EM) is at least this, its interval above 0."""
GENERALIZE_EM, GENERALIZE_GAP = 0.8, 0.2
"""Claim 2: above the line, seed-mean unseen EM >= GENERALIZE_EM and the gap's upper bound <= GENERALIZE_GAP."""
NEAR_LINE_OCTAVES = 2.0
"""Claim 3: every size's switch lies within this many octaves (factor 4) of its line, for >= 3/4 of sizes."""


def summary(values: list[float]) -> dict:
    return {**over_seeds(values), "values": values}


def _em(rec: dict, suite: str) -> float | None:
    s = rec["suites"].get(suite)
    return None if s is None else s["em"]


def cells(records: list[dict], bits_per_param: float) -> list[dict]:
    """Per (width, N) of the learned-position runs: EM on seen and unseen and their gap over seeds."""
    groups: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for r in records:
        if r["pos_encoding"] == "learned":
            groups[(r["n_embd"], r["n_lists"])].append(r)
    out = []
    for (d, n), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["seed"])
        capacity = rs[0]["n_params_total"] * bits_per_param
        seen = [_em(r, "seen") for r in rs]
        unseen = [_em(r, "unseen") for r in rs]
        out.append({"n_embd": d, "n_lists": n, "n_params_total": rs[0]["n_params_total"],
                    "dataset_bits": rs[0]["dataset_bits"], "capacity_bits": capacity,
                    "ratio": rs[0]["dataset_bits"] / capacity, "seeds": [r["seed"] for r in rs],
                    "seen_em": summary(seen), "unseen_em": summary(unseen),
                    "gap": summary([a - b for a, b in zip(seen, unseen)])})
    return out


def _crossing(points: list[tuple[float, float]], level: float) -> float | None:
    """First N (log-linear interpolation) where y reaches level, scanning N upward; None if never."""
    for i, (n, y) in enumerate(points):
        if y >= level:
            if i == 0:
                return n
            n0, y0 = points[i - 1]
            t = (level - y0) / (y - y0)
            return 2 ** (math.log2(n0) + t * (math.log2(n) - math.log2(n0)))
    return None


def switches(cell_rows: list[dict], bits_per_list: float) -> list[dict]:
    """Per size: the line (N where dataset bits = capacity), the switch N, how far apart, how sharp."""
    by_size: dict[int, list[dict]] = defaultdict(list)
    for c in cell_rows:
        by_size[c["n_embd"]].append(c)
    out = []
    for d, cs in sorted(by_size.items()):
        cs = sorted(cs, key=lambda c: c["n_lists"])
        pts = [(c["n_lists"], c["unseen_em"]["mean"]) for c in cs]
        n_line = cs[0]["capacity_bits"] / bits_per_list
        n_switch = _crossing(pts, SWITCH_EM)
        lo, hi = _crossing(pts, SHARP_LO), _crossing(pts, SHARP_HI)
        out.append({"n_embd": d, "n_params_total": cs[0]["n_params_total"], "capacity_bits": cs[0]["capacity_bits"],
                    "n_line": n_line, "n_switch": n_switch,
                    "octaves_from_line": None if n_switch is None else math.log2(n_switch / n_line),
                    "width_octaves": None if lo is None or hi is None else math.log2(hi / lo),
                    "max_unseen_em": max(y for _, y in pts)})
    return out


def generalization(records: list[dict], baselines: list[dict], n_embd: int, n_lists: int) -> dict:
    """Rows of the generalization table: the table model with learned positions and NoPE, and the baselines,
    each suite's EM and per-position accuracy as seed means with intervals, and unseen EM by duplicates."""
    rows = {}
    for pos, label in (("learned", "GPT, learned positions"), ("none", "GPT, NoPE")):
        rs = sorted((r for r in records if r["pos_encoding"] == pos and r["n_embd"] == n_embd
                     and r["n_lists"] == n_lists), key=lambda r: r["seed"])
        if rs:
            rows[label] = _row([r["suites"] for r in rs])
    for key, label in (("bigram", "P(next|prev), unconditioned"), ("bigram_constrained", "P(next|prev) over the input's values"),
                       ("lookup", "lookup of the nearest training list")):
        rows[label] = _row([b[key] for b in baselines])
    table_recs = [r for r in records if r["pos_encoding"] == "learned" and r["n_embd"] == n_embd
                  and r["n_lists"] == n_lists]
    r0 = table_recs[0]
    return {"n_embd": n_embd, "n_lists": n_lists, "n_params_total": r0["n_params_total"],
            "dataset_bits": r0["dataset_bits"], "rows": rows}


def _row(per_seed: list[dict]) -> dict:
    row = {}
    for suite in SUITES:
        stats = [s[suite] for s in per_seed if s.get(suite)]
        if not stats:
            continue
        dups = sorted({k for s in stats for k in s["em_by_duplicates"]}, key=int)
        row[suite] = {"em": summary([s["em"] for s in stats]), "pos_acc": summary([s["pos_acc"] for s in stats]),
                      "n_per_seed": stats[0]["n"],
                      "em_by_duplicates": {k: mean_sd([s["em_by_duplicates"][k] for s in stats
                                                       if k in s["em_by_duplicates"]])[0] for k in dups}}
    return row


def analyse(records: list[dict], baselines: list[dict], profile, bits_per_param: float) -> dict:
    cs = cells(records, bits_per_param)
    bits_per_list = records[0]["bits_per_list"]
    gen = generalization(records, baselines, profile.n_embd[-1], profile.n_lists[-1])
    gen["capacity_bits"] = gen["n_params_total"] * bits_per_param
    return {"cells": cs, "switch": switches(cs, bits_per_list), "generalization": gen}


# ----------------------------------------------------------------------------- claims
def _per_seed_mean(cs: list[dict], key: str) -> list[float]:
    """For each seed, the mean of `key` over the cells (so the interval is over seeds)."""
    seeds = cs[0]["seeds"]
    return [sum(c[key]["values"][i] for c in cs) / len(cs) for i in range(len(seeds))]


def _fmt_ci(s: dict) -> str:
    return f"{s['mean']:.2f}" + (f" (95% CI {s['ci95'][0]:.2f} to {s['ci95'][1]:.2f})" if s["ci95"] else " (one seed)")


T_INTERVAL = "95% t interval over seeds"
SHARE, GAP = (0.0, 1.0), (-1.0, 1.0)
"""Bounds of an EM (a share of lists) and of a difference of two."""


def _claim(name, statement, rule, statistic, s: dict | None, bounds, threshold, held: bool, evidence: str) -> Claim:
    """A claim whose statistic is a mean over seeds `s` (None: no cell to judge on), its interval cut to bounds."""
    ci = None if s is None or s["ci95"] is None else clip(s["ci95"], bounds)
    return Claim(name, statement, rule, statistic, None if s is None else s["mean"], ci,
                 T_INTERVAL if ci is not None else "none", bounds, threshold, verdict_of(held), evidence)


def claims(r: dict) -> list[Claim]:
    """Each claim with its rule (fixed before the runs), its verdict, and the evidence."""
    out = []
    below = [c for c in r["cells"] if c["ratio"] <= BELOW_RATIO]
    above = [c for c in r["cells"] if c["ratio"] >= ABOVE_RATIO]
    rule1 = f"cells with dataset bits <= {BELOW_RATIO} x capacity: seed-mean gap >= {MEMORIZE_GAP}, CI above 0"
    g = None
    if below:
        g = summary(_per_seed_mean(below, "gap"))
        held = g["mean"] >= MEMORIZE_GAP and (g["ci95"] is None or g["ci95"][0] > 0)
        ev = f"{len(below)} cells; gap {_fmt_ci(g)}"
    else:
        held, ev = False, "no cell lies that far below the line"
    out.append(_claim("C1", "Models memorize where the data fits in their capacity (large seen-unseen gap)", rule1,
                      f"seed-mean gap (EM seen - EM unseen) over the cells with dataset bits <= {BELOW_RATIO} x "
                      "capacity", g, GAP, MEMORIZE_GAP, held, ev))
    rule2 = (f"cells with dataset bits >= {ABOVE_RATIO} x capacity: seed-mean unseen EM >= {GENERALIZE_EM} "
             f"and the gap's CI upper bound <= {GENERALIZE_GAP}")
    u = None
    if above:
        u, g = summary(_per_seed_mean(above, "unseen_em")), summary(_per_seed_mean(above, "gap"))
        upper = g["ci95"][1] if g["ci95"] else g["mean"]
        held = u["mean"] >= GENERALIZE_EM and upper <= GENERALIZE_GAP
        ev = f"{len(above)} cells; unseen EM {_fmt_ci(u)}; gap {_fmt_ci(g)}"
    else:
        held, ev = False, "no cell lies that far above the line"
    out.append(_claim("C2", "Models generalize where the data exceeds their capacity (unseen EM high, small gap)",
                      rule2, f"seed-mean unseen EM over the cells with dataset bits >= {ABOVE_RATIO} x capacity "
                      f"(the gap's CI upper bound, in the evidence, must also be <= {GENERALIZE_GAP})", u, SHARE,
                      GENERALIZE_EM, held, ev))
    sw = r["switch"]
    near = [s for s in sw if s["octaves_from_line"] is not None and abs(s["octaves_from_line"]) <= NEAR_LINE_OCTAVES]
    held = len(near) >= math.ceil(0.75 * len(sw))
    ev = "; ".join(f"d{s['n_embd']}: switch " + ("never (max unseen EM %.2f)" % s["max_unseen_em"]
                                                  if s["n_switch"] is None else
                                                  f"N={s['n_switch']:,.0f} vs line N={s['n_line']:,.0f} "
                                                  f"({s['octaves_from_line']:+.1f} octaves)") for s in sw)
    out.append(Claim("C3", f"The switch (unseen EM reaching {SWITCH_EM}) lies near the line dataset bits = capacity",
                     f"|log2(N_switch / N_line)| <= {NEAR_LINE_OCTAVES} for at least 3/4 of the sizes",
                     f"share of the model sizes whose switch lies within {NEAR_LINE_OCTAVES:g} octaves of their line",
                     len(near) / len(sw) if sw else None, None, "none", SHARE, 0.75, verdict_of(held), ev))
    out += _table_claims(r["generalization"])
    return out


def _table_claims(gen: dict) -> list[Claim]:
    rows = gen["rows"]
    out = []
    learned, nope = rows.get("GPT, learned positions"), rows.get("GPT, NoPE")
    if learned and nope and "longer" in learned:
        diff = summary([a - b for a, b in zip(nope["longer"]["em"]["values"], learned["longer"]["em"]["values"])])
        held = diff["mean"] > 0 and (diff["ci95"] is None or diff["ci95"][0] > 0)
        out.append(_claim("C4", "NoPE sorts longer lists (up to 2x) better than learned positions",
                          "seed-mean EM difference (NoPE - learned) on longer lists > 0, CI above 0",
                          "seed-mean EM difference (NoPE - learned positions) on longer lists", diff, GAP, 0.0, held,
                          f"difference {_fmt_ci(diff)}; learned {learned['longer']['em']['mean']:.2f}, NoPE "
                          f"{nope['longer']['em']['mean']:.2f}"))
    if learned:
        base = {k: rows[k]["unseen"]["em"]["mean"] for k in rows if not k.startswith("GPT") and "unseen" in rows[k]}
        best = max(base, key=base.get)
        u = learned["unseen"]["em"]
        low = u["ci95"][0] if u["ci95"] else u["mean"]
        out.append(_claim("C5", "The transformer sorts unseen lists better than both the distribution and memory "
                          "baselines",
                          "CI lower bound of the model's unseen EM > the best baseline's seed-mean unseen EM",
                          "seed-mean unseen EM of the table model (learned positions); the threshold is the best "
                          "baseline's", u, SHARE, base[best], low > base[best],
                          f"model {_fmt_ci(u)}; best baseline {best} {base[best]:.2f}"))
    return out


# ----------------------------------------------------------------------------- tables as text
def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell_text(s: dict | None) -> str:
    if s is None:
        return "-"
    ci = s["em"]["ci95"]
    return f"{s['em']['mean']:.3f}" + (f" ± {(ci[1] - ci[0]) / 2:.3f}" if ci else "")


def generalization_rows(gen: dict) -> tuple[list[str], list[list]]:
    header = ["sorter", *[f"EM {s}" for s in SUITES], "per-position acc. unseen", "unseen EM by duplicates (0/1/2/3+)"]
    rows = []
    for label, row in gen["rows"].items():
        dup = row.get("unseen", {}).get("em_by_duplicates", {})
        dup_text = " / ".join(f"{dup[k]:.2f}" for k in sorted(dup, key=int)[:4]) if dup else "-"
        pos = row.get("unseen", {}).get("pos_acc")
        rows.append([label, *[_cell_text(row.get(s)) for s in SUITES], "-" if pos is None else f"{pos['mean']:.3f}",
                     dup_text])
    return header, rows


def phase_rows(r: dict) -> tuple[list[str], list[list]]:
    header = ["width", "params", "N", "dataset bits / capacity", "EM seen", "EM unseen", "gap"]
    rows = [[c["n_embd"], f"{c['n_params_total']:,}", f"{c['n_lists']:,}", f"{c['ratio']:.2f}",
             f"{c['seen_em']['mean']:.3f}", f"{c['unseen_em']['mean']:.3f}", _fmt_ci(c["gap"])] for c in r["cells"]]
    return header, rows


def switch_rows(r: dict) -> tuple[list[str], list[list]]:
    header = ["width", "params", "capacity bits", "N at the line", "N at the switch", "octaves from line",
              "width of the switch (octaves, EM 0.2 to 0.8)"]
    f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    rows = [[s["n_embd"], f"{s['n_params_total']:,}", f"{s['capacity_bits']:,.0f}", f"{s['n_line']:,.0f}",
             f(s["n_switch"], ",.0f"), f(s["octaves_from_line"], "+.1f"), f(s["width_octaves"], ".1f")]
            for s in r["switch"]]
    return header, rows


def tables_markdown(r: dict) -> str:
    gen = r["generalization"]
    head = (f"Generalization table: width {gen['n_embd']} ({gen['n_params_total']:,} parameters), N = "
            f"{gen['n_lists']:,} lists: dataset {gen['dataset_bits']:,.0f} bits vs capacity "
            f"{gen['capacity_bits']:,.0f} bits ({r['bits_per_param']:.2f} bits/parameter, "
            f"{r['bits_per_param_source']}); EM mean ± 95% CI half-width over seeds")
    parts = [head, md_table(*generalization_rows(gen)), "", "Switch per model size",
             md_table(*switch_rows(r)), ""]
    if "cells" in r:
        parts += ["Phase diagram cells", md_table(*phase_rows(r)), ""]
    return "\n".join(parts)
