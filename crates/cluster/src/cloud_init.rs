//! cloud-init user data: how each server reaches the internet. Pure
//! functions of typed inputs, covered by golden files.
//!
//! - The control plane is the NAT gateway: IP forwarding plus MASQUERADE of
//!   the private network's traffic out of its public interface. Hetzner
//!   routes the network's `0.0.0.0/0` to it.
//! - Private-only nodes send everything to the network gateway (the first
//!   address of the network range), which follows that route; they also get
//!   Hetzner's resolvers, as they have no DHCP-provided public DNS.
//! - Nodes with their own Primary IP use it directly.

use std::fmt::Write as _;

/// Hetzner's recursive resolvers.
pub const RESOLVERS: [&str; 2] = ["185.12.64.1", "185.12.64.2"];

/// How a server reaches the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Egress {
    /// NAT gateway for `network_cidr` (the control plane).
    NatGateway {
        /// The private network's range.
        network_cidr: String,
    },
    /// Through the network gateway (private-only nodes).
    ViaNetwork {
        /// The network gateway address.
        gateway: String,
    },
    /// Its own public address.
    Public,
}

/// Everything the user data depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// Host name.
    pub hostname: String,
    /// Egress mode.
    pub egress: Egress,
}

/// Renders `#cloud-config` user data.
pub fn render(u: &UserData) -> String {
    let mut s = String::from("#cloud-config\n");
    let _ = writeln!(s, "hostname: {}", u.hostname);
    s.push_str("preserve_hostname: false\n");
    match &u.egress {
        Egress::NatGateway { network_cidr } => {
            s.push_str("write_files:\n");
            s.push_str("  - path: /etc/sysctl.d/90-k3strading-nat.conf\n");
            s.push_str("    content: |\n      net.ipv4.ip_forward=1\n");
            s.push_str("  - path: /etc/systemd/system/k3strading-nat.service\n");
            s.push_str("    content: |\n");
            s.push_str("      [Unit]\n      Description=k3strading NAT for the private network\n");
            s.push_str("      After=network-online.target\n      Wants=network-online.target\n");
            s.push_str("      [Service]\n      Type=oneshot\n      RemainAfterExit=yes\n");
            let _ = writeln!(
                s,
                "      ExecStart=/bin/sh -c 'iptables -t nat -C POSTROUTING -s {network_cidr} ! -d {network_cidr} -j MASQUERADE 2>/dev/null || iptables -t nat -A POSTROUTING -s {network_cidr} ! -d {network_cidr} -j MASQUERADE'"
            );
            s.push_str("      [Install]\n      WantedBy=multi-user.target\n");
            s.push_str("runcmd:\n");
            s.push_str("  - [sysctl, --system]\n");
            s.push_str("  - [systemctl, daemon-reload]\n");
            s.push_str("  - [systemctl, enable, --now, k3strading-nat.service]\n");
        }
        Egress::ViaNetwork { gateway } => {
            s.push_str("write_files:\n");
            s.push_str("  - path: /etc/systemd/system/k3strading-egress.service\n");
            s.push_str("    content: |\n");
            s.push_str("      [Unit]\n      Description=k3strading default route through the private network\n");
            s.push_str("      After=network-online.target\n      Wants=network-online.target\n");
            s.push_str("      [Service]\n      Type=oneshot\n      RemainAfterExit=yes\n");
            let _ = writeln!(
                s,
                "      ExecStart=/sbin/ip route replace default via {gateway}"
            );
            s.push_str("      [Install]\n      WantedBy=multi-user.target\n");
            s.push_str("  - path: /etc/systemd/resolved.conf.d/k3strading.conf\n");
            s.push_str("    content: |\n      [Resolve]\n");
            let _ = writeln!(s, "      DNS={}", RESOLVERS.join(" "));
            s.push_str("runcmd:\n");
            s.push_str("  - [systemctl, daemon-reload]\n");
            s.push_str("  - [systemctl, enable, --now, k3strading-egress.service]\n");
            s.push_str("  - [systemctl, restart, systemd-resolved]\n");
        }
        Egress::Public => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str, rendered: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, rendered).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            rendered,
            want,
            "{} differs; run with UPDATE_GOLDEN=1 to accept",
            path.display()
        );
    }

    #[test]
    fn control_plane_is_the_nat_gateway() {
        let u = UserData {
            hostname: "k3s-trading-dev-control".into(),
            egress: Egress::NatGateway {
                network_cidr: "10.0.1.0/24".into(),
            },
        };
        golden("cloud-init-control.yaml", &render(&u));
    }

    #[test]
    fn private_nodes_route_through_the_network_gateway() {
        let u = UserData {
            hostname: "k3s-trading-dev-kafka-1".into(),
            egress: Egress::ViaNetwork {
                gateway: "10.0.1.1".into(),
            },
        };
        golden("cloud-init-private.yaml", &render(&u));
    }

    #[test]
    fn public_nodes_need_no_egress_setup() {
        let u = UserData {
            hostname: "k3s-trading-dev-kafka-0".into(),
            egress: Egress::Public,
        };
        golden("cloud-init-public.yaml", &render(&u));
    }
}
