"""`memscope size`: how much information a dataset holds, and what size of model could memorize all of it.

Information content, bounded from above three ways (the smallest is the tightest):
- uniform: characters x log2(distinct characters), the cost of coding each character independently;
- compressors: raw DEFLATE (zlib, level 9) and raw LZMA2 (preset 9e) of the UTF-8 bytes, in bits;
- a reference model (`--reference RUN`): the run's negative log2-likelihood of the text. The text is
  scored after a BOS newline when the model's vocabulary has one (every character scored), otherwise its
  first character is coded uniformly over the model's vocabulary. A bound only if the reference never saw
  the text: a model that trained on it codes it with what it memorized, and the bound undercounts. The
  report always says so, and counts the text's lines found in the reference run's own training text.
A model memorizes about `bits_per_param` bits per parameter: memscope's own capacity sweep when its
results.json says it converged (`converged_share` >= 0.9), else Morris et al.'s 3.6. An unconverged sweep
measures a lower bound on capacity, not capacity, so it is named in the source and not used.
Membership inference (Morris et al. 2025): a loss-threshold attack's F1 falls toward chance as tokens per
parameter grow, reaching it at about 100 tokens per parameter. Their F1 is one whose chance value is
0.5 on a balanced member/non-member set (a random guess: precision = recall = 1/2); memscope audit's best
F1 over thresholds has the chance floor 2m/(2m+n) (2/3 balanced), so the two are not compared. The regime
tests tokens per parameter first (Morris et al.'s law is in tokens per parameter: past about 100 the
attack is at chance whatever else holds; on compressible text a small model can hold all of the
dataset's bits and still be at chance, since members and non-members alike are then predictable), then
dataset bits against capacity. A text's tokens here are its characters, not Morris et al.'s BPE tokens
(an English BPE token is about 4 characters and carries more bits), so the threshold of 100 carries over
only roughly. Their printed sigmoid law is internally inconsistent (docs/REFERENCE.md), so only the
regime is given here.
"""
from __future__ import annotations

import lzma
import math
import zlib
from pathlib import Path

from . import store
from .config import check_device_name
from .errors import MemscopeError, escape
from .measure.memorization import uniform_code_bits

MORRIS_BITS_PER_PARAM = 3.6
MIA_CHANCE_TOKENS_PER_PARAM = 100
"""Morris et al. 2025: at about this many training (BPE) tokens per parameter or more, F1 is near chance."""
MIN_CONVERGED_SHARE = 0.9
"""A capacity results.json is used only when at least this share of its plateau cells converged."""
REFERENCE_CAUTION = ("the reference bound holds only if the reference model never trained on this text: "
                     "one that did codes it with what it memorized, and the bound undercounts")
MAX_BITS = 1e30
"""The most information --bits may give (about 10^17 terabytes): beyond it the counts overflow."""
MIN_BITS = 1e-3
BITS_PER_PARAM_RANGE = (1e-3, 64.0)
"""Bits per parameter a capacity results file may give: a parameter stores at most its 64 bits."""
DEFAULT_CAPACITY_RESULTS = (Path("runs/capacity-paper-fp32/results.json"),
                            Path("runs/capacity-quick-fp32/results.json"))


def read_text(path: Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise MemscopeError(f"missing text file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MemscopeError(f"{path} is not UTF-8 text") from None
    if not text:
        raise MemscopeError(f"{path} is empty: no information to size")
    return text


def uniform_bits(text: str) -> float:
    """Characters x log2(alphabet), the alphabet being the text's distinct characters (the audit's and
    capacity's uniform code, memorization.uniform_code_bits)."""
    return uniform_code_bits(len(text), len(set(text)))


def raw_deflate_bits(data: bytes) -> int:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE: no header or checksum
    return 8 * len(c.compress(data) + c.flush())


def lzma_bits(data: bytes) -> int:
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
    return 8 * len(lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters))


def reference_bits(run_dir: Path, text: str, device: str = "auto") -> dict:
    """Negative log2-likelihood of the text under a trained memscope run (see the module docstring)."""
    from .models.lm import LanguageModel
    from .models.load import load_model
    from .runtime import configure_cpu
    rc, task, model, step = load_model(Path(run_dir), "final", device)
    vocab = task.vocab
    if "\n" in vocab.stoi:
        ids, first_bits = vocab.encode("\n" + text), 0.0
    else:
        ids, first_bits = vocab.encode(text), math.log2(len(vocab))
    dev = next(model.parameters()).device
    configure_cpu(dev, rc.train.threads)
    nll = LanguageModel.from_gpt(model, vocab).sequence_nll_bits([ids])
    lines = [line for line in text.splitlines() if line.strip()]
    trained_on = set(task.text.splitlines())
    return {"run": str(run_dir), "step": step, "bits": float(nll[0]) + first_bits,
            "lines_in_reference_training_text": sum(line in trained_on for line in lines), "n_lines": len(lines)}


def bits_per_param_source(capacity: Path | None = None) -> tuple[float, str]:
    """memscope's measured bits per parameter (all parameters) from a capacity results.json that says it
    converged (converged_share >= MIN_CONVERGED_SHARE): the one given, else the first default location that
    exists; else Morris et al.'s 3.6, the source naming any results file passed over as unconverged."""
    paths = [Path(capacity)] if capacity is not None else [p for p in DEFAULT_CAPACITY_RESULTS if p.is_file()]
    skipped = []
    for path in paths:
        try:
            results = store.read_json(path, "capacity results")
        except (RecursionError, ValueError):  # nesting too deep; an integer past 4,300 digits
            raise MemscopeError(f"corrupt capacity results: {path}") from None
        try:
            total = results["bits_per_param"]["total"]
            if total is None and isinstance(results.get("converged_share"), (int, float)):
                skipped.append(f"{path} (no size converged)")  # a sweep that fitted nothing
                continue
            bpp = float(total["bits_per_param"])
            profile = results.get("profile", {})
            if not isinstance(profile, dict):
                raise TypeError
        except (KeyError, TypeError, ValueError, OverflowError):
            raise MemscopeError(f"corrupt capacity results: {path} (no number at bits_per_param.total, or a profile that is not an object)") from None
        lo, hi = BITS_PER_PARAM_RANGE
        if not (lo <= bpp <= hi):
            raise MemscopeError(f"capacity results {escape(path)} give bits_per_param={bpp}; need a value in "
                                f"[{lo:g}, {hi:g}] (a parameter holds at most 64 bits)")
        prof = profile.get("name", "?")
        share = results.get("converged_share")
        if not (isinstance(share, (int, float)) and not isinstance(share, bool) and share >= MIN_CONVERGED_SHARE):
            said = "no converged_share" if share is None else f"converged_share {share}"
            skipped.append(f"{path} ({prof}: {said}, need >= {MIN_CONVERGED_SHARE}; its {bpp:.2f} not used)")
            continue
        return bpp, (f"memscope capacity sweep ({prof}, {results.get('precision', '?')}, "
                     f"{100 * share:.0f}% of its sizes converged): {path}")
    if skipped:
        return MORRIS_BITS_PER_PARAM, f"Morris et al. 2025; not converged, so not used: {'; '.join(skipped)}"
    return MORRIS_BITS_PER_PARAM, "Morris et al. 2025 (no memscope capacity results found)"


def membership_regime(dataset_bits: float, capacity_bits: float, tokens_per_param: float | None) -> dict:
    """What Morris et al. predict for a loss-threshold membership attack on a model of this size: tokens
    per parameter first (their law's variable), then dataset bits against capacity (module docstring)."""
    if tokens_per_param is not None and tokens_per_param >= MIA_CHANCE_TOKENS_PER_PARAM:
        name, text = "chance", (f"{tokens_per_param:,.0f} tokens per parameter (>= about "
                                f"{MIA_CHANCE_TOKENS_PER_PARAM}, Morris et al.'s BPE tokens; characters here): "
                                "membership inference near chance")
    elif dataset_bits <= capacity_bits:
        name, text = "memorize-all", ("the model can store the whole dataset: expect members to have clearly "
                                      "lower loss, membership inference well above chance")
    else:
        name, text = "capacity-limited", ("the dataset exceeds the model's capacity, so it stores only part: "
                                          "membership inference above chance, falling toward chance as tokens "
                                          "per parameter grow")
    return {"regime": name, "prediction": text}


def size_dataset(text: str | None = None, bits: float | None = None, reference: Path | None = None,
                 capacity: Path | None = None, params: int | None = None, tokens: int | None = None,
                 device: str = "auto") -> dict:
    """The sizing report as a dict: bounds, the memorize-all parameter count, and the membership regime
    (at the memorize-all size, and at `params` when given). Tokens are characters for a text."""
    check_device_name(device)
    if (text is None) == (bits is None):
        raise MemscopeError("give exactly one of --text or --bits")
    if bits is not None and not (MIN_BITS <= bits <= MAX_BITS):
        raise MemscopeError(f"bits={bits} must be a positive number in [{MIN_BITS:g}, {MAX_BITS:g}]", param="bits")
    for name, value in (("params", params), ("tokens", tokens)):
        if value is not None and not 0 < value <= 10 ** 15:
            raise MemscopeError(f"{name}={value} must lie in 1..10^15", param=name)
    bounds: dict[str, float] = {}
    out: dict = {}
    if text is not None:
        if not text:
            raise MemscopeError("the text is empty: no information to size")
        if tokens is not None:
            raise MemscopeError("tokens goes with bits; a text's tokens are its characters", param="tokens")
        data = text.encode("utf-8")
        tokens = len(text)
        out.update(n_chars=len(text), n_bytes=len(data), alphabet_size=len(set(text)))
        bounds = {"uniform": uniform_bits(text), "deflate": raw_deflate_bits(data), "lzma": lzma_bits(data)}
        if reference is not None:
            ref = reference_bits(reference, text, device)
            bounds["reference"] = ref["bits"]
            out["reference_run"] = ref["run"]
            seen = ref["lines_in_reference_training_text"]
            out["reference_caution"] = REFERENCE_CAUTION + (
                f"; {seen} of the text's {ref['n_lines']} lines are lines of the reference run's training text"
                if seen else "; none of the text's lines is a line of the reference run's own training text")
            out["reference_saw_text_lines"] = seen
    else:
        if reference is not None:
            raise MemscopeError("reference needs text (a model scores a text, not a bit count)", param="reference")
        bounds = {"given": float(bits)}
    source = min((k for k in bounds if math.isfinite(bounds[k])), key=bounds.get)  # a reference may give inf
    info_bits = bounds[source]
    bpp, bpp_source = bits_per_param_source(capacity)
    n_all = info_bits / bpp
    out.update(
        bounds_bits=bounds, information_bits=info_bits, information_source=source, tokens=tokens,
        bits_per_param=bpp, bits_per_param_source=bpp_source,
        params_to_memorize_all=math.ceil(n_all),
        params_to_memorize_all_by_bound={k: _ceil(v / bpp) for k, v in bounds.items()},
        params_at_mia_chance=None if tokens is None else math.floor(tokens / MIA_CHANCE_TOKENS_PER_PARAM),
        at_memorize_all=_at_size(n_all, info_bits, bpp, tokens),
        at_params=None if params is None else _at_size(params, info_bits, bpp, tokens))
    return out


def _ceil(x: float) -> int | None:
    """math.ceil, None for a bound that is not finite (a reference model that gives the text probability 0)."""
    return math.ceil(x) if math.isfinite(x) else None


def _at_size(n_params: float, info_bits: float, bpp: float, tokens: int | None) -> dict:
    tpp = None if tokens is None else tokens / n_params
    return {"n_params": math.ceil(n_params), "capacity_bits": bpp * n_params,
            "dataset_bits_per_capacity": info_bits / (bpp * n_params) if n_params else None,
            "tokens_per_param": tpp, **membership_regime(info_bits, bpp * n_params * (1 + 1e-12), tpp)}


def format_size(r: dict) -> str:
    lines = []
    if r.get("n_chars") is not None:
        lines.append(f"text: {r['n_chars']:,} characters ({r['n_bytes']:,} bytes), {r['alphabet_size']} distinct")
    for k, v in r["bounds_bits"].items():
        n = r["params_to_memorize_all_by_bound"][k]
        lines.append(f"  {k + ' bound':<17} {v:>14,.0f} bits   -> " + ("  (no bound)" if n is None else f"{n:>12,} params"))
    lines.append(f"information: {r['information_bits']:,.0f} bits (tightest bound: {r['information_source']})")
    if r.get("reference_caution"):
        lines.append(f"caution: {r['reference_caution']}")
    lines.append(f"bits per parameter: {r['bits_per_param']:.2f} ({r['bits_per_param_source']})")
    a = r["at_memorize_all"]
    tpp = "" if a["tokens_per_param"] is None else f", {a['tokens_per_param']:.2f} tokens per parameter"
    lines.append(f"a model of {r['params_to_memorize_all']:,} parameters could memorize all of it{tpp}")
    if r["params_at_mia_chance"] is not None:
        lines.append(f"membership inference near chance at <= {r['params_at_mia_chance']:,} parameters "
                     f"(>= {MIA_CHANCE_TOKENS_PER_PARAM} tokens per parameter, Morris et al.; their tokens are BPE "
                     "tokens, these are characters, so only roughly; their F1 has chance 0.5, memscope audit's "
                     "best F1 2m/(2m+n))")
    if r["at_params"] is not None:
        p = r["at_params"]
        lines.append(f"at {p['n_params']:,} parameters: dataset/capacity {p['dataset_bits_per_capacity']:.2f}, "
                     f"regime {p['regime']}: {p['prediction']}")
    return "\n".join(lines)
