"""Hugging Face causal LMs loaded from a local directory, behind memscope's LanguageModel interface.

Everything goes through `load_hf`, which checks the directory as data before transformers reads it:
- no code from the directory ever runs: a config.json or tokenizer_config.json with an `auto_map` (custom
  code) is refused, transformers is called with `trust_remote_code=False`, and stdin is replaced by an
  empty stream while it runs, so no prompt can be answered;
- the config's `model_type` (and `architectures`, where given) must be a causal LM transformers knows;
- weights are read from safetensors only (`use_safetensors=True`): a `pytorch_model.bin` is a pickle, which
  can run code when loaded, so a directory holding only that is refused; the weights must cover the model;
- no special file (a FIFO, a device) in the directory, which would block a read.
Local files only (`local_files_only=True`): nothing is downloaded. Needs the `hf` extra
(`pip install 'memscope[hf]'`, transformers >= 4.40).

The prompt convention is decided here, once per model, from its tokenizer: the token put before every
text is the one the tokenizer itself adds in front of a text (Llama's BOS), or, where it adds none (GPT-2),
its BOS token, else its EOS token (GPT-2's document separator). Every command scores and prompts with
`LanguageModel.encode`, that token followed by the text's tokens. A text the tokenizer cannot
represent (it does not decode back to itself: characters dropped, mapped to an unknown token or
normalized) is refused, never scored as some other text.
"""
from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

from .. import store
from ..errors import MemscopeError
from ..runtime import resolve_device
from .lm import LanguageModel

_CONTEXT_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "seq_length")
_PROBE = "a"  # a text every tokenizer reads, to see which special tokens it adds around one


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return ascii(text[0] if text else e.__class__.__name__)[1:-1][:200]


def _show(text: str, limit: int = 40) -> str:
    """A user's text in a one-line message: quoted, control and line-breaking characters escaped."""
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def check_hf_dir(path: Path) -> dict:
    """The directory's config.json, after checking as data, before transformers reads the directory, that
    loading it runs no code, reads only regular files and yields a causal LM transformers knows with
    safetensors weights. One-line MemscopeError otherwise."""
    path = Path(path)
    config = store.read_json(path / "config.json", "model config")
    try:
        entries = sorted(path.iterdir())
    except OSError as e:
        raise MemscopeError(f"cannot list the model directory {path} ({e.__class__.__name__})") from None
    for entry in entries:
        if entry.exists() and not (entry.is_file() or entry.is_dir()):
            raise MemscopeError(f"{path}: {_show(entry.name)} is not a regular file (a FIFO or device); "
                                "a model directory holds files only")
    if "auto_map" in config:
        raise MemscopeError(f"{path} needs code of its own to load (its config.json has an auto_map): "
                            "memscope never runs code from a model directory")
    tok_config = path / "tokenizer_config.json"
    if tok_config.is_file() and "auto_map" in store.read_json(tok_config, "tokenizer config"):
        raise MemscopeError(f"{path} needs code of its own to load its tokenizer (its tokenizer_config.json "
                            "has an auto_map): memscope never runs code from a model directory")
    model_type, architectures = config.get("model_type"), config.get("architectures")
    if not isinstance(model_type, str) or not model_type:
        raise MemscopeError(f"{path}: config.json's model_type must be a non-empty string")
    if architectures is not None and (not isinstance(architectures, list) or not architectures
                                      or not all(isinstance(a, str) for a in architectures)):
        raise MemscopeError(f"{path}: config.json's architectures must be a list of class names")
    causal = _causal_lm_names()
    if model_type not in causal:
        raise MemscopeError(f"{path}: model_type {_show(model_type)} is not a causal language model this "
                            "transformers knows (memscope measures causal LMs only)")
    for arch in architectures or []:
        if arch not in causal[model_type]:
            raise MemscopeError(f"{path}: architecture {_show(arch)} is not a causal language model "
                                f"(for model_type {_show(model_type)}: {', '.join(sorted(causal[model_type]))})")
    weights = [p for p in path.glob("*.safetensors") if p.is_file()]  # sharded: model-0000k-of-n.safetensors
    if not weights:
        raise MemscopeError(f"no model.safetensors in {path}: memscope loads safetensors only (never pickle); "
                            "convert with save_pretrained(safe_serialization=True)")
    return config


def _causal_lm_names() -> dict[str, set[str]]:
    """model_type -> the causal-LM class names transformers maps it to."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    return {k: {v} if isinstance(v, str) else set(v) for k, v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.items()}


@contextmanager
def _no_stdin():
    """sys.stdin is an empty stream while transformers runs: a prompt it might show reads end of file."""
    saved = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        yield
    finally:
        sys.stdin = saved


@contextmanager
def _quiet(hf_logging):
    """transformers' own warnings off while loading: a failure is reported in memscope's one line."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_hf(path: Path, device: str = "auto", batch_size: int = 8) -> LanguageModel:
    """The tokenizer and causal LM saved in path (save_pretrained), in eval mode on device."""
    try:
        import transformers  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise MemscopeError(f"{path} is a Hugging Face model; reading it needs transformers: "
                            "pip install 'memscope[hf]'") from None
    path = Path(path)
    check_hf_dir(path)
    if not sys.stderr.isatty():
        hf_logging.disable_progress_bar()  # as memscope's own bars: quiet off a terminal
    try:
        with _no_stdin(), _quiet(hf_logging):
            _check_size(path)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
            model, info = AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=True, use_safetensors=True, trust_remote_code=False,
                output_loading_info=True)
    except MemscopeError:
        raise
    except Exception as e:  # transformers raises OSError, ValueError, KeyError... for unusable folders
        raise MemscopeError(f"cannot load the Hugging Face model in {path}: {_one_line(e)}") from None
    missing = sorted((info or {}).get("missing_keys") or [])
    if missing:
        raise MemscopeError(f"the weights in {path} do not cover the model: {len(missing)} tensors missing "
                            f"(first {_show(missing[0], 80)})")
    bos_id = prompt_bos(tokenizer, path)
    model = model.to(resolve_device(device)).eval()

    def logits_fn(idx: torch.Tensor) -> torch.Tensor:
        return model(input_ids=idx, use_cache=False).logits  # (B, T, V)

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def tokenize(texts: list[str]) -> list[list[int]]:
        """The text's tokens (no BOS); a text that does not decode back to itself is refused."""
        if not texts:
            return []
        rows = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        for text, ids in zip(texts, rows):
            back = decode(ids)
            if back != text:
                raise MemscopeError(f"the tokenizer of {path} cannot represent {_show(text)} (it reads back as "
                                    f"{_show(back)}): memscope does not score a text as another")
        return [list(map(int, ids)) for ids in rows]

    return LanguageModel(
        path=str(path), kind="hugging face", logits_fn=logits_fn, tokenize=tokenize, decode=decode,
        bos_id=bos_id, bos=tokenizer.convert_ids_to_tokens(bos_id),
        block_size=_context_length(model, tokenizer, path), vocab_size=_output_size(model),
        n_params=sum(p.numel() for p in model.parameters()), device=next(model.parameters()).device,
        batch_size=batch_size, module=model, prompts_with_bos=True)


def _stored_numel(path: Path) -> int:
    """Numbers held by the directory's safetensors files, read from their headers (no tensor data)."""
    from safetensors import safe_open
    total = 0
    for f in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as st:
                for key in st.keys():
                    n = 1
                    for d in st.get_slice(key).get_shape():
                        n *= int(d)
                    total += n
        except Exception as e:
            raise MemscopeError(f"corrupt weights file: {f} ({_one_line(e)})") from None
    return total


def _check_size(path: Path) -> None:
    """The model its config declares must fit in the weights stored beside it, checked before transformers
    builds it (a config claiming 20,000 layers would otherwise be built, for minutes and gigabytes, only
    to find its weights missing). Its size is counted on the meta device (no memory) with one and two
    layers and extrapolated to the declared number; a config that cannot be resized is left to the
    missing-weights check after loading."""
    import copy

    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    layers = getattr(config, "num_hidden_layers", None)
    counts = []
    try:
        for n in (1, 2):
            small = copy.deepcopy(config)
            small.num_hidden_layers = n
            with torch.device("meta"):
                counts.append(sum(p.numel() for p in AutoModelForCausalLM.from_config(small).parameters()))
    except Exception:
        return
    if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
        return
    declared = counts[0] + (counts[1] - counts[0]) * (layers - 1)
    stored = _stored_numel(path)
    if declared > stored:
        raise MemscopeError(f"the config in {path} declares a model of {declared:,} parameters ({layers:,} "
                            f"layers) but its safetensors hold {stored:,} numbers: the weights do not cover it")


def prompt_bos(tokenizer, path: Path) -> int:
    """The id put before every text: the token the tokenizer adds in front of a text itself (with its
    special tokens), else its BOS token, else its EOS token."""
    try:
        plain = list(tokenizer(_PROBE, add_special_tokens=False)["input_ids"])
        full = list(tokenizer(_PROBE, add_special_tokens=True)["input_ids"])
    except Exception as e:
        raise MemscopeError(f"the tokenizer in {path} cannot encode text: {_one_line(e)}") from None
    for start in range(len(full) - len(plain) + 1):  # the plain ids inside the full ones: before them, its own
        if full[start:start + len(plain)] == plain:
            if start > 1:
                raise MemscopeError(f"the tokenizer in {path} puts {start} tokens before a text; memscope "
                                    "conditions on one BOS token")
            if start == 1:
                return int(full[0])
            break
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    raise MemscopeError(f"the tokenizer in {path} has neither a BOS nor an EOS token to condition on")


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
