#!/usr/bin/env bash
# Sets up what the tests need and runs every test: unit and integration tests (the store's
# on SQLite and on a throwaway PostgreSQL), system tests of the real server and agent binaries
# with Docker Engine, then the browser journeys in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
scripts/setup.sh --tests
# A fresh checkout gains nothing from incremental caches; they only cost disk.
export CARGO_INCREMENTAL=0

WHARF_TEST_POSTGRES_URL=$(scripts/postgres.sh)
DOCKER_STARTED=$(scripts/docker.sh)
export WHARF_TEST_POSTGRES_URL WHARF_REQUIRE_POSTGRES=1 WHARF_REQUIRE_DOCKER=1
cleanup() {
  scripts/postgres.sh stop "$WHARF_TEST_POSTGRES_URL"
  [ "$DOCKER_STARTED" != started ] || scripts/docker.sh stop
}
trap cleanup EXIT

scripts/build-site.sh
# What a page downloads stays within its budget (the wasm, gzipped as served).
node scripts/site-size.mjs --budget 500
# The system tests start these binaries; the browser build is its own target, everything
# else is tested natively.
cargo build -p wharf-server -p wharf-agent
# Tests that cannot run here say so in this file; with PostgreSQL and Docker required above,
# none may.
rm -f target/skipped-tests.log
cargo test --workspace --exclude wharf-frontend
scripts/schemathesis.sh
scripts/fuzz.sh
node --test --test-concurrency=1 end2end/
skipped=0
[ ! -f target/skipped-tests.log ] || skipped=$(wc -l < target/skipped-tests.log)
echo "tests skipped: $skipped"
[ "$skipped" = 0 ] || { cat target/skipped-tests.log; exit 1; }
