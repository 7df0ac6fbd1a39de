"""Hugging Face causal LMs loaded from a local directory, behind memscope's LanguageModel interface.

Local files only (`local_files_only=True`): nothing is downloaded. Weights are read from safetensors only
(`use_safetensors=True`): a `pytorch_model.bin` is a pickle, which can run code when loaded, so a directory
holding only that is refused. Needs the `hf` extra (`pip install 'memscope[hf]'`, transformers >= 4.40).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from ..errors import MemscopeError
from ..runtime import resolve_device
from .lm import LanguageModel

_CONTEXT_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "seq_length")


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else e.__class__.__name__)[:200]


def load_hf(path: Path, device: str = "auto", batch_size: int = 8) -> LanguageModel:
    """The tokenizer and causal LM saved in path (save_pretrained), in eval mode on device."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise MemscopeError(f"{path} is a Hugging Face model; reading it needs transformers: "
                            "pip install 'memscope[hf]'") from None
    if not sys.stderr.isatty():
        hf_logging.disable_progress_bar()  # as memscope's own bars: quiet off a terminal
    if Path(path).is_dir() and not any(Path(path).glob("*.safetensors")):  # sharded: model-0000k-of-n.safetensors
        raise MemscopeError(f"no model.safetensors in {path}: memscope loads safetensors only (never pickle); "
                            "convert with save_pretrained(safe_serialization=True)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
    except Exception as e:  # transformers raises OSError, ValueError, KeyError... for unusable folders
        raise MemscopeError(f"cannot load the Hugging Face model in {path}: {_one_line(e)}") from None
    bos_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if bos_id is None:
        raise MemscopeError(f"the tokenizer in {path} has neither a BOS nor an EOS token to condition on")
    model = model.to(resolve_device(device)).eval()

    def logits_fn(idx: torch.Tensor) -> torch.Tensor:
        return model(input_ids=idx, use_cache=False).logits  # (B, T, V)

    def tokenize(texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]

    return LanguageModel(
        path=str(path), kind="hugging face", logits_fn=logits_fn, tokenize=tokenize,
        decode=lambda ids: tokenizer.decode(ids), bos_id=int(bos_id),
        bos=tokenizer.convert_ids_to_tokens(int(bos_id)), block_size=_context_length(model, tokenizer, path),
        vocab_size=_output_size(model),
        n_params=sum(p.numel() for p in model.parameters()), device=next(model.parameters()).device,
        batch_size=batch_size, module=model)


def _output_size(model) -> int:
    head = model.get_output_embeddings()
    return int(head.weight.shape[0]) if head is not None else int(model.config.vocab_size)


def _context_length(model, tokenizer, path: Path) -> int:
    for name in _CONTEXT_FIELDS:
        value = getattr(model.config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    raise MemscopeError(f"cannot tell the context length of the model in {path} "
                        f"(its config has none of {', '.join(_CONTEXT_FIELDS)})")
