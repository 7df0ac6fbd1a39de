"""Behaviour unchanged, bit for bit: short runs recorded in tests/integration/golden before a refactor
(scripts/make_golden.py) must log the same figures and end with the same weights.

Bit for bit holds on one kind of CPU: float kernels differ between processors (AVX2 and AVX-512 round
differently, and a few hundred steps amplify it). So records are kept per machine, one folder each with a
machine.json naming the CPU it was recorded on; on a CPU with no record the test is skipped, naming what to
run (at a commit before the change) to record one.
"""
import hashlib
import json
import platform
from pathlib import Path

import pytest
from safetensors.torch import load_file

from memscope.cli import main

GOLDEN = Path(__file__).parent / "golden"


def weights_sha256(path: Path) -> str:
    tensors = load_file(path)
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().numpy().tobytes())
    return h.hexdigest()


def _same(golden: dict, now: dict, where: str) -> None:
    """Every figure the golden record holds (a value, not None) is in the new record, equal."""
    for key, value in golden.items():
        if isinstance(value, dict) and key != "withheld_by_prompt":
            _same(value, now.get(key) or {}, f"{where}.{key}")
        elif value is not None:
            assert now.get(key) == value, f"{where}.{key}: {now.get(key)!r} != golden {value!r}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def this_machines_records() -> Path | None:
    """The folder of golden records made on this kind of CPU (model, SIMD capability, torch), if any."""
    import torch
    model, capability = cpu_model(), torch.backends.cpu.get_cpu_capability()
    for machine in sorted(GOLDEN.glob("*/machine.json")):
        m = json.loads(machine.read_text())
        if m["cpu_model_contains"] in model and m["cpu_capability"] in (None, capability) \
                and torch.__version__.startswith(m["torch"]):
            return machine.parent
    return None


@pytest.mark.parametrize("name", sorted({p.stem for p in GOLDEN.glob("*/*.json") if p.stem != "machine"}))
def test_short_run_equals_its_golden_record(name, tmp_path):
    records_dir = this_machines_records()
    if records_dir is None:
        pytest.skip(f"no golden records for this CPU ({cpu_model()}): record them with scripts/make_golden.py "
                    "at a commit before the change, into tests/integration/golden/<machine>/ with a machine.json")
    golden = json.loads((records_dir / f"{name}.json").read_text())
    run = tmp_path / name
    assert main(["-q", "train", *golden["args"], "--out", str(run)]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == len(golden["records"])
    for i, (g, r) in enumerate(zip(golden["records"], records)):
        _same({k: v for k, v in g.items()}, r, f"record {i}")
    _same(golden["summary"], json.loads((run / "summary.json").read_text()), "summary")
    assert weights_sha256(run / "model.safetensors") == golden["model_sha256"]
    assert weights_sha256(run / "best.safetensors") == golden["best_sha256"]
