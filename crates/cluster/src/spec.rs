//! What a cluster and its nodes are, as typed values.

use std::net::Ipv4Addr;

use hcloud::models::Labels;
use ipnet::Ipv4Net;

use crate::names;

/// A server's role in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The K3s server, NAT gateway and ArgoCD host.
    ControlPlane,
    /// A Kafka broker node (`kafka=true`).
    Kafka,
    /// A trading application node (`app=true`).
    App,
    /// A general worker (scheduled like an app node).
    Worker,
}

impl Role {
    /// The roles a node (not the control plane) may have.
    pub const NODE_ROLES: [Role; 3] = [Role::Kafka, Role::App, Role::Worker];
    /// Names of [`Role::NODE_ROLES`].
    pub const NODE_ROLE_NAMES: &'static [&'static str] = &["kafka", "app", "worker"];

    /// The name used in labels and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Kafka => "kafka",
            Role::App => "app",
            Role::Worker => "worker",
        }
    }

    /// Parses [`Role::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::ControlPlane, Role::Kafka, Role::App, Role::Worker]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// The scheduling label key this role's servers carry with value `true`
    /// (`kafka` for brokers, `app` for app nodes and workers).
    pub fn scheduling_label(self) -> Option<&'static str> {
        match self {
            Role::ControlPlane => None,
            Role::Kafka => Some("k3strading.io/kafka"),
            Role::App | Role::Worker => Some("k3strading.io/app"),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cluster: network, firewall, Primary IPs and the control plane.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Cluster name; prefixes every object name.
    pub name: String,
    /// Hetzner location.
    pub location: String,
    /// Private network range.
    pub cidr: Ipv4Net,
    /// Server type of the control plane.
    pub control_plane_type: String,
    /// Fixed private address of the control plane.
    pub control_plane_ip: Ipv4Addr,
    /// System image.
    pub image: String,
    /// Logical names of the persistent Primary IPs.
    pub primary_ips: Vec<String>,
    /// Which Primary IP the control plane uses.
    pub control_plane_primary_ip: String,
    /// Sources allowed to reach SSH.
    pub ssh_allowed_cidrs: Vec<String>,
    /// Sources allowed to reach the Kubernetes API (empty: closed).
    pub api_allowed_cidrs: Vec<String>,
    /// Kafka NodePort range on the public firewall.
    pub kafka_nodeports: Option<String>,
    /// Sources allowed to reach the Kafka NodePorts (empty: closed).
    pub kafka_allowed_cidrs: Vec<String>,
    /// User labels.
    pub labels: Labels,
    /// Pinned K3s release.
    pub k3s_version: String,
    /// People's public keys allowed to log in as root on the control plane.
    pub ssh_authorized_keys: Vec<String>,
    /// Whether the control plane installs the K3s server.
    pub install_k3s: bool,
}

impl ClusterSpec {
    /// A cluster named `name` with every default (the seed layout's).
    pub fn new(name: impl Into<String>) -> ClusterSpec {
        use crate::defaults as d;
        ClusterSpec {
            name: name.into(),
            location: d::LOCATION.into(),
            cidr: d::NETWORK_CIDR,
            control_plane_type: d::SERVER_TYPE.into(),
            control_plane_ip: d::CONTROL_PLANE_IP,
            image: d::IMAGE.into(),
            primary_ips: d::primary_ips(),
            control_plane_primary_ip: d::CONTROL_PLANE_PRIMARY_IP.into(),
            ssh_allowed_cidrs: d::SSH_ALLOWED_CIDRS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            api_allowed_cidrs: Vec::new(),
            kafka_nodeports: Some(d::KAFKA_NODEPORTS.into()),
            kafka_allowed_cidrs: Vec::new(),
            labels: Labels::new(),
            k3s_version: d::K3S_VERSION.into(),
            ssh_authorized_keys: Vec::new(),
            install_k3s: true,
        }
    }

    /// Managed labels of the cluster's non-server objects, over the user's.
    pub fn object_labels(&self) -> Labels {
        names::merged(&self.labels, names::managed(&self.name, None))
    }

    /// Labels of the control-plane server created with the key whose
    /// fingerprint is `ssh_key_fingerprint`. The K3s version is kept there
    /// so import can read it back ('+' is not allowed in label values).
    pub fn control_plane_labels(
        &self,
        ssh_key_fingerprint: &str,
        host_key_fingerprint: &str,
    ) -> Labels {
        let mut l = names::merged(
            &self.labels,
            names::managed(&self.name, Some(Role::ControlPlane.as_str())),
        );
        l.insert(
            names::K3S_VERSION.into(),
            self.k3s_version.replace('+', "-"),
        );
        l.insert(names::K3S.into(), self.install_k3s.to_string());
        l.insert(names::SSH_KEY.into(), ssh_key_fingerprint.into());
        l.insert(names::HOST_KEY.into(), host_key_fingerprint.into());
        l
    }
}

/// A node: one server of a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Name of the cluster.
    pub cluster: String,
    /// Server name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Fixed private address.
    pub private_ip: Ipv4Addr,
    /// Logical name of a cluster Primary IP, or none (private only).
    pub primary_ip: Option<String>,
    /// Server type.
    pub server_type: String,
    /// Location (must be the cluster's).
    pub location: String,
    /// System image.
    pub image: String,
    /// User labels.
    pub labels: Labels,
    /// People's public keys allowed to log in as root.
    pub ssh_authorized_keys: Vec<String>,
    /// Whether the node joins the cluster as a K3s agent.
    pub install_k3s: bool,
}

impl NodeSpec {
    /// Labels of the node's server created with the key whose fingerprint is
    /// `ssh_key_fingerprint`.
    pub fn server_labels(&self, ssh_key_fingerprint: &str, host_key_fingerprint: &str) -> Labels {
        let mut l = names::merged(
            &self.labels,
            names::managed(&self.cluster, Some(self.role.as_str())),
        );
        if let Some(k) = self.role.scheduling_label() {
            l.insert(k.into(), "true".into());
        }
        l.insert(names::K3S.into(), self.install_k3s.to_string());
        l.insert(names::SSH_KEY.into(), ssh_key_fingerprint.into());
        l.insert(names::HOST_KEY.into(), host_key_fingerprint.into());
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_carry_their_scheduling_label() {
        for r in [Role::ControlPlane, Role::Kafka, Role::App, Role::Worker] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("db"), None);
        let names: Vec<&str> = Role::NODE_ROLES.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, Role::NODE_ROLE_NAMES);
        assert_eq!(Role::Kafka.scheduling_label(), Some("k3strading.io/kafka"));
        assert_eq!(Role::Worker.scheduling_label(), Some("k3strading.io/app"));
        assert_eq!(Role::ControlPlane.scheduling_label(), None);
    }
}
