#!/bin/sh
# Installs wharf-agent from the Wharf server at @SERVER@ and starts it under systemd.
#
#   curl -fsSL @SERVER@/agent/install.sh | sudo sh -s -- --cluster NAME --token wjt_…
#
# Options: --cluster NAME, --token TOKEN (both required), --runtime auto|docker|process,
# --attribute NAME=VALUE (repeatable), --zone ZONE, --instance-type TYPE,
# --root DIR (install under DIR instead of /, and do not start; DESTDIR works the same);
# over HTTPS, --server-cert-sha256 HEX and --server-key-sha256 BASE64 pin the server.
set -eu

SERVER='@SERVER@'
SHA256='@SHA256@'
CLUSTER=''
TOKEN=''
RUNTIME='auto'
ATTRIBUTES=''
ZONE=''
INSTANCE_TYPE=''
ROOT="${DESTDIR:-}"
CERT_SHA256=''
KEY_SHA256=''

fail() { echo "wharf-agent install: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --cluster) CLUSTER="${2:-}"; shift 2 ;;
    --token) TOKEN="${2:-}"; shift 2 ;;
    --runtime) RUNTIME="${2:-}"; shift 2 ;;
    --attribute) ATTRIBUTES="${ATTRIBUTES:+$ATTRIBUTES,}${2:-}"; shift 2 ;;
    --zone) ZONE="${2:-}"; shift 2 ;;
    --instance-type) INSTANCE_TYPE="${2:-}"; shift 2 ;;
    --root) ROOT="${2:-}"; shift 2 ;;
    --server-cert-sha256) CERT_SHA256="${2:-}"; shift 2 ;;
    --server-key-sha256) KEY_SHA256="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" 2>/dev/null || true; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$CLUSTER" ] || fail "--cluster NAME is required"
[ -n "$TOKEN" ] || fail "--token TOKEN is required (create one on the cluster's page)"
case "$RUNTIME" in auto|docker|process|simulated) ;; *) fail "--runtime is auto, docker, process or simulated" ;; esac
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then fail "run as root (sudo sh), or give --root DIR"; fi

BIN_DIR="$ROOT/usr/local/bin"
CONF_DIR="$ROOT/etc/wharf"
UNIT_DIR="$ROOT/etc/systemd/system"
STATE_DIR="/var/lib/wharf-agent"
mkdir -p "$BIN_DIR" "$CONF_DIR" "$UNIT_DIR" "$ROOT$STATE_DIR"

TMP="$(mktemp "$BIN_DIR/.wharf-agent.XXXXXX")"
trap 'rm -f "$TMP"' EXIT
case "$SERVER" in https://*) { [ -n "$KEY_SHA256" ] && [ -n "$CERT_SHA256" ]; } || fail "--server-key-sha256 and --server-cert-sha256 are required with HTTPS (the install command carries them)" ;; esac
if [ -n "$KEY_SHA256" ]; then
  command -v curl >/dev/null 2>&1 || fail "needs curl to check the server's key"
  curl -fsSLk --pinnedpubkey "sha256//$KEY_SHA256" "$SERVER/agent/wharf-agent" -o "$TMP" || fail "cannot download $SERVER/agent/wharf-agent from a server with the pinned key"
elif command -v curl >/dev/null 2>&1; then
  curl -fsSL "$SERVER/agent/wharf-agent" -o "$TMP" || fail "cannot download $SERVER/agent/wharf-agent"
elif command -v wget >/dev/null 2>&1; then
  wget -q -O "$TMP" "$SERVER/agent/wharf-agent" || fail "cannot download $SERVER/agent/wharf-agent"
else
  fail "needs curl or wget"
fi
GOT="$(sha256sum "$TMP" | cut -d' ' -f1)"
[ "$GOT" = "$SHA256" ] || fail "the downloaded agent's SHA-256 is $GOT, the server announced $SHA256"
chmod 0755 "$TMP"
mv -f "$TMP" "$BIN_DIR/wharf-agent"
trap - EXIT

umask 077
cat > "$CONF_DIR/agent.env" <<CONF
# wharf-agent configuration (wharf-agent --config); the join token is removed once used.
WHARF_SERVER=$SERVER
WHARF_CLUSTER=$CLUSTER
WHARF_JOIN_TOKEN=$TOKEN
WHARF_STATE_DIR=$STATE_DIR
WHARF_RUNTIME=$RUNTIME
WHARF_ATTRIBUTES=$ATTRIBUTES
WHARF_ZONE=$ZONE
WHARF_INSTANCE_TYPE=$INSTANCE_TYPE
WHARF_SERVER_CERT_SHA256=$CERT_SHA256
CONF
umask 022

cat > "$UNIT_DIR/wharf-agent.service" <<UNIT
[Unit]
Description=Wharf container agent
Documentation=$SERVER/
After=network-online.target docker.service
Wants=network-online.target

[Service]
# The agent reads the file itself, and removes the join token from it once registered.
ExecStart=/usr/local/bin/wharf-agent --config /etc/wharf/agent.env
Restart=always
RestartSec=5
# Tasks may exhaust the host's memory; the agent must be the last thing the kernel kills.
OOMScoreAdjust=-999
KillMode=process

[Install]
WantedBy=multi-user.target
UNIT

if [ -n "$ROOT" ]; then
  echo "wharf-agent installed under $ROOT (not started)."
  exit 0
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now wharf-agent
  echo "wharf-agent is running; the host joins cluster $CLUSTER in a few seconds."
else
  echo "no systemd here; start the agent with: /usr/local/bin/wharf-agent --config /etc/wharf/agent.env"
fi
