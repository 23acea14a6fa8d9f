//! The persistent Primary IPs: created once per logical name, delete-protected,
//! never auto-deleted, reused by name ever after.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hcloud::models::{Id, PrimaryIp, ServerStatus};

use crate::spec::ClusterSpec;
use crate::{Error, Field, Hetzner, names};

/// A Primary IP as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Hetzner id.
    pub id: Id,
    /// The public IPv4 address.
    pub ip: String,
}

/// Finds or creates every Primary IP of `spec`, protected and never
/// auto-deleted. Keyed by logical name.
pub async fn ensure_all(
    hz: &Hetzner<'_>,
    spec: &ClusterSpec,
    deadline: Duration,
) -> Result<BTreeMap<String, Address>, Error> {
    let mut out = BTreeMap::new();
    let mut protecting = Vec::new();
    for logical in &spec.primary_ips {
        let (ip, protect) = ensure(hz, spec, logical).await?;
        protecting.extend(protect);
        out.insert(
            logical.clone(),
            Address {
                id: ip.id,
                ip: ip.ip.clone(),
            },
        );
    }
    // Both protections at once: one wait, not one per address.
    hz.wait_all(&protecting, deadline, "protect the Primary IPs")
        .await?;
    Ok(out)
}

/// The Primary IP, and the action turning its delete protection on, if it was off.
async fn ensure(
    hz: &Hetzner<'_>,
    spec: &ClusterSpec,
    logical: &str,
) -> Result<(PrimaryIp, Option<hcloud::Action>), Error> {
    let api = hz.api;
    let name = names::primary_ip(&spec.name, logical);
    let mut labels = spec.object_labels();
    labels.insert(names::PRIMARY_IP.into(), logical.to_owned());
    let find = || async { Ok(api.primary_ips(None, Some(&name)).await?.into_iter().next()) };
    let found: Option<PrimaryIp> = find()
        .await
        .map_err(|e| Error::api("look up Primary IPs", e))?;
    let ip = match found {
        Some(ip) if ip.labels.get(names::CLUSTER) != Some(&spec.name) => {
            return Err(Error::refused(
                Field::PrimaryIps,
                format!("Primary IP {name} exists but belongs to something else"),
                format!("its labels are {:?}", ip.labels),
            ));
        }
        Some(ip) if ip.location.name != spec.location => {
            return Err(Error::refused(
                Field::Location,
                format!(
                    "Primary IP {name} is in {}, the cluster in {}",
                    ip.location.name, spec.location
                ),
                "Primary IPs cannot move; keep the cluster in their location",
            ));
        }
        Some(ip) => {
            tracing::info!(ip = %name, "reusing Primary IP");
            if ip.auto_delete || ip.labels != labels {
                api.update_primary_ip(ip.id, Some(&labels), Some(false))
                    .await
                    .map_err(|e| Error::api("update a Primary IP", e))?;
            }
            ip
        }
        None => {
            let create = || api.create_primary_ip(&name, &spec.location, false, &labels);
            api.create_or_adopt(create, find)
                .await
                .map_err(|e| Error::api(format!("create Primary IP {name}"), e))?
                .0
        }
    };
    let protect = if ip.protection.delete {
        None
    } else {
        Some(
            api.protect_primary_ip(ip.id, true)
                .await
                .map_err(|e| Error::api("protect a Primary IP", e))?,
        )
    };
    Ok((ip, protect))
}

/// The id of the cluster's Primary IP `logical`.
pub async fn find(hz: &Hetzner<'_>, cluster: &str, logical: &str) -> Result<Id, Error> {
    match hz.memo {
        Some(m) => {
            m.primary_ip(cluster, logical, || lookup(hz, cluster, logical))
                .await
        }
        None => lookup(hz, cluster, logical).await,
    }
}

async fn lookup(hz: &Hetzner<'_>, cluster: &str, logical: &str) -> Result<Id, Error> {
    let mine = hcloud::labels::Selector::new().eq(names::CLUSTER, cluster);
    hz.api
        .primary_ips(Some(&mine), Some(&names::primary_ip(cluster, logical)))
        .await
        .map_err(|e| Error::api("look up the Primary IP", e))?
        .into_iter()
        .next()
        .map(|i| i.id)
        .ok_or_else(|| {
            Error::refused(
                Field::PrimaryIp,
                format!("Cluster {cluster} has no Primary IP {logical:?}"),
                "add it to the cluster's primary_ips",
            )
        })
}

/// Hetzner can report a Primary IP as assigned for a while after its server
/// was deleted: waits for the release instead of failing. An IP held by a
/// live server is refused: it is never taken from a running server.
pub async fn wait_released(hz: &Hetzner<'_>, ip: Id, deadline: Duration) -> Result<(), Error> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let p = hz
            .api
            .primary_ip(ip)
            .await
            .map_err(|e| Error::api("read a Primary IP", e))?;
        let Some(holder) = p.assignee_id else {
            return Ok(());
        };
        match hz.api.server(holder).await {
            Ok(s) if s.status != ServerStatus::Deleting => {
                return Err(Error::refused(
                    None,
                    format!("Primary IP {} is assigned to server {}", p.name, s.name),
                    "unassign it or delete that server; k3strading never takes an IP from a running server",
                ));
            }
            _ => {}
        }
        if started.elapsed() > deadline {
            return Err(Error::Timeout {
                what: format!(
                    "Primary IP {} is still assigned to deleted server {holder}",
                    p.name
                ),
                detail: "Hetzner did not release it in time; run again".to_owned(),
            });
        }
        tracing::info!(ip = %p.name, "waiting for Hetzner to release the Primary IP");
        hz.pause(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
