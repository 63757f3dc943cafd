#!/usr/bin/env bash
# Measures the scheduler end to end (release builds, SQLite default): `wharf-agent simulate
# --count N` against one server, then one REPLICA service of T tasks; reports the time from
# CreateService until all T are RUNNING and the server's peak resident memory.
# WHARF_BENCH_AGENTS (1000), WHARF_BENCH_TASKS (100000), WHARF_BENCH_PORT (3902) size it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
N=${WHARF_BENCH_AGENTS:-1000}
T=${WHARF_BENCH_TASKS:-100000}
PORT=${WHARF_BENCH_PORT:-3902}
BASE=http://127.0.0.1:$PORT
cargo build --release -p wharf-server -p wharf-agent --quiet
TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$TMP"' EXIT
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
api() { curl -sf -H 'content-type: application/json' "$@"; }
now() { date +%s%N; }
secs() { awk -v ns=$(( $2 - $1 )) 'BEGIN { printf "%.1f", ns / 1e9 }'; }

RUST_LOG=${RUST_LOG:-info,sqlx=warn} target/release/wharf-server --listen 127.0.0.1:$PORT --data-dir "$TMP/data" >"$TMP/server.log" 2>&1 &
SERVER=$!; PIDS+=($SERVER)
until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.05; done
api -XPOST "$BASE/api/v1/clusters" -d '{"clusterName":"bench"}' >/dev/null
TOKEN=$(api -XPOST "$BASE/api/v1/clusters/bench/join-tokens" -d '{}' | json 'd["token"]')
RUST_LOG=warn target/release/wharf-agent --state-dir "$TMP/sim" --server "$BASE" --cluster bench --token "$TOKEN" \
  --usage-seconds 600 simulate --count "$N" --sim-cpu 65536 --sim-memory 262144 >"$TMP/sim.log" 2>&1 &
SIM=$!; PIDS+=($SIM)
until [ "$(api "$BASE/api/v1/clusters/bench" | json 'd["cluster"]["registeredContainerInstancesCount"]')" -ge "$N" ]; do sleep 0.5; done
sleep 5
api -XPOST "$BASE/api/v1/task-definitions" \
  -d '{"family":"bench","containerDefinitions":[{"name":"app","image":"local/app:1","cpu":8,"memory":16}]}' >/dev/null
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
s0=$(cpu_ticks $SERVER); a0=$(cpu_ticks $SIM)
# WHARF_BENCH_PERF=FILE records the server with perf while the service comes up.
[ -n "${WHARF_BENCH_PERF:-}" ] && { perf record -F 999 -g -p $SERVER -o "$WHARF_BENCH_PERF" >/dev/null 2>&1 & PERF=$!; sleep 0.5; }
t0=$(now)
api -XPOST "$BASE/api/v1/clusters/bench/services" -d "{\"serviceName\":\"bench\",\"taskDefinition\":\"bench\",\"desiredCount\":$T}" >/dev/null
placed=""
while :; do
  s=$(api "$BASE/api/v1/clusters/bench/services/bench")
  running=$(json 'd["service"]["runningCount"]' <<<"$s")
  pending=$(json 'd["service"]["pendingCount"]' <<<"$s")
  [ -z "$placed" ] && [ $(( running + pending )) -ge "$T" ] && placed=$(now)
  [ "$running" -ge "$T" ] && break
  sleep 0.2
done
t1=$(now)
[ -n "${WHARF_BENCH_PERF:-}" ] && { kill -INT $PERF; wait $PERF || true; }
s1=$(cpu_ticks $SERVER); a1=$(cpu_ticks $SIM)
[ -n "${WHARF_BENCH_KEEP_LOG:-}" ] && cp "$TMP/server.log" "$WHARF_BENCH_KEEP_LOG"
hwm=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER/status")
echo "| $N simulated instances, one service of $T tasks: all placed | $(secs "$t0" "${placed:-$t1}") s |"
echo "| … all RUNNING | $(secs "$t0" "$t1") s |"
echo "| server peak RSS | $hwm MiB |"
echo "| CPU meanwhile: server / simulated agents | $(( (s1 - s0) * 100 / HZ / 100 )).$(( (s1 - s0) * 100 / HZ % 100 )) s / $(( (a1 - a0) * 100 / HZ / 100 )).$(( (a1 - a0) * 100 / HZ % 100 )) s |"
