#!/usr/bin/env bash
# The audit example of docs/RESULTS.md: train a target and a reference model on the canaries task (other
# seeds: other filler lines, other canaries), write the sample and canary files, audit the target.
# About two minutes on 2 CPU cores. OUT (default runs/audit-demo) receives the runs and the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${OUT:-runs/audit-demo}
STEPS=${STEPS:-3000}
SETTINGS=(n_embd=32 learning_rate=3e-3 warmup_steps=100 lr_decay_steps="$STEPS" eval_interval=1000)
for seed in 0 1; do  # seed 0: the target; seed 1: the reference, trained without the target's samples
    .venv/bin/memscope -q train --task canaries --model n28 --steps "$STEPS" --out "$OUT/seed$seed" \
        "${SETTINGS[@]}" task.seed=$seed > /dev/null
done
.venv/bin/python - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
from memscope.tasks import make_task
out = Path(sys.argv[1])
task = make_task("canaries", {"seed": 0})
held_out = make_task("random-tokens", {"n_sequences": 256, "length": 16, "vocab_size": 10, "seed": 2})
(out / "members.txt").write_text("".join(s + "\n" for s in task.sequences))
(out / "nonmembers.txt").write_text("".join(s + "\n" for s in held_out.sequences))
(out / "canaries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in task.canary_records()))
EOF
.venv/bin/memscope audit --target "$OUT/seed0" --reference "$OUT/seed1" --members "$OUT/members.txt" \
    --nonmembers "$OUT/nonmembers.txt" --canaries "$OUT/canaries.jsonl" --out "$OUT/audit" "$@"
