//! `/primary_ips`: Hetzner's rules for persistent public addresses — the
//! server must be off to assign or unassign, protection needs
//! `auto_delete=false`, assigned or protected IPs cannot be deleted.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use hcloud::ErrorCode;
use hcloud::models::*;
use serde_json::{Value, json};

use crate::Emu;
use crate::http::{self, ApiErr, Query, Res};
use crate::world::{Effect, World, now_ms, rfc3339};

pub async fn list(State(emu): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let w = emu.world();
    let mut ips: Vec<PrimaryIp> = w.primary_ips.values().cloned().collect();
    if let Some(ip) = q.get("ip") {
        ips.retain(|p| p.ip == ip);
    }
    http::list("primary_ips", ips, &q, |p| &p.name, |p| Some(&p.labels))
}

pub async fn get(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let w = emu.world();
    let ip = w
        .primary_ips
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("primary_ip"))?;
    http::ok(json!({ "primary_ip": ip }))
}

fn server_must_be_off(w: &World, server: Id) -> Result<(), ApiErr> {
    let s = w
        .servers
        .get(&server)
        .ok_or_else(|| ApiErr::field("assignee_id", format!("server {server} not found")))?;
    if s.server.status != ServerStatus::Off {
        return Err(ApiErr::new(
            422,
            ErrorCode::ServerNotStopped,
            format!(
                "server {server} is {}, but needs to be off",
                s.server.status
            ),
        ));
    }
    Ok(())
}

pub async fn create(State(emu): State<Emu>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    if v.get("datacenter").is_some() {
        return Err(ApiErr::field(
            "datacenter",
            "datacenter was removed from Primary IPs; use location",
        ));
    }
    http::only_keys(
        &v,
        &[
            "name",
            "labels",
            "type",
            "location",
            "assignee_type",
            "assignee_id",
            "auto_delete",
        ],
    )?;
    let mut w = emu.world();
    let name = http::check_name(&v)?;
    if w.primary_ips.values().any(|p| p.name == name) {
        return Err(ApiErr::unique("name"));
    }
    let kind = http::req_str(&v, "type")?.to_owned();
    if kind != "ipv4" && kind != "ipv6" {
        return Err(ApiErr::field("type", "must be ipv4 or ipv6"));
    }
    let labels = http::labels(&v)?.unwrap_or_default();
    let auto_delete = v
        .get("auto_delete")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let assignee = v.get("assignee_id").and_then(Value::as_i64);
    let location = match (assignee, http::id_or_name(&v, "location")) {
        (Some(server), _) => {
            server_must_be_off(&w, server)?;
            w.servers
                .get(&server)
                .map(|s| s.server.location.clone())
                .ok_or_else(|| ApiErr::not_found("server"))?
        }
        (None, Some(loc)) => w
            .location(&loc)
            .ok_or_else(|| ApiErr::field("location", format!("location {loc:?} not found")))?,
        (None, None) => {
            return Err(ApiErr::field(
                "location",
                "location is required unless assignee_id is given",
            ));
        }
    };
    let id = w.id();
    let ip = if kind == "ipv4" {
        w.allocate_ipv4()
            .ok_or_else(|| {
                ApiErr::new(
                    412,
                    ErrorCode::ResourceUnavailable,
                    "no public IPv4 address left",
                )
            })?
            .to_string()
    } else {
        format!("2001:db8:{:x}::/64", id & 0xffff)
    };
    let pip = PrimaryIp {
        id,
        name,
        labels,
        created: rfc3339(now_ms()),
        blocked: false,
        location,
        ip,
        dns_ptr: Vec::new(),
        protection: Protection::default(),
        kind,
        auto_delete,
        assignee_type: "server".into(),
        assignee_id: assignee,
    };
    w.primary_ips.insert(id, pip.clone());
    let action = assignee.map(|s| {
        w.start_action(
            "assign_primary_ip",
            &[(s, "server"), (id, "primary_ip")],
            Effect::None,
        )
    });
    emu.changed(&w);
    http::created(json!({ "primary_ip": pip, "action": action }))
}

pub async fn update(State(emu): State<Emu>, Path(id): Path<Id>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "labels", "auto_delete"])?;
    let mut w = emu.world();
    let r = http::rename(&v, |n| {
        w.primary_ips.values().any(|p| p.name == n && p.id != id)
    })?;
    let auto_delete = v.get("auto_delete").and_then(Value::as_bool);
    let ip = w
        .primary_ips
        .get_mut(&id)
        .ok_or_else(|| ApiErr::not_found("primary_ip"))?;
    if auto_delete == Some(true) && ip.protection.delete {
        return Err(ApiErr::field(
            "auto_delete",
            "cannot enable auto_delete while delete protection is on",
        ));
    }
    r.apply(&mut ip.name, &mut ip.labels);
    if let Some(a) = auto_delete {
        ip.auto_delete = a;
    }
    let out = ip.clone();
    emu.changed(&w);
    http::ok(json!({ "primary_ip": out }))
}

pub async fn delete(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let mut w = emu.world();
    let ip = w
        .primary_ips
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("primary_ip"))?;
    if ip.protection.delete {
        return Err(ApiErr::new(
            423,
            ErrorCode::Protected,
            "primary IP is delete-protected",
        ));
    }
    if ip.assignee_id.is_some() {
        return Err(ApiErr::new(
            422,
            ErrorCode::MustBeUnassigned,
            "primary IP must be unassigned before it can be deleted",
        ));
    }
    w.primary_ips.remove(&id);
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
    let ip = w
        .primary_ips
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiErr::not_found("primary_ip"))?;
    if w.busy(id, "primary_ip") {
        return Err(ApiErr::locked("primary IP"));
    }
    let action = match name.as_str() {
        "assign" => {
            http::only_keys(&v, &["assignee_id", "assignee_type"])?;
            let server = v
                .get("assignee_id")
                .and_then(Value::as_i64)
                .ok_or_else(|| ApiErr::field("assignee_id", "is required"))?;
            if ip.assignee_id.is_some() {
                return Err(ApiErr::new(
                    422,
                    ErrorCode::PrimaryIpAssigned,
                    "primary IP is already assigned",
                ));
            }
            server_must_be_off(&w, server)?;
            let srv = w
                .servers
                .get(&server)
                .map(|s| s.server.location.name.clone())
                .unwrap_or_default();
            if srv != ip.location.name {
                return Err(ApiErr::new(
                    422,
                    ErrorCode::PrimaryIpDatacenterMismatch,
                    "the Primary IP is in a different location",
                ));
            }
            let taken = w
                .primary_ips
                .values()
                .any(|p| p.kind == ip.kind && p.assignee_id == Some(server));
            if taken {
                return Err(ApiErr::new(
                    422,
                    ErrorCode::InvalidInput,
                    format!("server {server} already has a {} Primary IP", ip.kind),
                ));
            }
            if w.busy(server, "server") {
                return Err(ApiErr::locked("server"));
            }
            if let Some(p) = w.primary_ips.get_mut(&id) {
                p.assignee_id = Some(server);
            }
            w.start_action(
                "assign_primary_ip",
                &[(server, "server"), (id, "primary_ip")],
                Effect::None,
            )
        }
        "unassign" => {
            let server = ip.assignee_id.ok_or_else(|| {
                ApiErr::new(422, ErrorCode::InvalidInput, "primary IP is not assigned")
            })?;
            if w.servers.contains_key(&server) {
                server_must_be_off(&w, server)?;
            }
            if let Some(p) = w.primary_ips.get_mut(&id) {
                p.assignee_id = None;
            }
            w.pending_release.remove(&id);
            w.start_action(
                "unassign_primary_ip",
                &[(server, "server"), (id, "primary_ip")],
                Effect::None,
            )
        }
        "change_protection" => {
            let delete = v
                .get("delete")
                .and_then(Value::as_bool)
                .ok_or_else(|| ApiErr::field("delete", "is required"))?;
            if delete && ip.auto_delete {
                return Err(ApiErr::field(
                    "delete",
                    "delete protection needs auto_delete to be false",
                ));
            }
            if let Some(p) = w.primary_ips.get_mut(&id) {
                p.protection.delete = delete;
            }
            w.start_action("change_protection", &[(id, "primary_ip")], Effect::None)
        }
        "change_dns_ptr" => {
            let ip_text = http::req_str(&v, "ip")?.to_owned();
            let ptr = v.get("dns_ptr").and_then(Value::as_str).map(str::to_owned);
            if let Some(p) = w.primary_ips.get_mut(&id) {
                p.dns_ptr.retain(|d| d.ip != ip_text);
                if let Some(ptr) = ptr {
                    p.dns_ptr.push(DnsPtr {
                        ip: ip_text,
                        dns_ptr: ptr,
                    });
                }
            }
            w.start_action("change_dns_ptr", &[(id, "primary_ip")], Effect::None)
        }
        _ => {
            return Err(ApiErr::new(
                404,
                ErrorCode::NotFound,
                format!("primary IP action {name:?} is not emulated"),
            ));
        }
    };
    emu.changed(&w);
    http::created(json!({ "action": action }))
}
