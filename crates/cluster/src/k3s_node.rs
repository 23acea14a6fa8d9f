//! K3s on the cluster's servers, in the order that keeps the critical path short:
//!
//! 1. The control plane installs the K3s server **at first boot**, from its user data
//!    ([`server_boot`]): the same install script the SSH path runs, started by cloud-init the
//!    moment the VM is up. Nobody waits for it while the node VMs are being created.
//! 2. Each node ([`join`]) creates its VM (see `converge::node`), then connects to the control
//!    plane (host key pinned by the fingerprint in its server label), waits for the server's
//!    `/ping` (failing at once with the log tail if the first-boot install failed), reads the
//!    secure `K10…` token, installs the agent through the control plane as a jump host, waits
//!    for its Node to be Ready and sets the role labels through the Kubernetes API.
//! 3. Before a node's server is deleted ([`leave`]), its Node is drained and deleted.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use hcloud::models::Server;
use k3s::render::{InstallSpec, NodeSpec as K3sNode, Role as K3sRole};
use k3s::{Auth, ClusterApi, Secret, Session, Target};
use tokio::time::Instant;

use crate::cloud_init::K3sBoot;
use crate::spec::{ClusterSpec, NodeSpec, Role};
use crate::{Error, Hetzner, names};

/// How often a join reconnects to the control plane after its API connection dropped.
const MAX_RECONNECTS: u32 = 3;

/// The prefix of the labels that only the API (not the kubelet) may set.
const NODE_ROLE: &str = "node-role.kubernetes.io/";

/// What the control plane's first boot needs to install the K3s server: the rendered script
/// (no secrets in it) and the cluster's join secret (written 0600 by cloud-init).
pub fn server_boot(
    spec: &ClusterSpec,
    public_ipv4: Option<&str>,
    token: &Secret,
) -> Result<K3sBoot, Error> {
    let name = names::control_plane(&spec.name);
    let node = K3sNode {
        name: name.clone(),
        role: K3sRole::Server {
            tls_san: public_ipv4.map(str::to_owned).into_iter().collect(),
        },
        private_ip: spec.control_plane_ip,
        labels: BTreeMap::new(),
        taints: Vec::new(),
        flannel_iface: None,
    };
    let mut install = InstallSpec::new(node);
    install.k3s_version = spec.k3s_version.clone();
    let script = k3s::render::install_script(&install)
        .map_err(|e| Error::k3s(&name, "render the install script", e))?;
    Ok(K3sBoot {
        script,
        token: token.clone(),
    })
}

/// The labels a node of `role` gets through the API after it joined: the node-role label
/// (which the kubelet may not set on itself) and the scheduling label.
pub fn api_labels(role: Role) -> BTreeMap<String, String> {
    let mut l = kubelet_labels(role);
    l.insert(format!("{NODE_ROLE}{}", role.as_str()), "true".to_owned());
    l
}

/// The labels a node of `role` sets on itself through its K3s config (`kafka=true` / `app=true`).
pub fn kubelet_labels(role: Role) -> BTreeMap<String, String> {
    let key = match role {
        Role::ControlPlane => return BTreeMap::new(),
        Role::Kafka => "kafka",
        Role::App | Role::Worker => "app",
    };
    BTreeMap::from([(key.to_owned(), "true".to_owned())])
}

/// How long each step took, in order; logged as the steps end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Phases {
    /// `(step, duration)` pairs.
    pub steps: Vec<(&'static str, Duration)>,
}

impl Phases {
    /// Ends the step that began at `since`: logs it, records it, and starts the next one.
    pub fn time(&mut self, node: &str, step: &'static str, since: &mut Instant) {
        let now = Instant::now();
        let took = now - *since;
        *since = now;
        tracing::info!(
            node,
            phase = step,
            took_ms = took.as_millis() as u64,
            "phase done"
        );
        self.steps.push((step, took));
    }
}

impl fmt::Display for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (step, took)) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{step} {:.1}s", took.as_secs_f64())?;
        }
        Ok(())
    }
}

/// How to reach a cluster's control plane, read from Hetzner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlane {
    /// Its server name (also its Kubernetes node name).
    pub name: String,
    /// Public IPv4 (its Primary IP).
    pub public_ipv4: String,
    /// Private address.
    pub private_ip: Ipv4Addr,
    /// `SHA256:<fingerprint>` of its host key, from the `k3strading.io/host-key` label.
    pub host_key_pin: String,
    /// The K3s release it runs, from the `k3strading.io/k3s-version` label.
    pub k3s_version: String,
}

impl ControlPlane {
    /// Reads the control plane of `cluster`; `None` when it does not exist.
    pub async fn find(hz: &Hetzner<'_>, cluster: &str) -> Result<Option<ControlPlane>, Error> {
        match hz.memo {
            Some(m) => m.control_plane(cluster, || Self::lookup(hz, cluster)).await,
            None => Self::lookup(hz, cluster).await,
        }
    }

    async fn lookup(hz: &Hetzner<'_>, cluster: &str) -> Result<Option<ControlPlane>, Error> {
        let name = names::control_plane(cluster);
        let servers = hz
            .api
            .servers(None, Some(&name))
            .await
            .map_err(|e| Error::api("find the control plane", e))?;
        let Some(server) = servers.into_iter().find(|s| s.name == name) else {
            return Ok(None);
        };
        Self::of(&server).map(Some)
    }

    fn of(server: &Server) -> Result<ControlPlane, Error> {
        let missing = |what: &str| {
            Error::k3s(
                &server.name,
                "reach the control plane",
                format!("the server has no {what}"),
            )
        };
        let public_ipv4 = server
            .public_net
            .ipv4
            .as_ref()
            .map(|i| i.ip.clone())
            .ok_or_else(|| missing("public IPv4"))?;
        let private_ip = server
            .private_net
            .first()
            .and_then(|p| p.ip.parse().ok())
            .ok_or_else(|| missing("private address"))?;
        let fingerprint = server
            .labels
            .get(names::HOST_KEY)
            .ok_or_else(|| missing(&format!("{} label", names::HOST_KEY)))?;
        let version = server
            .labels
            .get(names::K3S_VERSION)
            .ok_or_else(|| missing(&format!("{} label", names::K3S_VERSION)))?;
        Ok(ControlPlane {
            name: server.name.clone(),
            public_ipv4,
            private_ip,
            host_key_pin: format!("SHA256:{fingerprint}"),
            k3s_version: version_of_label(version),
        })
    }

    /// An SSH session to it as root, retrying while it boots.
    pub async fn connect(&self, auth: &Auth, deadline: Instant) -> Result<Session, Error> {
        let target = Target::new(self.public_ipv4.as_str(), 22, self.host_key_pin.as_str());
        k3s::connect(&target, auth, deadline)
            .await
            .map_err(|e| Error::k3s(&self.name, "open an SSH session", e))
    }
}

/// Labels cannot hold `+`, so the version label spells `v1.34.1+k3s1` as `v1.34.1-k3s1`.
fn version_of_label(label: &str) -> String {
    match label.rfind("-k3s") {
        Some(i) => format!("{}+{}", &label[..i], &label[i + 1..]),
        None => label.to_owned(),
    }
}

/// Joins the node `spec` (whose server exists, with `host_key` as its SSH host key) to its
/// cluster as a K3s agent with `taints`, and sets its role labels. Safe to run again;
/// `previous_taints` (what an earlier run set) are removed when no longer wanted.
#[allow(clippy::too_many_arguments)]
pub async fn join(
    hz: &Hetzner<'_>,
    spec: &NodeSpec,
    host_key: &str,
    taints: &[String],
    previous_taints: &[String],
    auth: &Auth,
    deadline: Duration,
) -> Result<Phases, Error> {
    let until = Instant::now() + deadline;
    let node = spec.name.as_str();
    let mut phases = Phases::default();
    let mut since = Instant::now();
    let cp = ControlPlane::find(hz, &spec.cluster)
        .await?
        .ok_or_else(|| {
            Error::k3s(
                node,
                "find the control plane",
                format!(
                    "cluster {} has no server {}",
                    spec.cluster,
                    names::control_plane(&spec.cluster)
                ),
            )
        })?;
    let cp_session = cp.connect(auth, until).await?;
    phases.time(node, "ssh to the control plane", &mut since);
    k3s::install::wait_boot_install(&cp_session, None, until)
        .await
        .map_err(|e| Error::k3s(&cp.name, "bring up the K3s server", e))?;
    let token = k3s::install::read_token(&cp_session)
        .await
        .map_err(|e| Error::k3s(&cp.name, "read the join token", e))?;
    phases.time(node, "K3s server ready", &mut since);
    let target = Target::new(spec.private_ip.to_string(), 22, host_key);
    let session = cp_session
        .jump(&target, until)
        .await
        .map_err(|e| Error::k3s(node, "open an SSH session through the control plane", e))?;
    phases.time(node, "ssh to the node", &mut since);
    let mut install = InstallSpec::new(K3sNode {
        name: spec.name.clone(),
        role: K3sRole::Agent {
            server_url: format!("https://{}:6443", cp.private_ip),
        },
        private_ip: spec.private_ip,
        labels: kubelet_labels(spec.role),
        taints: taints.to_vec(),
        flannel_iface: None,
    });
    install.k3s_version = cp.k3s_version.clone();
    k3s::install::install_agent(&session, &install, &token, until)
        .await
        .map_err(|e| Error::k3s(node, "install the K3s agent", e))?;
    phases.time(node, "install the agent", &mut since);
    // The agent's session is done with; the API is reached through the control plane. A
    // dropped connection there (a restarted sshd, a NAT hiccup) is reconnected, not fatal.
    drop(session);
    let mut reconnects = 0;
    let mut cp_session = cp_session;
    let api = loop {
        let attempt = async {
            let api = ClusterApi::open(&cp_session).await?;
            api.wait_node_ready(node, until).await?;
            Ok::<_, k3s::ApiError>(api)
        };
        match attempt.await {
            Ok(api) => break api,
            Err(e @ k3s::ApiError::Timeout { .. }) => {
                return Err(Error::k3s(node, "join the cluster", e));
            }
            Err(e) if reconnects < MAX_RECONNECTS && Instant::now() < until => {
                reconnects += 1;
                tracing::warn!(node, error = %e, attempt = reconnects, "Kubernetes API unreachable; reconnecting to the control plane");
                cp_session = cp.connect(auth, until).await?;
            }
            Err(e) => return Err(Error::k3s(node, "join the cluster", e)),
        }
    };
    phases.time(node, "Node Ready", &mut since);
    api.label_node(node, &api_labels(spec.role))
        .await
        .map_err(|e| Error::k3s(node, "label the Node", e))?;
    api.set_taints(node, previous_taints, taints)
        .await
        .map_err(|e| Error::k3s(node, "taint the Node", e))?;
    // K3s labels its server Node itself; saying it again keeps the table complete either way.
    let control_plane = BTreeMap::from([(format!("{NODE_ROLE}control-plane"), "true".to_owned())]);
    api.label_node(&cp.name, &control_plane)
        .await
        .map_err(|e| Error::k3s(&cp.name, "label the Node", e))?;
    phases.time(node, "labels", &mut since);
    tracing::info!(node, phases = %phases, "joined");
    Ok(phases)
}

/// Drains and deletes Node `node` of `cluster` through its control plane. Returns false when
/// there was nothing to do: no control plane, or no such Node.
pub async fn leave(
    hz: &Hetzner<'_>,
    cluster: &str,
    node: &str,
    auth: &Auth,
    deadline: Duration,
) -> Result<bool, Error> {
    let until = Instant::now() + deadline;
    let Some(cp) = ControlPlane::find(hz, cluster).await? else {
        return Ok(false);
    };
    let session = cp.connect(auth, until).await?;
    let api = ClusterApi::open(&session)
        .await
        .map_err(|e| Error::k3s(node, "reach the Kubernetes API", e))?;
    api.drain_and_delete(node, until)
        .await
        .map_err(|e| Error::k3s(node, "drain and delete the Node", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels_read_back_with_their_plus() {
        assert_eq!(version_of_label("v1.34.1-k3s1"), "v1.34.1+k3s1");
        assert_eq!(version_of_label("v1.34.1"), "v1.34.1");
    }

    #[test]
    fn role_labels_split_between_kubelet_and_api() {
        let api = api_labels(Role::Kafka);
        assert_eq!(api.get("kafka").map(String::as_str), Some("true"));
        assert_eq!(
            api.get("node-role.kubernetes.io/kafka").map(String::as_str),
            Some("true")
        );
        assert!(
            kubelet_labels(Role::App)
                .keys()
                .all(|k| !k.starts_with(NODE_ROLE))
        );
        assert_eq!(
            api_labels(Role::Worker).get("app").map(String::as_str),
            Some("true")
        );
    }
}
