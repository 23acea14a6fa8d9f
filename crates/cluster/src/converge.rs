//! Converge on Hetzner: make a cluster or a node exist as its spec says,
//! creating what is missing and adopting what a previous run left, never
//! duplicating. Progress is recorded as it happens so a caller can keep
//! what exists when a later step fails.

use std::collections::BTreeMap;
use std::time::Duration;

use hcloud::models::{Id, Server};

use crate::catalog::Catalog;
use crate::cloud_init::{self, Egress, HostKey, UserData};
use crate::primary_ip::Address;
use crate::secrets::KeyPair;
use crate::server::ServerSpec;
use crate::spec::{ClusterSpec, NodeSpec};
use crate::{
    Error, Field, Hetzner, firewall, k3s_node, names, network, placement, primary_ip, server,
    ssh_key,
};

/// What exists of a cluster so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ClusterBuilt {
    /// Primary IPs by logical name, once all exist.
    pub primary_ips: Option<BTreeMap<String, Address>>,
    /// The registered SSH key.
    pub ssh_key: Option<Id>,
    /// The network.
    pub network: Option<Id>,
    /// The firewall.
    pub firewall: Option<Id>,
    /// The control plane's placement group.
    pub placement_group: Option<Id>,
    /// The control-plane server.
    pub control_plane: Option<Id>,
    /// Its public address.
    pub control_plane_ipv4: Option<String>,
}

impl ClusterBuilt {
    /// True when nothing per-run exists yet (Primary IPs persist anyway).
    pub fn is_empty(&self) -> bool {
        *self == ClusterBuilt::default()
    }
}

/// Builds or adopts the cluster: Primary IPs, SSH key (`public_key`, the
/// half of a key pair the caller holds), network with its egress route,
/// firewall, the control plane's placement group, and the control plane
/// with `host_key` as its SSH host key. With a `k3s_token`, the control plane installs the K3s
/// server at first boot with that join secret (see [`crate::k3s_node`]); this does not wait
/// for it.
#[allow(clippy::too_many_arguments)]
pub async fn cluster(
    hz: &Hetzner<'_>,
    spec: &ClusterSpec,
    catalog: &Catalog,
    public_key: &str,
    host_key: &KeyPair,
    k3s_token: Option<&k3s::Secret>,
    deadline: Duration,
    out: &mut ClusterBuilt,
) -> Result<(), Error> {
    if let Some(problem) = catalog
        .check(&spec.location, &spec.control_plane_type, &spec.image)
        .into_iter()
        .next()
    {
        return Err(problem);
    }
    let fingerprint = ssh_key::fingerprint(public_key)?;
    let host_fingerprint = ssh_key::fingerprint(host_key.public_openssh())?;
    let zone = catalog
        .zone(&spec.location)
        .unwrap_or("eu-central")
        .to_owned();
    let labels = spec.object_labels();
    let mut phases = k3s_node::Phases::default();
    let mut since = tokio::time::Instant::now();

    // Primary IPs first: they are what must never be duplicated.
    let ips = primary_ip::ensure_all(hz, spec, deadline).await?;
    let cp_address = ips
        .get(&spec.control_plane_primary_ip)
        .map(|a| a.ip.clone());
    let cp_ip = ips
        .get(&spec.control_plane_primary_ip)
        .map(|a| a.id)
        .ok_or_else(|| {
            Error::refused(
                Field::ControlPlanePrimaryIp,
                "Unknown Primary IP",
                format!("{:?} is not in primary_ips", spec.control_plane_primary_ip),
            )
        });
    out.primary_ips = Some(ips);
    let cp_ip = cp_ip?;
    phases.time(&spec.name, "Primary IPs", &mut since);

    let key = ssh_key::replace(hz, &spec.name, public_key, &labels).await?;
    out.ssh_key = Some(key.id);
    phases.time(&spec.name, "SSH key", &mut since);
    let net = network::ensure(
        hz,
        &spec.name,
        &spec.cidr,
        spec.control_plane_ip,
        &zone,
        &labels,
        deadline,
    )
    .await?;
    out.network = Some(net.id);
    phases.time(&spec.name, "network", &mut since);
    let fw = firewall::ensure(hz, spec, &labels).await?;
    out.firewall = Some(fw.id);
    let pg_name = placement::group_name(&spec.name, &spec.cidr, spec.control_plane_ip);
    let pg = placement::ensure(hz, &spec.name, &pg_name, &labels).await?;
    out.placement_group = Some(pg.id);
    phases.time(&spec.name, "firewall and placement group", &mut since);

    let name = names::control_plane(&spec.name);
    let server_spec = ServerSpec {
        name: name.clone(),
        server_type: spec.control_plane_type.clone(),
        image: spec.image.clone(),
        location: spec.location.clone(),
        labels: spec.control_plane_labels(&fingerprint, &host_fingerprint),
        network: net.id,
        private_ip: spec.control_plane_ip,
        primary_ip: Some(cp_ip),
        placement_group: pg.id,
        ssh_key: key.id,
        user_data: cloud_init::render(&UserData {
            hostname: name,
            egress: Egress::NatGateway {
                network_cidr: spec.cidr.to_string(),
            },
            host_key: Some(host_key_of(host_key)),
            authorized_keys: spec.ssh_authorized_keys.clone(),
            k3s: k3s_token
                .map(|t| k3s_node::server_boot(spec, cp_address.as_deref(), t))
                .transpose()?,
        }),
    };
    let s = server::ensure(hz, &server_spec, deadline, &mut out.control_plane).await?;
    out.control_plane_ipv4 = s.public_net.ipv4.map(|i| i.ip);
    phases.time(&spec.name, "control-plane server", &mut since);
    if let Some(memo) = hz.memo {
        let ips = out
            .primary_ips
            .iter()
            .flatten()
            .map(|(logical, a)| (logical.clone(), a.id));
        memo.remember_cluster(&spec.name, (net, spec.cidr), key, ips, pg);
    }
    Ok(())
}

fn host_key_of(k: &KeyPair) -> HostKey {
    HostKey {
        private: k.private_openssh().clone(),
        public: k.public_openssh().to_owned(),
    }
}

/// What exists of a node so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NodeBuilt {
    /// The server.
    pub server: Option<Id>,
    /// Its placement group.
    pub placement_group: Option<Id>,
}

/// Builds or adopts a node's server in its cluster: on the cluster network
/// at its fixed address, in its spread placement group, with the cluster's
/// SSH key, with its Primary IP or no public address at all (egress then
/// goes through the control plane).
pub async fn node(
    hz: &Hetzner<'_>,
    spec: &NodeSpec,
    host_key: &KeyPair,
    deadline: Duration,
    out: &mut NodeBuilt,
) -> Result<Server, Error> {
    let (net, cidr) = network::find(hz, &spec.cluster).await?;
    if let Some(problem) = network::address_problem(&cidr, spec.private_ip) {
        return Err(Error::refused(
            Field::PrivateIp,
            "Invalid private_ip",
            problem,
        ));
    }
    let key = ssh_key::find(hz, &spec.cluster).await?;
    let fingerprint = ssh_key::fingerprint(&key.public_key)?;
    let host_fingerprint = ssh_key::fingerprint(host_key.public_openssh())?;
    let primary_ip = match &spec.primary_ip {
        Some(logical) => Some(primary_ip::find(hz, &spec.cluster, logical).await?),
        None => None,
    };
    let labels = names::managed(&spec.cluster, None);
    let pg_name = placement::group_name(&spec.cluster, &cidr, spec.private_ip);
    let pg = placement::ensure(hz, &spec.cluster, &pg_name, &labels).await?;
    out.placement_group = Some(pg.id);
    let egress = match primary_ip {
        Some(_) => Egress::Public,
        None => Egress::ViaNetwork {
            gateway: network::gateway(&cidr).to_string(),
        },
    };
    let server_spec = ServerSpec {
        name: spec.name.clone(),
        server_type: spec.server_type.clone(),
        image: spec.image.clone(),
        location: spec.location.clone(),
        labels: spec.server_labels(&fingerprint, &host_fingerprint),
        network: net.id,
        private_ip: spec.private_ip,
        primary_ip,
        placement_group: pg.id,
        ssh_key: key.id,
        user_data: cloud_init::render(&UserData {
            hostname: spec.name.clone(),
            egress,
            host_key: Some(host_key_of(host_key)),
            authorized_keys: spec.ssh_authorized_keys.clone(),
            k3s: None,
        }),
    };
    server::ensure(hz, &server_spec, deadline, &mut out.server).await
}

/// Sets a node server's labels to `spec`'s, keeping the key fingerprints
/// it was created with.
pub async fn relabel_node(hz: &Hetzner<'_>, id: Id, spec: &NodeSpec) -> Result<Server, Error> {
    let current = hz
        .api
        .server(id)
        .await
        .map_err(|e| Error::api("read the server", e))?;
    let kept = |k: &str| current.labels.get(k).cloned().unwrap_or_default();
    let (fp, host_fp) = (kept(names::SSH_KEY), kept(names::HOST_KEY));
    let mut labels = spec.server_labels(&fp, &host_fp);
    for (k, v) in [(names::SSH_KEY, &fp), (names::HOST_KEY, &host_fp)] {
        if v.is_empty() {
            labels.remove(k);
        }
    }
    hz.api
        .update_server(id, None, Some(&labels))
        .await
        .map_err(|e| Error::api("update the server labels", e))
}

/// Applies a changed cluster spec in place: firewall rules, Primary IPs
/// (new logical names are created), the control plane's labels.
pub async fn update_cluster(
    hz: &Hetzner<'_>,
    spec: &ClusterSpec,
    built: &ClusterBuilt,
    public_key: &str,
    host_public_key: &str,
    relabel: bool,
    deadline: Duration,
) -> Result<BTreeMap<String, Address>, Error> {
    if let Some(fw) = built.firewall {
        firewall::set_rules(hz, fw, spec).await?;
    }
    let ips = primary_ip::ensure_all(hz, spec, deadline).await?;
    if relabel && let Some(cp) = built.control_plane {
        let labels = spec.control_plane_labels(
            &ssh_key::fingerprint(public_key)?,
            &ssh_key::fingerprint(host_public_key)?,
        );
        hz.api
            .update_server(cp, None, Some(&labels))
            .await
            .map_err(|e| Error::api("label the control plane", e))?;
    }
    Ok(ips)
}
