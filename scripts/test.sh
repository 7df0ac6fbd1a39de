#!/usr/bin/env bash
# Set up .venv, then run the whole test suite (fast tier and the slow end-to-end checks).
# Fast tier only: bash scripts/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
