#!/usr/bin/env bash
# Install (Debian package) and start a throw-away PostgreSQL server for the tests.
# Prints the SQLAlchemy URL to use as CRM_TEST_DATABASE_URL on its last line.
# Usage: .ci/postgres.sh [port]        start (or reuse) the server on that port
#        .ci/postgres.sh stop [port]   stop the server on that port; without a port, the one this
#                                      script started and recorded in $CRM_PG_STATE (nothing else)
# A server found running already is reused and not recorded: `stop` without a port leaves it alone.
set -euo pipefail
ROOT="${TMPDIR:-/tmp}"
STATE="${CRM_PG_STATE:-}"

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
data_dir() { echo "${CRM_PG_DIR:-$ROOT/crm-pg-$1}/data"; }

if [ "${1:-}" = "stop" ]; then
  PORT="${2:-}"
  if [ -z "$PORT" ]; then
    if [ -z "$STATE" ] || [ ! -s "$STATE" ]; then
      echo "postgres.sh stop: no port given and no server recorded in CRM_PG_STATE; nothing stopped" >&2
      exit 0
    fi
    PORT="$(cat "$STATE")"
  fi
  case "$PORT" in ''|*[!0-9]*) echo "postgres.sh stop: not a port: $PORT" >&2; exit 2;; esac
  DATA="$(data_dir "$PORT")"
  if [ -f "$DATA/postmaster.pid" ]; then
    runuser -u postgres -- "$(find_bin)/pg_ctl" -D "$DATA" -m fast -w stop >&2
  fi
  if [ -n "$STATE" ] && [ -f "$STATE" ] && [ "$(cat "$STATE")" = "$PORT" ]; then
    : > "$STATE"
  fi
  exit 0
fi

PORT="${1:-54329}"
case "$PORT" in *[!0-9]*) echo "postgres.sh: not a port: $PORT" >&2; exit 2;; esac
DATA="$(data_dir "$PORT")"
DIR="$(dirname "$DATA")"

if [ -z "$(find_bin)" ]; then
  echo "Installing PostgreSQL (Debian package)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
BIN="$(find_bin)"
id postgres >/dev/null 2>&1 || useradd --system --home "$DIR" postgres

if [ ! -f "$DATA/PG_VERSION" ]; then
  mkdir -p "$DIR"
  chown postgres "$DIR"
  runuser -u postgres -- "$BIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >/dev/null
fi
if ! runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >&2
  if [ -n "$STATE" ]; then echo "$PORT" > "$STATE"; fi
fi
runuser -u postgres -- "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='crm_test'" | grep -q 1 || \
  runuser -u postgres -- "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres crm_test
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/crm_test"
