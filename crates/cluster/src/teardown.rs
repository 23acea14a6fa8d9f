//! Stateless teardown: removes a cluster's servers and per-run objects by
//! label, keeping the Primary IPs (left unassigned and delete-protected).
//! Safe to repeat; needs nothing but the cluster name.

use std::time::Duration;

use hcloud::labels::Selector;

use crate::spec::Role;
use crate::{Error, Hetzner, names};

/// Which servers a teardown may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything of the cluster.
    Everything,
    /// Only the control plane and the cluster objects; refuse while node
    /// servers exist (they belong to someone else's bookkeeping, e.g.
    /// Terraform's node resources).
    ControlPlaneOnly,
}

/// Removes the cluster's servers, then its firewall, placement groups,
/// network and SSH keys. The Primary IPs stay.
pub async fn teardown(
    hz: &Hetzner<'_>,
    cluster: &str,
    scope: Scope,
    deadline: Duration,
) -> Result<(), Error> {
    let api = hz.api;
    let mine = Selector::new().eq(names::CLUSTER, cluster);
    let ignore_missing = |r: Result<(), hcloud::Error>, doing: &str| match r {
        Err(e) if !e.is_not_found() => Err(Error::api(doing, e)),
        _ => Ok(()),
    };
    let servers = api
        .servers(Some(&mine), None)
        .await
        .map_err(|e| Error::api("list the cluster's servers", e))?;
    if scope == Scope::ControlPlaneOnly {
        let nodes: Vec<&str> = servers
            .iter()
            .filter(|s| {
                s.labels.get(names::ROLE).map(String::as_str) != Some(Role::ControlPlane.as_str())
            })
            .map(|s| s.name.as_str())
            .collect();
        if !nodes.is_empty() {
            return Err(Error::refused(
                None,
                format!("Cluster {cluster} still has nodes: {}", nodes.join(", ")),
                "destroy the k3strading_node resources first (Terraform does when they reference the cluster's name)",
            ));
        }
    }
    let mut pending = Vec::new();
    for s in servers {
        match api.delete_server(s.id).await {
            Ok(a) => pending.push(a),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::api(format!("delete server {}", s.name), e)),
        }
    }
    hz.wait_all(&pending, deadline, "delete the servers")
        .await?;
    for fw in api
        .firewalls(Some(&mine), None)
        .await
        .map_err(|e| Error::api("list firewalls", e))?
    {
        if !fw.applied_to.is_empty() {
            match api.remove_firewall_from(fw.id, &fw.applied_to).await {
                Ok(actions) => {
                    hz.wait_all(&actions, deadline, "detach the firewall")
                        .await?
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(Error::api("detach the firewall", e)),
            }
        }
        ignore_missing(api.delete_firewall(fw.id).await, "delete the firewall")?;
    }
    for pg in crate::placement::all(hz, cluster).await? {
        ignore_missing(
            api.delete_placement_group(pg.id).await,
            "delete a placement group",
        )?;
    }
    for n in api
        .networks(Some(&mine), None)
        .await
        .map_err(|e| Error::api("list networks", e))?
    {
        ignore_missing(api.delete_network(n.id).await, "delete the network")?;
    }
    for k in api
        .ssh_keys(Some(&mine), None)
        .await
        .map_err(|e| Error::api("list SSH keys", e))?
    {
        ignore_missing(api.delete_ssh_key(k.id).await, "delete the SSH key")?;
    }
    Ok(())
}
