//! `/networks`: RFC 1918 ranges of at least /24, cloud subnets per network
//! zone, routes, and the address rules for attaching servers (reserved
//! addresses, fixed IPs, `ip_not_available`).

use std::net::Ipv4Addr;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use hcloud::ErrorCode;
use hcloud::models::*;
use ipnet::Ipv4Net;
use serde_json::{Value, json};

use crate::Emu;
use crate::http::{self, ApiErr, Query, Res};
use crate::world::{Effect, World, now_ms, rfc3339};

pub async fn list(State(emu): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let w = emu.world();
    http::list(
        "networks",
        w.networks.values().cloned().collect(),
        &q,
        |n| &n.name,
        |n| Some(&n.labels),
    )
}

pub async fn get(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let w = emu.world();
    let n = w
        .networks
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("network"))?;
    http::ok(json!({ "network": n }))
}

fn rfc1918(net: &Ipv4Net) -> bool {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        .iter()
        .filter_map(|r| r.parse::<Ipv4Net>().ok())
        .any(|r| r.contains(net))
}

fn cidr(field: &str, text: &str) -> Result<Ipv4Net, ApiErr> {
    let net: Ipv4Net = text
        .parse()
        .map_err(|_| ApiErr::field(field, format!("{text:?} is not an IPv4 CIDR")))?;
    if net.trunc() != net {
        return Err(ApiErr::field(field, format!("{text:?} has host bits set")));
    }
    Ok(net)
}

/// The network's gateway: the first address of its range.
fn gateway(range: &Ipv4Net) -> Ipv4Addr {
    range.hosts().next().unwrap_or(range.network())
}

fn add_subnet(n: &mut Network, sub: &Value) -> Result<(), ApiErr> {
    let range = cidr("ip_range", &n.ip_range)?;
    let kind = sub.get("type").and_then(Value::as_str).unwrap_or("cloud");
    if !["cloud", "server", "vswitch"].contains(&kind) {
        return Err(ApiErr::field(
            "subnets.type",
            format!("unknown subnet type {kind:?}"),
        ));
    }
    let zone = sub
        .get("network_zone")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiErr::field("subnets.network_zone", "is required"))?;
    if !crate::catalog::locations()
        .iter()
        .any(|l| l.network_zone == zone)
    {
        return Err(ApiErr::field(
            "subnets.network_zone",
            format!("unknown network zone {zone:?}"),
        ));
    }
    let existing: Vec<Ipv4Net> = n
        .subnets
        .iter()
        .filter_map(|s| s.ip_range.parse().ok())
        .collect();
    let net = match sub.get("ip_range").and_then(Value::as_str) {
        Some(t) => cidr("subnets.ip_range", t)?,
        None => range
            .subnets(24)
            .ok()
            .and_then(|mut it| {
                it.find(|c| !existing.iter().any(|e| e.contains(c) || c.contains(e)))
            })
            .ok_or_else(|| {
                ApiErr::new(
                    422,
                    ErrorCode::NoSubnetAvailable,
                    "no free /24 left in the network",
                )
            })?,
    };
    if !range.contains(&net) {
        return Err(ApiErr::field(
            "subnets.ip_range",
            format!("{net} is outside the network range {range}"),
        ));
    }
    if existing.iter().any(|e| e.contains(&net) || net.contains(e)) {
        return Err(ApiErr::field(
            "subnets.ip_range",
            format!("{net} overlaps another subnet"),
        ));
    }
    n.subnets.push(Subnet {
        kind: kind.into(),
        ip_range: net.to_string(),
        network_zone: zone.into(),
        gateway: gateway(&range).to_string(),
        vswitch_id: sub.get("vswitch_id").and_then(Value::as_i64),
    });
    Ok(())
}

fn add_route(n: &mut Network, r: &Value) -> Result<(), ApiErr> {
    let dest = cidr("routes.destination", http::req_str(r, "destination")?)?;
    let gw: Ipv4Addr = http::req_str(r, "gateway")?
        .parse()
        .map_err(|_| ApiErr::field("routes.gateway", "must be an IPv4 address"))?;
    let range = cidr("ip_range", &n.ip_range)?;
    if !range.contains(&gw) || gw == gateway(&range) || gw == range.network() {
        return Err(ApiErr::field(
            "routes.gateway",
            format!("{gw} must be a usable address inside {range}"),
        ));
    }
    let route = Route {
        destination: dest.to_string(),
        gateway: gw.to_string(),
    };
    if n.routes.contains(&route) {
        return Err(ApiErr::unique("routes.destination"));
    }
    n.routes.push(route);
    Ok(())
}

pub async fn create(State(emu): State<Emu>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(
        &v,
        &[
            "name",
            "ip_range",
            "labels",
            "subnets",
            "routes",
            "expose_routes_to_vswitch",
        ],
    )?;
    let mut w = emu.world();
    let name = http::check_name(&v)?;
    if w.networks.values().any(|n| n.name == name) {
        return Err(ApiErr::unique("name"));
    }
    let range = cidr("ip_range", http::req_str(&v, "ip_range")?)?;
    if !rfc1918(&range) || range.prefix_len() > 24 {
        return Err(ApiErr::field(
            "ip_range",
            "must be an RFC 1918 range of at least /24",
        ));
    }
    let mut n = Network {
        id: 0,
        name,
        ip_range: range.to_string(),
        labels: http::labels(&v)?.unwrap_or_default(),
        created: rfc3339(now_ms()),
        expose_routes_to_vswitch: v
            .get("expose_routes_to_vswitch")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..Network::default()
    };
    for s in v
        .get("subnets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        add_subnet(&mut n, &s)?;
    }
    for r in v
        .get("routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        add_route(&mut n, &r)?;
    }
    n.id = w.id();
    w.networks.insert(n.id, n.clone());
    emu.changed(&w);
    http::created(json!({ "network": n }))
}

pub async fn update(State(emu): State<Emu>, Path(id): Path<Id>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "labels", "expose_routes_to_vswitch"])?;
    let mut w = emu.world();
    let r = http::rename(&v, |n| {
        w.networks.values().any(|x| x.name == n && x.id != id)
    })?;
    let n = w
        .networks
        .get_mut(&id)
        .ok_or_else(|| ApiErr::not_found("network"))?;
    r.apply(&mut n.name, &mut n.labels);
    let out = n.clone();
    emu.changed(&w);
    http::ok(json!({ "network": out }))
}

pub async fn delete(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let mut w = emu.world();
    let n = w
        .networks
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("network"))?;
    if n.protection.delete {
        return Err(ApiErr::new(
            423,
            ErrorCode::Protected,
            "network is delete-protected",
        ));
    }
    if !n.servers.is_empty() {
        return Err(ApiErr::new(
            422,
            ErrorCode::ResourceInUse,
            "servers are still attached to the network",
        ));
    }
    w.networks.remove(&id);
    emu.changed(&w);
    http::no_content()
}

pub async fn action(
    State(emu): State<Emu>,
    Path((id, name)): Path<(Id, String)>,
    body: Bytes,
) -> Res {
    let v = http::body(&body)?;
    let mut w = emu.world();
    if w.busy(id, "network") {
        return Err(ApiErr::locked("network"));
    }
    let n = w
        .networks
        .get_mut(&id)
        .ok_or_else(|| ApiErr::not_found("network"))?;
    let command = match name.as_str() {
        "add_subnet" => {
            add_subnet(n, &v)?;
            "add_subnet"
        }
        "delete_subnet" => {
            let range = http::req_str(&v, "ip_range")?;
            let before = n.subnets.len();
            n.subnets.retain(|s| s.ip_range != range);
            if n.subnets.len() == before {
                return Err(ApiErr::field("ip_range", "no such subnet"));
            }
            "delete_subnet"
        }
        "add_route" => {
            add_route(n, &v)?;
            "add_route"
        }
        "delete_route" => {
            let dest = http::req_str(&v, "destination")?;
            let gw = http::req_str(&v, "gateway")?;
            let before = n.routes.len();
            n.routes
                .retain(|r| !(r.destination == dest && r.gateway == gw));
            if n.routes.len() == before {
                return Err(ApiErr::field("destination", "no such route"));
            }
            "delete_route"
        }
        "change_protection" => {
            n.protection.delete = v
                .get("delete")
                .and_then(Value::as_bool)
                .ok_or_else(|| ApiErr::field("delete", "is required"))?;
            "change_protection"
        }
        _ => {
            return Err(ApiErr::new(
                404,
                ErrorCode::NotFound,
                format!("network action {name:?} is not emulated"),
            ));
        }
    };
    let action = w.start_action(command, &[(id, "network")], Effect::None);
    emu.changed(&w);
    http::created(json!({ "action": action }))
}

/// Attaches server `sid` to network `nid` with `ip` (or the first free
/// address of a subnet in the server's zone).
pub fn attach(w: &mut World, sid: Id, nid: Id, ip: Option<&str>) -> Result<(), ApiErr> {
    let server = w
        .servers
        .get(&sid)
        .ok_or_else(|| ApiErr::not_found("server"))?;
    let zone = server.server.location.network_zone.clone();
    if server.server.private_net.iter().any(|p| p.network == nid) {
        return Err(ApiErr::new(
            422,
            ErrorCode::ServerAlreadyAttached,
            "server is already attached to this network",
        ));
    }
    let n = w
        .networks
        .get(&nid)
        .ok_or_else(|| ApiErr::not_found("network"))?;
    let range = cidr("ip_range", &n.ip_range)?;
    let subnets: Vec<Ipv4Net> = n
        .subnets
        .iter()
        .filter(|s| s.network_zone == zone)
        .filter_map(|s| s.ip_range.parse().ok())
        .collect();
    if subnets.is_empty() {
        return Err(ApiErr::new(
            422,
            ErrorCode::NoSubnetAvailable,
            format!("network has no subnet in network zone {zone}"),
        ));
    }
    let used: Vec<String> = w
        .servers
        .values()
        .flat_map(|s| {
            s.server
                .private_net
                .iter()
                .filter(|p| p.network == nid)
                .map(|p| p.ip.clone())
        })
        .collect();
    let reserved = |a: Ipv4Addr, sub: &Ipv4Net| {
        a == sub.network()
            || a == sub.broadcast()
            || a == gateway(&range)
            || a == Ipv4Addr::new(172, 31, 1, 1)
    };
    let addr = match ip {
        Some(text) => {
            let a: Ipv4Addr = text
                .parse()
                .map_err(|_| ApiErr::field("ip", format!("{text:?} is not an IPv4 address")))?;
            let sub = subnets.iter().find(|s| s.contains(&a)).ok_or_else(|| {
                ApiErr::field(
                    "ip",
                    format!("{a} is not inside a subnet of the network in zone {zone}"),
                )
            })?;
            if reserved(a, sub) {
                return Err(ApiErr::field("ip", format!("{a} is reserved")));
            }
            if used.contains(&a.to_string()) {
                return Err(ApiErr::new(
                    422,
                    ErrorCode::IpNotAvailable,
                    format!("{a} is already used in this network"),
                ));
            }
            a
        }
        None => subnets
            .iter()
            .flat_map(|s| s.hosts().filter(move |a| !reserved(*a, s)))
            .find(|a| !used.contains(&a.to_string()))
            .ok_or_else(|| {
                ApiErr::new(
                    422,
                    ErrorCode::IpNotAvailable,
                    "no free address left in the subnets",
                )
            })?,
    };
    let mac = format!(
        "86:00:00:{:02x}:{:02x}:{:02x}",
        (sid >> 16) & 0xff,
        (sid >> 8) & 0xff,
        sid & 0xff
    );
    if let Some(s) = w.servers.get_mut(&sid) {
        s.server.private_net.push(PrivateNet {
            network: nid,
            ip: addr.to_string(),
            alias_ips: Vec::new(),
            mac_address: mac,
        });
    }
    if let Some(n) = w.networks.get_mut(&nid) {
        n.servers.push(sid);
    }
    Ok(())
}
