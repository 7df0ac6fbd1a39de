"""`memscope report DIR`: one index page over every study result and audit result under a directory.

A study's output directory holds tables.json or results.json with a top-level `claims` list and a `study`
or `profile` key (memscope.studies writes them); an audit's holds audit.json (memscope.audit.core.write_audit).
The index (index.html, in the shared template of memscope.report) lists one row per study run with its
claims as verdict badges, its profile, training time and commit where recorded, and a relative link to its
own report.html; and one row per audit with its strongest attack (by ROC AUC). Nothing is trained or
recomputed: the index only reads what the runs wrote.
"""
from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from urllib.parse import quote

from . import store
from .claims import as_claims, claim_badge
from .errors import MemscopeError, escape
from .report import MISSING, cell, write_page

log = logging.getLogger(__name__)

STUDY_FILES = ("results.json", "tables.json")
"""The files a study writes its result into (with a top-level `claims` list), in the order read."""
AUDIT_FILE = "audit.json"
"""The audit's summary (memscope.audit.core.write_audit)."""
REPORT = "report.html"
INDEX = "index.html"


def _is_study(d: dict) -> bool:
    return isinstance(d.get("claims"), list) and ("study" in d or "profile" in d)


def _is_audit(d: dict) -> bool:
    return isinstance(d.get("membership"), dict) and isinstance(d.get("target"), dict)


def _commit(d: dict) -> str | None:
    """The commit the result records, where it records one (top level, or under provenance/environment)."""
    for obj in (d, d.get("provenance"), d.get("environment")):
        if isinstance(obj, dict):
            for key in ("commit", "git_commit"):
                if isinstance(obj.get(key), str) and obj[key]:
                    return obj[key]
    return None


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _study_row(root: Path, path: Path, d: dict) -> dict:
    profile = d.get("profile")
    if isinstance(profile, dict):  # capacity stores its whole profile
        profile = profile.get("name")
    claims = as_claims(d["claims"])
    report = path.parent / REPORT
    return {"kind": "study", "dir": path.parent.relative_to(root).as_posix() or ".", "file": path.name,
            "study": d.get("study") if isinstance(d.get("study"), str) else path.parent.name,
            "profile": profile if isinstance(profile, str) else None,
            "seeds": d.get("seeds") if isinstance(d.get("seeds"), int) else None,
            "n_runs": d.get("n_runs") if isinstance(d.get("n_runs"), int) else None,
            "train_wall_s": _number(d.get("train_wall_s")), "commit": _commit(d),
            "claims": [{"name": c.name, "statement": c.statement, "verdict": c.verdict, "reason": c.reason}
                       for c in claims],
            "report": str(report) if report.is_file() else None, "_claims": claims}


def _audit_row(root: Path, path: Path, d: dict) -> dict:
    attacks = {k: m for k, m in d["membership"].items() if isinstance(m, dict) and _number(m.get("auc")) is not None}
    best = max(attacks, key=lambda k: attacks[k]["auc"]) if attacks else None
    m = attacks.get(best, {})
    report = path.parent / REPORT
    return {"kind": "audit", "dir": path.parent.relative_to(root).as_posix() or ".", "file": path.name,
            "target": d["target"].get("path"), "n_members": d.get("n_members"), "n_nonmembers": d.get("n_nonmembers"),
            "strongest_attack": m.get("attack", best), "auc": _number(m.get("auc")),
            "tpr_at_1pct_fpr": _number(m.get("tpr_at_1pct_fpr")), "commit": _commit(d),
            "report": str(report) if report.is_file() else None}


def find_results(root: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """Every study result and audit result under root (one study row per directory: results.json before
    tables.json), and the candidate files that could not be read (damaged JSON), each with its reason."""
    studies, audits, skipped = [], [], []
    for here, dirs, files in os.walk(root):  # links to directories are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(here)
        found = False
        for name in (*STUDY_FILES, AUDIT_FILE):
            if name not in files or (found and name != AUDIT_FILE):
                continue
            path = here / name
            try:
                d = store.read_json(path, "result")
            except MemscopeError as e:
                log.warning("memscope report: skipped %s", e)
                skipped.append({"file": path.relative_to(root).as_posix(), "reason": str(e)})
                continue
            try:
                if name == AUDIT_FILE and _is_audit(d):
                    audits.append(_audit_row(root, path, d))
                elif name != AUDIT_FILE and _is_study(d):
                    studies.append(_study_row(root, path, d))
                    found = True
            except (ValueError, TypeError, KeyError, AttributeError) as e:  # claims that are not claims
                skipped.append({"file": path.relative_to(root).as_posix(), "reason": f"not a result ({e})"})
    return studies, audits, skipped


def _duration(s: float | None) -> str | None:
    if s is None:
        return None
    return f"{s:.1f} s" if s < 90 else f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _link(row: dict, out: Path) -> str:
    if row["report"] is None:
        return cell(None)
    href = quote(Path(os.path.relpath(row["report"], out)).as_posix())
    return f'<td><a href="{html.escape(href)}">{html.escape(row["dir"])}/{REPORT}</a></td>'


def _code(text: str | None) -> str:
    if text is None:
        return cell(None)
    return f'<td><code title="{html.escape(text)}">{html.escape(text[:10])}</code></td>'


def _claims_cell(claims) -> str:
    if not claims:
        return cell(None)
    items = "".join(f"<li>{claim_badge(c, note=False)} <b>{html.escape(c.name)}</b> {html.escape(c.statement)}</li>"
                    for c in claims)
    return f'<td><ul class="claims-list">{items}</ul></td>'


def _studies_html(rows: list[dict], out: Path) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("study", "profile", "claims", "seeds", "runs", "training time",
                                              "commit", "report"))
    body = "".join(f"<tr>{cell(r['study'])}{cell(r['profile'])}{_claims_cell(r['_claims'])}{cell(r['seeds'])}"
                   f"{cell(r['n_runs'])}{cell(_duration(r['train_wall_s']))}{_code(r['commit'])}{_link(r, out)}</tr>"
                   for r in rows)
    return f'<table class="index studies"><tr>{head}</tr>{body}</table>'


def _audits_html(rows: list[dict], out: Path) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("target", "members / non-members", "strongest attack",
                                                          "ROC AUC", "TPR @ FPR < 1%", "report"))
    body = "".join(f"<tr>{cell(r['target'])}{cell(_pair(r['n_members'], r['n_nonmembers']))}"
                   f"{cell(r['strongest_attack'])}{cell(_num(r['auc']))}{cell(_num(r['tpr_at_1pct_fpr']))}"
                   f"{_link(r, out)}</tr>" for r in rows)
    return (f'<table class="index audits"><tr>{head}</tr>{body}</table><p>The strongest attack is the one with '
            "the highest ROC AUC; 0.5 is chance (members and non-members indistinguishable).</p>")


def _num(x: float | None) -> str | None:
    return None if x is None else f"{x:.3f}"


def _pair(a, b) -> str | None:
    return None if a is None and b is None else f"{MISSING if a is None else a} / {MISSING if b is None else b}"


def build_index(root: Path, out: Path | None = None) -> dict:
    """Write index.html in out (default root) over every study and audit result under root; returns what it
    lists (`index`: the page's path, `studies`, `audits`, `skipped`). A root with nothing found is an error,
    and nothing is written."""
    root = Path(root)
    if not root.is_dir():
        raise MemscopeError(f"{escape(root)} is not a directory")
    out = Path(out) if out is not None else root
    if out.exists() and not out.is_dir():
        raise MemscopeError(f"out={escape(out)} is a file, not a directory", param="out")
    studies, audits, skipped = find_results(root)
    if not studies and not audits:
        raise MemscopeError(f"no study or audit results under {escape(root)} (looked for {' or '.join(STUDY_FILES)} "
                            f"with a claims list, and {AUDIT_FILE})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MemscopeError(f"out={escape(out)} cannot be made ({e.strerror or e})", param="out") from None
    sections = []
    if studies:
        sections.append((f"Studies ({len(studies)})", _studies_html(studies, out)))
    if audits:
        sections.append((f"Audits ({len(audits)})", _audits_html(audits, out)))
    if skipped:
        sections.append(("Skipped", "<ul>" + "".join(f"<li><code>{html.escape(s['file'])}</code>: "
                                                     f"{html.escape(s['reason'])}</li>" for s in skipped) + "</ul>"))
    lead = (f"{len(studies)} study run{'s' * (len(studies) != 1)} and {len(audits)} audit{'s' * (len(audits) != 1)} "
            f"found under {root}; each row links to its own report.")
    index = write_page(out / INDEX, f"memscope results: {root.resolve().name or root}", sections, lead)
    return {"dir": str(root), "index": str(index), "studies": [{k: v for k, v in r.items() if k != "_claims"}
                                                               for r in studies],
            "audits": audits, "skipped": skipped}


def format_index(r: dict) -> str:
    """The plain-text summary the command prints without --json."""
    n, m = len(r["studies"]), len(r["audits"])
    lines = [f"{r['index']}: {n} study run{'s' * (n != 1)}, {m} audit{'s' * (m != 1)}"]
    for s in r["studies"]:
        verdicts = ", ".join(f"{c['name']} {c['verdict']}" for c in s["claims"]) or "no claims"
        lines.append(f"  study {s['study']} ({s['profile'] or MISSING}) {s['dir']}: {verdicts}")
    for a in r["audits"]:
        auc = MISSING if a["auc"] is None else f"{a['auc']:.3f}"
        lines.append(f"  audit {a['dir']}: strongest attack {a['strongest_attack'] or MISSING}, AUC {auc}")
    for s in r["skipped"]:
        lines.append(f"  skipped {s['file']}: {s['reason']}")
    return "\n".join(lines)
