#!/usr/bin/env bash
# Install everything needed, then run the whole test suite (pass pytest flags through, e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# PostgreSQL (127.0.0.1 only) for the Optuna-storage tests; RAYTL_TEST_POSTGRES=0 skips them on a local run
if [ "${RAYTL_TEST_POSTGRES:-1}" != 0 ]; then
  RAYTL_TEST_POSTGRES_URL=$(bash scripts/start_postgres.sh)
  export RAYTL_TEST_POSTGRES_URL PGPASSWORD=raytl  # libpq reads the password from the environment
fi
.venv/bin/python -m pytest -q "$@"
