#!/usr/bin/env bash
# The main job: reproduce Too Big to Think's Tables 2-4 (quick profile: the n-models, 3 seeds, 27 runs)
# and print the tables; figures and report.html land in runs/tbtt-quick. Rerunning resumes what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/memscope reproduce tbtt --profile quick "$@"
