#!/bin/sh
# STAND-IN for the K3s install script (https://get.k3s.io), served by the
# k3strading local cloud's stand-in internet. It is NOT the official
# installer: it does what the official one does for the settings below, on
# amd64 with systemd (or the local cloud's systemctl stand-in), and nothing
# else.
#
#   INSTALL_K3S_VERSION  release to install (required here: no channel lookup)
#   INSTALL_K3S_EXEC     "server" or "agent", plus extra arguments; empty or
#                        starting with a flag: agent with K3S_URL, else server
#   K3S_URL, K3S_TOKEN, K3S_TOKEN_FILE
#                        written to the unit's environment file (0600), never
#                        put on a command line
#
# It downloads sha256sum-amd64.txt and k3s of the release from GitHub,
# refuses a binary whose sha256 differs from the checksum file, installs
# /usr/local/bin/k3s, writes k3s.service or k3s-agent.service, then
# daemon-reload, enable and restart. A server install returns once /ping
# answers on 127.0.0.1:6443, as the official unit's Type=notify makes
# systemctl wait. Not done: kubectl/crictl/ctr links, the killall and
# uninstall scripts, SELinux, channels, INSTALL_K3S_SKIP_*, other
# architectures, non-systemd init.
set -eu

info() { echo "[INFO]  $*"; }
fatal() {
  echo "[ERROR] $*" >&2
  exit 1
}

RELEASES=https://github.com/k3s-io/k3s/releases/download
BIN_DIR=/usr/local/bin
UNIT_DIR=/etc/systemd/system

VERSION=${INSTALL_K3S_VERSION:-}
[ -n "$VERSION" ] || fatal "INSTALL_K3S_VERSION is required by this stand-in installer (it looks up no release channel)"
case $(uname -m) in
  x86_64 | amd64) ;;
  *) fatal "unsupported architecture $(uname -m) (this stand-in installs amd64 only)" ;;
esac

EXEC=${INSTALL_K3S_EXEC:-}
case $EXEC in
  "" | -*)
    if [ -n "${K3S_URL:-}" ]; then
      if [ -z "${K3S_TOKEN:-}" ] && [ -z "${K3S_TOKEN_FILE:-}" ]; then
        fatal "Defaulted k3s exec command to 'agent' because K3S_URL is defined, but K3S_TOKEN or K3S_TOKEN_FILE is not defined."
      fi
      EXEC="agent $EXEC"
    else
      EXEC="server $EXEC"
    fi
    ;;
esac
# Word splitting is how INSTALL_K3S_EXEC carries several arguments.
# shellcheck disable=SC2086
set -- $EXEC
CMD=$1
shift
case $CMD in
  server) UNIT=k3s ;;
  agent) UNIT=k3s-agent ;;
  *) fatal "INSTALL_K3S_EXEC must start with server or agent, not '$CMD'" ;;
esac

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

info "Using $VERSION as release"
info "Downloading hash $RELEASES/$VERSION/sha256sum-amd64.txt"
curl -fsSL -o "$TMP/sha256sum-amd64.txt" "$RELEASES/$VERSION/sha256sum-amd64.txt" ||
  fatal "could not download the checksums of K3s $VERSION (is the version right?)"
EXPECTED=$(awk '$2 == "k3s" { print $1 }' "$TMP/sha256sum-amd64.txt")
[ -n "$EXPECTED" ] || fatal "sha256sum-amd64.txt of $VERSION lists no k3s"
info "Downloading binary $RELEASES/$VERSION/k3s"
curl -fsSL -o "$TMP/k3s" "$RELEASES/$VERSION/k3s" ||
  fatal "could not download the K3s $VERSION binary"
info "Verifying binary download"
ACTUAL=$(sha256sum "$TMP/k3s" | awk '{ print $1 }')
[ "$ACTUAL" = "$EXPECTED" ] ||
  fatal "Download sha256 does not match $EXPECTED, got $ACTUAL"

info "Installing k3s to $BIN_DIR/k3s"
mkdir -p "$BIN_DIR"
chmod 0755 "$TMP/k3s"
mv -f "$TMP/k3s" "$BIN_DIR/k3s"

# Secrets go into a file only root reads, never onto a command line.
ENV_FILE="$UNIT_DIR/$UNIT.service.env"
info "env: Creating environment file $ENV_FILE"
mkdir -p "$UNIT_DIR"
(
  umask 077
  : > "$ENV_FILE"
  for name in K3S_URL K3S_TOKEN K3S_TOKEN_FILE; do
    eval "value=\${$name:-}"
    if [ -n "$value" ]; then
      printf "%s='%s'\n" "$name" "$value" >> "$ENV_FILE"
    fi
  done
)
chmod 0600 "$ENV_FILE"

ARGS=""
for a in "$@"; do
  ARGS="$ARGS \\
    '$a'"
done
info "systemd: Creating service file $UNIT_DIR/$UNIT.service"
cat > "$UNIT_DIR/$UNIT.service" <<EOF
[Unit]
Description=Lightweight Kubernetes (installed by the local cloud's STAND-IN installer)
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/$UNIT
EnvironmentFile=-$ENV_FILE
EnvironmentFile=-/etc/default/k3s-standin
KillMode=process
Delegate=yes
LimitNOFILE=1048576
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=$BIN_DIR/k3s \\
    $CMD$ARGS
EOF

systemctl daemon-reload
info "systemd: Enabling $UNIT unit"
systemctl enable "$UNIT" > /dev/null
info "systemd: Starting $UNIT"
systemctl restart "$UNIT"
if [ "$CMD" = server ]; then
  # Type=notify: systemctl returns once K3s is ready; here, once /ping answers.
  until curl -ksf -o /dev/null https://127.0.0.1:6443/ping; do
    systemctl is-active --quiet "$UNIT" || fatal "$UNIT stopped while starting; see journalctl -u $UNIT"
    sleep 0.5
  done
fi
