#!/usr/bin/env bash
# Builds the portal's browser bundle into target/site/pkg: the wasm (release, size-optimised),
# its JS glue from wasm-bindgen, wasm-opt when available, and the stylesheet.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=target/site
PKG=$SITE/pkg
mkdir -p "$PKG"
cargo build -p wharf-frontend --lib --target wasm32-unknown-unknown --profile wasm-release
RAW=target/wasm32-unknown-unknown/wasm-release/wharf_frontend.wasm
if [ "$PKG/wharf_bg.wasm.gz" -nt "$RAW" ] && [ "$PKG/wharf.js.gz" -nt "$RAW" ]; then
  cp style/wharf.css "$PKG/wharf.css"
  echo "site: $SITE is up to date"
  exit 0
fi
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$PKG" --out-name wharf \
  "$RAW"
WASM_OPT=node_modules/.bin/wasm-opt
if [ -x "$WASM_OPT" ]; then
  "$WASM_OPT" -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals "$PKG/wharf_bg.wasm" -o "$PKG/wharf_bg.opt.wasm"
  mv "$PKG/wharf_bg.opt.wasm" "$PKG/wharf_bg.wasm"
else
  echo "wasm-opt not found (run scripts/setup.sh); the bundle is larger but works" >&2
fi
cp style/wharf.css "$PKG/wharf.css"
# Served as is to browsers that accept gzip.
for f in wharf_bg.wasm wharf.js; do gzip -9kf "$PKG/$f"; done
echo "site: $SITE ($(wc -c < "$PKG/wharf_bg.wasm.gz") bytes of wasm, gzipped)"
