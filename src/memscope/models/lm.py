"""One interface over the language models memscope measures: a memscope run directory or a Hugging Face
causal LM saved on disk (hf.py). Measures see only this: tokenize, score, continue greedily.

Convention shared by both: a text is scored given a BOS context token that is never scored itself (the
newline before each line of a memscope task; a Hugging Face tokenizer's BOS token, or its EOS token,
GPT-2's document separator, where it has no BOS).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .. import store
from ..errors import MemscopeError
from ..measure.extraction import greedy_continue
from ..measure.likelihood import LogitsFn, gpt_logits_fn, sequence_nll_bits, token_nll_bits

MEMSCOPE_BOS = "\n"


@dataclass(frozen=True)
class LanguageModel:
    """A causal LM behind the measure API."""

    path: str
    kind: str
    """"memscope run" or "hugging face"."""
    logits_fn: LogitsFn
    tokenize: Callable[[list[str]], list[list[int]]]
    """Texts -> token ids, without the BOS."""
    decode: Callable[[list[int]], str]
    bos_id: int
    bos: str
    """The BOS token as text, for the output's conventions."""
    block_size: int
    vocab_size: int
    """Size of the output distribution (the uniform reference spreads over it)."""
    n_params: int
    device: torch.device
    batch_size: int
    """Sequences per forward pass when scoring."""

    def encode(self, texts: list[str]) -> list[list[int]]:
        """BOS + the text's tokens, for each text."""
        return [[self.bos_id, *ids] for ids in self.tokenize(texts)]

    def token_nll_bits(self, seqs: list[list[int]], desc: str | None = None) -> list[torch.Tensor]:
        """Per sequence (BOS first), the (len - 1,) negative log2-probabilities, sliding window beyond
        block_size."""
        return token_nll_bits(self.logits_fn, seqs, self.block_size, self.device, self.batch_size, desc)

    def sequence_nll_bits(self, seqs: list[list[int]], desc: str | None = None) -> torch.Tensor:
        """(N,) total negative log2-likelihood of each sequence."""
        return sequence_nll_bits(self.logits_fn, seqs, self.block_size, self.device, self.batch_size, desc)

    def greedy(self, prefixes: list[list[int]], n_new: list[int]) -> list[list[int]]:
        return greedy_continue(self.logits_fn, prefixes, n_new, self.block_size, self.device, self.batch_size)

    def describe(self) -> dict:
        return {"path": self.path, "kind": self.kind, "n_params": self.n_params, "vocab_size": self.vocab_size,
                "block_size": self.block_size, "bos": self.bos,
                "uniform_bits_per_token": math.log2(self.vocab_size)}


def load_lm(path: Path, device: str = "auto", batch_size: int | None = None) -> LanguageModel:
    """A memscope run (its final weights) or a Hugging Face causal-LM directory, told apart by config.json."""
    path = Path(path)
    if not path.is_dir():
        raise MemscopeError(f"no model directory at {path}")
    if not (path / "config.json").is_file():
        raise MemscopeError(f"{path} is not a model directory: no config.json "
                            "(expected a memscope run or a Hugging Face model)")
    config = store.read_json(path / "config.json", "model config")
    if "task" in config and "train" in config:
        return _memscope_lm(path, device, batch_size or 256)
    if "model_type" in config:
        from .hf import load_hf
        return load_hf(path, device, batch_size or 8)
    raise MemscopeError(f"{path} is neither a memscope run nor a Hugging Face model "
                        "(its config.json has neither 'task' nor 'model_type')")


def _memscope_lm(path: Path, device: str, batch_size: int) -> LanguageModel:
    from ..runs import load_model
    _, task, model, _ = load_model(path, "final", device)
    vocab = task.vocab
    if MEMSCOPE_BOS not in vocab.stoi:
        raise MemscopeError(f"run {path}: its vocabulary has no newline to serve as the BOS token")
    return LanguageModel(
        path=str(path), kind="memscope run", logits_fn=gpt_logits_fn(model),
        tokenize=lambda texts: [vocab.encode(t) for t in texts], decode=vocab.decode,
        bos_id=vocab.stoi[MEMSCOPE_BOS], bos=MEMSCOPE_BOS, block_size=model.config.block_size,
        vocab_size=model.config.vocab_size, n_params=model.count_params("total"),
        device=next(model.parameters()).device, batch_size=batch_size)
