//! What exists of a cluster on Hetzner, found by its labels alone.

use hcloud::labels::Selector;
use hcloud::models::{Firewall, Id, Network, PlacementGroup, PrimaryIp, Server, SshKey};

use crate::{Error, Hetzner, names};

/// Everything of one cluster.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Servers carrying the cluster label.
    pub servers: Vec<Server>,
    /// The network.
    pub network: Option<Network>,
    /// The firewall.
    pub firewall: Option<Firewall>,
    /// Spread placement groups.
    pub placement_groups: Vec<PlacementGroup>,
    /// The provider's SSH key.
    pub ssh_key: Option<SshKey>,
    /// The persistent Primary IPs.
    pub primary_ips: Vec<PrimaryIp>,
}

impl Inventory {
    /// Reads the cluster's objects (six list requests, in parallel).
    pub async fn read(hz: &Hetzner<'_>, cluster: &str) -> Result<Inventory, Error> {
        let api = hz.api;
        let mine = Selector::new().eq(names::CLUSTER, cluster);
        let (net_name, fw_name, key_name) = (
            names::network(cluster),
            names::firewall(cluster),
            names::ssh_key(cluster),
        );
        let (servers, networks, firewalls, placement_groups, keys, primary_ips) = tokio::try_join!(
            api.servers(Some(&mine), None),
            api.networks(Some(&mine), Some(&net_name)),
            api.firewalls(Some(&mine), Some(&fw_name)),
            api.placement_groups(Some(&mine), None),
            api.ssh_keys(Some(&mine), Some(&key_name)),
            api.primary_ips(Some(&mine), None),
        )
        .map_err(|e| Error::api(format!("read cluster {cluster}"), e))?;
        Ok(Inventory {
            servers,
            network: networks.into_iter().next(),
            firewall: firewalls.into_iter().next(),
            placement_groups,
            ssh_key: keys.into_iter().next(),
            primary_ips,
        })
    }

    /// The control-plane server of `cluster`.
    pub fn control_plane(&self, cluster: &str) -> Option<&Server> {
        let name = names::control_plane(cluster);
        self.servers.iter().find(|s| s.name == name)
    }

    /// The logical name of Primary IP `id`.
    pub fn logical_primary_ip(&self, id: Id) -> Option<&str> {
        self.primary_ips
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.labels.get(names::PRIMARY_IP))
            .map(String::as_str)
    }

    /// True when nothing but (possibly) the persistent Primary IPs exists.
    pub fn only_primary_ips(&self) -> bool {
        self.servers.is_empty()
            && self.network.is_none()
            && self.firewall.is_none()
            && self.placement_groups.is_empty()
            && self.ssh_key.is_none()
    }
}

/// Server `id` of `cluster`, for a refresh; `None` when it is gone. With a
/// memo, every refresh of the process shares one list of the cluster's
/// servers (at most 10 s old, dropped whenever the process changes a server
/// of the cluster); a server missing from that list is read alone.
pub async fn server_for_refresh(
    hz: &Hetzner<'_>,
    cluster: &str,
    id: Id,
) -> Result<Option<Server>, Error> {
    if let Some(memo) = hz.memo {
        let mine = Selector::new().eq(names::CLUSTER, cluster);
        let list = memo
            .cluster_servers(cluster, || async {
                hz.api
                    .servers(Some(&mine), None)
                    .await
                    .map_err(|e| Error::api("list the cluster's servers", e))
            })
            .await?;
        if let Some(s) = list.iter().find(|s| s.id == id) {
            return Ok(Some(s.clone()));
        }
    }
    match hz.api.server(id).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(Error::api("read the server", e)),
    }
}

/// The server named `name`, whoever owns it.
pub async fn server_named(hz: &Hetzner<'_>, name: &str) -> Result<Option<Server>, Error> {
    Ok(hz
        .api
        .servers(None, Some(name))
        .await
        .map_err(|e| Error::api("look up the server", e))?
        .into_iter()
        .next())
}
