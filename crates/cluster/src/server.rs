//! One server made to exist as specified, and run: adopt a compatible
//! leftover of the same name, replace an incompatible one, never duplicate.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use hcloud::models::{Id, Labels, PrivateNet, Server, ServerStatus};
use hcloud::{CreatePublicNet, CreateServer};

use crate::{Error, Field, Hetzner, names, primary_ip};

/// A server as it must be on Hetzner.
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
    /// All labels (managed included, with the SSH key fingerprint).
    pub labels: Labels,
    /// Network to attach with `private_ip`.
    pub network: Id,
    /// Fixed private address.
    pub private_ip: Ipv4Addr,
    /// Primary IP for the public IPv4, or none at all.
    pub primary_ip: Option<Id>,
    /// Spread placement group.
    pub placement_group: Id,
    /// The SSH key k3strading holds.
    pub ssh_key: Id,
    /// cloud-init user data.
    pub user_data: String,
}

/// Whether a leftover server can be adopted as `spec`. A server made with
/// another SSH key (its private half is gone) is never adopted: we could not
/// log in to it. Nor is one with another host key: we could not pin it.
pub fn compatible(s: &Server, spec: &ServerSpec) -> bool {
    let label = |l: &Labels, k: &str| l.get(k).cloned();
    s.server_type.name == spec.server_type
        && s.location.name == spec.location
        && s.image.as_ref().and_then(|i| i.name.as_deref()) == Some(spec.image.as_str())
        && label(&s.labels, names::CLUSTER) == label(&spec.labels, names::CLUSTER)
        && label(&s.labels, names::SSH_KEY) == label(&spec.labels, names::SSH_KEY)
        && label(&s.labels, names::HOST_KEY) == label(&spec.labels, names::HOST_KEY)
        && s.public_net.ipv4.as_ref().map(|i| i.id) == spec.primary_ip
        && s.placement_group.as_ref().map(|g| g.id) == Some(spec.placement_group)
        && s.private_net
            .iter()
            .all(|p| p.network != spec.network || p.ip == spec.private_ip.to_string())
}

/// Makes the server exist as `spec` says, and run. Order: create powered off
/// (so the NIC with its fixed address exists at first boot), attach the
/// network, power on. `created` receives the server's id as soon as one
/// exists, so a caller can record it even when a later step fails.
///
/// The create is sent first: on a fresh cluster the name is free, so no
/// lookup is needed. A server left by an earlier run makes Hetzner answer
/// `uniqueness_error` (or `primary_ip_assigned`, when it holds the Primary
/// IP); it is then looked up and adopted if compatible, replaced if not, and
/// refused if it is not this cluster's.
///
/// The server returned is Hetzner's answer to the create (or the label
/// update) with what the later actions did: its status, and its private
/// address (with an empty MAC address, which only a read would tell).
pub async fn ensure(
    hz: &Hetzner<'_>,
    spec: &ServerSpec,
    deadline: Duration,
    created: &mut Option<Id>,
) -> Result<Server, Error> {
    let api = hz.api;
    let started = Instant::now();
    let left = || deadline.saturating_sub(started.elapsed());
    let mut server = match create(hz, spec, left(), created, false).await? {
        Made::New(s) => s,
        Made::Exists(s) => settle(hz, spec, s, left(), created).await?,
    };
    let id = server.id;
    *created = Some(id);
    // A create that was adopted after an ambiguous answer may still be running.
    while server.status == ServerStatus::Initializing {
        if started.elapsed() > deadline {
            return Err(Error::Timeout {
                what: format!("server {} was not created in time", spec.name),
                detail: format!("it is still initializing after {deadline:?}"),
            });
        }
        hz.pause(api.config().poll.initial).await?;
        server = api
            .server(id)
            .await
            .map_err(|e| Error::api("read the server", e))?;
    }
    if server.private_ip(spec.network).is_none() {
        let a = api
            .attach_to_network(id, spec.network, Some(&spec.private_ip.to_string()))
            .await
            .map_err(|e| {
                Error::api(
                    format!(
                        "attach {} to the network with {}",
                        spec.name, spec.private_ip
                    ),
                    e,
                )
            })?;
        hz.wait(&a, left(), "attach the server to the network")
            .await?;
        // The action succeeded: the server has the address now. Hetzner's
        // answer would add only the NIC's MAC address, which nothing reads.
        server.private_net.push(PrivateNet {
            network: spec.network,
            ip: spec.private_ip.to_string(),
            alias_ips: Vec::new(),
            mac_address: String::new(),
        });
    }
    if server.status != ServerStatus::Running {
        let a = api
            .poweron(id)
            .await
            .map_err(|e| Error::api("power the server on", e))?;
        hz.wait(&a, left(), "power the server on").await?;
        server.status = ServerStatus::Running;
    }
    if server.labels != spec.labels {
        server = api
            .update_server(id, None, Some(&spec.labels))
            .await
            .map_err(|e| Error::api("label the server", e))?;
    }
    // No read-back: what the actions did is known from their success.
    Ok(server)
}

/// What a create found.
enum Made {
    /// A server this create made (or, after a lost answer, made and adopted).
    New(Server),
    /// A server of that name that was there before.
    Exists(Server),
}

/// An existing server named as `spec` (one being deleted does not count):
/// adopted when compatible, replaced when not, refused when not this
/// cluster's.
async fn settle(
    hz: &Hetzner<'_>,
    spec: &ServerSpec,
    s: Server,
    deadline: Duration,
    created: &mut Option<Id>,
) -> Result<Server, Error> {
    if s.labels.get(names::CLUSTER) != spec.labels.get(names::CLUSTER) {
        return Err(Error::refused(
            Field::Name,
            format!(
                "A server named {} already exists and is not part of this cluster",
                spec.name
            ),
            "k3strading only adopts or replaces servers carrying its cluster label; rename the node or remove that server",
        ));
    }
    if compatible(&s, spec) {
        tracing::info!(server = %spec.name, id = s.id, "adopting existing server");
        return Ok(s);
    }
    tracing::info!(server = %spec.name, id = s.id, "replacing incompatible leftover server");
    let started = Instant::now();
    let a = hz
        .api
        .delete_server(s.id)
        .await
        .map_err(|e| Error::api("delete a leftover server", e))?;
    hz.wait(&a, deadline, "delete a leftover server").await?;
    match create(
        hz,
        spec,
        deadline.saturating_sub(started.elapsed()),
        created,
        true,
    )
    .await?
    {
        Made::New(s) => Ok(s),
        Made::Exists(_) => Err(Error::refused(
            Field::Name,
            format!(
                "A server named {} appeared again while it was being replaced",
                spec.name
            ),
            "another run is building this cluster at the same time; run again once it is done",
        )),
    }
}

/// The live server named as `spec`, if any.
async fn lookup(hz: &Hetzner<'_>, spec: &ServerSpec) -> Result<Option<Server>, Error> {
    Ok(hz
        .api
        .servers(None, Some(&spec.name))
        .await
        .map_err(|e| Error::api("look up servers", e))?
        .into_iter()
        .find(|s| s.status != ServerStatus::Deleting))
}

/// Sends the create (waiting first, when `released_first`, for the Primary
/// IP to be free of a deleted server), and waits for it.
async fn create(
    hz: &Hetzner<'_>,
    spec: &ServerSpec,
    deadline: Duration,
    created: &mut Option<Id>,
    released_first: bool,
) -> Result<Made, Error> {
    let api = hz.api;
    if let (Some(ip), true) = (spec.primary_ip, released_first) {
        primary_ip::wait_released(hz, ip, deadline).await?;
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
        placement_group: Some(spec.placement_group),
        user_data: Some(spec.user_data.clone()),
        labels: spec.labels.clone(),
        public_net: CreatePublicNet {
            enable_ipv4: spec.primary_ip.is_some(),
            enable_ipv6: false,
            ipv4: spec.primary_ip,
        },
    };
    let answer = api
        .create_or_adopt(
            || async {
                api.create_server(&body)
                    .await
                    .map(|c| (c.server, Some(c.action)))
            },
            || async {
                Ok(api
                    .servers(None, Some(&spec.name))
                    .await?
                    .into_iter()
                    .find(|s| s.status != ServerStatus::Deleting)
                    .map(|s| (s, None)))
            },
        )
        .await;
    let ((server, action), adopted) = match answer {
        Ok(found) => found,
        // The Primary IP is held: by a leftover of this very server, or by
        // a deleted one Hetzner has not released yet.
        Err(e) if e.code() == Some(&hcloud::ErrorCode::PrimaryIpAssigned) && !released_first => {
            return match lookup(hz, spec).await? {
                Some(s) => Ok(Made::Exists(s)),
                None => Box::pin(create(hz, spec, deadline, created, true)).await,
            };
        }
        Err(e) => return Err(Error::api(format!("create server {}", spec.name), e)),
    };
    if adopted {
        // Found by name: made by an earlier run, or by this create before its
        // answer was lost (then it is compatible and still initializing).
        return Ok(Made::Exists(server));
    }
    *created = Some(server.id);
    let mut server = server;
    if let Some(a) = action {
        hz.wait(&a, deadline, "create the server").await?;
        // Created with start_after_create = false: it is off now, no need to ask.
        server.status = ServerStatus::Off;
    }
    Ok(Made::New(server))
}

/// Deletes server `id` and waits; a server already gone is fine.
pub async fn delete(hz: &Hetzner<'_>, id: Id, deadline: Duration) -> Result<(), Error> {
    match hz.api.delete_server(id).await {
        Ok(a) => hz.wait(&a, deadline, "delete the server").await,
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(Error::api("delete the server", e)),
    }
}
