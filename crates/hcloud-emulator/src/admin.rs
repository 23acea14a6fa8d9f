//! The admin API under `/_emulator`: fault injection and inspection. It
//! needs no token and never counts against the rate limit.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Emu;
use crate::gate::Fault;
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

/// Routes under `/_emulator`.
pub fn router(emu: Emu) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/state", get(state))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/action-faults", post(add_action_fault))
        .route("/budget", post(budget))
        .route("/latency", post(latency))
        .route("/primary-ip-release-lag", post(release_lag))
        .route("/spec-violations", get(violations))
        .with_state(emu)
}
