//! What both resources share: the Hetzner client, a per-process catalog
//! cache, the plan registry (duplicate IPs and names across resources of one
//! plan), diagnostics for API errors, waits, and server convergence.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hcloud::models::{Id, Image, Labels, Location, Server, ServerStatus, ServerType};
use hcloud::{CreatePublicNet, CreateServer, Error};
use ipnet::Ipv4Net;
use tfplug::{AttrPath, Ctx, Diagnostic};
use tokio_util::sync::CancellationToken;

use crate::Client;

/// The parts of the catalog plans are checked against.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Locations.
    pub locations: Vec<Location>,
    /// Server types.
    pub server_types: Vec<ServerType>,
    /// System images.
    pub images: Vec<Image>,
}

/// What a cluster's plan told the process, so nodes planned in the same run
/// can be checked against it before the cluster exists.
#[derive(Debug, Clone, Default)]
pub struct PlannedCluster {
    /// Network range.
    pub cidr: Option<Ipv4Net>,
    /// Control-plane address.
    pub control_plane_ip: Option<Ipv4Addr>,
    /// Logical Primary IP names.
    pub primary_ips: Vec<String>,
    /// Location.
    pub location: Option<String>,
}

/// Process-wide plan bookkeeping.
#[derive(Debug, Default)]
pub struct Registry {
    /// Cluster name -> what its plan said.
    pub clusters: BTreeMap<String, PlannedCluster>,
    /// (cluster, private IP) -> node name.
    pub ips: BTreeMap<(String, Ipv4Addr), String>,
    /// (cluster, Primary IP logical name) -> node name.
    pub primary_ips: BTreeMap<(String, String), String>,
    /// Server name -> Terraform-visible owner (cluster or node name).
    pub names: BTreeMap<String, String>,
}

/// Shared state of a configured provider.
#[derive(Debug)]
pub struct Cloud {
    /// The API client.
    pub api: hcloud::Client,
    catalog: tokio::sync::OnceCell<Catalog>,
    /// Plan bookkeeping.
    pub registry: Mutex<Registry>,
}

/// An API failure as a diagnostic: what we were doing, and Hetzner's answer.
pub fn api_diag(doing: &str, e: &Error) -> Diagnostic {
    Diagnostic::error(format!("Hetzner Cloud: could not {doing}"), e.to_string())
}

/// An error about attribute `attr`.
pub fn attr_err(attr: &str, summary: impl Into<String>, detail: impl Into<String>) -> Diagnostic {
    Diagnostic::error(summary, detail).at(AttrPath::attr(attr))
}

impl Cloud {
    /// Wraps a client.
    pub fn new(api: hcloud::Client) -> Cloud {
        Cloud {
            api,
            catalog: tokio::sync::OnceCell::new(),
            registry: Mutex::new(Registry::default()),
        }
    }

    /// The catalog, fetched once per process.
    pub async fn catalog(&self) -> Result<&Catalog, Diagnostic> {
        self.catalog
            .get_or_try_init(|| async {
                let (locations, server_types, images) = tokio::try_join!(
                    self.api.locations(),
                    self.api.server_types(),
                    self.api.images(None)
                )
                .map_err(|e| api_diag("read the catalog (locations, server types, images)", &e))?;
                Ok(Catalog {
                    locations,
                    server_types,
                    images,
                })
            })
            .await
    }

    /// The registry (poisoning is harmless here: it only holds plain data).
    pub fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Catalog {
    /// Checks location, server type (offered there and not deprecated) and
    /// image; errors name the attribute.
    pub fn check(
        &self,
        location: &str,
        server_type: &str,
        image: &str,
        type_attr: &str,
    ) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if !self.locations.iter().any(|l| l.name == location) {
            let known: Vec<&str> = self.locations.iter().map(|l| l.name.as_str()).collect();
            out.push(attr_err(
                "location",
                format!("Unknown location {location:?}"),
                format!("Hetzner offers: {}", known.join(", ")),
            ));
            return out;
        }
        match self.server_types.iter().find(|t| t.name == server_type) {
            None => out.push(attr_err(
                type_attr,
                format!("Unknown server type {server_type:?}"),
                "see `hcloud server-type list`; the 2 vCPU / 4 GB type is cpx22",
            )),
            Some(t) if !t.orderable_in(location) => {
                let why = match t.locations.iter().find(|l| l.name == location) {
                    Some(l) if l.deprecation.is_some() => {
                        "is deprecated there and can no longer be ordered"
                    }
                    Some(_) => "is not available there right now",
                    None => "is not offered there",
                };
                let alternatives: Vec<&str> = self
                    .server_types
                    .iter()
                    .filter(|o| {
                        o.orderable_in(location)
                            && o.cores == t.cores
                            && o.architecture == t.architecture
                    })
                    .map(|o| o.name.as_str())
                    .collect();
                out.push(attr_err(
                    type_attr,
                    format!("Server type {server_type} {why} in {location}"),
                    format!(
                        "orderable types with {} vCPUs in {location}: {}",
                        t.cores,
                        alternatives.join(", ")
                    ),
                ));
            }
            Some(_) => {}
        }
        if !self.images.iter().any(|i| i.name.as_deref() == Some(image)) {
            out.push(attr_err(
                "image",
                format!("Unknown image {image:?}"),
                "use a system image name such as ubuntu-24.04",
            ));
        }
        out
    }

    /// The network zone of `location`.
    pub fn zone(&self, location: &str) -> Option<&str> {
        self.locations
            .iter()
            .find(|l| l.name == location)
            .map(|l| l.network_zone.as_str())
    }
}

/// Waits for an action with a deadline and Terraform's cancellation.
pub async fn wait(
    cloud: &Cloud,
    cancel: &CancellationToken,
    action: &hcloud::Action,
    deadline: Duration,
    what: &str,
) -> Result<(), Diagnostic> {
    match cloud.api.wait_action(action, deadline, cancel).await {
        Ok(_) => Ok(()),
        Err(Error::Cancelled) => Err(tfplug::cancelled()),
        Err(e) => Err(api_diag(what, &e)),
    }
}

/// The network's gateway: the first address of its range.
pub fn gateway(cidr: &Ipv4Net) -> Ipv4Addr {
    cidr.hosts().next().unwrap_or(cidr.network())
}

/// Why `ip` cannot be a server address in `cidr`, if it cannot.
pub fn address_problem(cidr: &Ipv4Net, ip: Ipv4Addr) -> Option<String> {
    if !cidr.contains(&ip) {
        Some(format!("{ip} is outside the cluster network {cidr}"))
    } else if ip == cidr.network() || ip == cidr.broadcast() {
        Some(format!(
            "{ip} is the network or broadcast address of {cidr}"
        ))
    } else if ip == gateway(cidr) {
        Some(format!("{ip} is reserved for Hetzner's network gateway"))
    } else {
        None
    }
}

/// A server the provider wants to exist.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Name.
    pub name: String,
    /// Type.
    pub server_type: String,
    /// Image.
    pub image: String,
    /// Location.
    pub location: String,
    /// All labels (managed included).
    pub labels: Labels,
    /// Network to attach with `private_ip`.
    pub network: Id,
    /// Fixed private address.
    pub private_ip: Ipv4Addr,
    /// Primary IP for the public IPv4, or none at all.
    pub primary_ip: Option<Id>,
    /// Placement group.
    pub placement_group: Option<Id>,
    /// SSH key the provider holds.
    pub ssh_key: Id,
    /// cloud-init user data.
    pub user_data: String,
}

/// Outcome of [`ensure_server`]: the server, or the error with the id of a
/// server that exists (so the caller records it instead of losing it).
pub type Ensured = Result<Server, (Diagnostic, Option<Id>)>;

fn compatible(s: &Server, spec: &ServerSpec) -> bool {
    s.server_type.name == spec.server_type
        && s.location.name == spec.location
        && s.image.as_ref().and_then(|i| i.name.as_deref()) == Some(spec.image.as_str())
        && s.labels.get(crate::naming::CLUSTER) == spec.labels.get(crate::naming::CLUSTER)
        && s.public_net.ipv4.as_ref().map(|i| i.id) == spec.primary_ip
        && s.private_net
            .iter()
            .all(|p| p.network != spec.network || p.ip == spec.private_ip.to_string())
}

/// Makes the server exist as `spec` says and run: adopts a compatible
/// leftover of the same name, replaces an incompatible one, never creates a
/// duplicate. Order: create powered off (so the NIC with its fixed address
/// exists at first boot), attach the network, power on.
pub async fn ensure_server(
    ctx: &Ctx<'_, Client>,
    spec: &ServerSpec,
    deadline: Duration,
) -> Ensured {
    let cloud = &ctx.client.cloud;
    let cancel = &ctx.cancel;
    let started = Instant::now();
    let left = || deadline.saturating_sub(started.elapsed());
    let existing = cloud
        .api
        .servers(None, Some(&spec.name))
        .await
        .map_err(|e| (api_diag("look up servers", &e), None))?;
    let mut server = match existing.into_iter().next() {
        Some(s)
            if s.labels.get(crate::naming::CLUSTER) != spec.labels.get(crate::naming::CLUSTER) =>
        {
            return Err((
                Diagnostic::error(
                    format!("A server named {} already exists and is not part of this cluster", spec.name),
                    "the provider only adopts or replaces servers carrying its cluster label; rename the node or remove that server",
                )
                .at(AttrPath::attr("name")),
                None,
            ));
        }
        Some(s) if compatible(&s, spec) => {
            tracing::info!(server = %spec.name, id = s.id, "adopting existing server");
            s
        }
        Some(s) => {
            tracing::info!(server = %spec.name, id = s.id, "replacing incompatible leftover server");
            let a = cloud
                .api
                .delete_server(s.id)
                .await
                .map_err(|e| (api_diag("delete a leftover server", &e), None))?;
            wait(cloud, cancel, &a, left(), "delete a leftover server")
                .await
                .map_err(|d| (d, None))?;
            create(ctx, spec, left()).await?
        }
        None => create(ctx, spec, left()).await?,
    };
    let id = server.id;
    let fail = |d: Diagnostic| (d, Some(id));
    // A create that was adopted after an ambiguous answer may still be running.
    while server.status == ServerStatus::Initializing {
        if cancel.is_cancelled() {
            return Err(fail(tfplug::cancelled()));
        }
        if started.elapsed() > deadline {
            return Err(fail(Diagnostic::error(
                "Timed out waiting for the server to be created",
                spec.name.clone(),
            )));
        }
        tokio::time::sleep(cloud.api.config().poll.initial).await;
        server = cloud
            .api
            .server(id)
            .await
            .map_err(|e| fail(api_diag("read the server", &e)))?;
    }
    if server.private_ip(spec.network).is_none() {
        let a = cloud
            .api
            .attach_to_network(id, spec.network, Some(&spec.private_ip.to_string()))
            .await
            .map_err(|e| {
                fail(api_diag(
                    &format!(
                        "attach {} to the network with {}",
                        spec.name, spec.private_ip
                    ),
                    &e,
                ))
            })?;
        wait(
            cloud,
            cancel,
            &a,
            left(),
            "attach the server to the network",
        )
        .await
        .map_err(fail)?;
    }
    if server.status != ServerStatus::Running {
        let a = cloud
            .api
            .poweron(id)
            .await
            .map_err(|e| fail(api_diag("power the server on", &e)))?;
        wait(cloud, cancel, &a, left(), "power the server on")
            .await
            .map_err(fail)?;
    }
    if server.labels != spec.labels {
        cloud
            .api
            .update_server(id, None, Some(&spec.labels))
            .await
            .map_err(|e| fail(api_diag("label the server", &e)))?;
    }
    cloud
        .api
        .server(id)
        .await
        .map_err(|e| fail(api_diag("read the server", &e)))
}

async fn create(ctx: &Ctx<'_, Client>, spec: &ServerSpec, deadline: Duration) -> Ensured {
    let cloud = &ctx.client.cloud;
    if let Some(ip) = spec.primary_ip {
        wait_ip_released(cloud, &ctx.cancel, ip, deadline)
            .await
            .map_err(|d| (d, None))?;
    }
    let body = CreateServer {
        name: spec.name.clone(),
        server_type: spec.server_type.clone(),
        image: spec.image.clone(),
        location: spec.location.clone(),
        start_after_create: false,
        ssh_keys: vec![spec.ssh_key],
        networks: Vec::new(),
        firewalls: Vec::new(),
        placement_group: spec.placement_group,
        user_data: Some(spec.user_data.clone()),
        labels: spec.labels.clone(),
        public_net: CreatePublicNet {
            enable_ipv4: spec.primary_ip.is_some(),
            enable_ipv6: false,
            ipv4: spec.primary_ip,
        },
    };
    let (server, adopted) = cloud
        .api
        .create_or_adopt(
            || async {
                cloud
                    .api
                    .create_server(&body)
                    .await
                    .map(|c| (c.server, Some(c.action)))
            },
            || async {
                Ok(cloud
                    .api
                    .servers(None, Some(&spec.name))
                    .await?
                    .into_iter()
                    .next()
                    .map(|s| (s, None)))
            },
        )
        .await
        .map_err(|e| (api_diag(&format!("create server {}", spec.name), &e), None))?;
    if adopted {
        tracing::info!(server = %spec.name, "create answer was lost; adopted the server it made");
    }
    let (server, action) = server;
    if let Some(a) = action {
        wait(cloud, &ctx.cancel, &a, deadline, "create the server")
            .await
            .map_err(|d| (d, Some(server.id)))?;
    }
    Ok(server)
}

/// Hetzner can report a Primary IP as assigned for a while after its server
/// was deleted: wait for the release instead of failing.
async fn wait_ip_released(
    cloud: &Cloud,
    cancel: &CancellationToken,
    ip: Id,
    deadline: Duration,
) -> Result<(), Diagnostic> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let p = cloud
            .api
            .primary_ip(ip)
            .await
            .map_err(|e| api_diag("read a Primary IP", &e))?;
        let Some(holder) = p.assignee_id else {
            return Ok(());
        };
        // Held by a live server of ours: the caller adopts or replaces it first.
        match cloud.api.server(holder).await {
            Ok(s) if s.status != ServerStatus::Deleting => {
                return Err(Diagnostic::error(
                    format!("Primary IP {} is assigned to server {}", p.name, s.name),
                    "unassign it or delete that server; the provider never takes an IP from a running server",
                ));
            }
            _ => {}
        }
        if started.elapsed() > deadline {
            return Err(Diagnostic::error(
                format!(
                    "Primary IP {} is still assigned to deleted server {holder}",
                    p.name
                ),
                "Hetzner did not release it in time; re-run apply",
            ));
        }
        tracing::info!(ip = %p.name, "waiting for Hetzner to release the Primary IP");
        tokio::select! {
            () = cancel.cancelled() => return Err(tfplug::cancelled()),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
