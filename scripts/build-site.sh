#!/usr/bin/env bash
# Builds the portal's browser bundle: the wasm (release, size-optimised), split at its lazy
# routes (tools/wasm-split), its JS glue from wasm-bindgen, wasm-opt on every module, and the
# stylesheet, gzipped too. It goes to target/site/pkg/<build id>, the id a hash of what is in
# it, named in target/site/pkg/BUILD: the server serves that folder as never changing, and a
# page always asks for the files of its own build. The build before stays for pages still open.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=target/site
PKG=$SITE/stage
mkdir -p "$PKG"
cargo build -p wharf-frontend --lib --target wasm32-unknown-unknown --profile wasm-release
cargo build -p wharf-wasm-split --release --quiet
RAW=target/wasm32-unknown-unknown/wasm-release/wharf_frontend.wasm
STAMP=$PKG/.built-from
# Up to date when built after the wasm, the split tool and these scripts, with binaryen as now.
optimiser=$( [ -f node_modules/binaryen/index.js ] && echo binaryen || echo none )
# The split, optimised and gzipped modules, into $PKG.
build_modules() {
  # Modules of an older build would linger under names the new one does not use.
  rm -rf "$PKG" && mkdir -p "$PKG"
  MAIN=target/wasm-split/wharf_main.wasm
  mkdir -p "$(dirname "$MAIN")"
  target/release/wharf-wasm-split "$RAW" "$PKG" "$MAIN"
  # The split modules call into the main one through the exports lld made, so they are kept.
  wasm-bindgen --target web --no-typescript --keep-lld-exports --remove-name-section --remove-producers-section \
    --out-dir "$PKG" --out-name wharf "$MAIN"
  if [ -f node_modules/binaryen/index.js ]; then
    # binaryen's -Oz on every module, largest first, dealt to two processes (two cores).
    mapfile -t modules < <(ls -S "$PKG"/*.wasm)
    odd=() even=()
    for i in "${!modules[@]}"; do
      if (( i % 2 )); then odd+=("${modules[$i]}"); else even+=("${modules[$i]}"); fi
    done
    node scripts/wasm-opt-all.mjs "${even[@]}" & first=$!
    # A failure of the other half must not leave this one writing into the next build.
    trap 'kill "$first" 2>/dev/null || true' EXIT
    [ ${#odd[@]} -eq 0 ] || node scripts/wasm-opt-all.mjs "${odd[@]}"
    wait "$first"
    trap - EXIT
  else
    echo "binaryen not found (run scripts/setup.sh); the bundle is larger but works" >&2
  fi
  # Served as is to browsers that accept gzip: zopfli's gzip is about 4 % smaller than gzip -9's
  # (a minute's work on two cores, once per build).
  if command -v zopfli >/dev/null; then
    ls -S "$PKG"/*.wasm "$PKG"/*.js | xargs -P 2 -n 8 zopfli --i5
  else
    echo "zopfli not found (run scripts/setup.sh); the bundle is gzipped with gzip -9" >&2
    for f in "$PKG"/*.wasm "$PKG"/*.js; do gzip -9nkf "$f"; done
  fi
  echo "$optimiser $(command -v zopfli >/dev/null && echo zopfli)" > "$STAMP"
}

if [ -f "$STAMP" ] && [ "$STAMP" -nt "$RAW" ] && [ "$STAMP" -nt target/release/wharf-wasm-split ] \
  && [ "$STAMP" -nt scripts/build-site.sh ] && [ "$STAMP" -nt scripts/wasm-opt-all.mjs ] && [ "$(cat "$STAMP")" = "$optimiser $(command -v zopfli >/dev/null && echo zopfli)" ]; then
  echo "site: the modules are up to date"
else
  build_modules
fi
cp style/wharf.css "$PKG/wharf.css"
gzip -9nkf "$PKG/wharf.css"
# The build's id: a hash of every file served, so the same bundle keeps its id.
id=$(cd "$PKG" && find . -type f ! -name .built-from -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
OUT=$SITE/pkg
mkdir -p "$OUT"
if [ ! -d "$OUT/$id" ]; then
  rm -rf "$OUT/$id.tmp"
  cp -r "$PKG" "$OUT/$id.tmp"
  rm -f "$OUT/$id.tmp/.built-from"
  mv "$OUT/$id.tmp" "$OUT/$id"
fi
previous=$(cat "$OUT/BUILD" 2>/dev/null || true)
echo "$id" > "$OUT/BUILD.tmp" && mv "$OUT/BUILD.tmp" "$OUT/BUILD"
# Keep this build and the one before; older ones, and files of the layout before build ids, go.
for old in "$OUT"/* "$OUT"/.built-from; do
  name=$(basename "$old")
  case "$name" in "$id" | BUILD) ;; *) [ -n "$previous" ] && [ "$name" = "$previous" ] || rm -rf "$old" ;; esac
done
echo "site: $OUT/$id ($(wc -c < "$PKG/wharf_bg.wasm.gz") bytes of main wasm, $(cat "$PKG"/*.wasm.gz | wc -c) bytes for every page, gzipped)"
