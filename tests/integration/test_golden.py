"""Behaviour unchanged, bit for bit: short runs recorded in tests/integration/golden before the trainer was refactored
(scripts/make_golden.py, at commit 89b5895) must log the same figures and end with the same weights."""
import hashlib
import json
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


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_short_run_equals_its_golden_record(name, tmp_path):
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    run = tmp_path / name
    assert main(["-q", "train", *golden["args"], "--out", str(run)]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == len(golden["records"])
    for i, (g, r) in enumerate(zip(golden["records"], records)):
        _same({k: v for k, v in g.items()}, r, f"record {i}")
    _same(golden["summary"], json.loads((run / "summary.json").read_text()), "summary")
    assert weights_sha256(run / "model.safetensors") == golden["model_sha256"]
    assert weights_sha256(run / "best.safetensors") == golden["best_sha256"]
