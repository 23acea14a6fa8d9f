//! The network fabric: one namespace `<prefix>-fabric` routing between
//! the VMs' public ports (`p<server>`), the stand-in internet (`inet`,
//! see [`up_inet`]), one bridge per Hetzner network
//! (`br<network>`, holding the network's gateway), and the host link
//! `<prefix>-pub` (the only thing added to the host's namespace).
//!
//! Public addresses follow Hetzner: a /32 on `eth0` with the gateway
//! 172.31.1.1 on-link. Private NICs (`enp7s0`, `enp8s0`, …) carry the fixed
//! IP with the network's prefix length. A network's routes live in a routing
//! table used only for traffic that enters from that network's bridge, so
//! `0.0.0.0/0 → control plane` works and networks stay apart.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::cmd::{VmError, in_ns, ip};

/// The public gateway every VM sees (as on Hetzner).
pub const PUBLIC_GATEWAY: &str = "172.31.1.1";

/// Names derived from the run's prefix.
#[derive(Debug, Clone)]
pub struct Names {
    /// Prefix of every namespace and host link of this run.
    pub prefix: String,
}

impl Names {
    /// The fabric namespace.
    pub fn fabric(&self) -> String {
        format!("{}-fabric", self.prefix)
    }
    /// The host's link into the fabric.
    pub fn host_link(&self) -> String {
        format!("{}-pub", self.prefix)
    }
    /// The stand-in internet's namespace.
    pub fn inet(&self) -> String {
        format!("{}-inet", self.prefix)
    }
    /// A server's network namespace.
    pub fn vm(&self, server: i64) -> String {
        format!("{}-vm{server}", self.prefix)
    }
}

/// A private network as the fabric needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct NetSpec {
    /// The network's range.
    pub range: Ipv4Net,
    /// Its routes: destination → gateway.
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
}

impl NetSpec {
    /// The gateway: the range's first address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.range.hosts().next().unwrap_or(self.range.network())
    }
}

fn table(network: i64) -> String {
    // Ids start above 1000, clear of the reserved tables 253–255.
    network.to_string()
}

/// Creates the fabric namespace and the host link; the host reaches the
/// pool through it, from the pool's network address (never handed out).
pub async fn up_fabric(n: &Names, pool: &Ipv4Net) -> Result<(), VmError> {
    let f = n.fabric();
    let host = n.host_link();
    let host_addr = format!("{}/32", pool.network());
    ip(&["netns", "add", &f]).await?;
    ip(&["-n", &f, "link", "set", "lo", "up"]).await?;
    for key in [
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.send_redirects=0",
        "net.ipv4.conf.default.send_redirects=0",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    ] {
        in_ns(&f, "sysctl", &["-qw", key]).await?;
    }
    ip(&[
        "link", "add", &host, "type", "veth", "peer", "name", "uplink", "netns", &f,
    ])
    .await?;
    ip(&["addr", "add", &host_addr, "dev", &host]).await?;
    ip(&["link", "set", &host, "up"]).await?;
    ip(&[
        "-n",
        &f,
        "addr",
        "add",
        &format!("{PUBLIC_GATEWAY}/32"),
        "dev",
        "uplink",
    ])
    .await?;
    ip(&["-n", &f, "link", "set", "uplink", "up"]).await?;
    ip(&["-n", &f, "route", "add", &host_addr, "dev", "uplink"]).await?;
    let pool_s = pool.to_string();
    ip(&[
        "route",
        "add",
        &pool_s,
        "via",
        PUBLIC_GATEWAY,
        "dev",
        &host,
        "onlink",
    ])
    .await?;
    // The host may reach VMs; VMs may only answer it.
    let ipt = |args: &'static [&'static str]| in_ns(&f, "iptables", args);
    ipt(&[
        "-w",
        "-A",
        "FORWARD",
        "-o",
        "uplink",
        "-m",
        "conntrack",
        "--ctstate",
        "ESTABLISHED,RELATED",
        "-j",
        "ACCEPT",
    ])
    .await?;
    ipt(&["-w", "-A", "FORWARD", "-o", "uplink", "-j", "DROP"]).await?;
    ipt(&["-w", "-A", "INPUT", "-i", "uplink", "-j", "DROP"]).await?;
    Ok(())
}

/// Creates the stand-in internet's namespace on the fabric's public side:
/// `eth0` holds `addr`/32, reached from the fabric through port `inet`, the
/// way a VM's public port works. Only the fabric routes to it (the host
/// does not), so it is reached from VMs with a public address, and from
/// private-only VMs only through a NAT gateway of theirs.
pub async fn up_inet(n: &Names, addr: Ipv4Addr) -> Result<(), VmError> {
    let (f, ns) = (n.fabric(), n.inet());
    let a32 = format!("{addr}/32");
    let gw32 = format!("{PUBLIC_GATEWAY}/32");
    ip(&["netns", "add", &ns]).await?;
    ip(&["-n", &ns, "link", "set", "lo", "up"]).await?;
    ip(&[
        "-n", &f, "link", "add", "inet", "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ])
    .await?;
    ip(&["-n", &f, "addr", "add", &gw32, "dev", "inet"]).await?;
    ip(&["-n", &f, "link", "set", "inet", "up"]).await?;
    ip(&["-n", &f, "route", "add", &a32, "dev", "inet"]).await?;
    ip(&["-n", &ns, "addr", "add", &a32, "dev", "eth0"]).await?;
    ip(&["-n", &ns, "link", "set", "eth0", "up"]).await?;
    ip(&[
        "-n",
        &ns,
        "route",
        "add",
        PUBLIC_GATEWAY,
        "dev",
        "eth0",
        "scope",
        "link",
    ])
    .await?;
    ip(&["-n", &ns, "route", "add", "default", "via", PUBLIC_GATEWAY])
        .await
        .map(drop)
}

/// Creates network `id`'s bridge, gateway address and routing table.
pub async fn add_network(n: &Names, id: i64, spec: &NetSpec) -> Result<(), VmError> {
    let f = n.fabric();
    let br = format!("br{id}");
    let gw = format!("{}/{}", spec.gateway(), spec.range.prefix_len());
    ip(&["-n", &f, "link", "add", &br, "type", "bridge"]).await?;
    ip(&["-n", &f, "addr", "add", &gw, "dev", &br]).await?;
    ip(&["-n", &f, "link", "set", &br, "up"]).await?;
    let t = table(id);
    ip(&[
        "-n", &f, "rule", "add", "iif", &br, "lookup", &t, "pref", "1000",
    ])
    .await?;
    ip(&[
        "-n",
        &f,
        "rule",
        "add",
        "iif",
        &br,
        "unreachable",
        "pref",
        "1001",
    ])
    .await?;
    set_routes(n, id, spec).await
}

/// Replaces network `id`'s routes.
pub async fn set_routes(n: &Names, id: i64, spec: &NetSpec) -> Result<(), VmError> {
    let f = n.fabric();
    let br = format!("br{id}");
    let t = table(id);
    let _ = ip(&["-n", &f, "route", "flush", "table", &t]).await;
    let range = spec.range.to_string();
    ip(&["-n", &f, "route", "add", &range, "dev", &br, "table", &t]).await?;
    for (dest, via) in &spec.routes {
        let (d, v) = (dest.to_string(), via.to_string());
        ip(&[
            "-n", &f, "route", "replace", &d, "via", &v, "dev", &br, "onlink", "table", &t,
        ])
        .await?;
    }
    Ok(())
}

/// Removes network `id`'s bridge and rules.
pub async fn remove_network(n: &Names, id: i64) -> Result<(), VmError> {
    let f = n.fabric();
    let br = format!("br{id}");
    let _ = ip(&["-n", &f, "rule", "del", "iif", &br, "pref", "1000"]).await;
    let _ = ip(&["-n", &f, "rule", "del", "iif", &br, "pref", "1001"]).await;
    let _ = ip(&["-n", &f, "route", "flush", "table", &table(id)]).await;
    ip(&["-n", &f, "link", "del", &br]).await.map(drop)
}

/// Creates a server's namespace with its public port (when it has a
/// Primary IPv4).
pub async fn add_vm(n: &Names, id: i64, public: Option<Ipv4Addr>) -> Result<(), VmError> {
    let f = n.fabric();
    let ns = n.vm(id);
    ip(&["netns", "add", &ns]).await?;
    ip(&["-n", &ns, "link", "set", "lo", "up"]).await?;
    let Some(addr) = public else {
        return Ok(());
    };
    let port = format!("p{id}");
    let a32 = format!("{addr}/32");
    ip(&[
        "-n", &f, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ])
    .await?;
    ip(&[
        "-n",
        &f,
        "addr",
        "add",
        &format!("{PUBLIC_GATEWAY}/32"),
        "dev",
        &port,
    ])
    .await?;
    ip(&["-n", &f, "link", "set", &port, "up"]).await?;
    ip(&["-n", &f, "route", "add", &a32, "dev", &port]).await?;
    ip(&["-n", &ns, "addr", "add", &a32, "dev", "eth0"]).await?;
    ip(&["-n", &ns, "link", "set", "eth0", "up"]).await?;
    ip(&[
        "-n",
        &ns,
        "route",
        "add",
        PUBLIC_GATEWAY,
        "dev",
        "eth0",
        "scope",
        "link",
    ])
    .await?;
    ip(&["-n", &ns, "route", "add", "default", "via", PUBLIC_GATEWAY]).await?;
    Ok(())
}

/// Adds a private NIC (`nic`, e.g. `enp7s0`) on network `net`'s bridge;
/// without a public address, the network gateway becomes the default route.
pub async fn add_nic(
    n: &Names,
    server: i64,
    net: i64,
    nic: &str,
    addr: Ipv4Addr,
    spec: &NetSpec,
    default_route: bool,
) -> Result<(), VmError> {
    let f = n.fabric();
    let ns = n.vm(server);
    let port = format!("n{server}x{net}");
    ip(&[
        "-n", &f, "link", "add", &port, "type", "veth", "peer", "name", nic, "netns", &ns,
    ])
    .await?;
    ip(&[
        "-n",
        &f,
        "link",
        "set",
        &port,
        "master",
        &format!("br{net}"),
        "up",
    ])
    .await?;
    let a = format!("{addr}/{}", spec.range.prefix_len());
    ip(&["-n", &ns, "addr", "add", &a, "dev", nic]).await?;
    ip(&["-n", &ns, "link", "set", nic, "up"]).await?;
    if default_route {
        let gw = spec.gateway().to_string();
        ip(&["-n", &ns, "route", "replace", "default", "via", &gw]).await?;
    }
    Ok(())
}

/// Removes a private NIC.
pub async fn remove_nic(n: &Names, server: i64, net: i64) -> Result<(), VmError> {
    let port = format!("n{server}x{net}");
    ip(&["-n", &n.fabric(), "link", "del", &port])
        .await
        .map(drop)
}

/// Removes a server's namespace (and so its NICs) and its public route.
pub async fn remove_vm(n: &Names, id: i64) {
    let _ = ip(&["-n", &n.fabric(), "link", "del", &format!("p{id}")]).await;
    let _ = ip(&["netns", "del", &n.vm(id)]).await;
}
