//! The admin API under `/_emulator`: fault injection and inspection. It
//! needs the API's bearer token (anyone who can reach the port could
//! otherwise script faults or read the request log) and never counts
//! against the rate limit.

use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use axum::{Json, Router};
use hcloud::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Emu;
use crate::gate::{Fault, bearer_ok};
use crate::http::ApiErr;
use crate::world::ActionFault;

async fn state(State(emu): State<Emu>) -> Json<Value> {
    let w = emu.world();
    let servers: Vec<_> = w
        .servers
        .keys()
        .filter_map(|id| crate::servers::render(&w, *id))
        .collect();
    Json(json!({
        "servers": servers,
        "primary_ips": w.primary_ips.values().collect::<Vec<_>>(),
        "networks": w.networks.values().collect::<Vec<_>>(),
        "firewalls": w.firewalls.values().collect::<Vec<_>>(),
        "ssh_keys": w.ssh_keys.values().collect::<Vec<_>>(),
        "placement_groups": w.placement_groups.values().collect::<Vec<_>>(),
        "actions_total": w.actions.len(),
        "requests_total": emu.requests.load(Ordering::Relaxed),
    }))
}

async fn requests(State(emu): State<Emu>) -> Json<Value> {
    let log = emu.gate.log.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({ "requests": log.iter().collect::<Vec<_>>() }))
}

async fn clear_requests(State(emu): State<Emu>) -> Json<Value> {
    emu.gate
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    Json(json!({ "ok": true }))
}

async fn add_fault(State(emu): State<Emu>, Json(f): Json<Fault>) -> Json<Value> {
    emu.gate
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(f);
    Json(json!({ "ok": true }))
}

async fn clear_faults(State(emu): State<Emu>) -> Json<Value> {
    emu.gate
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    emu.world().action_faults.clear();
    Json(json!({ "ok": true }))
}

async fn add_action_fault(State(emu): State<Emu>, Json(f): Json<ActionFault>) -> Json<Value> {
    emu.world().action_faults.push(f);
    Json(json!({ "ok": true }))
}

#[derive(Debug, Deserialize)]
struct Remaining {
    remaining: f64,
}

async fn budget(State(emu): State<Emu>, Json(b): Json<Remaining>) -> Json<Value> {
    emu.gate.set_remaining(b.remaining);
    Json(json!({ "ok": true }))
}

#[derive(Debug, Deserialize)]
struct Millis {
    ms: u64,
}

async fn latency(State(emu): State<Emu>, Json(m): Json<Millis>) -> Json<Value> {
    emu.gate.latency_ms.store(m.ms, Ordering::Relaxed);
    Json(json!({ "ok": true }))
}

async fn release_lag(State(emu): State<Emu>, Json(m): Json<Millis>) -> Json<Value> {
    emu.world().ip_release_lag_ms = m.ms;
    Json(json!({ "ok": true }))
}

async fn violations(State(emu): State<Emu>) -> Json<Value> {
    let v = emu.violations.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({ "checking": emu.options().spec.is_some(), "violations": *v }))
}

/// Every admin route: method, path below `/_emulator`, handler. The router
/// is built from this table only, so [`routes`] lists exactly what is served.
fn table() -> Vec<(Method, &'static str, MethodRouter<Emu>)> {
    vec![
        (Method::GET, "/health", get(|| async { "ok" })),
        (Method::GET, "/state", get(state)),
        (Method::GET, "/requests", get(requests)),
        (Method::DELETE, "/requests", delete(clear_requests)),
        (Method::POST, "/faults", post(add_fault)),
        (Method::DELETE, "/faults", delete(clear_faults)),
        (Method::POST, "/action-faults", post(add_action_fault)),
        (Method::POST, "/budget", post(budget)),
        (Method::POST, "/latency", post(latency)),
        (Method::POST, "/primary-ip-release-lag", post(release_lag)),
        (Method::GET, "/spec-violations", get(violations)),
    ]
}

/// The admin routes as (method, path below `/_emulator`).
pub fn routes() -> Vec<(Method, &'static str)> {
    table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// Answers 401 unless the request carries `Authorization: Bearer <token>`.
async fn require_token(State(emu): State<Emu>, req: Request, next: Next) -> Response {
    if bearer_ok(&req, &emu.options().token) {
        next.run(req).await
    } else {
        ApiErr::new(401, ErrorCode::Unauthorized, "unable to authenticate").into_response()
    }
}

/// Routes under `/_emulator`, all behind the token (unknown paths too).
pub fn router(emu: Emu) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, handler)| {
            r.route(path, handler)
        })
        .fallback(|| async { ApiErr::new(404, ErrorCode::NotFound, "no such admin route") })
        .layer(axum::middleware::from_fn_with_state(
            emu.clone(),
            require_token,
        ))
        .with_state(emu)
}
