"""Typed frozen configs that flow one way: CLI -> config -> library -> config.json.

`__post_init__` validates only (no seeding, no device lookup, no I/O). Values given as text on the
command line (`key=value`) are parsed by the field's annotation, never evaluated.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated

from . import settings
from .errors import ConfigError
from .settings import Choice, Pattern, Range

MAX_SEED = 2 ** 63 - 1
"""Seeds go to torch generators, which take 64 bits; derived seeds add offsets to them."""
MAX_STEPS = 10 ** 9
MAX_SAMPLES = 10_000
MIN_TEMPERATURE = 1e-6
"""Sampling divides the logits by the temperature: below this they can overflow to inf (then NaN)."""
"""Samples per prompt (eval_samples, eval --samples, sample --n)."""
DEVICE = Pattern(r"auto|cpu|mps|cuda(:[0-9]+)?", "auto, cpu, cuda, cuda:N or mps")
"""The device names every setting `device: Annotated[str, DEVICE]` accepts (auto: CUDA when present)."""


def check_device_name(name: str) -> None:
    """ConfigError (param `device`) unless name is one of DEVICE's (for a device given outside a settings
    dataclass; None is refused too)."""
    if name is None:
        raise ConfigError(f"device=None must be {DEVICE.shown}", param="device")
    DEVICE.check("device", name)


POS_ENCODINGS = ("learned", "none")
SAMPLERS = ("windows", "aligned", "epochs")
LR_SCHEDULES = ("cosine", "wsd")
CONTINUE_LRS = ("constant", "rewarm")
BUILTIN_CALLBACKS = ("protocol", "best", "early_stop")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class ModelConfig:
    """A nanoGPT-style GPT: pre-LN blocks, GELU MLP, learned positions, tied embeddings."""

    n_layer: Annotated[int, Range(1, 1024)] = 1
    """Transformer blocks."""
    n_head: Annotated[int, Range(1, 1024)] = 1
    """Attention heads per block."""
    n_embd: Annotated[int, Range(1, 65536)] = 14
    """Residual stream width."""
    mlp_expansion: Annotated[int, Range(1, 64)] = 1
    """MLP hidden width as a multiple of n_embd (TBTT's m; GPT-2 uses 4)."""
    dropout: Annotated[float, Range(0, 1, hi_open=True)] = 0.0
    """Dropout on attention weights, residual branches and embeddings while training."""
    bias: bool = False
    """Biases in Linear and LayerNorm layers (the paper's models have none)."""
    vocab_size: Annotated[int, Range(1, 2 ** 20)] = 17
    """Tokens; set from the task."""
    block_size: Annotated[int, Range(1, 2 ** 20)] = 9
    """Context length of the model; set from the task (the training window may be shorter: train.window)."""
    pos_encoding: Annotated[str, Choice(*POS_ENCODINGS)] = "learned"
    """learned (GPT-2's position embedding, the paper's) or none (NoPE: the causal mask alone tells order)."""

    def __post_init__(self):
        settings.validate(self)  # types, ranges and choices, as annotated
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}", param="n_embd")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and evaluation cadence. Defaults are the paper's n-model settings."""

    steps: Annotated[int, Range(1, MAX_STEPS)] = 30_000
    """Optimiser updates."""
    batch_size: Annotated[int, Range(1, 2 ** 20)] = 882
    """Windows per step; set from the task unless given."""
    learning_rate: Annotated[float, Range(0, 10, lo_open=True)] = 1e-2
    """Peak learning rate, reached at the end of warmup (at most 10: AdamW moves each weight by about
    the learning rate a step, and past float32's range the optimizer overflows)."""
    min_lr: Annotated[float, Range(0)] = 1e-4
    """Floor of the cosine decay, held after lr_decay_steps."""
    warmup_steps: Annotated[int, Range(0, MAX_STEPS)] = 2_000
    """Steps of linear warmup from 0 to learning_rate."""
    lr_decay_steps: Annotated[int, Range(0, MAX_STEPS)] = 25_000
    """Step at which the decay reaches min_lr (held after)."""
    lr_schedule: Annotated[str, Choice(*LR_SCHEDULES)] = "cosine"
    """cosine (nanoGPT: cosine decay from the end of warmup to lr_decay_steps), or wsd (warmup-stable-decay,
    Hägele et al. 2024: hold the peak, then decay linearly to min_lr over the last cooldown_steps before
    lr_decay_steps)."""
    cooldown_steps: Annotated[int, Range(0, MAX_STEPS)] = 0
    """wsd only: steps of linear decay ending at lr_decay_steps."""
    continue_lr: Annotated[str, Choice(*CONTINUE_LRS)] = "constant"
    """How `train --resume RUN --steps N` continues a finished run for more steps: constant (the learning rate
    the run ended with, held; AdamW's moments carried over) or rewarm (fresh AdamW moments and this schedule
    from its step 0 again, a new warmup and decay, as a phase with restart)."""
    weight_decay: Annotated[float, Range(0)] = 0.0
    """AdamW decay, applied to 2-D weights only (matmuls and embeddings)."""
    beta1: Annotated[float, Range(0, 1, hi_open=True)] = 0.9
    """AdamW's first-moment decay."""
    beta2: Annotated[float, Range(0, 1, hi_open=True)] = 0.99
    """AdamW's second-moment decay."""
    grad_clip: Annotated[float, Range(0)] = 1.0
    """Global gradient-norm clip; 0 disables."""
    eval_interval: Annotated[int, Range(1, MAX_STEPS)] = 250
    """Steps between evaluations (also checkpoints); step 0 and the last step are always evaluated."""
    eval_samples: Annotated[int, Range(1, MAX_SAMPLES)] = 10
    """Samples per evaluation prompt."""
    temperature: Annotated[float, Range(MIN_TEMPERATURE)] = 0.01
    """Sampling temperature of the evaluation."""
    top_k: Annotated[int, Range(1, 2 ** 20)] = 10
    """Sampling keeps the top_k most likely tokens."""
    seed: Annotated[int, Range(0, MAX_SEED)] = 1337
    """Seed of the initialisation, the data order and the evaluation's sampling."""
    device: Annotated[str, DEVICE] = "auto"
    """Device to train on; auto takes CUDA when present."""
    threads: Annotated[int, Range(1, 1024)] = 1
    """torch CPU threads; one is fastest for these tiny models and keeps runs deterministic."""
    compile: bool = False
    """torch.compile the training step (worth it for long runs; compiling takes several seconds)."""
    precision: Annotated[str, Choice(*PRECISIONS)] = "fp32"
    """fp32, or bf16: matmuls under bf16 autocast (weights, optimiser and loss stay fp32)."""
    stop_patience: Annotated[int, Range(0, MAX_STEPS)] = 0
    """Early stop (convergence): after this many evaluations in a row without the training loss
    improving on its best by the fraction stop_rel_tol, stop. 0 trains all `steps`."""
    stop_rel_tol: Annotated[float, Range(0)] = 0.01
    """Relative training-loss improvement that counts as progress for stop_patience."""
    sampler: Annotated[str | None, Choice(*SAMPLERS)] = None
    """Data order: windows (random contiguous windows, nanoGPT's and the paper's), aligned (one line per row
    after its BOS, drawn at random), epochs (every training line once per epoch in a seeded shuffle, one line
    per row: exact exposure counts). None: the task's own (aligned for line tasks such as random-tokens)."""
    epochs: Annotated[int | None, Range(1, MAX_STEPS)] = None
    """Length in epochs (epochs sampler) instead of `steps`."""
    window: Annotated[int | None, Range(1, 2 ** 20)] = None
    """Tokens per training window; None: the model's block_size (a longer context than the training
    window tests length generalization)."""
    best_metric: str = "seen_acc"
    """Figure that picks best.safetensors (highest wins, the latest among equals): never a withheld one."""
    callbacks: tuple[str, ...] = BUILTIN_CALLBACKS
    """What runs at each evaluation, in order (train/callbacks.py): protocol (the tasks' evaluation),
    best (best checkpoint on best_metric), early_stop (stop_patience), and monitors such as weight_norm."""

    def __post_init__(self):
        settings.validate(self)  # types, ranges and choices, as annotated; the rules across fields follow
        if self.epochs is not None and self.sampler != "epochs":
            raise ConfigError("epochs= sets the length of an epochs run: add sampler=epochs")
        if "withheld" in self.best_metric:
            raise ConfigError(f"best_metric={self.best_metric!r}: the withheld prompts never choose the checkpoint")
        if self.min_lr > self.learning_rate:
            raise ConfigError(f"min_lr={self.min_lr} exceeds learning_rate={self.learning_rate}")
        if self.learning_rate * self.weight_decay > 1:  # AdamW scales the weights by 1 - lr x wd each step
            raise ConfigError(f"weight_decay={self.weight_decay} with learning_rate={self.learning_rate}: AdamW "
                              "multiplies the weights by 1 - learning_rate x weight_decay each step, which must "
                              "not be negative (their product at most 1)", param="weight_decay")
        if self.cooldown_steps and self.lr_schedule != "wsd":
            raise ConfigError("cooldown_steps goes with lr_schedule=wsd")
        if self.lr_decay_steps - self.cooldown_steps < self.warmup_steps:
            raise ConfigError(f"cooldown_steps={self.cooldown_steps} starts the decay before warmup_steps="
                              f"{self.warmup_steps} ends (lr_decay_steps={self.lr_decay_steps})")
        if self.lr_decay_steps < self.warmup_steps:
            raise ConfigError(
                f"lr_decay_steps={self.lr_decay_steps} is before warmup_steps={self.warmup_steps}")


# Fields that change speed, not the experiment: a resumed run may set them differently (its figures
# then equal an uninterrupted run's up to float rounding, not bit for bit).
RUNTIME_FIELDS = frozenset({"device", "threads", "compile"})


@dataclass(frozen=True)
class Preset:
    """A named model from the paper with its own training defaults."""

    model: dict
    train: dict
    note: str = ""


# Too Big to Think (Barron & White 2025), docs/REFERENCE.md section 1.
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


def to_dict(obj) -> dict:
    """JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(obj)
