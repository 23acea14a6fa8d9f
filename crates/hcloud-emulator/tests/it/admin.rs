//! The admin API under `/_emulator`: behind the API token.

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
