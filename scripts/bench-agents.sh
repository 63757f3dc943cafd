#!/usr/bin/env bash
# Measures agents and their sessions on this machine (release builds, SQLite default):
#  1. `wharf-agent simulate --count N` against one server: time until all N are connected,
#     the server's resident memory with them, and the server's CPU per heartbeat.
#  2. One real agent (Docker runtime when dockerd answers, else process): resident memory and
#     CPU while idle and while a task is started and stopped every few seconds.
# Prints a Markdown table for the README's performance section.
# WHARF_BENCH_AGENTS (1000), WHARF_BENCH_HEARTBEAT (10 s), WHARF_BENCH_IDLE_SECONDS (300),
# WHARF_BENCH_CHURN_SECONDS (300) change the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
N=${WHARF_BENCH_AGENTS:-1000}
HB=${WHARF_BENCH_HEARTBEAT:-10}
IDLE=${WHARF_BENCH_IDLE_SECONDS:-300}
CHURN=${WHARF_BENCH_CHURN_SECONDS:-300}
PORT=${WHARF_BENCH_PORT:-3901}
BASE=http://127.0.0.1:$PORT
cargo build --release -p wharf-server -p wharf-agent --quiet
TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; docker rm -f $(docker ps -aq --filter label=wharf.cluster=bench-real) >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
api() { curl -sf -H 'content-type: application/json' "$@"; }

target/release/wharf-server --listen 127.0.0.1:$PORT --data-dir "$TMP/data" --agent-heartbeat-seconds "$HB" >"$TMP/server.log" 2>&1 &
SERVER=$!; PIDS+=($SERVER)
until curl -sf "$BASE/readyz" >/dev/null; do sleep 0.05; done
server_idle=$(rss_mib $SERVER)

# 1. Many simulated instances.
api -XPOST "$BASE/api/v1/clusters" -d '{"clusterName":"bench"}' >/dev/null
TOKEN=$(api -XPOST "$BASE/api/v1/clusters/bench/join-tokens" -d '{}' | json 'd["token"]')
connected() {
  local n=0 next="" page
  while :; do
    page=$(curl -sf "$BASE/api/v1/clusters/bench/container-instances?maxResults=1000${next:+&nextToken=$next}")
    n=$(( n + $(json 'sum(1 for i in d["containerInstances"] if i["agentConnected"])' <<<"$page") ))
    next=$(json 'd.get("nextToken") or ""' <<<"$page")
    [ -n "$next" ] || break
  done
  echo $n
}
t0=$(date +%s%N)
RUST_LOG=warn target/release/wharf-agent --state-dir "$TMP/sim" --server "$BASE" --cluster bench --token "$TOKEN" \
  --usage-seconds 60 simulate --count "$N" >"$TMP/sim.log" 2>&1 &
SIM=$!; PIDS+=($SIM)
until [ "$(connected)" -ge "$N" ]; do sleep 0.2; done
t1=$(date +%s%N)
connect_s=$(awk -v ns=$(( t1 - t0 )) 'BEGIN { printf "%.1f", ns / 1e9 }')
sleep $(( HB * 2 ))
window=$(( HB * 6 ))
c0=$(cpu_ticks $SERVER); sleep "$window"; c1=$(cpu_ticks $SERVER)
server_rss=$(rss_mib $SERVER)
sim_rss=$(rss_mib $SIM)
beats=$(( N * window / HB ))
per_beat_us=$(awk -v t=$(( c1 - c0 )) -v hz="$HZ" -v b="$beats" 'BEGIN { printf "%.1f", t / hz / b * 1e6 }')
server_cpu=$(awk -v t=$(( c1 - c0 )) -v hz="$HZ" -v w="$window" 'BEGIN { printf "%.1f", t / hz / w * 100 }')
kill $SIM; wait $SIM 2>/dev/null || true

# The same fleet joining over 20 s instead of at once, against a fresh server.
PORT2=$((PORT + 1))
target/release/wharf-server --listen 127.0.0.1:$PORT2 --data-dir "$TMP/data2" --agent-heartbeat-seconds "$HB" >"$TMP/server2.log" 2>&1 &
SERVER2=$!; PIDS+=($SERVER2)
until curl -sf "http://127.0.0.1:$PORT2/readyz" >/dev/null; do sleep 0.05; done
curl -sf -H 'content-type: application/json' -XPOST "http://127.0.0.1:$PORT2/api/v1/clusters" -d '{"clusterName":"bench"}' >/dev/null
TOKEN2=$(curl -sf -H 'content-type: application/json' -XPOST "http://127.0.0.1:$PORT2/api/v1/clusters/bench/join-tokens" -d '{}' | json 'd["token"]')
RUST_LOG=warn target/release/wharf-agent --state-dir "$TMP/sim2" --server "http://127.0.0.1:$PORT2" --cluster bench --token "$TOKEN2" \
  --usage-seconds 60 simulate --count "$N" --ramp-seconds 20 >"$TMP/sim2.log" 2>&1 &
SIM2=$!; PIDS+=($SIM2)
sleep 35
server_rss_ramp=$(rss_mib $SERVER2)
kill $SIM2 $SERVER2; wait $SIM2 $SERVER2 2>/dev/null || true

# 2. One real agent: idle, then under task churn.
TOKEN=$(api -XPOST "$BASE/api/v1/clusters" -d '{"clusterName":"bench-real"}' >/dev/null; api -XPOST "$BASE/api/v1/clusters/bench-real/join-tokens" -d '{}' | json 'd["token"]')
RUNTIME=process; docker info >/dev/null 2>&1 && docker image inspect local/busybox:1 >/dev/null 2>&1 && RUNTIME=docker
RUST_LOG=warn target/release/wharf-agent --state-dir "$TMP/real" --server "$BASE" --cluster bench-real --token "$TOKEN" --runtime "$RUNTIME" >"$TMP/agent.log" 2>&1 &
AGENT=$!; PIDS+=($AGENT)
until [ "$(curl -sf "$BASE/api/v1/clusters/bench-real/container-instances" | json 'sum(1 for i in d["containerInstances"] if i["agentConnected"])')" = 1 ]; do sleep 0.2; done
INSTANCE=$(curl -sf "$BASE/api/v1/clusters/bench-real/container-instances" | json 'd["containerInstances"][0]["id"]')
sleep 5
a0=$(cpu_ticks $AGENT); sleep "$IDLE"; a1=$(cpu_ticks $AGENT)
idle_rss=$(rss_mib $AGENT)
idle_cpu=$(awk -v t=$(( a1 - a0 )) -v hz="$HZ" -v w="$IDLE" 'BEGIN { printf "%.2f", t / hz / w * 100 }')
api -XPOST "$BASE/api/v1/task-definitions" -d '{"family":"churn","containerDefinitions":[{"name":"c","image":"local/busybox:1","memory":16,"stopTimeout":2,"command":["sleep","3600"]}]}' >/dev/null
peak=$idle_rss; started=0
a0=$(cpu_ticks $AGENT); end=$(( $(date +%s) + CHURN ))
while [ "$(date +%s)" -lt "$end" ]; do
  T=$(api -XPOST "$BASE/api/v1/clusters/bench-real/tasks/start" -d "{\"taskDefinition\":\"churn\",\"containerInstances\":[\"$INSTANCE\"]}" | json 'd["tasks"][0]["id"]')
  started=$(( started + 1 ))
  sleep 3
  api -XPOST "$BASE/api/v1/clusters/bench-real/tasks/$T/stop" -d '{}' >/dev/null
  sleep 2
  r=$(rss_mib $AGENT); peak=$(awk -v a="$peak" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
done
a1=$(cpu_ticks $AGENT)
churn_rss=$(rss_mib $AGENT)
churn_cpu=$(awk -v t=$(( a1 - a0 )) -v hz="$HZ" -v w="$CHURN" 'BEGIN { printf "%.2f", t / hz / w * 100 }')

cat <<TABLE
| measure | figure |
|---|---|
| \`simulate --count $N\`: all instances connected after | $connect_s s |
| server resident memory: idle / $N agents joined at once / $N agents joined over 20 s | $server_idle MiB / $server_rss MiB / $server_rss_ramp MiB |
| server CPU with $N agents, heartbeat every $HB s | $server_cpu % of one core ($per_beat_us µs per heartbeat, everything included) |
| simulator process resident memory ($N instances, one WebSocket each) | $sim_rss MiB |
| one agent ($RUNTIME runtime), idle ${IDLE} s: resident memory, CPU | $idle_rss MiB, $idle_cpu % of one core |
| same agent, ${CHURN} s of churn ($started tasks started and stopped): resident memory end / peak, CPU | $churn_rss / $peak MiB, $churn_cpu % of one core |
TABLE
