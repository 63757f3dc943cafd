#!/usr/bin/env bash
# The API against its own OpenAPI document: schemathesis generates requests for every
# operation (examples, boundaries, random and chained calls) and checks that no answer is a
# 5xx and every answer matches the documented status codes, content types and schemas. It
# runs as the first admin of a fresh server (SQLite in a temp folder), built beforehand.
set -euo pipefail
cd "$(dirname "$0")/.."
server=target/debug/wharf-server
data=$(mktemp -d)
log="$data/server.log"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
WHARF_ADMIN_PASSWORD=schemathesis-admin "$server" --data-dir "$data" admin create --username admin >/dev/null
token=$("$server" --data-dir "$data" token create --username admin 2>/dev/null | tail -1)
RUST_LOG=warn "$server" --data-dir "$data" --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  port=$(sed -n 's/.*Wharf is up at http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || { cat "$log"; echo "schemathesis: the server did not start" >&2; exit 1; }
# Left out: the live feed and log follows (they stream without end), and the two operations
# that end the run's own credentials (revoking its token, signing out); the authorization
# tests cover those.
target/schemathesis/bin/st run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${WHARF_SCHEMATHESIS_EXAMPLES:-25}" --workers 2 --no-color \
  --exclude-path /api/v1/events --exclude-path-regex '/logs$' --exclude-path '/api/v1/tokens/{id}' --exclude-path /api/v1/session \
  | tee "$data/st.out" | sed -n '/SUMMARY/,$p' || { cp "$data/st.out" target/schemathesis-last.out; sed -n '/FAILURES/,/SUMMARY/p' "$data/st.out"; exit 1; }
if grep -q "panicked" "$log"; then cat "$log"; echo "schemathesis: the server panicked" >&2; exit 1; fi
