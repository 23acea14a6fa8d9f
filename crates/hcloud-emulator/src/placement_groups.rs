//! `/placement_groups`: spread groups. The limit of servers per group is
//! enforced where servers are created.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use hcloud::ErrorCode;
use hcloud::models::*;
use serde_json::{Value, json};

use crate::Emu;
use crate::http::{self, ApiErr, Query, Res};
use crate::world::{now_ms, rfc3339};

pub async fn list(State(emu): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let w = emu.world();
    http::list(
        "placement_groups",
        w.placement_groups.values().cloned().collect(),
        &q,
        |g| &g.name,
        |g| Some(&g.labels),
    )
}

pub async fn get(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let w = emu.world();
    let g = w
        .placement_groups
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("placement_group"))?;
    http::ok(json!({ "placement_group": g }))
}

pub async fn create(State(emu): State<Emu>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "type", "labels"])?;
    let mut w = emu.world();
    let name = http::check_name(&v)?;
    if http::req_str(&v, "type")? != "spread" {
        return Err(ApiErr::field("type", "only spread placement groups exist"));
    }
    if w.placement_groups.values().any(|g| g.name == name) {
        return Err(ApiErr::unique("name"));
    }
    let id = w.id();
    let g = PlacementGroup {
        id,
        name,
        labels: http::labels(&v)?.unwrap_or_default(),
        kind: "spread".into(),
        created: rfc3339(now_ms()),
        servers: Vec::new(),
    };
    w.placement_groups.insert(id, g.clone());
    emu.changed(&w);
    http::created(json!({ "placement_group": g, "action": Value::Null }))
}

pub async fn update(State(emu): State<Emu>, Path(id): Path<Id>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "labels"])?;
    let mut w = emu.world();
    let r = http::rename(&v, |n| {
        w.placement_groups
            .values()
            .any(|x| x.name == n && x.id != id)
    })?;
    let g = w
        .placement_groups
        .get_mut(&id)
        .ok_or_else(|| ApiErr::not_found("placement_group"))?;
    r.apply(&mut g.name, &mut g.labels);
    let out = g.clone();
    emu.changed(&w);
    http::ok(json!({ "placement_group": out }))
}

pub async fn delete(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let mut w = emu.world();
    let g = w
        .placement_groups
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("placement_group"))?;
    if !g.servers.is_empty() {
        return Err(ApiErr::new(
            422,
            ErrorCode::ResourceInUse,
            "placement group still has servers",
        ));
    }
    w.placement_groups.remove(&id);
    emu.changed(&w);
    http::no_content()
}
