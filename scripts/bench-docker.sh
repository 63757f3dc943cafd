#!/usr/bin/env bash
# Real Docker: N busybox tasks started through Wharf (one server, one agent, one service of N)
# against N parallel `docker run -d` of the same image, command and limits. The engine's own
# start time varies by ±10 % from run to run, so there are several rounds, each side going
# first in every other one, each on an engine left without the other's containers and given
# a moment to settle; the ratio is of the summed times.
# Prints a Markdown table for the README. WHARF_BENCH_TASKS (50), WHARF_BENCH_ROUNDS (4) and
# WHARF_BENCH_PORT (3903) size it. Needs dockerd and the local/busybox:1 image
# (scripts/docker.sh, scripts/busybox-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
N=${WHARF_BENCH_TASKS:-50}
ROUNDS=${WHARF_BENCH_ROUNDS:-4}
PORT=${WHARF_BENCH_PORT:-3903}
BASE=http://127.0.0.1:$PORT
LABEL=wharf-bench-docker
cargo build --release -p wharf-server -p wharf-agent --quiet
TMP=$(mktemp -d)
PIDS=()
remove_containers() {
  # Label filters combine with AND: one removal per label.
  docker rm -f $(docker ps -aq --filter label=wharf.cluster=benchdocker) >/dev/null 2>&1 || true
  docker rm -f $(docker ps -aq --filter label=$LABEL) >/dev/null 2>&1 || true
  sleep 2
}
stop_wharf() {
  kill "${PIDS[@]}" 2>/dev/null || true
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
}
trap 'stop_wharf; remove_containers; rm -rf "$TMP"' EXIT
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
api() { curl -sf -H 'content-type: application/json' "$@"; }
now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }

docker_round() {
  local t0 t1 runs=()
  t0=$(now)
  for _ in $(seq 1 "$N"); do
    docker run -d --label $LABEL --memory 16m --cpu-shares 8 local/busybox:1 /bin/sleep 3600 >/dev/null &
    runs+=($!)
  done
  for p in "${runs[@]}"; do wait "$p"; done
  t1=$(now)
  remove_containers
  echo $(( t1 - t0 ))
}

# A fresh server and agent each round; only CreateService → all RUNNING is timed.
wharf_round() {
  local dir t0 t1 token
  dir=$(mktemp -d -p "$TMP")
  target/release/wharf-server --listen 127.0.0.1:$PORT --data-dir "$dir/data" --scheduler-interval-seconds 1 >"$dir/server.log" 2>&1 &
  PIDS+=($!)
  until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.05; done
  api -XPOST "$BASE/api/v1/clusters" -d '{"clusterName":"benchdocker"}' >/dev/null
  token=$(api -XPOST "$BASE/api/v1/clusters/benchdocker/join-tokens" -d '{}' | json 'd["token"]')
  RUST_LOG=warn target/release/wharf-agent --state-dir "$dir/agent" --server "$BASE" --cluster benchdocker --token "$token" \
    --runtime docker >"$dir/agent.log" 2>&1 &
  PIDS+=($!)
  until [ "$(api "$BASE/api/v1/clusters/benchdocker/container-instances" | json 'sum(1 for i in d["containerInstances"] if i["agentConnected"])')" -ge 1 ]; do sleep 0.2; done
  api -XPOST "$BASE/api/v1/task-definitions" -d '{"family":"sleeper","containerDefinitions":[{"name":"app","image":"local/busybox:1",
    "command":["/bin/sleep","3600"],"cpu":8,"memory":16}]}' >/dev/null
  t0=$(now)
  api -XPOST "$BASE/api/v1/clusters/benchdocker/services" -d "{\"serviceName\":\"sleepers\",\"taskDefinition\":\"sleeper\",\"desiredCount\":$N}" >/dev/null
  until [ "$(api "$BASE/api/v1/clusters/benchdocker/services/sleepers" | json 'd["service"]["runningCount"]')" -ge "$N" ]; do sleep 0.05; done
  t1=$(now)
  stop_wharf
  remove_containers
  echo $(( t1 - t0 ))
}

remove_containers
direct_total=0; wharf_total=0; direct_list=(); wharf_list=()
for r in $(seq 1 "$ROUNDS"); do
  if [ $(( r % 2 )) -eq 1 ]; then d=$(docker_round); w=$(wharf_round); else w=$(wharf_round); d=$(docker_round); fi
  direct_total=$(( direct_total + d )); wharf_total=$(( wharf_total + w ))
  direct_list+=("$(secs "$d")"); wharf_list+=("$(secs "$w")")
done
echo "| $N busybox tasks through Wharf (CreateService → all RUNNING), per round | ${wharf_list[*]} s |"
echo "| $N parallel \`docker run -d\` of the same image, per round | ${direct_list[*]} s |"
echo "| ratio of the sums | $(awk -v a="$wharf_total" -v b="$direct_total" 'BEGIN { printf "%.2f", a / b }') |"
