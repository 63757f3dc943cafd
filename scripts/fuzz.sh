#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of Wharf's untrusted inputs: pasted task
# definitions, agents' messages, the server's messages to agents, placement expressions.
# Each target starts from the inputs kept in fuzz/regressions/<target> and runs for
# WHARF_FUZZ_SECONDS (default 45). A crash is copied into fuzz/regressions/<target>, where
# `cargo test` replays it from then on, and fails this script. libFuzzer needs a nightly
# compiler: the one pinned here, installed by scripts/setup.sh --tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
NIGHTLY=$(cat fuzz/nightly)
seconds=${WHARF_FUZZ_SECONDS:-45}
total=0
for target in task_definition agent_message server_message expression; do
  corpus=target/fuzz-corpus/$target
  mkdir -p "$corpus"
  log=target/fuzz-$target.log
  if ! cargo "+$NIGHTLY" fuzz run --target-dir target/fuzz "$target" "$corpus" "fuzz/regressions/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    for crash in fuzz/artifacts/"$target"/*; do
      [ -f "$crash" ] && cp "$crash" "fuzz/regressions/$target/" && echo "fuzz: kept $crash in fuzz/regressions/$target (commit it: it is a test now)"
    done
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -1)
  echo "fuzz: $target: ${runs:-0} executions in ${seconds} s, no crash"
  total=$((total + ${runs:-0}))
done
echo "fuzz: $total executions in all"
