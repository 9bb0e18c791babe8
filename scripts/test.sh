#!/usr/bin/env bash
# Install everything needed, then run the whole test suite (pass pytest flags through, e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
