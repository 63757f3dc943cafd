#!/usr/bin/env bash
# Makes Docker Engine answer for the tests: starts dockerd in the background when it is not
# running (there is no systemd here) and builds the local/busybox:1 image. Prints "started"
# when it started dockerd, so the caller can stop it again with `scripts/docker.sh stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
PIDFILE=/tmp/wharf-test-dockerd.pid

if [ "${1:-}" = stop ]; then
  if [ -f "$PIDFILE" ]; then
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.2; done
    rm -f "$PIDFILE"
  fi
  exit 0
fi

if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || { echo "docker.sh: dockerd is not installed (scripts/setup.sh --tests installs it)" >&2; exit 1; }
  dockerd >/tmp/wharf-test-dockerd.log 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { echo "docker.sh: dockerd did not come up; see /tmp/wharf-test-dockerd.log" >&2; exit 1; }
  echo started
fi
scripts/busybox-image.sh >&2
