"""Where and how computation runs: the device and the CPU settings every trainer and evaluator uses."""
from __future__ import annotations

import torch

from .config import check_device_name
from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """auto, cpu, cuda, cuda:N or mps; ConfigError (param `device`) for any other name or a missing device."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} asked for, but this torch has no CUDA device", param="device")
    device = torch.device(name)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device={name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                          param="device")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={name!r} asked for, but this torch has no MPS device", param="device")
    return device


def configure_cpu(device: torch.device, threads: int) -> None:
    """On a CPU: `threads` torch threads, and denormal floats flushed to zero. As training proceeds, these
    small models' activations and gradients fill with denormals (softmax and GELU tails), which x86 cores
    handle in microcode: an n14 step slows from 8 to 15 ms over a 30,000-step run without the flush
    (docs/BENCHMARKS.md). Flushing changes only values below 1.2e-38 and is the same for every run, so
    runs stay deterministic and members still equal their solo runs. The flag lives in the calling
    thread's MXCSR register: with threads > 1, OpenMP's other threads may keep computing with denormals
    (one more reason sweep workers run one torch thread)."""
    if device.type == "cpu":
        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)


def check_runs(rcs) -> None:
    """What can stop a run after it started, checked for every run before any trains or anything is
    written: its device is here (resolve_device), its callbacks are known and its phases can be planned
    (lengths, samplers, an epoch's size). MemscopeError naming the first run that fails."""
    from .data.phases import phase_plan
    from .train.callbacks import check_callbacks
    devices: set[str] = set()
    for rc in rcs:
        if rc.train.device not in devices:
            resolve_device(rc.train.device)
            devices.add(rc.train.device)
        check_callbacks(rc.train.callbacks)
        phase_plan(rc)
