"""Helpers shared by the test tiers (unit/, integration/, slow/): tiny local models and subprocess control."""
import os
import signal
import subprocess
import sys
import time

import pytest


def save_tiny_gpt2(path, chars: str, n_positions: int = 32, n_embd: int = 16, seed: int = 0,
                   safe_serialization: bool = True):
    """A 1-layer GPT-2 with a character tokenizer over chars (BOS = EOS = "<s>"), saved to path with
    save_pretrained: a Hugging Face causal LM made here, so no test downloads one. safe_serialization=False
    writes pytorch_model.bin (a pickle) instead of model.safetensors."""
    transformers = pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    vocab = {t: i for i, t in enumerate(["<s>", "<unk>", *chars])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<s>",
                                                     unk_token="<unk>")
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=n_embd, vocab_size=len(vocab),
                                     n_positions=n_positions, bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    model.save_pretrained(path)
    if not safe_serialization:  # transformers 5 writes safetensors only: the old pickle layout by hand
        torch.save(model.state_dict(), os.path.join(path, "pytorch_model.bin"))
        os.remove(os.path.join(path, "model.safetensors"))
    tokenizer.save_pretrained(path)
    return path


def kill_when_ready(args: list, ready, timeout_s: float = 120) -> None:
    """Run `python -m memscope ARGS` in a subprocess and SIGKILL it as soon as ready() is true."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "memscope", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not ready():
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


CLAIM_KEYS = ["name", "statement", "rule", "statistic", "value", "interval", "interval_method", "bounds",
              "threshold", "verdict", "evidence", "reason"]


def assert_claim_schema(result: dict, *, plumbing: bool) -> None:
    """A study's JSON result carries its claims in the one schema (memscope.claims.Claim); a plumbing
    profile's read `not established`, the rule's own verdict kept in the reason."""
    from memscope.claims import Claim
    assert result["claims"], "a study judges at least one claim"
    for c in result["claims"]:
        assert list(c) == CLAIM_KEYS, list(c)
        assert Claim.from_dict(c).to_dict() == c  # valid: verdict, bounds, interval inside them
        if plumbing:
            assert c["verdict"] == "not established" and c["reason"].startswith("plumbing profile"), c
