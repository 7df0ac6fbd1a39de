"""Typed frozen configs that flow one way: CLI -> config -> library -> config.json.

`__post_init__` validates only (no seeding, no device lookup, no I/O). Values given as text on the
command line (`key=value`) are parsed by the field's annotation, never evaluated.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, fields

from .errors import ConfigError


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{name}={value} must be positive")


def _at_most(obj, **caps: int) -> None:
    """Bounds on sizes and counts: large enough for real use, small enough that a typo does not try to
    allocate terabytes (or overflow a 64-bit torch seed)."""
    for name, cap in caps.items():
        value = getattr(obj, name)
        if value is not None and value > cap:
            raise ConfigError(f"{name}={value} must be at most {cap}")


MAX_SEED = 2 ** 63 - 1
"""Seeds go to torch generators, which take 64 bits; derived seeds add offsets to them."""
MAX_STEPS = 10 ** 9
MAX_SAMPLES = 10_000
"""Samples per prompt (eval_samples, eval --samples, sample --n)."""
DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


def check_device_name(name: str, allowed: str = r"auto|cpu|mps|cuda(:[0-9]+)?") -> None:
    if not isinstance(name, str) or not re.fullmatch(allowed, name, re.ASCII):
        raise ConfigError(f"device={name!r} must be {DEVICE_NAMES}", param="device")


POS_ENCODINGS = ("learned", "none")
SAMPLERS = ("windows", "aligned", "epochs")
LR_SCHEDULES = ("cosine", "wsd")
BUILTIN_CALLBACKS = ("protocol", "best", "early_stop")


@dataclass(frozen=True)
class ModelConfig:
    """A nanoGPT-style GPT: pre-LN blocks, GELU MLP, learned positions, tied embeddings."""

    n_layer: int = 1
    """Transformer blocks."""
    n_head: int = 1
    """Attention heads per block."""
    n_embd: int = 14
    """Residual stream width."""
    mlp_expansion: int = 1
    """MLP hidden width as a multiple of n_embd (TBTT's m; GPT-2 uses 4)."""
    dropout: float = 0.0
    """Dropout on attention weights, residual branches and embeddings while training."""
    bias: bool = False
    """Biases in Linear and LayerNorm layers (the paper's models have none)."""
    vocab_size: int = 17
    """Tokens; set from the task."""
    block_size: int = 9
    """Context length of the model; set from the task (the training window may be shorter: train.window)."""
    pos_encoding: str = "learned"
    """learned (GPT-2's position embedding, the paper's) or none (NoPE: the causal mask alone tells order)."""

    def __post_init__(self):
        check_types(self)
        _positive(self, "n_layer", "n_head", "n_embd", "mlp_expansion", "vocab_size", "block_size")
        _at_most(self, n_layer=1024, n_head=1024, n_embd=65536, mlp_expansion=64, vocab_size=2 ** 20,
                 block_size=2 ** 20)
        if self.pos_encoding not in POS_ENCODINGS:
            raise ConfigError(f"pos_encoding={self.pos_encoding!r} must be one of {', '.join(POS_ENCODINGS)}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout} must lie in [0, 1)")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and evaluation cadence. Defaults are the paper's n-model settings."""

    steps: int = 30_000
    """Optimiser updates."""
    batch_size: int = 882
    """Windows per step; set from the task unless given."""
    learning_rate: float = 1e-2
    """Peak learning rate, reached at the end of warmup."""
    min_lr: float = 1e-4
    """Floor of the cosine decay, held after lr_decay_steps."""
    warmup_steps: int = 2_000
    lr_decay_steps: int = 25_000
    """Step at which the decay reaches min_lr (held after)."""
    lr_schedule: str = "cosine"
    """cosine (nanoGPT: cosine decay from the end of warmup to lr_decay_steps), or wsd (warmup-stable-decay,
    Hägele et al. 2024: hold the peak, then decay linearly to min_lr over the last cooldown_steps before
    lr_decay_steps)."""
    cooldown_steps: int = 0
    """wsd only: steps of linear decay ending at lr_decay_steps."""
    weight_decay: float = 0.0
    """AdamW decay, applied to 2-D weights only (matmuls and embeddings)."""
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    """Global gradient-norm clip; 0 disables."""
    eval_interval: int = 250
    """Steps between evaluations (also checkpoints); step 0 and the last step are always evaluated."""
    eval_samples: int = 10
    """Samples per evaluation prompt."""
    temperature: float = 0.01
    top_k: int = 10
    seed: int = 1337
    device: str = "auto"
    """auto, cpu, cuda or cuda:N. auto takes CUDA when present."""
    threads: int = 1
    """torch CPU threads; one is fastest for these tiny models and keeps runs deterministic."""
    compile: bool = False
    """torch.compile the training step (worth it for long runs; compiling takes several seconds)."""
    precision: str = "fp32"
    """fp32, or bf16: matmuls under bf16 autocast (weights, optimiser and loss stay fp32)."""
    stop_patience: int = 0
    """Early stop (convergence): after this many evaluations in a row without the training loss
    improving on its best by the fraction stop_rel_tol, stop. 0 trains all `steps`."""
    stop_rel_tol: float = 0.01
    """Relative training-loss improvement that counts as progress for stop_patience."""
    sampler: str | None = None
    """Data order: windows (random contiguous windows, nanoGPT's and the paper's), aligned (one line per row
    after its BOS, drawn at random), epochs (every training line once per epoch in a seeded shuffle, one line
    per row: exact exposure counts). None: the task's own (aligned for line tasks such as random-tokens)."""
    epochs: int | None = None
    """Length in epochs (epochs sampler) instead of `steps`."""
    window: int | None = None
    """Tokens per training window; None: the model's block_size (a longer context than the training
    window tests length generalization)."""
    best_metric: str = "seen_acc"
    """Figure that picks best.safetensors (highest wins, the latest among equals): never a withheld one."""
    callbacks: tuple[str, ...] = BUILTIN_CALLBACKS
    """What runs at each evaluation, in order (train/callbacks.py): protocol (the tasks' evaluation),
    best (best checkpoint on best_metric), early_stop (stop_patience), and monitors such as weight_norm."""

    def __post_init__(self):
        check_types(self)
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler={self.sampler!r} must be one of {', '.join(SAMPLERS)}")
        if self.epochs is not None and self.epochs <= 0:
            raise ConfigError(f"epochs={self.epochs} must be positive")
        if self.epochs is not None and self.sampler != "epochs":
            raise ConfigError("epochs= sets the length of an epochs run: add sampler=epochs")
        if "withheld" in self.best_metric:
            raise ConfigError(f"best_metric={self.best_metric!r}: the withheld prompts never choose the checkpoint")
        if self.window is not None and self.window <= 0:
            raise ConfigError(f"window={self.window} must be positive")
        _positive(self, "steps", "batch_size", "learning_rate", "eval_interval", "eval_samples",
                  "temperature", "top_k", "threads")
        _at_most(self, steps=MAX_STEPS, epochs=MAX_STEPS, warmup_steps=MAX_STEPS, lr_decay_steps=MAX_STEPS, cooldown_steps=MAX_STEPS,
                 eval_interval=MAX_STEPS, batch_size=2 ** 20, eval_samples=MAX_SAMPLES, top_k=2 ** 20,
                 threads=1024, window=2 ** 20, stop_patience=MAX_STEPS, seed=MAX_SEED)
        for name in ("min_lr", "warmup_steps", "lr_decay_steps", "cooldown_steps", "weight_decay", "grad_clip", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must not be negative")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ConfigError(f"betas ({self.beta1}, {self.beta2}) must lie in [0, 1)")
        if self.min_lr > self.learning_rate:
            raise ConfigError(f"min_lr={self.min_lr} exceeds learning_rate={self.learning_rate}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule={self.lr_schedule!r} must be one of {', '.join(LR_SCHEDULES)}")
        if self.cooldown_steps and self.lr_schedule != "wsd":
            raise ConfigError("cooldown_steps goes with lr_schedule=wsd")
        if self.lr_decay_steps - self.cooldown_steps < self.warmup_steps:
            raise ConfigError(f"cooldown_steps={self.cooldown_steps} starts the decay before warmup_steps="
                              f"{self.warmup_steps} ends (lr_decay_steps={self.lr_decay_steps})")
        if self.lr_decay_steps < self.warmup_steps:
            raise ConfigError(
                f"lr_decay_steps={self.lr_decay_steps} is before warmup_steps={self.warmup_steps}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision={self.precision!r} must be fp32 or bf16")
        if self.stop_patience < 0 or self.stop_rel_tol < 0:
            raise ConfigError("stop_patience and stop_rel_tol must not be negative")
        if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", self.device, re.ASCII):
            raise ConfigError(f"device={self.device!r} must be auto, cpu, cuda or cuda:N")


# Fields that change speed, not the experiment: a resumed run may set them differently (its figures
# then equal an uninterrupted run's up to float rounding, not bit for bit).
RUNTIME_FIELDS = frozenset({"device", "threads", "compile"})


@dataclass(frozen=True)
class Preset:
    """A named model from the paper with its own training defaults."""

    model: dict
    train: dict
    note: str = ""


# Too Big to Think (Barron & White 2025), ../shared/REFERENCE.md section 1.
_N_TRAIN = {"learning_rate": 1e-2, "min_lr": 1e-4, "weight_decay": 0.0}
PRESETS: dict[str, Preset] = {
    "n14": Preset({"n_layer": 1, "n_head": 1, "n_embd": 14, "mlp_expansion": 1}, _N_TRAIN),
    "n28": Preset({"n_layer": 1, "n_head": 1, "n_embd": 28, "mlp_expansion": 1}, _N_TRAIN),
    "n56": Preset({"n_layer": 1, "n_head": 1, "n_embd": 56, "mlp_expansion": 1}, _N_TRAIN),
    "mlt": Preset({"n_layer": 6, "n_head": 6, "n_embd": 384, "mlp_expansion": 4, "dropout": 0.2},
                  {"learning_rate": 1e-5, "min_lr": 1e-6, "weight_decay": 0.1},
                  note="10.6M parameters; needs a GPU in practice (about 3.5 s per step on 2 CPU cores)"),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


# ----------------------------------------------------------------------------- parsing
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(annotation, raw, name: str):
    """Turn a command-line string or a JSON value into the annotated type; never evaluates code."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation):
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none")):
            return None
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return parse_value(inner, raw, name)
    if annotation in (int, float) and isinstance(raw, str) and not raw.isascii():
        raise ConfigError(f"{name}={raw!r} is not a valid {annotation.__name__}")  # int() takes any script's digits
    try:
        if annotation is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if annotation is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        if annotation is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if not math.isfinite(value):
                raise ConfigError(f"{name}={raw!r} is not a finite number")
            return value
        if annotation is str:
            if not isinstance(raw, str):
                raise ValueError
            return raw
        if origin is tuple:
            args = typing.get_args(annotation)
            if isinstance(raw, str):
                # "5,7;2,3" -> ((5, 7), (2, 3)) for tuples of tuples, "5,7" -> (5, 7) for flat ones.
                sep = ";" if typing.get_origin(args[0]) is tuple else ","
                raw = [] if not raw.strip() else [part for part in raw.split(sep)]
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(parse_value(args[0], item, name) for item in raw)
            if len(raw) != len(args):
                raise ValueError
            return tuple(parse_value(a, item, name) for a, item in zip(args, raw))
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond any float
        pass
    else:
        raise ConfigError(f"{name}: unsupported field type {annotation}")
    raise ConfigError(f"{name}={raw!r} is not a valid {_type_name(annotation)}")


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def field_types(cls) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def check_types(obj) -> None:
    for name, annotation in field_types(type(obj)).items():
        value = getattr(obj, name)
        parsed = parse_value(annotation, value, name)
        if parsed != value or type(parsed) is not type(value):
            object.__setattr__(obj, name, parsed)


def from_dict(cls, values: dict, what: str):
    """Build a config dataclass from a mapping, naming any key it does not know."""
    known = field_types(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown {what} setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return cls(**{k: parse_value(known[k], v, k) for k, v in values.items()})


def to_dict(obj) -> dict:
    """JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(obj)
