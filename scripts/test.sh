#!/usr/bin/env bash
# Sets up what the tests need and runs every test: unit and integration tests (the store's
# on SQLite and on a throwaway PostgreSQL), then the browser journeys in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
scripts/setup.sh --tests
# A fresh checkout gains nothing from incremental caches; they only cost disk.
export CARGO_INCREMENTAL=0

WHARF_TEST_POSTGRES_URL=$(scripts/postgres.sh)
export WHARF_TEST_POSTGRES_URL WHARF_REQUIRE_POSTGRES=1
trap 'scripts/postgres.sh stop "$WHARF_TEST_POSTGRES_URL"' EXIT

scripts/build-site.sh
# The browser build is its own target; everything else is tested natively.
cargo test --workspace --exclude wharf-frontend
cargo build -p wharf-server
node --test --test-concurrency=1 end2end/
