#!/usr/bin/env bash
# Create .venv and install raytl with its test tools. Torch is pinned to the CPU build that lies on these
# machines (an unpinned torch pulls a multi-GB CUDA build); on GPU hosts set RAYTL_TORCH, e.g.
#   RAYTL_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086
.venv/bin/python -m pip install --quiet ${RAYTL_TORCH:-torch==2.13.0}
.venv/bin/python -m pip install --quiet -e ".[test]"  # test tools, and mkdocs + Material for the docs site
