#!/usr/bin/env bash
# Measures the API on the SQLite default over loopback: register and describe throughput and
# latency (wrk), server start time on an empty store and on one with 10,000 revisions, and the
# portal's wasm size. Prints a Markdown table for the README's performance section.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
DURATION=${WHARF_BENCH_SECONDS:-10}
CONNECTIONS=${WHARF_BENCH_CONNECTIONS:-16}
PORT=${WHARF_BENCH_PORT:-3900}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p wharf-server --quiet
BIN=target/release/wharf-server
DATA=$(mktemp -d)
FIXTURE=${WHARF_FIXTURES:-fixtures/task-definitions}/web-nginx.json
BASE=http://127.0.0.1:$PORT

start() { # sets PID, and STARTED_MS: from exec to the first successful /readyz
  local t0 t1
  t0=$(date +%s%N)
  $BIN --listen 127.0.0.1:$PORT --data-dir "$DATA" >"$DATA/server.log" 2>&1 &
  PID=$!
  until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  STARTED_MS=$(( (t1 - t0) / 1000000 ))
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
wrk_run() { # label, args…
  local out rps p50 p99
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$rps|$p50|$p99"
}

start
empty_ms=$STARTED_MS
curl -sf -XPOST "$BASE/api/v1/task-definitions" --data-binary @"$FIXTURE" >/dev/null
IFS='|' read -r reg_rps reg_p50 reg_p99 <<<"$(WHARF_BENCH_DOC=$FIXTURE wrk_run -s bench/register.lua "$BASE/api/v1/task-definitions")"
IFS='|' read -r get_rps get_p50 get_p99 <<<"$(wrk_run "$BASE/api/v1/task-definitions/web:1")"
stop
# A second store with exactly 10,000 revisions, for the start time at that size.
DATA_BENCH=$DATA
DATA=$(mktemp -d)
start
for _ in $(seq 10000); do echo "$FIXTURE"; done \
  | xargs -P 4 -I{} curl -sf -o /dev/null -XPOST "$BASE/api/v1/task-definitions" --data-binary @{}
stop
start
full_ms=$STARTED_MS
revisions=$(curl -sf "$BASE/metrics" | awk '/^wharf_task_definitions / {print $2}')
IFS='|' read -r get2_rps get2_p50 get2_p99 <<<"$(wrk_run "$BASE/api/v1/task-definitions/web")"
stop

cat <<TABLE
| measure | figure |
|---|---|
| register a task definition (POST, ${CONNECTIONS} connections, ${DURATION}s) | ${reg_rps} req/s, p50 ${reg_p50}, p99 ${reg_p99} |
| describe \`web:1\` (GET) | ${get_rps} req/s, p50 ${get_p50}, p99 ${get_p99} |
| describe \`web\` (latest ACTIVE) with ${revisions} revisions stored | ${get2_rps} req/s, p50 ${get2_p50}, p99 ${get2_p99} |
| server start to ready, empty store | ${empty_ms} ms |
| server start to ready, ${revisions} revisions | ${full_ms} ms |
TABLE
# What each page of the portal downloads (the site must be built: scripts/build-site.sh).
echo
node scripts/site-size.mjs || echo "(the portal is not built: run scripts/build-site.sh for its figures)"
rm -rf "$DATA" "$DATA_BENCH"
