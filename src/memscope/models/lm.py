"""One interface over the language models memscope measures: a memscope GPT (a run directory's weights, or
one in memory) or a Hugging Face causal LM saved on disk. Measures and the evaluation protocol see only
this: tokenize, score, continue greedily, sample.

Convention shared by both: a text is scored given a BOS context that is never scored itself (the newline
before each line of a memscope task; for a Hugging Face model, decided once from its tokenizer in
models/hf.py: the token it adds in front of a text itself, else its BOS token, else its EOS token,
GPT-2's document separator). `encode` is that convention: the ids every command scores. Prompts for
generation (`prompt_ids`) are the same ids for a Hugging Face model; a memscope GPT's evaluation prompts
are given without the BOS, as its trainer has always evaluated them (so a run's figures equal those it
logged).

This module loads nothing from disk (models/load.py and models/hf.py do), so the trainer can import the
evaluation protocol, which imports this, without importing the loaders, which import the trainer's config.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import MemscopeError
from ..measure.extraction import greedy_continue
from ..measure.likelihood import LogitsFn, sequence_nll_bits, token_nll_bits
from ..vocab import BOS, Vocab
from .generate import LastLogitsFn, gpt_last_logits_fn, sample_from



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
    bos_id: int | None
    """None for a memscope vocabulary without a newline: such a model samples but cannot score texts."""
    bos: str
    """The ids before each text (the BOS), as text, for the output's conventions."""
    block_size: int
    vocab_size: int
    """Size of the output distribution (the uniform reference spreads over it)."""
    n_params: int
    device: torch.device
    batch_size: int
    """Sequences per forward pass when scoring."""
    last_logits_fn: LastLogitsFn | None = None
    """idx (B, T) -> (B, V) next-token logits, for sampling; None: the last position of logits_fn."""
    module: torch.nn.Module | None = None
    """The network behind the functions: put in eval mode while this model computes, then restored, so a
    model still training (the trainer's evaluations) samples without dropout and trains on after."""
    prompts_with_bos: bool = False
    """Whether generation prompts (evaluation, `memscope sample`) get the BOS too: True for a Hugging
    Face model (one convention for every command); False for a memscope GPT, evaluated as trained."""

    @classmethod
    def from_gpt(cls, gpt: torch.nn.Module, vocab: Vocab, path: str = "", batch_size: int = 256,
                 kind: str = "memscope run") -> "LanguageModel":
        """A memscope GPT in memory (anything with forward(idx, last_only) -> (logits, loss) and
        config.block_size) over its task's character vocabulary; the newline serves as BOS."""
        bos_id = vocab.stoi.get(BOS)
        return cls(
            path=path, kind=kind, logits_fn=lambda idx: gpt(idx)[0],
            tokenize=lambda texts: [vocab.encode(t) for t in texts], decode=vocab.decode,
            bos_id=bos_id, bos=BOS if bos_id is not None else "", block_size=gpt.config.block_size,
            vocab_size=len(vocab), n_params=sum(p.numel() for p in gpt.parameters()),
            device=next(gpt.parameters()).device, batch_size=batch_size,
            last_logits_fn=gpt_last_logits_fn(gpt), module=gpt)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """BOS + the text's tokens, for each text: the ids every command scores (the model's one convention)."""
        if self.bos_id is None:
            raise MemscopeError(f"{self.path or 'model'}: its vocabulary has no newline to serve as the BOS token")
        return [[self.bos_id, *ids] for ids in self.tokenize(texts)]

    def prompt_ids(self, texts: list[str]) -> list[list[int]]:
        """The ids a generation prompt is given: encode() for a Hugging Face model, the bare tokens for a
        memscope GPT (as its trainer evaluates)."""
        return self.encode(texts) if self.prompts_with_bos else self.tokenize(texts)

    def token_nll_bits(self, seqs: list[list[int]], desc: str | None = None) -> list[torch.Tensor]:
        """Per sequence (BOS first), the (len - 1,) negative log2-probabilities, sliding window beyond
        block_size."""
        with self._inference():
            return token_nll_bits(self.logits_fn, seqs, self.block_size, self.device, self.batch_size, desc)

    def sequence_nll_bits(self, seqs: list[list[int]], desc: str | None = None) -> torch.Tensor:
        """(N,) total negative log2-likelihood of each sequence."""
        with self._inference():
            return sequence_nll_bits(self.logits_fn, seqs, self.block_size, self.device, self.batch_size,
                                     desc)

    def greedy(self, prefixes: list[list[int]], n_new: list[int]) -> list[list[int]]:
        with self._inference():
            return greedy_continue(self.logits_fn, prefixes, n_new, self.block_size, self.device,
                                   self.batch_size)

    def sample(self, prompts: list[list[int]], n_samples: int, max_new_tokens: int, temperature: float,
               top_k: int | None, generator: torch.Generator) -> list[list[list[int]]]:
        """n_samples continuations of max_new_tokens tokens per prompt, as [prompt][sample] -> ids: nanoGPT's
        temperature -> top-k -> multinomial, drawn with generator (a CPU one gives the same draws on
        every device). Prompts are token ids as given (no BOS is added)."""
        with self._inference():
            return sample_from(self._next_logits, prompts, n_samples, max_new_tokens, temperature, top_k,
                               generator, self.block_size, self.device)

    def _next_logits(self, idx: torch.Tensor) -> torch.Tensor:
        if self.last_logits_fn is not None:
            return self.last_logits_fn(idx)
        return self.logits_fn(idx)[:, -1, :]  # (B, V)

    @contextmanager
    def _inference(self):
        if self.module is None:
            yield
            return
        was_training = self.module.training
        self.module.eval()
        try:
            yield
        finally:
            self.module.train(was_training)

    def describe(self) -> dict:
        return {"path": self.path, "kind": self.kind, "n_params": self.n_params, "vocab_size": self.vocab_size,
                "block_size": self.block_size, "bos": self.bos,
                "uniform_bits_per_token": math.log2(self.vocab_size)}
