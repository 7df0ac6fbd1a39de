#!/usr/bin/env bash
# Create .venv and install memscope into it. Safe to rerun: it skips what is already installed.
# TORCH_SPEC picks the torch build (default: the 2.13.0 CPU wheel). For a GPU, install a CUDA build of
# torch into .venv first (see the PyTorch install selector); a torch already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.memscope-installed
want="$(cat pyproject.toml) $TORCH_SPEC"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import memscope, torch" 2>/dev/null; then
    exit 0
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "setup: installing $TORCH_SPEC into .venv" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check "$TORCH_SPEC"
fi
echo "setup: installing memscope into .venv" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,hf,ray,pandas]"
printf '%s' "$want" > "$stamp"
