"""Reading a capacity sweep's run records: capacities, the convergence checks, bits per parameter.

Rules, fixed before the runs (issue 12):
- capacity of a (size, seed) = max over N of its memorized bits (signed sum; Morris et al.'s rule);
- the convergence checks of a model size, on its cells (size, N) with memorized bits averaged over the
  seeds (a cell's seeds are replicates; single runs scatter by 3-4% of their bits, which a 5% tolerance on
  the difference of two runs cannot absorb: docs/RESULTS.md):
  budget: the size's 2x cell rerun at twice the passes (seed 0) stores within 3% of the same run at the
          normal budget (more passes would not change the figure);
  plateau: the 2x and 4x cells agree within 5% (a lower 4x cell is under-trained: a converged model
          stores at least as much of a larger dataset);
  ceiling: the 0.5x cell stores at least 97% of its ceiling N*(S*log2 V - log2 N) (the data fits, so a
          converged model memorizes nearly all of it);
- a size is converged when it passes all three; a size that is not is a lower bound, reported, and left
  out of the fits. `converged_share` is the share of sizes converged. The same checks on each seed's own
  cells are reported beside them (`per_seed`), as evidence, not as the rule;
- bits per parameter, two ways beside Morris et al.'s two: the per-seed least-squares slope of capacity
  against parameters through the origin (mean over seeds, 95% t-interval; theirs: fitted slope 3.64), and
  the mean over sizes of capacity / parameters (95% t-interval over sizes; theirs: 3.83 fp32, 3.51 bf16).

The claims (`claims`; rules fixed before any run of this form of them, issue 23):
- C1 "GPT-style models store about 3.6 bits per parameter": the fitted slope's 95% t interval over seeds
  (converged sizes only, all parameters) lies wholly within 3.6 +- 10% (3.24-3.96): held; wholly outside
  that band: did not hold; straddling an edge of it, one seed (no interval) or fewer than 2 converged
  sizes: not established. A size that did not converge is a lower bound and never enters the figure;
- C2 "capacity grows linearly with parameters": the per-size bits per parameter of the converged sizes
  span at most 20% of their mean ((max - min) / mean <= 0.2: every size within about +-10% of one slope,
  C1's band): held; more: did not hold; fewer than 2 converged sizes: not established.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict

from ...claims import HELD, NOT_ESTABLISHED, NOT_HELD, Claim, verdict_of
from ...measure.capacity import fit_bits_per_param, plateau
from ...measure.stats import mean_sd, t_interval

RATIOS = (0.5, 1.0, 2.0, 4.0)
"""The cells every size has: dataset bits / expected capacity."""

# Morris et al. 2025 (docs/REFERENCE.md section 2): means of 16 configurations, all parameters.
PAPER = {"bits_per_param_bf16": 3.51, "bits_per_param_fp32": 3.83, "fitted_slope_bf16": 3.64,
         "range_bf16": [2.86, 3.94], "range_fp32": [3.02, 4.23], "headline": 3.6,
         "parameter_convention": "total"}
CONVENTIONS = ("total", "non_embedding")
BUDGET_TOL = 0.03
PLATEAU_TOL = 0.05
CEILING_SHARE = 0.97
LEVEL_TOL = 0.02
"""A run's training loss levelled off when it fell by less than this share over the last quarter of the
stable (peak-rate) phase."""


def levelled_off(history: list[dict], stable_end_step: int) -> bool | None:
    """Did the training loss level off before the cooldown? None when too few evaluations tell."""
    pts = [(h["step"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    late = [loss for step, loss in pts if step <= stable_end_step]
    early = [loss for step, loss in pts if 0 < step <= 0.75 * stable_end_step]
    if not late or not early or pts[-1][0] == 0:
        return None
    return (early[-1] - late[-1]) / early[-1] < LEVEL_TOL


def _size_key(r: dict) -> str:
    return f"d{r['n_embd']}-l{r['n_layer']}"


def _rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def convergence_checks(cells: dict[float, dict], rerun: dict | None) -> dict:
    """The three checks of one size: cells maps ratio -> {"memorized_bits", "ceiling_bits"} (the seeds'
    mean, or one seed's run), rerun is the size's 2x cell at twice the passes (seed 0) with the same cell's
    bits at the normal budget under "reference_bits"."""
    m2, m4, half = cells[2.0]["memorized_bits"], cells[4.0]["memorized_bits"], cells[0.5]
    out = {"plateau": {"passed": _rel_diff(m2, m4) <= PLATEAU_TOL, "rel_diff": _rel_diff(m2, m4),
                       "larger_lower": m4 < m2},
           "ceiling": {"passed": half["memorized_bits"] >= CEILING_SHARE * half["ceiling_bits"],
                       "share": half["memorized_bits"] / half["ceiling_bits"]}}
    if rerun is None:
        out["budget"] = {"passed": False, "rel_change": None}
    else:
        ref = rerun["reference_bits"]
        change = (rerun["memorized_bits"] - ref) / abs(ref)
        out["budget"] = {"passed": abs(change) < BUDGET_TOL, "rel_change": change}
    out["passed"] = all(v["passed"] for v in out.values())
    return out


def analyse(records: list[dict], rerun_records: list[dict], sizes: list[dict], log2_vocab: float) -> dict:
    """Capacities, convergence, bits per parameter (converged sizes only) and the double descent."""
    ratio_of = {(s["n_embd"], n): r for s in sizes for r, n in s["cells"].items()}
    by_size_seed: dict[tuple[int, int], dict[float, dict]] = defaultdict(dict)
    for r in records:
        by_size_seed[(r["n_embd"], r["seed"])][ratio_of[(r["n_embd"], r["n_sequences"])]] = r
    reruns = {}
    for rr in rerun_records:
        ref = by_size_seed[(rr["n_embd"], rr["seed"])][2.0]["memorized_bits"]
        reruns[rr["n_embd"]] = {**rr, "reference_bits": ref}
    capacities = []
    for (d, seed), cells in sorted(by_size_seed.items()):
        pl = plateau([(r["n_sequences"], r["memorized_bits"]) for r in cells.values()])
        any_r = next(iter(cells.values()))
        capacities.append({"size": _size_key(any_r), "seed": seed, "n_embd": d,
                           "n_params_total": any_r["n_params_total"],
                           "n_params_non_embedding": any_r["n_params_non_embedding"], **asdict(pl),
                           "checks": convergence_checks(cells, reruns.get(d))})
    mean_cells = {d: {ratio: _mean_cell([by_size_seed[(d2, seed)][ratio] for (d2, seed) in by_size_seed if d2 == d])
                      for ratio in RATIOS} for d in {d for d, _ in by_size_seed}}
    sizes_out = _per_size(capacities, sizes, records,
                          {d: convergence_checks(cells, reruns.get(d)) for d, cells in mean_cells.items()})
    converged = {s["n_embd"] for s in sizes_out if s["converged"]}
    fits, mean_ratio = {conv: None for conv in CONVENTIONS}, None
    if converged:
        for conv in CONVENTIONS:
            per_seed: dict[int, list[tuple[int, float]]] = defaultdict(list)
            for c in capacities:
                if c["n_embd"] in converged:
                    per_seed[c["seed"]].append((c[f"n_params_{conv}"], c["capacity_bits"]))
            fits[conv] = fit_bits_per_param(per_seed)
        ratios = [s["bits_per_param"] for s in sizes_out if s["converged"]]
        ci = t_interval(ratios)
        mean_ratio = {"bits_per_param": mean_sd(ratios)[0], "ci95": None if ci is None else list(ci),
                      "n": len(ratios)}
    per_seed_passed = sum(c["checks"]["passed"] for c in capacities)
    return {"capacities": capacities, "sizes": sizes_out, "bits_per_param": fits, "mean_ratio": mean_ratio,
            "convergence": {"passed": len(converged), "sizes": len(sizes_out), "converged_sizes": sorted(converged),
                            "per_seed": {"passed": per_seed_passed, "cells": len(capacities)},
                            "budget_tol": BUDGET_TOL, "plateau_tol": PLATEAU_TOL, "ceiling_share": CEILING_SHARE},
            "converged_share": len(converged) / len(sizes_out) if sizes_out else 0.0,
            "double_descent": _double_descent(records, sizes_out, log2_vocab), "runs": len(records)}


def _mean_cell(runs: list[dict]) -> dict:
    return {"memorized_bits": sum(r["memorized_bits"] for r in runs) / len(runs),
            "ceiling_bits": sum(r["ceiling_bits"] for r in runs) / len(runs)}


def _per_size(capacities: list[dict], sizes: list[dict], records: list[dict], checks: dict[int, dict]) -> list[dict]:
    info = {s["n_embd"]: s for s in sizes}
    groups: dict[int, list[dict]] = defaultdict(list)
    for c in capacities:
        groups[c["n_embd"]].append(c)
    out = []
    for d, cs in sorted(groups.items(), key=lambda kv: kv[1][0]["n_params_total"]):
        mean, sd = mean_sd([c["capacity_bits"] for c in cs])
        failed = sorted(k for k, v in checks[d].items() if k != "passed" and not v["passed"])
        runs = [r for r in records if r["n_embd"] == d]
        out.append({"size": cs[0]["size"], "n_embd": d, "n_params_total": cs[0]["n_params_total"],
                    "n_params_non_embedding": cs[0]["n_params_non_embedding"],
                    "parameter_mix": info[d]["parameter_mix"], "cells": {str(k): v for k, v in info[d]["cells"].items()},
                    "capacity_bits": mean, "capacity_sd_bits": sd,
                    "bits_per_param": mean / cs[0]["n_params_total"],
                    "learning_rate": runs[0]["learning_rate"], "passes": runs[0]["passes"],
                    "checks": checks[d], "converged": not failed, "failed_checks": failed,
                    "per_seed_passed": sum(c["checks"]["passed"] for c in cs),
                    "at_n_sequences": sorted(c["at_n_sequences"] for c in cs),
                    "levelled_off_runs": sum(bool(r["levelled_off"]) for r in runs), "runs": len(runs)})
    return out


def _double_descent(records: list[dict], sizes: list[dict], log2_vocab: float) -> dict:
    """Mean (over seeds) train and held-out loss per (size, N) against dataset bits / measured capacity."""
    capacity = {s["size"]: s["capacity_bits"] for s in sizes}
    cells: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in records:
        cells[(_size_key(r), r["n_sequences"])].append(r)
    points = []
    for (size, n), rs in sorted(cells.items()):
        mean = lambda k: sum(r[k] for r in rs) / len(rs)  # noqa: E731
        points.append({"size": size, "n_sequences": n, "ratio": mean("dataset_bits") / capacity[size],
                       "train_loss_bits_per_token": mean("train_loss_bits_per_token"),
                       "heldout_loss_bits_per_token": mean("heldout_loss_bits_per_token")})
    peaks = {}
    for size in capacity:
        pts = [p for p in points if p["size"] == size]
        peak = max(pts, key=lambda p: p["heldout_loss_bits_per_token"])
        peaks[size] = {"ratio": peak["ratio"], "n_sequences": peak["n_sequences"],
                       "heldout_loss_bits_per_token": peak["heldout_loss_bits_per_token"],
                       "at_smallest_n": peak["n_sequences"] == min(p["n_sequences"] for p in pts)}
    return {"points": points, "peaks": peaks, "uniform_floor_bits_per_token": log2_vocab}


# ----------------------------------------------------------------------------- the claims
HEADLINE = PAPER["headline"]
BAND = 0.10
"""C1's "about": within 10% of Morris et al.'s 3.6 bits per parameter (3.24-3.96)."""
SPREAD_MAX = 0.20
"""C2: the converged sizes' bits per parameter span at most this share of their mean."""
MIN_SIZES = 2
"""Fewer converged sizes than this decide neither claim."""

STATEMENTS = {
    "C1": "GPT-style models store about 3.6 bits per parameter (Morris et al. 2025)",
    "C2": "capacity grows linearly with parameters: the same bits per parameter at every size (Morris et al. 2025)",
}
RULES = {
    "C1": f"the fitted slope's 95% interval over seeds (converged sizes only, all parameters) lies wholly within "
          f"{HEADLINE} +- {BAND:.0%} ({HEADLINE * (1 - BAND):.2f}-{HEADLINE * (1 + BAND):.2f}): held; wholly outside "
          f"it: did not hold; straddling an edge of it, one seed (no interval) or fewer than {MIN_SIZES} converged "
          "sizes: not established",
    "C2": f"the converged sizes' bits per parameter span at most {SPREAD_MAX:.0%} of their mean ((max - min) / mean "
          f"<= {SPREAD_MAX:g}): held; more: did not hold; fewer than {MIN_SIZES} converged sizes: not established",
}
"""Each claim's rule in words, as the reports print it; `claims` applies exactly these."""


def band_verdict(interval: tuple[float, float] | None, center: float = HEADLINE, band: float = BAND) -> str:
    """C1's rule on an interval: held inside center +- band, did not hold wholly outside, else not established."""
    if interval is None:
        return NOT_ESTABLISHED
    lo, hi = interval
    low, high = center * (1 - band), center * (1 + band)
    if low <= lo and hi <= high:
        return HELD
    if hi < low or lo > high:
        return NOT_HELD
    return NOT_ESTABLISHED


def _lower_bounds(sizes: list[dict]) -> str:
    """The sizes that did not converge, as lower bounds ('' when every size converged)."""
    lows = [f"{s['size']} at least {s['bits_per_param']:.2f} bits per parameter "
            f"({', '.join(s['failed_checks'])} failed)" for s in sizes if not s["converged"]]
    return ("; not converged, lower bounds left out of the figure: " + ", ".join(lows)) if lows else ""


def _ci_text(ci) -> str:
    return f"95% CI {ci[0]:.2f}-{ci[1]:.2f}" if ci else "no interval"


def claims(results: dict) -> list[Claim]:
    """C1 and C2 judged on analyse()'s result (with "precision"), their figures in the evidence."""
    sizes = results["sizes"]
    conv = [s for s in sizes if s["converged"]]
    names = ", ".join(s["size"] for s in conv) or "none"
    lower = _lower_bounds(sizes)
    prec = results.get("precision", "fp32")
    few = f"fewer than {MIN_SIZES} converged sizes ({len(conv)} of {len(sizes)})"

    fit, ratio = results["bits_per_param"]["total"], results["mean_ratio"]
    value = None if fit is None else fit["bits_per_param"]
    interval = None if fit is None or fit["ci95"] is None else tuple(fit["ci95"])
    if fit is None:
        evidence = f"no converged size to fit ({prec})"
    else:
        evidence = (f"fitted slope through 0 {value:.2f} ({_ci_text(interval)} over {fit['n_seeds']} seeds, {prec}) "
                    f"over the converged sizes {names}")
        if ratio is not None:
            evidence += f"; mean of per-size ratios {ratio['bits_per_param']:.2f} ({_ci_text(ratio['ci95'])})"
    evidence += (f"{lower}; Morris et al.: fitted slope {PAPER['fitted_slope_bf16']} (bf16), means "
                 f"{PAPER['bits_per_param_fp32']} fp32, {PAPER['bits_per_param_bf16']} bf16")
    if len(conv) < MIN_SIZES:
        verdict, reason = NOT_ESTABLISHED, few
    else:
        verdict = band_verdict(interval)
        reason = "" if verdict != NOT_ESTABLISHED else (
            "one seed: no interval" if interval is None else "the interval straddles an edge of the band")
    c1 = Claim("C1", STATEMENTS["C1"], RULES["C1"],
               "fitted slope of capacity against all parameters through 0 (bits per parameter), converged sizes",
               value, interval, "95% t interval over seeds of the per-seed slopes" if interval else "none", None,
               HEADLINE, verdict, evidence, reason)

    per_size = [s["bits_per_param"] for s in conv]
    spread = (max(per_size) - min(per_size)) / (sum(per_size) / len(per_size)) if per_size else None
    evidence = ("per-size bits per parameter: " + ", ".join(f"{s['size']} {s['bits_per_param']:.2f}" for s in conv)
                if conv else "no converged size")
    if spread is not None:
        evidence += f" (spread {spread:.1%} of their mean {sum(per_size) / len(per_size):.2f}"
        if len(per_size) >= 3 and per_size == sorted(per_size):
            evidence += ", rising with size"
        evidence += ")"
    inter = None if fit is None else fit["pooled_with_intercept"]
    if inter is not None:
        evidence += (f"; pooled fit with intercept: slope {inter['bits_per_param']:.2f}, intercept "
                     f"{inter['intercept_bits']:,.0f} bits")
    evidence += lower
    if len(conv) < MIN_SIZES:
        verdict, reason = NOT_ESTABLISHED, few
    else:
        verdict, reason = verdict_of(spread <= SPREAD_MAX), ""
    c2 = Claim("C2", STATEMENTS["C2"], RULES["C2"],
               "spread of the converged sizes' bits per parameter ((max - min) / mean)", spread, None, "none", None,
               SPREAD_MAX, verdict, evidence, reason)
    return [c1, c2]
