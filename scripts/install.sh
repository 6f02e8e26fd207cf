#!/usr/bin/env bash
# Create .venv (if needed) and install driftalign with its test dependencies into it.
# TORCH_SPEC picks the torch build: the default is the CPU wheel these machines have on disk
# (an unpinned torch would pull a multi-GB CUDA build). On a GPU machine: TORCH_SPEC=torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "installing $TORCH_SPEC ..."
  .venv/bin/python -m pip install --quiet "$TORCH_SPEC"
fi
echo "installing driftalign and its dependencies ..."
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "installed into $(pwd)/.venv"
