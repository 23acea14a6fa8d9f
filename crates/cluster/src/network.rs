//! The private network: address rules, and the network with its egress route
//! through the control plane.

use std::net::Ipv4Addr;

use hcloud::models::{Labels, Network};
use ipnet::Ipv4Net;

use crate::{Error, Field, Hetzner, names};

/// The network's gateway: the first address of its range (Hetzner's).
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

/// The cluster's network with its `0.0.0.0/0 → control plane` route:
/// adopted when it is ours, refused when the name is someone else's.
pub async fn ensure(
    hz: &Hetzner<'_>,
    cluster: &str,
    cidr: &Ipv4Net,
    control_plane_ip: Ipv4Addr,
    zone: &str,
    labels: &Labels,
    deadline: std::time::Duration,
) -> Result<Network, Error> {
    let name = names::network(cluster);
    let range = cidr.to_string();
    // Create first: on a fresh cluster the name is free, and Hetzner's
    // uniqueness check answers the lookup for a leftover.
    let find = || async {
        Ok::<_, hcloud::Error>(hz.api.networks(None, Some(&name)).await?.into_iter().next())
    };
    let (network, adopted) = hz
        .api
        .create_or_adopt(
            || hz.api.create_network(&name, &range, &range, zone, labels),
            find,
        )
        .await
        .map_err(|e| Error::api("create the network", e))?;
    if adopted
        && (network.labels.get(names::CLUSTER).map(String::as_str) != Some(cluster)
            || network.ip_range != range)
    {
        return Err(Error::refused(
            Field::Name,
            format!(
                "A network named {} already exists and is not this cluster's",
                network.name
            ),
            format!(
                "its range is {} and its labels are {:?}",
                network.ip_range, network.labels
            ),
        ));
    }
    let gw = control_plane_ip.to_string();
    if !network
        .routes
        .iter()
        .any(|r| r.destination == "0.0.0.0/0" && r.gateway == gw)
    {
        let a = hz
            .api
            .add_route(network.id, "0.0.0.0/0", &gw)
            .await
            .map_err(|e| Error::api("route the network's egress through the control plane", e))?;
        hz.wait(&a, deadline, "add the egress route").await?;
    }
    Ok(network)
}

/// The cluster's network and its range, for nodes.
pub async fn find(hz: &Hetzner<'_>, cluster: &str) -> Result<(Network, Ipv4Net), Error> {
    match hz.memo {
        Some(m) => m.network(cluster, || lookup(hz, cluster)).await,
        None => lookup(hz, cluster).await,
    }
}

async fn lookup(hz: &Hetzner<'_>, cluster: &str) -> Result<(Network, Ipv4Net), Error> {
    let mine = hcloud::labels::Selector::new().eq(names::CLUSTER, cluster);
    let network = hz
        .api
        .networks(Some(&mine), Some(&names::network(cluster)))
        .await
        .map_err(|e| Error::api("look up the cluster network", e))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::refused(
                Field::Cluster,
                format!("Cluster {cluster} not found"),
                "create the cluster first (in Terraform, reference the k3strading_cluster's name so it is ordered first)",
            )
        })?;
    let cidr: Ipv4Net = network.ip_range.parse().map_err(|_| {
        Error::refused(
            Field::Cluster,
            "Cluster network has an unexpected range",
            network.ip_range.clone(),
        )
    })?;
    Ok((network, cidr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_must_be_usable_hosts_of_the_network() {
        let net: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        assert_eq!(gateway(&net), Ipv4Addr::new(10, 0, 1, 1));
        assert!(address_problem(&net, Ipv4Addr::new(10, 0, 1, 10)).is_none());
        for (ip, why) in [
            ([10, 0, 2, 10], "outside"),
            ([10, 0, 1, 0], "network or broadcast"),
            ([10, 0, 1, 255], "network or broadcast"),
            ([10, 0, 1, 1], "gateway"),
        ] {
            let p = address_problem(&net, Ipv4Addr::from(ip)).unwrap();
            assert!(p.contains(why), "{p}");
        }
    }
}
