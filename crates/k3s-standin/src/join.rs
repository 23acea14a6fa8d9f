//! The stand-in's private join protocol. Real K3s agents fetch certificates
//! and a kubelet kubeconfig with the token, then register through the
//! Kubernetes API; the stand-in collapses that into two token-authenticated
//! calls: register a Node, and heartbeat it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use base64::Engine as _;

use crate::api::{AppState, status};
use crate::node::{NODE_ROLE_PREFIX, Registration};

/// Every private path starts with this.
pub const PREFIX: &str = "/v1-k3s-standin/";

/// The private routes (the caller adds state).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1-k3s-standin/nodes/{name}", put(register))
        .route("/v1-k3s-standin/nodes/{name}/heartbeat", post(heartbeat))
}

/// The value of the Authorization header an agent sends.
pub fn authorization(username: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
    format!("Basic {encoded}")
}

fn authorized(headers: &HeaderMap, secret: &str) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    // K3s accepts the server token under the user names "server" and "node".
    let given = decoded
        .strip_prefix(b"server:".as_slice())
        .or_else(|| decoded.strip_prefix(b"node:".as_slice()))
        .unwrap_or_default();
    aws_lc_rs::constant_time::verify_slices_are_equal(given, secret.as_bytes()).is_ok()
}

fn unauthorized() -> Response {
    status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
}

async fn register(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(reg): Json<Registration>,
) -> Response {
    if !authorized(&headers, &state.secret) {
        return unauthorized();
    }
    if reg.name != name {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body names another node",
        );
    }
    // NodeRestriction: a kubelet may not give itself a role.
    if let Some(label) = reg.labels.keys().find(|k| k.starts_with(NODE_ROLE_PREFIX)) {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("a node may not set the label {label} on itself"),
        );
    }
    state.store.register(&reg, false);
    eprintln!("node {name} registered ({})", reg.internal_ip);
    StatusCode::CREATED.into_response()
}

async fn heartbeat(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &state.secret) {
        return unauthorized();
    }
    if state.store.heartbeat(&name) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("nodes \"{name}\" not found"),
        )
    }
}
