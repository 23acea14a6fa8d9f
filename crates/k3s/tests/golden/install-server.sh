#!/bin/sh
# Installs or updates K3s on this node. Safe to run again.
set -eu

VERSION='v1.34.1+k3s1'
UNIT='k3s'
CONFIG='/etc/rancher/k3s/config.yaml'
SYSCTL_FILE='/etc/sysctl.d/90-k3s-kubelet.conf'
PRIVATE_IP='10.0.1.2'
WAIT=300

fail() {
  echo "k3s install: $1" >&2
  journalctl -u "$UNIT" -n 50 --no-pager >&2 || true
  exit 1
}

[ -s /etc/rancher/k3s/token ] || fail "join token missing at /etc/rancher/k3s/token"

# Kernel settings first: with protect-kernel-defaults the kubelet refuses to start without them.
mkdir -p /etc/sysctl.d
cat > "$SYSCTL_FILE.new" <<'K3STRADING_EOF'
# Required by the kubelet's protect-kernel-defaults.
vm.overcommit_memory = 1
vm.panic_on_oom = 0
kernel.panic = 10
kernel.panic_on_oops = 1
kernel.keys.root_maxkeys = 1000000
kernel.keys.root_maxbytes = 25000000
K3STRADING_EOF
mv -f "$SYSCTL_FILE.new" "$SYSCTL_FILE"
sysctl -q -p "$SYSCTL_FILE" >/dev/null

# Pods must not read user-data (it holds host keys) from the metadata service.
if ! iptables -t raw -C PREROUTING -d 169.254.169.254/32 -j DROP 2>/dev/null; then
  iptables -t raw -I PREROUTING 1 -d 169.254.169.254/32 -j DROP
fi

mkdir -p /etc/rancher/k3s
umask 077
NEW="$CONFIG.new"
cat > "$NEW" <<'K3STRADING_EOF'
node-name: control-plane
node-ip: 10.0.1.2
advertise-address: 10.0.1.2
tls-san:
- 203.0.113.10
- api.example.com
node-taint:
- node-role.kubernetes.io/control-plane:NoSchedule
write-kubeconfig-mode: '0600'
secrets-encryption: true
protect-kernel-defaults: true
token-file: /etc/rancher/k3s/token
K3STRADING_EOF
# Flannel must use the private network: find the interface that holds the private IP.
IFACE="$(ip -o -4 addr show | awk -v ip="$PRIVATE_IP" '{ split($4, a, "/"); if (a[1] == ip) { print $2; exit } }')"
[ -n "$IFACE" ] || fail "no interface holds $PRIVATE_IP"
printf 'flannel-iface: %s\n' "$IFACE" >> "$NEW"
if cmp -s "$NEW" "$CONFIG"; then
  rm -f "$NEW"
  changed=no
else
  mv -f "$NEW" "$CONFIG"
  changed=yes
fi

installed=""
if [ -x /usr/local/bin/k3s ]; then
  installed="$(/usr/local/bin/k3s --version 2>/dev/null | awk 'NR == 1 { print $3 }')"
fi
if [ "$installed" != "$VERSION" ]; then
  installer="$(mktemp)"
  curl -sfL --connect-timeout 10 --retry 5 --retry-connrefused -o "$installer" 'https://get.k3s.io' || fail "could not download the K3s installer"
  tries=0
  # A failed download (the installer fetches the binary) is tried again; a start that
  # timed out (124) is not: it would only wait again.
  until INSTALL_K3S_VERSION="$VERSION" INSTALL_K3S_EXEC=server \
      timeout "$WAIT" sh "$installer"; do
    status=$?
    tries=$((tries + 1))
    if [ "$status" = 124 ] || [ "$tries" -ge 3 ]; then
      fail "K3s $VERSION did not install and start"
    fi
    echo "k3s install: attempt $tries failed (exit $status); trying again"
    sleep 2
  done
  rm -f "$installer"
  echo "installed K3s $VERSION"
elif [ "$changed" = yes ]; then
  timeout "$WAIT" systemctl restart "$UNIT" || fail "$UNIT did not restart with the new config"
  echo "config changed; restarted $UNIT"
elif ! systemctl is-active --quiet "$UNIT"; then
  timeout "$WAIT" systemctl start "$UNIT" || fail "$UNIT did not start"
  echo "started $UNIT"
else
  echo "K3s $VERSION up to date"
fi
