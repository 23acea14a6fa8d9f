//! What the API state asks of the machines: which servers run, with which
//! addresses, keys, user data and firewall rules; which networks exist.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use hcloud::models::{Id, ServerStatus};

use super::firewall;
use super::net::NetSpec;
use super::sandbox::BootSpec;
use crate::world::World;

/// One server as its VM should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    /// The server is `running`: its VM should be up.
    pub running: bool,
    /// First-boot inputs.
    pub boot: BootSpec,
    /// Primary IPv4.
    pub public: Option<Ipv4Addr>,
    /// Private networks: network → fixed IP.
    pub nics: BTreeMap<Id, Ipv4Addr>,
    /// The public firewall chain.
    pub firewall: Vec<Vec<String>>,
}

/// The whole picture.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// Networks by id.
    pub networks: BTreeMap<Id, NetSpec>,
    /// Servers by id (absent = deleted).
    pub servers: BTreeMap<Id, Want>,
}

/// Reads the API state.
pub fn from_world(w: &World) -> Desired {
    let networks = w
        .networks
        .iter()
        .filter_map(|(id, n)| {
            let range = n.ip_range.parse().ok()?;
            let routes = n
                .routes
                .iter()
                .filter_map(|r| Some((r.destination.parse().ok()?, r.gateway.parse().ok()?)))
                .collect();
            Some((*id, NetSpec { range, routes }))
        })
        .collect();
    let servers = w
        .servers
        .iter()
        .map(|(id, rec)| {
            let authorized_keys = rec
                .ssh_keys
                .iter()
                .filter_map(|k| w.ssh_keys.get(k))
                .map(|k| k.public_key.trim().to_owned())
                .collect();
            let fws: Vec<_> = w
                .firewalls
                .values()
                .filter(|fw| crate::firewalls::applies_to(fw, &rec.server))
                .collect();
            let want = Want {
                running: rec.server.status == ServerStatus::Running,
                boot: BootSpec {
                    name: rec.server.name.clone(),
                    user_data: rec.user_data.clone(),
                    authorized_keys,
                },
                public: w.public_ipv4(*id).and_then(|p| p.ip.parse().ok()),
                nics: rec
                    .server
                    .private_net
                    .iter()
                    .filter_map(|p| Some((p.network, p.ip.parse().ok()?)))
                    .collect(),
                firewall: firewall::chain_rules(&fws),
            };
            (*id, want)
        })
        .collect();
    Desired { networks, servers }
}
