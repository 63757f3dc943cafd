#!/usr/bin/env bash
# Real Docker: 50 busybox tasks started through Wharf (one server, one agent, one service of
# 50) against 50 parallel `docker run` of the same image and command, in the same run.
# Prints a Markdown table for the README. WHARF_BENCH_TASKS (50) and WHARF_BENCH_PORT (3903)
# size it. Needs dockerd and the local/busybox:1 image (scripts/docker.sh, scripts/busybox-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
N=${WHARF_BENCH_TASKS:-50}
PORT=${WHARF_BENCH_PORT:-3903}
BASE=http://127.0.0.1:$PORT
LABEL=wharf-bench-docker
cargo build --release -p wharf-server -p wharf-agent --quiet
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  kill "${PIDS[@]}" 2>/dev/null || true
  docker rm -f $(docker ps -aq --filter label=wharf.cluster=benchdocker --filter label=$LABEL) >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
api() { curl -sf -H 'content-type: application/json' "$@"; }
now() { date +%s%N; }
secs() { awk -v ns=$(( $2 - $1 )) 'BEGIN { printf "%.2f", ns / 1e9 }'; }

target/release/wharf-server --listen 127.0.0.1:$PORT --data-dir "$TMP/data" --scheduler-interval-seconds 1 >"$TMP/server.log" 2>&1 &
PIDS+=($!)
until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.05; done
api -XPOST "$BASE/api/v1/clusters" -d '{"clusterName":"benchdocker"}' >/dev/null
TOKEN=$(api -XPOST "$BASE/api/v1/clusters/benchdocker/join-tokens" -d '{}' | json 'd["token"]')
RUST_LOG=warn target/release/wharf-agent --state-dir "$TMP/agent" --server "$BASE" --cluster benchdocker --token "$TOKEN" \
  --runtime docker >"$TMP/agent.log" 2>&1 &
PIDS+=($!)
until [ "$(api "$BASE/api/v1/clusters/benchdocker/container-instances" | json 'sum(1 for i in d["containerInstances"] if i["agentConnected"])')" -ge 1 ]; do sleep 0.2; done
api -XPOST "$BASE/api/v1/task-definitions" -d '{"family":"sleeper","containerDefinitions":[{"name":"app","image":"local/busybox:1",
  "command":["/bin/sleep","3600"],"cpu":8,"memory":16}]}' >/dev/null

t0=$(now)
api -XPOST "$BASE/api/v1/clusters/benchdocker/services" -d "{\"serviceName\":\"sleepers\",\"taskDefinition\":\"sleeper\",\"desiredCount\":$N}" >/dev/null
until [ "$(api "$BASE/api/v1/clusters/benchdocker/services/sleepers" | json 'd["service"]["runningCount"]')" -ge "$N" ]; do sleep 0.05; done
t1=$(now)

t2=$(now)
RUNS=()
for _ in $(seq 1 "$N"); do
  docker run -d --label $LABEL --memory 16m --cpu-shares 8 local/busybox:1 /bin/sleep 3600 >/dev/null &
  RUNS+=($!)
done
for p in "${RUNS[@]}"; do wait "$p"; done
t3=$(now)

wharf=$(secs "$t0" "$t1")
direct=$(secs "$t2" "$t3")
echo "| $N busybox tasks through Wharf (CreateService → all RUNNING) | $wharf s |"
echo "| $N parallel \`docker run -d\` of the same image | $direct s |"
echo "| ratio | $(awk -v a="$wharf" -v b="$direct" 'BEGIN { printf "%.2f", a / b }') |"
