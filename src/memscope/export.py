"""Export a memscope run to the ecosystem: a Hugging Face directory that transformers loads as GPT-2.

memscope's GPT is GPT-2's architecture (pre-LN blocks, GELU MLP, learned positions, tied embeddings) with
optional biases and any MLP width, so a run maps onto `GPT2LMHeadModel` exactly: biases that memscope does
not have are zeros, the MLP width is `n_inner`, the activation is the exact GELU (`gelu`, not GPT-2's tanh
approximation `gelu_new`), LayerNorm epsilon 1e-5, and GPT-2's Conv1D layers hold the transposes of
memscope's Linear weights. The tokenizer is character level, built with `tokenizers`: one token per
character of the run's vocabulary with the same ids, the BOS (memscope's line separator) as its BOS, and no
special tokens added on its own. A NoPE run (`pos_encoding=none`) has no GPT-2 counterpart and is refused.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

from .errors import MemscopeError
from .models.load import load_model
from .vocab import BOS

FORMATS = ("hf",)


def _gpt2_state(model, cfg) -> dict[str, torch.Tensor]:
    """memscope GPT weights under GPT2LMHeadModel's names (Conv1D weights transposed, missing biases 0)."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    n, hidden = cfg.n_embd, cfg.mlp_expansion * cfg.n_embd

    def bias(name: str, size: int) -> torch.Tensor:
        return sd.get(name, torch.zeros(size))

    out = {"transformer.wte.weight": sd["transformer.wte.weight"],
           "transformer.wpe.weight": sd["transformer.wpe.weight"],
           "transformer.ln_f.weight": sd["transformer.ln_f.weight"],
           "transformer.ln_f.bias": bias("transformer.ln_f.bias", n)}
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            out[p + f"{ln}.weight"] = sd[p + f"{ln}.weight"]
            out[p + f"{ln}.bias"] = bias(p + f"{ln}.bias", n)
        for layer, width in (("attn.c_attn", 3 * n), ("attn.c_proj", n), ("mlp.c_fc", hidden), ("mlp.c_proj", n)):
            out[p + f"{layer}.weight"] = sd[p + f"{layer}.weight"].t().contiguous()  # Conv1D: (in, out)
            out[p + f"{layer}.bias"] = bias(p + f"{layer}.bias", width)
    out["lm_head.weight"] = sd["lm_head.weight"]
    return out


def _tokenizer(chars: str):
    """A character-level fast tokenizer whose ids are the run's vocabulary ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordLevel(vocab={ch: i for i, ch in enumerate(chars)}, unk_token=BOS))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every character alone
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=BOS, unk_token=BOS,
                                   model_max_length=None, clean_up_tokenization_spaces=False)


def export_run(run_dir: Path, out_dir: Path, fmt: str = "hf", weights: str = "final") -> dict:
    """Write the run's weights and tokenizer as a Hugging Face directory (out_dir must not exist yet);
    returns what was written. Nothing is left behind if it fails."""
    if fmt not in FORMATS:
        raise MemscopeError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() or out_dir.is_symlink():
        raise MemscopeError(f"--out {out_dir} exists: export writes a new directory")
    rc, _, model, step = load_model(Path(run_dir), weights, "cpu")
    cfg = rc.model
    if cfg.pos_encoding != "learned":
        raise MemscopeError(f"run {run_dir} has pos_encoding={cfg.pos_encoding}: GPT-2 always adds learned "
                            "positions, so a NoPE model has no GPT-2 counterpart")
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        raise MemscopeError("export to Hugging Face needs transformers: pip install 'memscope[hf]'") from None
    chars = rc.vocab().chars
    if BOS not in chars or len(chars) != cfg.vocab_size:
        raise MemscopeError(f"run {run_dir}: its vocabulary ({len(chars)} characters) does not match its model "
                            f"({cfg.vocab_size} tokens)")
    bos = chars.index(BOS)
    hf_cfg = GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd,
                        n_layer=cfg.n_layer, n_head=cfg.n_head, n_inner=cfg.mlp_expansion * cfg.n_embd,
                        activation_function="gelu", resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout,
                        attn_pdrop=cfg.dropout, layer_norm_epsilon=1e-5, bos_token_id=bos, eos_token_id=bos,
                        tie_word_embeddings=True)
    hf = GPT2LMHeadModel(hf_cfg)
    missing, unexpected = hf.load_state_dict(_gpt2_state(model, cfg), strict=False)
    if unexpected or [k for k in missing if not k.endswith(("attn.bias", "attn.masked_bias"))]:
        raise MemscopeError(f"export: weights did not map onto GPT-2 (missing {missing}, unexpected {unexpected})")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        hf.eval().save_pretrained(tmp, safe_serialization=True)
        _tokenizer(chars).save_pretrained(tmp)
        t = rc.train
        source = {"run": str(run_dir), "weights": weights, "step": step, "task": rc.task, "preset": rc.preset,
                  "format": "GPT2LMHeadModel, character-level tokenizer; prepend the BOS token to a line",
                  "protocol": {"eval_samples": t.eval_samples, "temperature": t.temperature, "top_k": t.top_k,
                               "seed": t.seed, "step": step}}
        (tmp / "memscope_export.json").write_text(json.dumps(source, indent=1) + "\n")
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out_dir), "format": fmt, "step": step, "architecture": "GPT2LMHeadModel",
            "vocab_size": cfg.vocab_size, "bos_token": BOS, "files": sorted(p.name for p in out_dir.iterdir())}
