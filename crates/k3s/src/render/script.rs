//! The install script: idempotent, pinned, failing with the unit's journal.

use std::fmt::Write as _;

use super::{
    CONFIG_PATH, InstallSpec, METADATA_IP, RenderError, Role, SYSCTL_PATH, TOKEN_PATH, config_yaml,
    validate,
};
use crate::session::shell_quote;

/// Kernel settings the kubelet insists on when `protect-kernel-defaults` is set.
const SYSCTLS: [(&str, &str); 6] = [
    ("vm.overcommit_memory", "1"),
    ("vm.panic_on_oom", "0"),
    ("kernel.panic", "10"),
    ("kernel.panic_on_oops", "1"),
    ("kernel.keys.root_maxkeys", "1000000"),
    ("kernel.keys.root_maxbytes", "25000000"),
];

/// The sysctl.d file written before K3s starts.
pub fn sysctl_conf() -> String {
    let mut text = String::from("# Required by the kubelet's protect-kernel-defaults.\n");
    for (key, value) in SYSCTLS {
        let _ = writeln!(text, "{key} = {value}");
    }
    text
}

/// Renders the POSIX shell script that installs or updates K3s on the node (run it with `sh -s`).
///
/// Re-running it with the same spec changes nothing; a changed config.yaml restarts the unit.
pub fn install_script(spec: &InstallSpec) -> Result<String, RenderError> {
    validate::install(spec)?;
    let node = &spec.node;
    let config = config_yaml(node)?;
    let (exec, k3s_url) = match &node.role {
        Role::Server { .. } => ("server", None),
        Role::Agent { server_url } => ("agent", Some(server_url.as_str())),
    };
    let mut s = String::new();
    s.push_str(
        "#!/bin/sh\n# Installs or updates K3s on this node. Safe to run again.\nset -eu\n\n",
    );
    let _ = writeln!(s, "VERSION={}", shell_quote(&spec.k3s_version));
    let _ = writeln!(s, "UNIT={}", shell_quote(node.role.unit()));
    let _ = writeln!(s, "CONFIG={}", shell_quote(CONFIG_PATH));
    let _ = writeln!(s, "SYSCTL_FILE={}", shell_quote(SYSCTL_PATH));
    if node.flannel_iface.is_none() {
        let _ = writeln!(
            s,
            "PRIVATE_IP={}",
            shell_quote(&node.private_ip.to_string())
        );
    }
    let _ = writeln!(s, "WAIT={}", spec.unit_timeout_secs);
    s.push_str(FAIL);
    let _ = writeln!(
        s,
        "[ -s {token} ] || fail \"join token missing at {token}\"\n",
        token = TOKEN_PATH
    );
    s.push_str("# Kernel settings first: with protect-kernel-defaults the kubelet refuses to start without them.\n");
    s.push_str("mkdir -p /etc/sysctl.d\ncat > \"$SYSCTL_FILE.new\" <<'K3STRADING_EOF'\n");
    s.push_str(&sysctl_conf());
    s.push_str("K3STRADING_EOF\nmv -f \"$SYSCTL_FILE.new\" \"$SYSCTL_FILE\"\nsysctl -q -p \"$SYSCTL_FILE\" >/dev/null\n\n");
    s.push_str("# Pods must not read user-data (it holds host keys) from the metadata service.\n");
    let _ = writeln!(
        s,
        "if ! iptables -t raw -C PREROUTING -d {ip}/32 -j DROP 2>/dev/null; then\n  \
         iptables -t raw -I PREROUTING 1 -d {ip}/32 -j DROP\nfi\n",
        ip = METADATA_IP
    );
    s.push_str("mkdir -p /etc/rancher/k3s\numask 077\nNEW=\"$CONFIG.new\"\ncat > \"$NEW\" <<'K3STRADING_EOF'\n");
    s.push_str(&config);
    s.push_str("K3STRADING_EOF\n");
    if node.flannel_iface.is_none() {
        s.push_str(FIND_IFACE);
    }
    s.push_str(APPLY);
    let _ = writeln!(
        s,
        "if [ \"$installed\" != \"$VERSION\" ]; then\n  \
         installer=\"$(mktemp)\"\n  \
         curl -sfL --connect-timeout 10 --retry 5 --retry-connrefused -o \"$installer\" {url} || fail \"could not download the K3s installer\"\n  \
         tries=0\n  \
         # A failed download (the installer fetches the binary) is tried again; a start that\n  \
         # timed out (124) is not: it would only wait again.\n  \
         until INSTALL_K3S_VERSION=\"$VERSION\" INSTALL_K3S_EXEC={exec}{url_env} \\\n      \
         timeout \"$WAIT\" sh \"$installer\"; do\n    \
         status=$?\n    \
         tries=$((tries + 1))\n    \
         if [ \"$status\" = 124 ] || [ \"$tries\" -ge 3 ]; then\n      \
         fail \"K3s $VERSION did not install and start\"\n    \
         fi\n    \
         echo \"k3s install: attempt $tries failed (exit $status); trying again\"\n    \
         sleep 2\n  \
         done\n  \
         rm -f \"$installer\"\n  \
         echo \"installed K3s $VERSION\"",
        url = shell_quote(&spec.installer_url),
        exec = exec,
        url_env = k3s_url
            .map(|u| format!(" K3S_URL={}", shell_quote(u)))
            .unwrap_or_default(),
    );
    s.push_str(RESTART);
    Ok(s)
}

const FAIL: &str = r#"
fail() {
  echo "k3s install: $1" >&2
  journalctl -u "$UNIT" -n 50 --no-pager >&2 || true
  exit 1
}

"#;

const FIND_IFACE: &str = r#"# Flannel must use the private network: find the interface that holds the private IP.
IFACE="$(ip -o -4 addr show | awk -v ip="$PRIVATE_IP" '{ split($4, a, "/"); if (a[1] == ip) { print $2; exit } }')"
[ -n "$IFACE" ] || fail "no interface holds $PRIVATE_IP"
printf 'flannel-iface: %s\n' "$IFACE" >> "$NEW"
"#;

const APPLY: &str = r#"if cmp -s "$NEW" "$CONFIG"; then
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
"#;

const RESTART: &str = r#"elif [ "$changed" = yes ]; then
  timeout "$WAIT" systemctl restart "$UNIT" || fail "$UNIT did not restart with the new config"
  echo "config changed; restarted $UNIT"
elif ! systemctl is-active --quiet "$UNIT"; then
  timeout "$WAIT" systemctl start "$UNIT" || fail "$UNIT did not start"
  echo "started $UNIT"
else
  echo "K3s $VERSION up to date"
fi
"#;
