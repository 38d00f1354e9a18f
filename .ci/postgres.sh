#!/usr/bin/env bash
# Install (Debian package) and start a throw-away PostgreSQL server for the tests.
# Prints the SQLAlchemy URL to use as CRM_TEST_DATABASE_URL on its last line.
# Usage: .ci/postgres.sh [port]   (stop it with: .ci/postgres.sh stop)
set -euo pipefail
PORT="${1:-54329}"
DIR="${CRM_PG_DIR:-${TMPDIR:-/tmp}/crm-pg-$PORT}"

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ "$PORT" = "stop" ]; then
  for d in "${TMPDIR:-/tmp}"/crm-pg-*; do
    [ -f "$d/data/postmaster.pid" ] && runuser -u postgres -- "$(find_bin)/pg_ctl" -D "$d/data" -m fast stop || true
  done
  exit 0
fi

if [ -z "$(find_bin)" ]; then
  echo "Installing PostgreSQL (Debian package)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
BIN="$(find_bin)"
id postgres >/dev/null 2>&1 || useradd --system --home "$DIR" postgres

if [ ! -f "$DIR/data/PG_VERSION" ]; then
  mkdir -p "$DIR"
  chown postgres "$DIR"
  runuser -u postgres -- "$BIN/initdb" -D "$DIR/data" -A trust -U postgres --no-sync >/dev/null
fi
if ! runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >&2
fi
runuser -u postgres -- "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='crm_test'" | grep -q 1 || \
  runuser -u postgres -- "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres crm_test
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/crm_test"
