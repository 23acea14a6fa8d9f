//! `/firewalls`: rules, targets (servers and label selectors) and their actions.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use hcloud::ErrorCode;
use hcloud::labels::Selector;
use hcloud::models::*;
use ipnet::IpNet;
use serde_json::{Value, json};

use crate::Emu;
use crate::http::{self, ApiErr, Query, Res};
use crate::world::{Effect, World, now_ms, rfc3339};

/// True when `fw` applies to `server` directly or through a label selector.
pub fn applies_to(fw: &Firewall, server: &Server) -> bool {
    fw.applied_to
        .iter()
        .any(|t| match (&t.server, &t.label_selector) {
            (Some(s), _) => s.id == server.id,
            (None, Some(sel)) => {
                Selector::parse(&sel.selector).is_ok_and(|s| s.matches(&server.labels))
            }
            _ => false,
        })
}

/// The firewall as clients see it: label selectors list the servers they match.
pub fn render(w: &World, fw: &Firewall) -> Firewall {
    let mut out = fw.clone();
    for t in &mut out.applied_to {
        if let Some(sel) = &t.label_selector {
            let matched = Selector::parse(&sel.selector).ok();
            t.applied_to_resources = Some(
                w.servers
                    .values()
                    .filter(|s| {
                        matched
                            .as_ref()
                            .is_some_and(|m| m.matches(&s.server.labels))
                    })
                    .map(|s| AppliedResource {
                        kind: "server".into(),
                        server: IdRef { id: s.server.id },
                    })
                    .collect(),
            );
        }
    }
    out
}

fn rule(v: &Value, i: usize) -> Result<FirewallRule, ApiErr> {
    let f = |name: &str| format!("rules[{i}].{name}");
    http::only_keys(
        v,
        &[
            "direction",
            "protocol",
            "port",
            "source_ips",
            "destination_ips",
            "description",
        ],
    )?;
    let direction = v
        .get("direction")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if direction != "in" && direction != "out" {
        return Err(ApiErr::field(&f("direction"), "must be in or out"));
    }
    let protocol = v
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !["tcp", "udp", "icmp", "esp", "gre"].contains(&protocol) {
        return Err(ApiErr::field(
            &f("protocol"),
            "must be tcp, udp, icmp, esp or gre",
        ));
    }
    let port = v.get("port").and_then(Value::as_str).map(str::to_owned);
    match (protocol, &port) {
        ("tcp" | "udp", None) => {
            return Err(ApiErr::field(&f("port"), "is required for tcp and udp"));
        }
        ("tcp" | "udp", Some(p)) => {
            let ok = p == "any"
                || p.split('-').all(|x| x.parse::<u16>().is_ok_and(|n| n > 0))
                    && p.split('-').count() <= 2;
            if !ok {
                return Err(ApiErr::field(
                    &f("port"),
                    format!("{p:?} is not a port or range"),
                ));
            }
        }
        (_, Some(_)) => {
            return Err(ApiErr::field(
                &f("port"),
                "only tcp and udp rules have ports",
            ));
        }
        _ => {}
    }
    let ips = |key: &str| -> Result<Vec<String>, ApiErr> {
        let list: Vec<String> = v
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for ip in &list {
            ip.parse::<IpNet>()
                .map_err(|_| ApiErr::field(&f(key), format!("{ip:?} is not a CIDR")))?;
        }
        Ok(list)
    };
    let (source_ips, destination_ips) = (ips("source_ips")?, ips("destination_ips")?);
    if direction == "in" && source_ips.is_empty() {
        return Err(ApiErr::field(
            &f("source_ips"),
            "incoming rules need source_ips",
        ));
    }
    if direction == "out" && destination_ips.is_empty() {
        return Err(ApiErr::field(
            &f("destination_ips"),
            "outgoing rules need destination_ips",
        ));
    }
    Ok(FirewallRule {
        direction: direction.into(),
        protocol: protocol.into(),
        port,
        source_ips,
        destination_ips,
        description: v
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn rules(v: &Value) -> Result<Vec<FirewallRule>, ApiErr> {
    let list = v
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.len() > 50 {
        return Err(ApiErr::field("rules", "at most 50 rules"));
    }
    list.iter().enumerate().map(|(i, r)| rule(r, i)).collect()
}

fn targets(w: &World, v: &Value, key: &str) -> Result<Vec<FirewallTarget>, ApiErr> {
    let list = v
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.iter()
        .map(|t| {
            let kind = t.get("type").and_then(Value::as_str).unwrap_or_default();
            match kind {
                "server" => {
                    let id = t
                        .pointer("/server/id")
                        .and_then(Value::as_i64)
                        .ok_or_else(|| ApiErr::field(key, "server targets need server.id"))?;
                    if !w.servers.contains_key(&id) {
                        return Err(ApiErr::new(
                            404,
                            // Not among hcloud's known codes.
                            ErrorCode::from("firewall_resource_not_found"),
                            format!("server {id} not found"),
                        ));
                    }
                    Ok(FirewallTarget {
                        kind: kind.into(),
                        server: Some(IdRef { id }),
                        ..FirewallTarget::default()
                    })
                }
                "label_selector" => {
                    let sel = t
                        .pointer("/label_selector/selector")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            ApiErr::field(
                                key,
                                "label_selector targets need label_selector.selector",
                            )
                        })?;
                    Selector::parse(sel).map_err(|e| ApiErr::field(key, e))?;
                    Ok(FirewallTarget::selector(sel))
                }
                other => Err(ApiErr::field(key, format!("unknown target type {other:?}"))),
            }
        })
        .collect()
}

pub async fn list(State(emu): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let w = emu.world();
    let fws: Vec<Firewall> = w.firewalls.values().map(|f| render(&w, f)).collect();
    http::list("firewalls", fws, &q, |f| &f.name, |f| Some(&f.labels))
}

pub async fn get(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let w = emu.world();
    let fw = w
        .firewalls
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("firewall"))?;
    http::ok(json!({ "firewall": render(&w, fw) }))
}

pub async fn create(State(emu): State<Emu>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "labels", "rules", "apply_to"])?;
    let mut w = emu.world();
    let name = http::check_name(&v)?;
    if w.firewalls.values().any(|f| f.name == name) {
        return Err(ApiErr::unique("name"));
    }
    let fw = Firewall {
        id: 0,
        name,
        labels: http::labels(&v)?.unwrap_or_default(),
        created: rfc3339(now_ms()),
        rules: rules(&v)?,
        applied_to: targets(&w, &v, "apply_to")?,
    };
    let id = w.id();
    let fw = Firewall { id, ..fw };
    w.firewalls.insert(id, fw.clone());
    let actions: Vec<Action> = fw
        .applied_to
        .iter()
        .map(|_| w.start_action("apply_firewall", &[(id, "firewall")], Effect::None))
        .collect();
    let out = render(&w, &fw);
    emu.changed(&w);
    http::created(json!({ "firewall": out, "actions": actions }))
}

pub async fn update(State(emu): State<Emu>, Path(id): Path<Id>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "labels"])?;
    let mut w = emu.world();
    let r = http::rename(&v, |n| {
        w.firewalls.values().any(|x| x.name == n && x.id != id)
    })?;
    let fw = w
        .firewalls
        .get_mut(&id)
        .ok_or_else(|| ApiErr::not_found("firewall"))?;
    r.apply(&mut fw.name, &mut fw.labels);
    let fw = fw.clone();
    let out = render(&w, &fw);
    emu.changed(&w);
    http::ok(json!({ "firewall": out }))
}

pub async fn delete(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let mut w = emu.world();
    let fw = w
        .firewalls
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("firewall"))?;
    if !fw.applied_to.is_empty() {
        return Err(ApiErr::new(
            422,
            ErrorCode::ResourceInUse,
            "firewall is still applied to resources",
        ));
    }
    w.firewalls.remove(&id);
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
    if !w.firewalls.contains_key(&id) {
        return Err(ApiErr::not_found("firewall"));
    }
    let command = match name.as_str() {
        "set_rules" => {
            let r = rules(&v)?;
            if let Some(fw) = w.firewalls.get_mut(&id) {
                fw.rules = r;
            }
            "set_firewall_rules"
        }
        "apply_to_resources" => {
            let t = targets(&w, &v, "apply_to")?;
            let fw = w
                .firewalls
                .get_mut(&id)
                .ok_or_else(|| ApiErr::not_found("firewall"))?;
            if t.iter().any(|x| {
                fw.applied_to
                    .iter()
                    .any(|y| y.server == x.server && y.label_selector == x.label_selector)
            }) {
                return Err(ApiErr::new(
                    422,
                    ErrorCode::FirewallAlreadyApplied,
                    "firewall is already applied to this resource",
                ));
            }
            fw.applied_to.extend(t);
            "apply_firewall"
        }
        "remove_from_resources" => {
            let t = targets(&w, &v, "remove_from")?;
            if let Some(fw) = w.firewalls.get_mut(&id) {
                fw.applied_to.retain(|y| {
                    !t.iter()
                        .any(|x| y.server == x.server && y.label_selector == x.label_selector)
                });
            }
            "remove_firewall"
        }
        _ => {
            return Err(ApiErr::new(
                404,
                ErrorCode::NotFound,
                format!("firewall action {name:?} is not emulated"),
            ));
        }
    };
    let action = w.start_action(command, &[(id, "firewall")], Effect::None);
    emu.changed(&w);
    http::created(json!({ "actions": [action] }))
}
