#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests and prints its URL. Uses Debian's packages
# (installed by scripts/setup.sh --tests); the cluster lives under /tmp (the postgres user
# must reach it, which a checkout under a private folder does not allow) and listens on
# loopback only. `scripts/postgres.sh stop URL` stops the one at that URL.
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PORT=${WHARF_TEST_PG_PORT:-55432}
[ "${1:-}" = stop ] && [ -n "${2:-}" ] && PORT=$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$2")
dir_for() { echo "${WHARF_TEST_PG_DIR:-/tmp/wharf-test-pg-$1}"; }
DIR=$(dir_for "$PORT")
cd /  # the postgres user may not be allowed into the checkout
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-}" = stop ]; then
  [ -d "$DIR/data" ] && run "$PGBIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed; run scripts/setup.sh --tests" >&2; exit 1; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! run "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1; then
  # Something else (or a dying server, or a closing connection's local port) may hold the
  # port: take the next free one, and the one after if binding still fails.
  started=0
  for _ in 1 2 3 4 5; do
    while port_taken "$PORT"; do PORT=$((PORT + 1)); done
    DIR=$(dir_for "$PORT")
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    run "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust >"$DIR/initdb.log" 2>&1
    if run "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
      -o "-h 127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=200" start >/dev/null; then
      started=1
      break
    fi
    PORT=$((PORT + 1))
  done
  [ "$started" = 1 ] || { echo "PostgreSQL did not start; see $DIR/server.log" >&2; exit 1; }
fi
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
