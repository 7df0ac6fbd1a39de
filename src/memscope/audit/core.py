"""memscope audit: which samples did a model memorize, and how exposed are they?

Given a target model, its training samples (members), held-out samples of the same kind (non-members)
and optionally a reference model and canaries, measure per sample the unintended memorization in bits
(memorization.py), how well four membership-inference attacks separate members from non-members
(membership.py), greedy extraction of each sample's continuation (extraction.py), canary exposure
(exposure.py), and how memorization relates to rarity. Sample files hold one sample per line, or JSONL
with a "text" field.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import torch

from .. import store
from ..config import DEVICE, MAX_SEED
from ..errors import MemscopeError
from ..settings import Range, validate
from ..models.lm import LanguageModel
from ..models.load import load_lm
from ..measure import exposure, extraction, membership, memorization

log = logging.getLogger(__name__)

TOP_SAMPLES = 20
ATTACKS = {"loss": "loss", "reference": "reference-calibrated loss", "zlib": "zlib ratio",
           "min_k": "min-k% probability (k = 20%)"}


@dataclass(frozen=True)
class AuditSettings:
    prefix_tokens: Annotated[int, Range(1, 2 ** 20)] = extraction.PREFIX_TOKENS
    """Extraction prefix (tokens after the BOS)."""
    suffix_tokens: Annotated[int, Range(1, 2 ** 20)] = extraction.SUFFIX_TOKENS
    """Extraction continuation that must match."""
    canary_candidates: Annotated[int, Range(1, 10 ** 7)] = exposure.DEFAULT_MAX_CANDIDATES
    """Rank canaries exactly among at most this many candidates; sample this many beyond."""
    device: Annotated[str, DEVICE] = "auto"
    """Device of the forward passes; auto takes CUDA when present."""
    batch_size: Annotated[int | None, Range(1, 2 ** 20)] = None
    """Sequences per forward pass; none: 256 for memscope runs, 8 for Hugging Face models."""
    seed: Annotated[int, Range(0, MAX_SEED)] = 0
    """Seed of the candidate sampling for canaries with too many candidates to enumerate."""

    def __post_init__(self):
        validate(self)  # types, ranges and the device name, as annotated


@dataclass
class AuditResult:
    summary: dict
    """Everything the command prints with --json."""
    samples: list[dict]
    """One row per sample: text, member, likelihoods, memorized bits, attack scores, extraction."""
    rocs: dict = field(default_factory=dict)
    """Attack name -> membership.Roc, for figures."""

    def to_dict(self) -> dict:
        """What `memscope audit --json` prints."""
        return dict(self.summary)

    def to_frame(self, what: str = "samples"):
        """A pandas DataFrame: `samples` (one row per sample) or `membership` (one row per attack)."""
        from ..results import _frame
        if what == "membership":
            return _frame([{"name": k, **v} for k, v in self.summary["membership"].items()])
        if what != "samples":
            raise MemscopeError(f"to_frame({what!r}): choose samples or membership")
        return _frame(self.samples)


# ------------------------------------------------------------------------------------------ inputs
def _texts(given, what: str) -> list[str]:
    """Samples given in memory (a list of strings) or as a file (read_samples)."""
    if isinstance(given, (list, tuple)):
        if not given:
            raise MemscopeError(f"{what}: no samples given")
        bad = next((i for i, t in enumerate(given) if not isinstance(t, str) or not t), None)
        if bad is not None:
            raise MemscopeError(f"{what}[{bad}] must be a non-empty string, not {given[bad]!r}")
        return list(given)
    return read_samples(Path(given), what)


def read_samples(path: Path, what: str) -> list[str]:
    """One sample per non-blank line, or JSONL (a .jsonl/.json file, or lines that are JSON objects)
    with a "text" field."""
    lines = store.read_lines(path, what)
    first = lines[0][1] if lines else ""
    if Path(path).suffix in (".jsonl", ".json") or _is_json_object(first):
        texts = [_json_line(text, n, path, what)["text"] for n, text in lines]
    else:
        texts = [text for _, text in lines]
    if not texts:
        raise MemscopeError(f"{what} file {path} holds no samples")
    return texts


def read_canaries(path: Path) -> list[dict]:
    """Canary file: JSONL with "text", "format" and, for formats using '?', "alphabet" (exposure.py)."""
    rows = [_canary(_json_line(line, n, path, "canaries"), f"canaries file {path} line {n}")
            for n, line in store.read_lines(path, "canaries")]
    if not rows:
        raise MemscopeError(f"canaries file {path} holds no canaries")
    return rows


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json object_pairs_hook: a key given twice is an error, not its last value."""
    row = {}
    for key, value in pairs:
        if key in row:
            raise _DuplicateKey(key)
        row[key] = value
    return row


def _loads(line: str):
    """json.loads of one line. ValueError covers bad JSON and integers past Python's 4,300-digit limit;
    RecursionError, nesting too deep to decode."""
    return json.loads(line, object_pairs_hook=_unique_keys)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(_loads(line), dict)
    except _DuplicateKey:
        return True  # an object: _json_line names the key
    except (ValueError, RecursionError):
        return False


def _json_line(line: str, n: int, path: Path, what: str) -> dict:
    try:
        row = _loads(line)
    except _DuplicateKey as e:
        raise MemscopeError(f"{what} file {path} line {n}: duplicate key {e.args[0]!r}") from None
    except (ValueError, RecursionError):
        raise MemscopeError(f"{what} file {path} line {n}: not a JSON object") from None
    if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"]:
        raise MemscopeError(f"{what} file {path} line {n}: no non-empty \"text\" field")
    return row


def _encode(lm: LanguageModel, texts: list[str], what: str) -> list[list[int]]:
    """BOS + tokens of each text; a text the model cannot encode is named by its sample number."""
    try:
        return lm.encode(texts)
    except MemscopeError:
        for n, text in enumerate(texts, 1):
            try:
                lm.encode([text])
            except MemscopeError as e:
                raise MemscopeError(f"{what} sample {n}: {e}") from None
        raise


# ------------------------------------------------------------------------------------------ audit
@dataclass
class _Inputs:
    texts: list[str]
    is_member: np.ndarray
    canaries: list[dict]
    target: LanguageModel
    reference: LanguageModel | None
    seqs: list[list[int]]
    """BOS + target tokens of each text."""
    ref_seqs: list[list[int]] | None


def _canary_rows(given) -> list[dict]:
    """Canaries given in memory (dicts with text, format and alphabet) or as a JSONL file."""
    if not isinstance(given, (list, tuple)):
        return read_canaries(Path(given))
    for i, row in enumerate(given):
        if not isinstance(row, dict):
            raise MemscopeError(f"canaries[{i}] must be a dict with \"text\" and \"format\"")
    return [_canary(row, f"canaries[{i}]") for i, row in enumerate(given)]


def _canary(row: dict, where: str) -> dict:
    """One canary checked (a "format" string, an "alphabet" string if any, exposure.check_canary)."""
    if not isinstance(row.get("format"), str):
        raise MemscopeError(f"{where}: no \"format\" field")
    if "alphabet" in row and not isinstance(row["alphabet"], str):
        raise MemscopeError(f"{where}: \"alphabet\" must be a string")
    canary = {k: row[k] for k in ("text", "format", "alphabet") if k in row}
    try:
        exposure.check_canary(canary)
    except MemscopeError as e:
        raise MemscopeError(f"{where}: {e}") from None
    return canary


def _load(target: Path, members, nonmembers, reference: Path | None, canaries, settings: AuditSettings) -> _Inputs:
    """Read and check every input before any scoring: bad input fails fast with one line."""
    member_texts, nonmember_texts = _texts(members, "members"), _texts(nonmembers, "non-members")
    canary_rows = _canary_rows(canaries) if canaries else []
    target_lm = load_lm(target, settings.device, settings.batch_size)
    ref_lm = load_lm(reference, settings.device, settings.batch_size) if reference else None

    def encode(lm: LanguageModel) -> list[list[int]]:
        return _encode(lm, member_texts, "members") + _encode(lm, nonmember_texts, "non-members")

    seqs = encode(target_lm)
    _check_canary_characters(target_lm, canary_rows)
    is_member = np.r_[np.ones(len(member_texts), bool), np.zeros(len(nonmember_texts), bool)]
    return _Inputs(member_texts + nonmember_texts, is_member, canary_rows, target_lm, ref_lm, seqs,
                   encode(ref_lm) if ref_lm else None)


def audit(target: Path, members: Path | list[str], nonmembers: Path | list[str], reference: Path | None = None,
          canaries: Path | list[dict] | None = None, settings: AuditSettings = AuditSettings()) -> AuditResult:
    """Memorization, membership inference, extraction, canary exposure and rarity of one target model.

    target and reference: a memscope run or a Hugging Face model directory. members, nonmembers: a file
    (one sample a line, or JSONL with "text") or a list of strings in memory; canaries: a JSONL file or a
    list of dicts (text, format, alphabet)."""
    x = _load(target, members, nonmembers, reference, canaries, settings)
    texts, seqs, is_member, lm = x.texts, x.seqs, x.is_member, x.target
    log.info("scoring %d samples under the target %s", len(texts), lm.path)
    token_nll = lm.token_nll_bits(seqs, desc="target")
    target_nll = np.array([float(t.double().sum()) for t in token_nll])
    if x.reference is not None:
        log.info("scoring %d samples under the reference %s", len(texts), x.reference.path)
        ref_nll = x.reference.sequence_nll_bits(x.ref_seqs, desc="reference").numpy()
    else:  # the uniform code over the samples' alphabet (memorization.py), members and non-members alike
        ref_nll = memorization.alphabet_uniform_nll_bits(texts)
    mem_bits = memorization.clipped_memorized_bits(target_nll, ref_nll)
    scores = membership.attack_scores(token_nll, texts, ref_nll)
    attacks = {name: membership.attack_metrics(v[is_member], v[~is_member]) for name, v in scores.items()}
    log.info("greedy extraction of %d samples", len(texts))
    extracted = extraction.extract(lm.greedy, seqs, settings.prefix_tokens, settings.suffix_tokens)
    rarity = memorization.tfidf_rarity([s[1:] for s in seqs])
    samples = [_sample_row(texts[i], bool(is_member[i]), seqs[i], target_nll[i], ref_nll[i], mem_bits[i],
                           {k: float(v[i]) for k, v in scores.items()}, extracted[i], rarity[i], lm)
               for i in range(len(texts))]
    summary = {
        "target": lm.describe(),
        "reference": x.reference.describe() if x.reference else _uniform_reference(texts),
        "n_members": int(is_member.sum()), "n_nonmembers": int((~is_member).sum()),
        "conventions": _conventions(x),
        "memorization": {"members": memorization.bits_summary(mem_bits[is_member]),
                         "nonmembers": memorization.bits_summary(mem_bits[~is_member])},
        "membership": {name: {"attack": ATTACKS[name], **{k: v for k, v in m.items() if k != "roc"}}
                       for name, m in attacks.items()},
        "extraction": _extraction_summary(extracted, is_member, settings),
        "exposure": _exposures(lm, x.canaries, settings),
        "rarity": _rarity(rarity, ref_nll, texts, mem_bits, is_member, x.reference is not None),
        "top_memorized": _top(samples),
    }
    summary["headline"] = membership.headline(
        attacks, {name: membership.auc_interval(v[is_member], v[~is_member], seed=settings.seed)
                  for name, v in scores.items()})
    return AuditResult(summary, samples, {name: m["roc"] for name, m in attacks.items()})


def _uniform_reference(texts: list[str]) -> dict:
    alphabet = memorization.data_alphabet(texts)
    return {"kind": "uniform", "over": "the distinct characters of the members and non-members",
            "alphabet": alphabet, "alphabet_size": len(alphabet),
            "bits_per_character": memorization.uniform_code_bits(1, len(alphabet))}


def _check_canary_characters(lm: LanguageModel, canary_rows: list[dict]) -> None:
    """Every character a canary's candidates can hold must be one the model can encode."""
    for c in canary_rows:
        chars = "".join(sorted(set("".join(exposure.parse_format(c["format"], c.get("alphabet"))))))
        try:
            lm.encode([chars])
        except MemscopeError as e:
            raise MemscopeError(f"canary format {c['format']!r}: {e}") from None


def _exposures(lm: LanguageModel, canary_rows: list[dict], settings: AuditSettings) -> list[dict]:
    if not canary_rows:
        return []

    def score(texts: list[str]) -> np.ndarray:
        return lm.sequence_nll_bits(_encode(lm, texts, "canary candidates"), desc="canaries").numpy()

    log.info("canary exposure of %d canaries", len(canary_rows))
    return exposure.canary_exposure(score, canary_rows, torch.Generator().manual_seed(settings.seed),
                                    settings.canary_candidates)


def _conventions(x: _Inputs) -> dict:
    lm, ref = x.target, x.reference
    longer = sum(len(s) - 1 > lm.block_size for s in x.seqs)
    ref_longer = sum(len(s) - 1 > ref.block_size for s in x.ref_seqs) if ref else 0
    if ref is None:
        a = len(memorization.data_alphabet(x.texts))
        reference = (f"no reference model: the uniform distribution over the samples' {a}-character alphabet "
                     f"(members and non-members), log2 {a} = {memorization.uniform_code_bits(1, a):.3f} bits "
                     f"per character (the target's vocabulary has {lm.vocab_size} tokens)")
    else:
        reference = f"reference model {ref.path} ({ref.kind})"
    return {
        "first_token": f"each sample is scored given a BOS token ({lm.bos!r} for the target) that is "
                       "not scored itself; every token of the sample is scored",
        "reference": reference,
        "memorized_bits": "max(0, log2 p(x|target) - log2 p(x|reference)) per sample (Morris et al. 2025)",
        "sliding_window": (f"samples longer than the target's {lm.block_size}-token context: {longer}"
                           + (f", than the reference's {ref.block_size}: {ref_longer}" if ref else "")
                           + f" of {len(x.seqs)}; those are scored with a sliding window (stride half the "
                           "context, every token given at least half a context of prefix)"),
        "n_longer_than_context": {"target": longer, "reference": ref_longer},
    }


def _extraction_summary(rows: list[dict | None], is_member: np.ndarray, settings: AuditSettings) -> dict:
    used = Counter(f"{r['prefix_tokens']}+{r['suffix_tokens']}" for r in rows if r is not None)
    return {"prefix_tokens": settings.prefix_tokens, "suffix_tokens": settings.suffix_tokens,
            "note": "samples shorter than prefix + suffix are split in the same proportion",
            "splits_used": dict(used.most_common()),
            "members": extraction.extraction_rates([r for r, m in zip(rows, is_member) if m]),
            "nonmembers": extraction.extraction_rates([r for r, m in zip(rows, is_member) if not m])}


def _rarity(tfidf: np.ndarray, ref_nll: np.ndarray, texts: list[str], mem_bits: np.ndarray,
            is_member: np.ndarray, has_reference: bool) -> dict:
    """Spearman correlation over the members between rarity and memorized bits."""
    out = {"over": "members",
           "tfidf": {"measure": "TF-weighted mean IDF of the sample's target tokens",
                     **memorization.spearman(tfidf[is_member], mem_bits[is_member])}}
    if has_reference:
        per_char = ref_nll / np.array([max(len(t), 1) for t in texts])
        out["reference"] = {"measure": "negative log2-likelihood per character under the reference",
                            **memorization.spearman(per_char[is_member], mem_bits[is_member])}
    return out


def _sample_row(text, member, seq, target_nll, ref_nll, mem_bits, scores, extracted, rarity,
                lm: LanguageModel) -> dict:
    row = {"text": text, "member": member, "n_tokens": len(seq) - 1, "target_nll_bits": float(target_nll),
           "reference_nll_bits": float(ref_nll), "memorized_bits": float(mem_bits), "scores": scores,
           "tfidf_rarity": float(rarity), "extraction": None}
    if extracted is not None:
        k, m = extracted["prefix_tokens"], extracted["suffix_tokens"]
        row["extraction"] = {"prefix_tokens": k, "suffix_tokens": m, "exact": extracted["exact"],
                             "token_match": extracted["token_match"], "prefix": lm.decode(seq[1: 1 + k]),
                             "truth": lm.decode(seq[1 + k: 1 + k + m]), "greedy": lm.decode(extracted["generated"])}
    return row


def _top(samples: list[dict], n: int = TOP_SAMPLES) -> list[dict]:
    ranked = sorted(samples, key=lambda r: -r["memorized_bits"])[:n]
    return [{"text": r["text"], "member": r["member"], "memorized_bits": r["memorized_bits"],
             "target_nll_bits": r["target_nll_bits"], "tfidf_rarity": r["tfidf_rarity"]} for r in ranked]


# ------------------------------------------------------------------------------------------ outputs
def write_audit(result: AuditResult, out_dir: Path) -> dict:
    """audit.json (the summary), samples.jsonl (one row per sample) and report.html in out_dir."""
    from .report import render_report
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MemscopeError(f"out_dir={out_dir} is a file, not a directory", param="out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "audit.json", "samples": out_dir / "samples.jsonl",
             "report": out_dir / "report.html"}
    store.write_json(paths["json"], result.summary)
    store.atomic_write_bytes(paths["samples"], "".join(json.dumps(r) + "\n" for r in result.samples).encode())
    store.write_text(paths["report"], render_report(result))
    return {k: str(v) for k, v in paths.items()}


def format_audit(s: dict) -> str:
    """The plain-text summary the command prints without --json."""
    t, mem = s["target"], s["memorization"]
    h = s.get("headline")
    lines = ([f"headline  {h['attack']} attack: {h['sentence']}; TPR at FPR < 1% {h['tpr_at_1pct_fpr']:.3f}"]
             if h else [])
    lines += [f"target    {t['path']} ({t['kind']}, {t['n_params']:,} parameters, context {t['block_size']})",
             f"reference {s['conventions']['reference']}",
             f"samples   {s['n_members']} members, {s['n_nonmembers']} non-members; "
             f"{s['conventions']['n_longer_than_context']['target']} longer than the context (sliding window)",
             "memorized bits   total      mean    samples > 0",
             *(f"  {label:<12} {mem[key]['total_bits']:9.1f} {mem[key]['mean_bits']:9.2f}   "
               f"{mem[key]['n_positive']}/{mem[key]['n']}" for key, label in
               (("members", "members"), ("nonmembers", "non-members"))),
             "membership       AUC    TPR@1%FPR TPR@0.1%FPR best F1 (chance)"]
    for name, m in s["membership"].items():
        lines.append(f"  {name:<12} {m['auc']:7.3f} {m['tpr_at_1pct_fpr']:9.3f} {m['tpr_at_0.1pct_fpr']:11.3f} "
                     f"{m['best_f1']:7.3f} ({m['best_f1_chance']:.3f})")
    lines.append(f"  {membership.fpr_caveat(s['n_nonmembers'])}; best F1 over thresholds: chance = accept-all "
                 "F1 2m/(2m+n), not 0.5")
    ex = s["extraction"]
    splits = ", ".join(f"{k} x{n}" for k, n in ex["splits_used"].items()) or "none"
    lines.append(f"extraction       exact match   token match   (prefix+continuation tokens: {splits})")
    for key, label in (("members", "members"), ("nonmembers", "non-members")):
        r = ex[key]
        if r["n"]:
            lines.append(f"  {label:<12} {100 * r['exact_match_rate']:10.1f}%  {100 * r['token_match_rate']:10.1f}%")
    for c in s["exposure"]:
        lines.append(f"canary {c['text']!r}: exposure {c['exposure_bits']:.2f} of {c['max_exposure_bits']:.2f} "
                     f"bits ({c['method']})")
    rho = s["rarity"]["tfidf"]["rho"]
    lines.append("rarity    Spearman(TF-IDF rarity, memorized bits) over members: "
                 + ("n/a (constant)" if rho is None else f"{rho:+.3f}"))
    if s.get("files"):
        lines.append(f"report    {s['files']['report']}")
    return "\n".join(lines)
