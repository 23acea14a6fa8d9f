//! Spread placement groups, sharded so that no group exceeds Hetzner's limit
//! of 10 servers.
//!
//! A server's group follows from its fixed private address alone: group
//! `<cluster>-spread-N` holds the servers whose address is host number
//! `10·N … 10·N+9` of the cluster network. Ten consecutive addresses can
//! never hold more than ten servers, so every layout fits, and parallel
//! creates never race for the last slot of a group. In the seed layout this
//! gives the control plane (10.0.1.10) its own group, the three Kafka
//! brokers (10.0.1.20-22) one group, and app VMs (10.0.1.30+) one group per
//! ten.

use std::net::Ipv4Addr;

use hcloud::labels::Selector;
use hcloud::models::{Labels, PlacementGroup};
use ipnet::Ipv4Net;

use crate::{Error, Field, Hetzner, names};

/// Hetzner's limit of servers in one spread placement group.
pub const MAX_SERVERS_PER_GROUP: u32 = 10;

/// The block of [`MAX_SERVERS_PER_GROUP`] addresses `ip` falls in.
pub fn block(cidr: &Ipv4Net, ip: Ipv4Addr) -> u32 {
    u32::from(ip).saturating_sub(u32::from(cidr.network())) / MAX_SERVERS_PER_GROUP
}

/// Name of the group of the server at `ip`.
pub fn group_name(cluster: &str, cidr: &Ipv4Net, ip: Ipv4Addr) -> String {
    names::placement_group(cluster, block(cidr, ip))
}

/// The group named `name`, created when missing. A group of that name that
/// is not the cluster's is refused; a concurrent create of the same group
/// is adopted.
pub async fn ensure(
    hz: &Hetzner<'_>,
    cluster: &str,
    name: &str,
    labels: &Labels,
) -> Result<PlacementGroup, Error> {
    match hz.memo {
        Some(m) => {
            m.placement_group(cluster, name, || ensure_now(hz, cluster, name, labels))
                .await
        }
        None => ensure_now(hz, cluster, name, labels).await,
    }
}

async fn ensure_now(
    hz: &Hetzner<'_>,
    cluster: &str,
    name: &str,
    labels: &Labels,
) -> Result<PlacementGroup, Error> {
    let find = || async {
        Ok::<_, hcloud::Error>(
            hz.api
                .placement_groups(None, Some(name))
                .await?
                .into_iter()
                .next(),
        )
    };
    // Create first: on a fresh cluster the name is free, and Hetzner's
    // uniqueness check answers the lookup for a leftover.
    let (pg, adopted) = hz
        .api
        .create_or_adopt(|| hz.api.create_placement_group(name, labels), find)
        .await
        .map_err(|e| Error::api(format!("create placement group {name}"), e))?;
    if adopted && pg.labels.get(names::CLUSTER).map(String::as_str) != Some(cluster) {
        return Err(Error::refused(
            Field::Name,
            format!(
                "A placement group named {} already exists and is not this cluster's",
                pg.name
            ),
            "rename the cluster or remove that placement group",
        ));
    }
    Ok(pg)
}

/// Every placement group of the cluster.
pub async fn all(hz: &Hetzner<'_>, cluster: &str) -> Result<Vec<PlacementGroup>, Error> {
    let mine = Selector::new().eq(names::CLUSTER, cluster);
    hz.api
        .placement_groups(Some(&mine), None)
        .await
        .map_err(|e| Error::api("list placement groups", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_consecutive_addresses_share_a_group_and_no_more() {
        let net: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        let g = |last: u8| group_name("c", &net, Ipv4Addr::new(10, 0, 1, last));
        assert_eq!(g(10), "c-spread-1");
        assert_eq!(g(20), "c-spread-2");
        assert_eq!(g(22), "c-spread-2");
        assert_eq!(g(30), "c-spread-3");
        assert_eq!(g(39), "c-spread-3");
        assert_eq!(g(40), "c-spread-4");
        // Whatever the addresses, no group gets more than ten of them.
        let wide: Ipv4Net = "10.0.0.0/16".parse().unwrap();
        let mut counts = std::collections::BTreeMap::new();
        for ip in wide.hosts().take(5000) {
            *counts.entry(block(&wide, ip)).or_insert(0u32) += 1;
        }
        assert!(counts.values().all(|n| *n <= MAX_SERVERS_PER_GROUP));
        assert_eq!(counts.values().max(), Some(&MAX_SERVERS_PER_GROUP));
    }
}
