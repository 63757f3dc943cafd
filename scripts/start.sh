#!/usr/bin/env bash
# Sets up what is missing, builds Wharf (portal bundle, server and the agent it hands out to
# hosts, release) and starts it on http://127.0.0.1:3000 with its SQLite database under
# ./data. Arguments go to wharf-server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
scripts/setup.sh
scripts/build-site.sh
cargo build --release -p wharf-server -p wharf-agent
exec target/release/wharf-server --site-dir target/site "$@"
