"""Resume points without pickle: one safetensors file per run holding its weights, its AdamW moments, its
batch RNG, the global RNG (dropout) and its exposure counts; step and wall time as JSON metadata."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from .. import store
from ..errors import MemscopeError, escape
from ..models.ensemble import EnsembleGPT


def save_checkpoint(path: Path, k: int, model: EnsembleGPT, optimizer, generator: torch.Generator,
                    extra: dict[str, torch.Tensor], state: dict) -> None:
    """Member k's resume point; extra: further tensors (exposure counts) saved as they are."""
    tensors = {f"model.{n}": v for n, v in model.run_tensors(k).items()}
    for i, p_state in optimizer.state_dict()["state"].items():
        for name, v in p_state.items():
            tensors[f"optim.{i}.{name}"] = v[k] if torch.is_tensor(v) and v.dim() > 0 else torch.as_tensor(v)
    tensors["rng.batch"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    tensors.update(extra)
    store.save_tensors(path, tensors, state)


_DAMAGED = "the file is damaged; remove it to train the run from step 0, or train the run anew into another --out"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_state(path: Path, state: dict, total: int) -> dict:
    """A checkpoint's JSON state, validated before any of it is used: step an integer within the run's
    0..total steps, wall_s a finite non-negative number, n_evals (when present) a count."""
    step, wall_s, n_evals = state.get("step"), state.get("wall_s", 0.0), state.get("n_evals")
    if not _is_int(step) or not 0 <= step <= total:
        raise MemscopeError(f"checkpoint {escape(path)}: step {step!r} is not a step of this run (0..{total}); "
                            f"{_DAMAGED}")
    if not isinstance(wall_s, (int, float)) or isinstance(wall_s, bool) or not (math.isfinite(wall_s) and wall_s >= 0):
        raise MemscopeError(f"checkpoint {escape(path)}: wall_s {wall_s!r} is not a finite time; {_DAMAGED}")
    if n_evals is not None and (not _is_int(n_evals) or not 0 <= n_evals <= total + 1):
        raise MemscopeError(f"checkpoint {escape(path)}: n_evals {n_evals!r} is not a count of evaluations; "
                            f"{_DAMAGED}")
    return state


def _check_tensors(path: Path, tensors: dict[str, torch.Tensor], model: EnsembleGPT, optimizer) -> None:
    """Every tensor the resume uses has the shape and dtype the run's config gives it."""
    def refuse(what: str):
        raise MemscopeError(f"checkpoint {escape(path)} does not fit the run's model ({what}); {_DAMAGED}")
    for n in model.names:
        v, p = tensors.get(f"model.{n}"), model.p(n)
        if v is None:
            refuse(f"no {n}")
        if v.shape != p.shape[1:] or v.dtype != p.dtype:
            refuse(f"{n} is {v.dtype} {list(v.shape)}, the model's {p.dtype} {list(p.shape[1:])}")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for name, v in tensors.items():
        if not name.startswith("optim."):
            continue
        _, i, key = (name.split(".", 2) + ["", ""])[:3]
        if not i.isdigit() or int(i) >= len(params) or key not in ("exp_avg", "exp_avg_sq", "step"):
            refuse(f"unknown optimizer entry {escape(name)}")
        p = params[int(i)]
        want, dtype = (torch.Size([]), v.dtype if v.is_floating_point() else torch.float32) if key == "step" \
            else (p.shape[1:], p.dtype)
        if v.shape != want or v.dtype != dtype:
            refuse(f"{name} is {v.dtype} {list(v.shape)}, not {dtype} {list(want)}")
        if key == "step" and not (torch.isfinite(v).all() and v.item() >= 0):
            refuse(f"{name} is {v.item()}")
    for name in ["rng.batch", "rng.torch"] + [n for n in tensors if n.startswith("rng.cuda.")]:
        v = tensors.get(name)
        if v is None:
            refuse(f"no {name}")
        if v.dtype != torch.uint8 or v.dim() != 1 or (name == "rng.torch" and v.shape != torch.get_rng_state().shape):
            refuse(f"{name} is {v.dtype} {list(v.shape)}, not a generator state")
    for name, v in tensors.items():
        if name.startswith("exposure.") and (v.dim() != 1 or v.is_floating_point() or v.is_complex()
                                             or (v.numel() and v.min().item() < 0)):
            refuse(f"{name} is not a count per training line")


def nonfinite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of the weights and optimizer moments that hold NaN or infinity (a diverged run's may)."""
    return [n for n, v in tensors.items() if n.startswith(("model.", "optim.")) and v.is_floating_point()
            and not torch.isfinite(v).all()]


def load_checkpoints(paths: list[Path], model: EnsembleGPT, optimizer,
                     generators: list[torch.Generator], total: int | None = None) -> tuple[dict, list[dict[str, torch.Tensor]]]:
    """Load every member's checkpoint into its row; all must be at one step. Returns that step's state and
    each member's tensors (for what else they hold). Everything is checked (the state's numbers against the
    run's `total` steps, every tensor's shape and dtype against the model) before anything is loaded."""
    loaded = [store.load_tensors(p, "checkpoint") for p in paths]
    for path, (tensors, state) in zip(paths, loaded):
        if "step" not in state:
            raise MemscopeError(f"corrupt checkpoint {escape(path)} (no step); {_DAMAGED}")
        check_state(path, state, total if total is not None else 2 ** 62)
        _check_tensors(path, tensors, model, optimizer)
    steps = {state["step"] for _, state in loaded}
    if len(steps) > 1:
        raise MemscopeError(f"checkpoints of one group are at different steps {sorted(steps)}: resume them "
                            "separately (the sweep runner does)")
    opt = optimizer.state_dict()
    opt["state"] = {}
    stacked: dict[tuple[int, str], list[torch.Tensor]] = {}
    for k, (path, (tensors, _)) in enumerate(zip(paths, loaded)):
        weights = {n[6:]: v for n, v in tensors.items() if n.startswith("model.")}
        for name, v in tensors.items():
            if name.startswith("optim."):
                _, i, key = name.split(".", 2)
                stacked.setdefault((int(i), key), []).append(v)
        try:
            generators[k].set_state(tensors["rng.batch"])
        except RuntimeError as e:
            raise MemscopeError(f"checkpoint {escape(path)}: its generator state does not fit "
                                f"({str(e).splitlines()[0][:100]}); {_DAMAGED}") from None
        model.load_run_tensors(k, weights)
    if any(len(vs) != len(paths) for vs in stacked.values()):
        raise MemscopeError(f"checkpoints in {escape(paths[0].parent)} hold different optimizer entries; {_DAMAGED}")
    for (i, key), vs in stacked.items():
        opt["state"].setdefault(i, {})[key] = vs[0] if vs[0].dim() == 0 else torch.stack(vs)
    optimizer.load_state_dict(opt)
    tensors = loaded[0][0]
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[n] for n in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return loaded[0][1], [t for t, _ in loaded]
