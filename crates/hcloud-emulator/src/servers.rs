//! `/servers`: create (with Primary IP, networks, firewalls, placement),
//! read, list, update, delete, and power/network/protection actions.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use hcloud::ErrorCode;
use hcloud::models::*;
use serde_json::{Value, json};

use crate::Emu;
use crate::firewalls;
use crate::http::{self, ApiErr, Query, Res};
use crate::networks::attach;
use crate::world::{Effect, ServerRec, World, now_ms, rfc3339};

/// Servers a spread placement group can hold.
pub const SPREAD_GROUP_LIMIT: usize = 10;

/// The server as clients see it now (derived fields filled in).
pub fn render(w: &World, id: Id) -> Option<Server> {
    let rec = w.servers.get(&id)?;
    let mut s = rec.server.clone();
    s.public_net.ipv4 = w.public_ipv4(id);
    s.public_net.ipv6 = w
        .primary_ips
        .values()
        .find(|p| p.kind == "ipv6" && p.assignee_id == Some(id))
        .map(|p| PublicIpv6 {
            id: p.id,
            ip: p.ip.clone(),
            blocked: false,
            dns_ptr: Some(Vec::new()),
        });
    s.public_net.firewalls = w
        .firewalls
        .values()
        .filter(|fw| firewalls::applies_to(fw, &rec.server))
        .map(|fw| ServerFirewall {
            id: fw.id,
            status: "applied".into(),
        })
        .collect();
    s.placement_group = w
        .placement_groups
        .values()
        .find(|pg| pg.servers.contains(&id))
        .cloned();
    Some(s)
}

pub async fn list(State(emu): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let w = emu.world();
    let mut servers: Vec<Server> = w.servers.keys().filter_map(|id| render(&w, *id)).collect();
    let statuses = q.all("status");
    if !statuses.is_empty() {
        servers.retain(|s| statuses.contains(&s.status.as_str()));
    }
    http::list("servers", servers, &q, |s| &s.name, |s| Some(&s.labels))
}

pub async fn get(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let w = emu.world();
    let s = render(&w, id).ok_or_else(|| ApiErr::not_found("server"))?;
    http::ok(json!({ "server": s }))
}

fn find_type(key: &str) -> Option<ServerType> {
    crate::catalog::server_types()
        .into_iter()
        .find(|t| t.name == key || t.id.to_string() == key)
}

fn find_image(key: &str) -> Option<Image> {
    crate::catalog::images()
        .into_iter()
        .find(|i| i.name.as_deref() == Some(key) || i.id.to_string() == key)
}

pub async fn create(State(emu): State<Emu>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    let mut w = emu.world();
    let name = http::req_str(&v, "name")?.to_owned();
    if !http::valid_hostname(&name) {
        return Err(ApiErr::field("name", "must be a valid hostname (RFC 1123)"));
    }
    if w.servers.values().any(|s| s.server.name == name) {
        return Err(ApiErr::unique("name"));
    }
    let type_key = http::id_or_name(&v, "server_type")
        .ok_or_else(|| ApiErr::field("server_type", "is required"))?;
    let server_type = find_type(&type_key).ok_or_else(|| {
        ApiErr::field("server_type", format!("server type {type_key:?} not found"))
    })?;
    let image_key =
        http::id_or_name(&v, "image").ok_or_else(|| ApiErr::field("image", "is required"))?;
    let image = find_image(&image_key)
        .ok_or_else(|| ApiErr::field("image", format!("image {image_key:?} not found")))?;
    let loc_key = http::id_or_name(&v, "location").unwrap_or_else(|| "fsn1".into());
    let location = w
        .location(&loc_key)
        .ok_or_else(|| ApiErr::field("location", format!("location {loc_key:?} not found")))?;
    if !server_type
        .locations
        .iter()
        .any(|l| l.name == location.name)
    {
        return Err(ApiErr::new(
            412,
            ErrorCode::ResourceUnavailable,
            format!(
                "server type {} is not offered in {}",
                server_type.name, location.name
            ),
        ));
    }
    if !server_type.orderable_in(&location.name) {
        return Err(ApiErr::new(
            412,
            ErrorCode::ResourceUnavailable,
            format!(
                "server type {} is deprecated in {} and can no longer be ordered",
                server_type.name, location.name
            ),
        ));
    }
    let labels = http::labels(&v)?.unwrap_or_default();
    if let Some(ud) = v.get("user_data").and_then(Value::as_str)
        && ud.len() > 32 * 1024
    {
        return Err(ApiErr::field("user_data", "is limited to 32 KiB"));
    }
    let ssh_keys: Vec<Id> = match v.get("ssh_keys").and_then(Value::as_array) {
        None => Vec::new(),
        Some(keys) => keys
            .iter()
            .map(|k| {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                w.ssh_keys
                    .values()
                    .find(|s| s.name == key || s.id.to_string() == key)
                    .map(|s| s.id)
                    .ok_or_else(|| ApiErr::field("ssh_keys", format!("SSH key {key:?} not found")))
            })
            .collect::<Result<_, _>>()?,
    };
    let networks: Vec<Id> = ids(&v, "networks")?;
    for n in &networks {
        if !w.networks.contains_key(n) {
            return Err(ApiErr::field("networks", format!("network {n} not found")));
        }
    }
    let firewalls: Vec<Id> = match v.get("firewalls").and_then(Value::as_array) {
        None => Vec::new(),
        Some(f) => f
            .iter()
            .map(|x| {
                x.get("firewall")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| ApiErr::field("firewalls", "each entry needs a firewall id"))
            })
            .collect::<Result<_, _>>()?,
    };
    for f in &firewalls {
        if !w.firewalls.contains_key(f) {
            return Err(ApiErr::field(
                "firewalls",
                format!("firewall {f} not found"),
            ));
        }
    }
    let placement_group = v.get("placement_group").and_then(Value::as_i64);
    if let Some(pg) = placement_group {
        let group = w.placement_groups.get(&pg).ok_or_else(|| {
            ApiErr::field("placement_group", format!("placement group {pg} not found"))
        })?;
        if group.servers.len() >= SPREAD_GROUP_LIMIT {
            return Err(ApiErr::new(
                422,
                ErrorCode::PlacementError,
                format!("a spread placement group holds at most {SPREAD_GROUP_LIMIT} servers"),
            ));
        }
    }
    let public = v.get("public_net").cloned().unwrap_or(Value::Null);
    let enable_v4 = public
        .get("enable_ipv4")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let enable_v6 = public
        .get("enable_ipv6")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let given_v4 = public.get("ipv4").and_then(Value::as_i64);
    if let Some(ip_id) = given_v4 {
        let ip = w.primary_ips.get(&ip_id).ok_or_else(|| {
            ApiErr::field("public_net.ipv4", format!("primary IP {ip_id} not found"))
        })?;
        if ip.kind != "ipv4" {
            return Err(ApiErr::new(
                412,
                ErrorCode::PrimaryIpVersionMismatch,
                "the Primary IP is not an IPv4",
            ));
        }
        if ip.assignee_id.is_some() {
            return Err(ApiErr::new(
                422,
                ErrorCode::PrimaryIpAssigned,
                format!("primary IP {ip_id} is already assigned"),
            ));
        }
        if ip.location.name != location.name {
            return Err(ApiErr::new(
                422,
                ErrorCode::PrimaryIpDatacenterMismatch,
                "the Primary IP is in a different location",
            ));
        }
    }
    if enable_v4 && given_v4.is_none() && w.allocate_ipv4().is_none() {
        return Err(ApiErr::new(
            412,
            ErrorCode::ResourceUnavailable,
            "no public IPv4 address left in the pool",
        ));
    }
    // The quota comes last: it stops requests that are otherwise valid.
    if let Some(limit) = emu.options().server_limit
        && w.servers.len() >= limit
    {
        return Err(ApiErr {
            // The details follow the shape of the spec's example; the limit's
            // name is the emulator's own.
            details: json!({ "limits": [{ "name": "server_limit" }] }),
            ..ApiErr::new(
                403,
                ErrorCode::ResourceLimitExceeded,
                format!("server limit exceeded: this project may have at most {limit} servers"),
            )
        });
    }

    // All checks passed: create.
    let id = w.id();
    let start = v
        .get("start_after_create")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let server = Server {
        id,
        name: name.clone(),
        status: ServerStatus::Initializing,
        created: rfc3339(now_ms()),
        public_net: PublicNet::default(),
        private_net: Vec::new(),
        primary_disk_size: server_type.disk,
        server_type,
        location: location.clone(),
        image: Some(image),
        iso: None,
        rescue_enabled: false,
        locked: false,
        backup_window: None,
        outgoing_traffic: Some(0),
        ingoing_traffic: Some(0),
        included_traffic: Some(21_990_232_555_520),
        protection: ServerProtection::default(),
        labels,
        volumes: Vec::new(),
        load_balancers: Vec::new(),
        placement_group: None,
    };
    let user_data = v
        .get("user_data")
        .and_then(Value::as_str)
        .map(str::to_owned);
    w.servers.insert(
        id,
        ServerRec {
            server,
            user_data,
            ssh_keys,
        },
    );
    if let Some(ip_id) = given_v4 {
        if let Some(ip) = w.primary_ips.get_mut(&ip_id) {
            ip.assignee_id = Some(id);
        }
    } else if enable_v4 {
        auto_primary_ip(&mut w, id, "ipv4", &location);
    }
    if enable_v6 {
        auto_primary_ip(&mut w, id, "ipv6", &location);
    }
    for n in networks {
        attach(&mut w, id, n, None)?;
    }
    for f in firewalls {
        if let Some(fw) = w.firewalls.get_mut(&f) {
            fw.applied_to.push(FirewallTarget {
                kind: "server".into(),
                server: Some(IdRef { id }),
                ..FirewallTarget::default()
            });
        }
    }
    if let Some(pg) = placement_group
        && let Some(g) = w.placement_groups.get_mut(&pg)
    {
        g.servers.push(id);
    }
    let after = if start {
        ServerStatus::Starting
    } else {
        ServerStatus::Off
    };
    let action = w.start_action(
        "create_server",
        &[(id, "server")],
        Effect::ServerStatus(id, after),
    );
    let mut next_actions = Vec::new();
    if start {
        let next = w.start_action(
            "start_server",
            &[(id, "server")],
            Effect::ServerStatus(id, ServerStatus::Running),
        );
        // The start only finishes after the create does.
        let create_done = w.actions.get(&action.id).and_then(|a| a.done_at);
        let start_ms = w.latency.duration("start_server").as_millis() as u64;
        if let (Some(rec), Some(t)) = (w.actions.get_mut(&next.id), create_done) {
            rec.done_at = rec.done_at.map(|_| t + start_ms);
        }
        next_actions.push(next);
    }
    let server = render(&w, id);
    emu.changed(&w);
    http::created(
        json!({ "server": server, "action": action, "next_actions": next_actions, "root_password": Value::Null }),
    )
}

fn ids(v: &Value, field: &str) -> Result<Vec<Id>, ApiErr> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_i64()
                    .ok_or_else(|| ApiErr::field(field, "must be a list of ids"))
            })
            .collect(),
        Some(_) => Err(ApiErr::field(field, "must be a list of ids")),
    }
}

fn auto_primary_ip(w: &mut World, server: Id, kind: &str, location: &Location) {
    let id = w.id();
    let ip = if kind == "ipv4" {
        w.allocate_ipv4().map(|a| a.to_string()).unwrap_or_default()
    } else {
        format!("2001:db8:{:x}::/64", id & 0xffff)
    };
    w.primary_ips.insert(
        id,
        PrimaryIp {
            id,
            name: format!("primary_ip-{id}"),
            labels: Labels::new(),
            created: rfc3339(now_ms()),
            blocked: false,
            location: location.clone(),
            ip,
            dns_ptr: Vec::new(),
            protection: Protection::default(),
            kind: kind.into(),
            auto_delete: true,
            assignee_type: "server".into(),
            assignee_id: Some(server),
        },
    );
}

pub async fn update(State(emu): State<Emu>, Path(id): Path<Id>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "labels"])?;
    let mut w = emu.world();
    if !w.servers.contains_key(&id) {
        return Err(ApiErr::not_found("server"));
    }
    if let Some(name) = v.get("name").and_then(Value::as_str) {
        if !http::valid_hostname(name) {
            return Err(ApiErr::field("name", "must be a valid hostname (RFC 1123)"));
        }
        if w.servers
            .values()
            .any(|s| s.server.name == name && s.server.id != id)
        {
            return Err(ApiErr::unique("name"));
        }
    }
    let labels = http::labels(&v)?;
    if let Some(rec) = w.servers.get_mut(&id) {
        if let Some(name) = v.get("name").and_then(Value::as_str) {
            rec.server.name = name.to_owned();
        }
        if let Some(l) = labels {
            rec.server.labels = l;
        }
    }
    let s = render(&w, id);
    emu.changed(&w);
    http::ok(json!({ "server": s }))
}

pub async fn delete(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let mut w = emu.world();
    let rec = w
        .servers
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("server"))?;
    if rec.server.protection.delete {
        return Err(ApiErr::new(
            423,
            ErrorCode::Protected,
            "server is delete-protected",
        ));
    }
    if w.busy(id, "server") {
        return Err(ApiErr::locked("server"));
    }
    if let Some(rec) = w.servers.get_mut(&id) {
        rec.server.status = ServerStatus::Deleting;
    }
    let action = w.start_action("delete_server", &[(id, "server")], Effect::DeleteServer(id));
    emu.changed(&w);
    http::ok(json!({ "action": action }))
}

pub async fn action(
    State(emu): State<Emu>,
    Path((id, name)): Path<(Id, String)>,
    body: Bytes,
) -> Res {
    let v = http::body(&body)?;
    let mut w = emu.world();
    if !w.servers.contains_key(&id) {
        return Err(ApiErr::not_found("server"));
    }
    if w.busy(id, "server") {
        return Err(ApiErr::locked("server"));
    }
    let action = match name.as_str() {
        "poweron" => w.start_action(
            "start_server",
            &[(id, "server")],
            Effect::ServerStatus(id, ServerStatus::Running),
        ),
        "poweroff" => power_down(&mut w, id, "stop_server"),
        "shutdown" => power_down(&mut w, id, "shutdown_server"),
        "reboot" | "reset" => {
            let cmd = if name == "reboot" {
                "reboot_server"
            } else {
                "reset_server"
            };
            w.start_action(
                cmd,
                &[(id, "server")],
                Effect::ServerStatus(id, ServerStatus::Running),
            )
        }
        "attach_to_network" => {
            http::only_keys(&v, &["network", "ip", "alias_ips", "ip_range"])?;
            let network = v
                .get("network")
                .and_then(Value::as_i64)
                .ok_or_else(|| ApiErr::field("network", "is required"))?;
            let ip = v.get("ip").and_then(Value::as_str);
            if !w.networks.contains_key(&network) {
                return Err(ApiErr::not_found("network"));
            }
            attach(&mut w, id, network, ip)?;
            w.start_action(
                "attach_to_network",
                &[(id, "server"), (network, "network")],
                Effect::None,
            )
        }
        "detach_from_network" => {
            let network = v
                .get("network")
                .and_then(Value::as_i64)
                .ok_or_else(|| ApiErr::field("network", "is required"))?;
            let attached = w
                .servers
                .get(&id)
                .is_some_and(|s| s.server.private_net.iter().any(|p| p.network == network));
            if !attached {
                return Err(ApiErr::field(
                    "network",
                    "server is not attached to this network",
                ));
            }
            if let Some(s) = w.servers.get_mut(&id) {
                s.server.private_net.retain(|p| p.network != network);
            }
            if let Some(n) = w.networks.get_mut(&network) {
                n.servers.retain(|s| *s != id);
            }
            w.start_action(
                "detach_from_network",
                &[(id, "server"), (network, "network")],
                Effect::None,
            )
        }
        "change_protection" => {
            let delete = v.get("delete").and_then(Value::as_bool);
            let rebuild = v.get("rebuild").and_then(Value::as_bool);
            if let Some(s) = w.servers.get_mut(&id) {
                if let Some(d) = delete {
                    s.server.protection.delete = d;
                }
                if let Some(r) = rebuild {
                    s.server.protection.rebuild = r;
                }
            }
            w.start_action("change_protection", &[(id, "server")], Effect::None)
        }
        _ => {
            return Err(ApiErr::new(
                404,
                ErrorCode::NotFound,
                format!("server action {name:?} is not emulated"),
            ));
        }
    };
    emu.changed(&w);
    http::created(json!({ "action": action }))
}

fn power_down(w: &mut World, id: Id, command: &str) -> Action {
    if let Some(s) = w.servers.get_mut(&id)
        && s.server.status == ServerStatus::Running
    {
        s.server.status = ServerStatus::Stopping;
    }
    w.start_action(
        command,
        &[(id, "server")],
        Effect::ServerStatus(id, ServerStatus::Off),
    )
}
