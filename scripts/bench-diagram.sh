#!/usr/bin/env bash
# Measures the relationship diagram at scale with release builds: 2,000 simulated instances and
# 20,000 tasks (WHARF_BENCH_INSTANCES, WHARF_BENCH_TASKS), the topology route's time and size,
# navigation to a drawn diagram in Chromium, frames per second while panning, page memory.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
scripts/build-site.sh >/dev/null
cargo build --release -p wharf-server -p wharf-agent --quiet
[ -d node_modules/playwright-core ] || npm ci --silent
RUST_LOG=${RUST_LOG:-warn} WHARF_BIN_DIR=target/release node end2end/bench-diagram.mjs
