#!/usr/bin/env bash
# Install everything, then run the quickstart search on a local Ray started by raytl itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/raytl search search_spaces/quickstart.yaml --name "quickstart-$(date +%Y%m%d-%H%M%S)" "$@"
