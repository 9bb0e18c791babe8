#!/usr/bin/env bash
# A PostgreSQL server for the Optuna-storage tests, on 127.0.0.1 only, in its own data directory (Debian's
# package; installed when missing). Idempotent and quick when already running. Prints the SQLAlchemy URL:
#   export PGPASSWORD=raytl RAYTL_TEST_POSTGRES_URL=$(bash scripts/start_postgres.sh)
set -euo pipefail
PORT=${RAYTL_PG_PORT:-54329}
DATA=${RAYTL_PG_DATA:-/var/tmp/raytl-postgres}
URL="postgresql://raytl@127.0.0.1:${PORT}/raytl_test"  # the password comes from PGPASSWORD, never the URL
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q postgresql || { apt-get update -q && apt-get install -y -q postgresql; }; } >&2
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ ! -s "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA" && { [ "$(id -u)" != 0 ] || chown postgres: "$DATA"; }
    as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off" start >&2
fi
psql_local() { as_postgres "$BIN/psql" -h "$DATA" -p "$PORT" -U postgres -qAt -v ON_ERROR_STOP=1 "$@"; }
[ "$(psql_local -c "SELECT 1 FROM pg_roles WHERE rolname = 'raytl'")" = 1 ] ||
  psql_local -c "CREATE ROLE raytl LOGIN PASSWORD 'raytl'" >&2
[ "$(psql_local -c "SELECT 1 FROM pg_database WHERE datname = 'raytl_test'")" = 1 ] ||
  psql_local -c "CREATE DATABASE raytl_test OWNER raytl" >&2
echo "$URL"
