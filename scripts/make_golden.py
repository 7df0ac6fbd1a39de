"""Record tests/integration/golden/*.json: every logged figure and the weight hashes of short runs. Run once, before a
refactor that must leave training unchanged, into one folder per kind of CPU (float kernels differ between
processors), beside a machine.json naming it: `.venv/bin/python scripts/make_golden.py tests/integration/golden/MACHINE`."""
import hashlib, json, sys, tempfile
from pathlib import Path
from safetensors.torch import load_file
from memscope.cli import main

RUNS = {
    "n14_arithmetic": ["--task", "arithmetic", "--model", "n14", "--steps", "1000", "eval_interval=250",
                       "batch_size=64", "eval_samples=2", "warmup_steps=100", "lr_decay_steps=1000"],
    "random_tokens": ["--task", "random-tokens", "--model", "n14", "--steps", "400", "eval_interval=200", "warmup_steps=40", "lr_decay_steps=400",
                      "n_sequences=64", "length=8", "recall_prompts=16", "eval_samples=1", "n_embd=16"],
}

def weights_sha256(path):
    t = load_file(path)
    h = hashlib.sha256()
    for k in sorted(t):
        h.update(k.encode()); h.update(t[k].contiguous().numpy().tobytes())
    return h.hexdigest()

out_dir = Path(sys.argv[1])
for name, args in RUNS.items():
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / name
        assert main(["-q", "train", *args, "--out", str(run)]) == 0
        records = [{k: v for k, v in json.loads(l).items() if k != "wall_s"}
                   for l in (run / "metrics.jsonl").read_text().splitlines()]
        summary = json.loads((run / "summary.json").read_text())
        summary = {k: v for k, v in summary.items() if k not in ("wall_s", "device", "torch")}
        golden = {"args": args, "records": records, "summary": summary,
                  "model_sha256": weights_sha256(run / "model.safetensors"),
                  "best_sha256": weights_sha256(run / "best.safetensors")}
        (out_dir / f"{name}.json").write_text(json.dumps(golden, indent=1) + "\n")
        print(name, golden["model_sha256"], len(records))
