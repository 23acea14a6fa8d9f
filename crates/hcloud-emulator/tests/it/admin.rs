//! The admin API under `/_emulator`: behind the API token, and its request
//! log never holds a header value.

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{TOKEN, options};

/// Every admin route with a body that makes it succeed.
fn every_admin_route() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/health", None),
        (Method::GET, "/state", None),
        (Method::GET, "/requests", None),
        (Method::DELETE, "/requests", None),
        (
            Method::POST,
            "/faults",
            Some(json!({ "path": "/never-called", "times": 1 })),
        ),
        (Method::DELETE, "/faults", None),
        (
            Method::POST,
            "/action-faults",
            Some(json!({ "command": "never_called", "mode": "fail" })),
        ),
        (Method::POST, "/budget", Some(json!({ "remaining": 3600 }))),
        (Method::POST, "/latency", Some(json!({ "ms": 0 }))),
        (
            Method::POST,
            "/primary-ip-release-lag",
            Some(json!({ "ms": 0 })),
        ),
        (Method::GET, "/spec-violations", None),
    ]
}

async fn call(
    router: &axum::Router,
    method: &Method,
    uri: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

#[tokio::test]
async fn every_admin_route_needs_the_api_token() {
    let routes = every_admin_route();
    let registered = hcloud_emulator::admin::routes();
    assert_eq!(
        routes.len(),
        registered.len(),
        "the admin API has routes this test does not cover: {registered:?}"
    );
    for (m, p, _) in &routes {
        assert!(registered.contains(&(m.clone(), *p)), "{m} {p} is gone");
    }

    let emu = hcloud_emulator::Shared::new(options()).unwrap();
    let router = hcloud_emulator::app(emu);
    let right = format!("Bearer {TOKEN}");
    for (method, path, body) in &routes {
        let uri = format!("/_emulator{path}");
        for (auth, why) in [
            (None, "no header"),
            (Some("Bearer wrong-token"), "wrong token"),
            (Some(TOKEN), "token without Bearer"),
        ] {
            let (s, v) = call(&router, method, &uri, auth, body.as_ref()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}, {why}: {v}");
            assert_eq!(v["error"]["code"], "unauthorized", "{method} {path}: {v}");
        }
        let (s, v) = call(&router, method, &uri, Some(&right), body.as_ref()).await;
        assert_eq!(s, StatusCode::OK, "{method} {path} with the token: {v}");
    }
    // Unknown admin paths do not tell outsiders what exists.
    let (s, _) = call(&router, &Method::GET, "/_emulator/nope", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(&router, &Method::GET, "/_emulator/nope", Some(&right), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_request_log_names_headers_but_never_holds_their_values() {
    let emu = hcloud_emulator::Shared::new(options()).unwrap();
    let router = hcloud_emulator::app(emu.clone());
    let right = format!("Bearer {TOKEN}");
    let (s, _) = call(
        &router,
        &Method::POST,
        "/v1/ssh_keys",
        Some(&right),
        Some(&json!({ "name": "k", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3bHHp0gBDpX6n7OJ0zNQbRCpVqk0bm3I+z0fQZ2Pv" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // A wrong token is a secret too.
    let (s, _) = call(
        &router,
        &Method::GET,
        "/v1/servers",
        Some("Bearer another-secret-9d2c"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, log) = call(
        &router,
        &Method::GET,
        "/_emulator/requests",
        Some(&right),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let entries = log["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    let first = &entries[0];
    assert_eq!(
        (&first["method"], &first["path"], &first["status"]),
        (&json!("POST"), &json!("/ssh_keys"), &json!(201))
    );
    assert_eq!(first["headers"], json!(["authorization", "content-type"]));
    assert_eq!(entries[1]["headers"], json!(["authorization"]));

    let served = log.to_string();
    let in_process = serde_json::to_string(&emu.request_log()).unwrap();
    for text in [served, in_process] {
        for secret in [TOKEN, "another-secret-9d2c", "Bearer"] {
            assert!(!text.contains(secret), "{secret} is in the log: {text}");
        }
    }
}
