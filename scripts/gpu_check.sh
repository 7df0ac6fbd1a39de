#!/usr/bin/env bash
# On a CUDA machine: the CUDA path's checks and timings (docs/BENCHMARKS.md, "GPU"). Writes into ${OUT:-gpu-check}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}; mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/gpu.txt" || true
$PY - <<'PY' | tee "$OUT/engine_cuda.txt"
import torch
from memscope.models.ensemble import EnsembleGPT
from memscope.train import build_run_config
torch.manual_seed(0)
for task, preset in [("arithmetic", "n14"), ("capitals", "mlt")]:
    rc = build_run_config(task, preset)
    ens = EnsembleGPT.from_seeds(rc.model, [0, 1]).cuda().eval()
    idx = torch.randint(rc.model.vocab_size, (2, 8, rc.model.block_size), device="cuda")
    logits, losses = ens(idx, idx)
    for k in range(2):
        ref_logits, ref_loss = ens.gpt(k).eval()(idx[k], idx[k])
        d = (logits[k].T.reshape(8, rc.model.block_size, -1) - ref_logits).abs().max().item()
        print(f"{task} {preset} member {k}: engine (SDPA) vs GPT on cuda, max |logit diff| {d:.2e}, "
              f"loss {losses[k].item():.6f} vs {ref_loss.item():.6f}")
        assert d < 1e-3
PY
$PY -m memscope -q bench --device cuda --steps 50 --json > "$OUT/bench_cuda.json"
$PY -m memscope -q bench --device cuda --steps 50 > "$OUT/bench_cuda.txt"
/usr/bin/time -v $PY -m memscope -q train --task arithmetic --model n14 --out /tmp/n14-cuda --json device=cuda \
    > "$OUT/n14_full_run_cuda.json" 2> "$OUT/n14_full_run_cuda.time" || true
tail -3 "$OUT/n14_full_run_cuda.json"
