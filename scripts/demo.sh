#!/usr/bin/env bash
# The main job: train n14 on arithmetic with a short schedule and print its evaluation.
# A rerun resumes the same run directory (and prints its summary if it is complete).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/memscope train --task arithmetic --model n14 --steps 10000 --out runs/quickstart-n14 --resume \
    warmup_steps=1000 lr_decay_steps=8000 "$@"
