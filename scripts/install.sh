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
# torchvision: the stock Qwen2.5-VL processor's video half needs it. Only a build matching torch works, and
# PyPI has none for a +cpu torch (SPEC §4): there driftalign uses its image-only processor (one notice line).
# A torchvision that installs but does not import would break transformers' image processors: removed again.
TORCH_VERSION=$(.venv/bin/python -c "import torch; print(torch.__version__)")
if [[ "$TORCH_VERSION" != *+cpu* ]] && ! .venv/bin/python -c "import torchvision" >/dev/null 2>&1; then
  echo "installing torchvision for torch $TORCH_VERSION ..."
  .venv/bin/python -m pip install --quiet torchvision "torch==${TORCH_VERSION%%+*}" >/dev/null 2>&1 || true
  if ! .venv/bin/python -c "import torchvision" >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall --quiet -y torchvision >/dev/null 2>&1 || true
    echo "note: no torchvision for torch $TORCH_VERSION; Qwen2.5-VL checkpoints use driftalign's image-only processor"
  fi
fi
echo "installing driftalign and its dependencies ..."
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "installed into $(pwd)/.venv"
# Headless Chromium renders the HTML report in tests/test_report.py (that one check is skipped without it).
# Never fails the install: without apt-get (or root/sudo) it prints a note.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then SUDO="sudo -n"; fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    echo "installing chromium (headless browser for the report test) ..."
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { $SUDO apt-get update -q >/dev/null 2>&1 \
           && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; } \
      || echo "note: could not install chromium with apt-get; tests/test_report.py skips its browser check"
  else
    echo "note: chromium not found and apt-get (as root) unavailable; tests/test_report.py skips its browser check"
  fi
fi
