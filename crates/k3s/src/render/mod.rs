//! Rendered K3s artefacts: `config.yaml` and the idempotent install script, as pure functions.

mod config;
mod script;
mod validate;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub use config::config_yaml;
pub use script::{install_script, sysctl_conf};

/// The K3s release installed unless told otherwise.
pub const K3S_VERSION: &str = "v1.34.1+k3s1";
/// The official install script.
pub const INSTALLER_URL: &str = "https://get.k3s.io";
/// Where K3s reads its settings.
pub const CONFIG_PATH: &str = "/etc/rancher/k3s/config.yaml";
/// The join secret (mode 0600), named by `token-file` in config.yaml: the cluster's secret on the
/// server, the server's secure `K10…` token on agents. It never appears in config.yaml or argv.
pub const TOKEN_PATH: &str = "/etc/rancher/k3s/token";
/// Where a server keeps the secure join token it generated.
pub const SERVER_TOKEN_PATH: &str = "/var/lib/rancher/k3s/server/token";
/// The sysctls that `protect-kernel-defaults` expects.
pub const SYSCTL_PATH: &str = "/etc/sysctl.d/90-k3s-kubelet.conf";
/// Cloud metadata address, readable from inside pods unless blocked.
pub const METADATA_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// A node's K3s role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The control plane.
    Server {
        /// Extra names and addresses for the API certificate (e.g. the public IP).
        tls_san: Vec<String>,
    },
    /// A worker joining the server at `server_url` (`https://<private ip>:6443`).
    Agent {
        /// The server's API URL.
        server_url: String,
    },
}

impl Role {
    /// The systemd unit the install script creates.
    pub fn unit(&self) -> &'static str {
        match self {
            Role::Server { .. } => "k3s",
            Role::Agent { .. } => "k3s-agent",
        }
    }
}

/// What K3s needs to know about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Kubernetes node name (DNS label).
    pub name: String,
    /// Server or agent.
    pub role: Role,
    /// The node's address on the private network (node-ip, advertise-address, flannel).
    pub private_ip: Ipv4Addr,
    /// Own-domain node labels such as `kafka=true`; `node-role.kubernetes.io/*` is refused.
    pub labels: BTreeMap<String, String>,
    /// Taints as `key=value:Effect` or `key:Effect`.
    pub taints: Vec<String>,
    /// The interface holding `private_ip`; `None` lets the install script find it on the node.
    pub flannel_iface: Option<String>,
}

/// A node plus the K3s release and install script to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSpec {
    /// The node.
    pub node: NodeSpec,
    /// Pinned K3s release, e.g. [`K3S_VERSION`].
    pub k3s_version: String,
    /// URL of the install script, e.g. [`INSTALLER_URL`].
    pub installer_url: String,
    /// Seconds the script may spend installing or restarting the unit before it gives up.
    pub unit_timeout_secs: u32,
}

impl InstallSpec {
    /// The pinned release from the official installer, with a five-minute unit timeout.
    pub fn new(node: NodeSpec) -> Self {
        Self {
            node,
            k3s_version: K3S_VERSION.to_owned(),
            installer_url: INSTALLER_URL.to_owned(),
            unit_timeout_secs: 300,
        }
    }
}

/// Input that cannot be rendered safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A node label the kubelet would refuse to set on itself.
    #[error(
        "node {node}: label {key:?} cannot be set by the kubelet (apply it through the API after join)"
    )]
    ForbiddenLabel {
        /// The node.
        node: String,
        /// The label key.
        key: String,
    },
    /// A value does not have the required form.
    #[error("node {node}: invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The node.
        node: String,
        /// Which input.
        field: &'static str,
        /// The offending value.
        value: String,
        /// What form was expected.
        reason: &'static str,
    },
}
