"""Resume points without pickle: one safetensors file per run holding its weights, its AdamW moments, its
batch RNG, the global RNG (dropout) and its exposure counts; step and wall time as JSON metadata."""
from __future__ import annotations

from pathlib import Path

import torch

from .. import store
from ..errors import MemscopeError
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


def load_checkpoints(paths: list[Path], model: EnsembleGPT, optimizer,
                     generators: list[torch.Generator]) -> tuple[dict, list[dict[str, torch.Tensor]]]:
    """Load every member's checkpoint into its row; all must be at one step. Returns that step's state and
    each member's tensors (for what else they hold)."""
    loaded = [store.load_tensors(p, "checkpoint") for p in paths]
    steps = {state.get("step") for _, state in loaded}
    if None in steps:
        raise MemscopeError(f"corrupt checkpoint in {paths[0].parent} (no step)")
    if len(steps) > 1:
        raise MemscopeError(f"checkpoints of one group are at different steps {sorted(steps)}: resume them "
                            "separately (the sweep runner does)")
    opt = optimizer.state_dict()
    opt["state"] = {}
    stacked: dict[tuple[int, str], list[torch.Tensor]] = {}
    for k, (path, (tensors, _)) in enumerate(zip(paths, loaded)):
        weights = {n[6:]: v for n, v in tensors.items() if n.startswith("model.")}
        missing = [n for n in model.names if n not in weights]
        if missing or any(weights[n].shape != model.p(n).shape[1:] for n in model.names) or "rng.batch" not in tensors:
            raise MemscopeError(f"checkpoint {path} does not fit the run's model")
        model.load_run_tensors(k, weights)
        for name, v in tensors.items():
            if name.startswith("optim."):
                _, i, key = name.split(".", 2)
                stacked.setdefault((int(i), key), []).append(v)
        generators[k].set_state(tensors["rng.batch"])
    for (i, key), vs in stacked.items():
        opt["state"].setdefault(i, {})[key] = vs[0] if vs[0].dim() == 0 else torch.stack(vs)
    optimizer.load_state_dict(opt)
    tensors = loaded[0][0]
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[n] for n in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return loaded[0][1], [t for t, _ in loaded]
