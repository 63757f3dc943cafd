#!/usr/bin/env bash
# Installs whatever is missing to build and run Wharf on a fresh Debian machine (as root or
# with sudo): the Rust toolchain pinned in rust-toolchain.toml with its wasm target, the
# wasm-bindgen CLI at exactly the version in Cargo.lock, and the npm tools in package.json.
# With --tests it also installs what the tests need: Chromium, ChromeDriver, PostgreSQL,
# Docker Engine with busybox-static (for the local/busybox:1 test image), and schemathesis.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
TESTS=0
[ "${1:-}" = --tests ] && TESTS=1

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
packages=()
command -v cc >/dev/null || packages+=(build-essential)
command -v npm >/dev/null || packages+=(nodejs npm)
command -v curl >/dev/null || packages+=(curl)
# A gzip encoder that packs the portal's modules tighter than gzip -9; browsers read it as gzip.
command -v zopfli >/dev/null || packages+=(zopfli)
if [ "$TESTS" = 1 ]; then
  command -v chromium >/dev/null || packages+=(chromium)
  command -v chromedriver >/dev/null || packages+=(chromium-driver)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
  command -v dockerd >/dev/null || packages+=(docker.io)
  dpkg -s busybox-static >/dev/null 2>&1 || packages+=(busybox-static)
  command -v wrk >/dev/null || packages+=(wrk)
  # schemathesis (from PyPI) runs in a virtual environment of its own.
  { command -v python3 >/dev/null && python3 -m venv --help >/dev/null 2>&1; } || packages+=(python3 python3-venv)
fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
fi

command -v rustup >/dev/null || { echo "setup: rustup is required (https://rustup.rs)" >&2; exit 1; }
channel=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$channel"; then
  echo "setup: installing Rust $channel"
  rustup toolchain install "$channel" --profile minimal --component rustfmt,clippy
fi
rustup target list --toolchain "$channel" --installed | grep -q wasm32-unknown-unknown \
  || rustup target add --toolchain "$channel" wasm32-unknown-unknown

wbg=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wbg"; then
  echo "setup: installing wasm-bindgen-cli $wbg"
  cargo install wasm-bindgen-cli --version "$wbg" --force --quiet
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ]; then
  echo "setup: installing npm tools (binaryen, playwright-core)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The API's schema test: schemathesis at a fixed version, in target/schemathesis.
SCHEMATHESIS=4.32.5
if [ "$TESTS" = 1 ] && ! target/schemathesis/bin/st --version 2>/dev/null | grep -q "$SCHEMATHESIS"; then
  echo "setup: installing schemathesis $SCHEMATHESIS"
  python3 -m venv target/schemathesis
  target/schemathesis/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS"
fi

# Fuzzing: libFuzzer needs a nightly compiler (pinned in fuzz/nightly) and cargo-fuzz.
if [ "$TESTS" = 1 ]; then
  nightly=$(cat fuzz/nightly)
  rustup toolchain list | grep -q "^$nightly" || { echo "setup: installing Rust $nightly (fuzzing)"; rustup toolchain install "$nightly" --profile minimal; }
  cargo fuzz --version 2>/dev/null | grep -q "0.13.2" || { echo "setup: installing cargo-fuzz"; cargo install cargo-fuzz --version 0.13.2 --locked --quiet; }
fi
