//! Hetzner's rules, checked through `app()` without a socket.

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{TOKEN, options};

/// The API through `app()`, authenticated with the test token.
pub struct Api {
    router: axum::Router,
    pub emu: hcloud_emulator::Emu,
}

impl Api {
    pub fn new() -> Api {
        Api::with(options())
    }

    pub fn with(opts: hcloud_emulator::Options) -> Api {
        let emu = hcloud_emulator::Shared::new(opts).unwrap();
        Api {
            router: hcloud_emulator::app(emu.clone()),
            emu,
        }
    }

    async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(format!("/v1{path}"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        (
            status,
            if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            },
        )
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(Some(TOKEN), method, path, body).await
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    pub async fn err(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let (s, v) = self.call(method, path, body).await;
        assert!(!s.is_success(), "{method} {path} succeeded: {v}");
        (s.as_u16(), v["error"]["code"].as_str().unwrap().to_owned())
    }

    pub async fn server(&self, name: &str, extra: Value) -> i64 {
        let mut body = json!({ "name": name, "server_type": "cpx22", "image": "ubuntu-24.04", "location": "fsn1", "start_after_create": false,
            "public_net": { "enable_ipv4": false, "enable_ipv6": false } });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.ok("POST", "/servers", Some(body)).await["server"]["id"]
            .as_i64()
            .unwrap()
    }

    pub fn spec_clean(&self) {
        let v = self.emu.violations.lock().unwrap();
        assert!(
            v.is_empty(),
            "{}",
            serde_json::to_string_pretty(&*v).unwrap()
        );
    }
}

#[tokio::test]
async fn missing_or_wrong_tokens_get_401_and_unknown_ids_404() {
    let api = Api::new();
    assert_eq!(
        api.call_as(None, "GET", "/servers", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = api.call_as(Some("nope"), "GET", "/servers", None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    assert_eq!(
        api.err("GET", "/servers/999999", None).await,
        (404, "not_found".into())
    );
    api.spec_clean();
}

#[tokio::test]
async fn primary_ip_rules_hold() {
    let api = Api::new();
    let (code, c) = api
        .err(
            "POST",
            "/primary_ips",
            Some(json!({ "name": "x", "type": "ipv4", "datacenter": "fsn1-dc14" })),
        )
        .await;
    assert_eq!((code, c.as_str()), (422, "invalid_input"));
    let ip = api
        .ok(
            "POST",
            "/primary_ips",
            Some(json!({ "name": "ip", "type": "ipv4", "location": "fsn1" })),
        )
        .await["primary_ip"]["id"]
        .as_i64()
        .unwrap();
    let sid = api.server("s1", json!({})).await;
    api.ok("POST", &format!("/servers/{sid}/actions/poweron"), None)
        .await;
    let _ = api.ok("GET", "/servers", None).await; // tick: the server is running now
    assert_eq!(
        api.err(
            "POST",
            &format!("/primary_ips/{ip}/actions/assign"),
            Some(json!({ "assignee_id": sid, "assignee_type": "server" }))
        )
        .await
        .1,
        "server_not_stopped"
    );
    api.ok("POST", &format!("/servers/{sid}/actions/poweroff"), None)
        .await;
    let _ = api.ok("GET", "/servers", None).await;
    api.ok(
        "POST",
        &format!("/primary_ips/{ip}/actions/assign"),
        Some(json!({ "assignee_id": sid, "assignee_type": "server" })),
    )
    .await;
    assert_eq!(
        api.err("DELETE", &format!("/primary_ips/{ip}"), None)
            .await
            .1,
        "must_be_unassigned"
    );
    api.ok(
        "POST",
        &format!("/primary_ips/{ip}/actions/change_protection"),
        Some(json!({ "delete": true })),
    )
    .await;
    api.ok("DELETE", &format!("/servers/{sid}"), None).await;
    let v = api.ok("GET", &format!("/primary_ips/{ip}"), None).await;
    assert!(v["primary_ip"]["assignee_id"].is_null(), "{v}");
    assert_eq!(
        api.err("DELETE", &format!("/primary_ips/{ip}"), None).await,
        (423, "protected".into())
    );
    // auto_delete IPs go with their server
    let auto = api
        .ok(
            "POST",
            "/primary_ips",
            Some(
                json!({ "name": "auto", "type": "ipv4", "location": "fsn1", "auto_delete": true }),
            ),
        )
        .await["primary_ip"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        api.err(
            "POST",
            &format!("/primary_ips/{auto}/actions/change_protection"),
            Some(json!({ "delete": true }))
        )
        .await
        .1,
        "invalid_input"
    );
    let s2 = api
        .server(
            "s2",
            json!({ "public_net": { "enable_ipv4": true, "enable_ipv6": false, "ipv4": auto } }),
        )
        .await;
    api.ok("DELETE", &format!("/servers/{s2}"), None).await;
    assert_eq!(
        api.err("GET", &format!("/primary_ips/{auto}"), None)
            .await
            .1,
        "not_found"
    );
    api.spec_clean();
}

#[tokio::test]
async fn primary_ips_can_lag_as_assigned_after_their_server_is_deleted() {
    let api = Api::new();
    let ip = api
        .ok(
            "POST",
            "/primary_ips",
            Some(json!({ "name": "lag", "type": "ipv4", "location": "fsn1" })),
        )
        .await["primary_ip"]["id"]
        .as_i64()
        .unwrap();
    let sid = api
        .server(
            "s",
            json!({ "public_net": { "enable_ipv4": true, "enable_ipv6": false, "ipv4": ip } }),
        )
        .await;
    api.emu.world().ip_release_lag_ms = 300;
    api.ok("DELETE", &format!("/servers/{sid}"), None).await;
    let v = api.ok("GET", &format!("/primary_ips/{ip}"), None).await;
    assert_eq!(
        v["primary_ip"]["assignee_id"], sid,
        "IP released without lag"
    );
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let v = api.ok("GET", &format!("/primary_ips/{ip}"), None).await;
    assert!(v["primary_ip"]["assignee_id"].is_null());
    api.spec_clean();
}

#[tokio::test]
async fn network_address_rules_hold() {
    let api = Api::new();
    for (range, field) in [
        ("8.8.0.0/16", "ip_range"),
        ("10.0.0.0/25", "ip_range"),
        ("10.0.0.1/16", "ip_range"),
    ] {
        let (s, v) = api
            .call(
                "POST",
                "/networks",
                Some(json!({ "name": "bad", "ip_range": range })),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{range}");
        assert_eq!(v["error"]["details"]["fields"][0]["name"], field);
    }
    let net = api.ok("POST", "/networks", Some(json!({ "name": "n", "ip_range": "10.0.0.0/16",
        "subnets": [{ "type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central" }] }))).await["network"]["id"].as_i64().unwrap();
    let a = api.server("a", json!({})).await;
    let b = api.server("b", json!({})).await;
    let attach = |sid: i64, ip: &str| {
        (
            format!("/servers/{sid}/actions/attach_to_network"),
            json!({ "network": net, "ip": ip }),
        )
    };
    for bad in ["10.0.2.5", "10.0.1.0", "10.0.1.255", "10.0.0.1"] {
        let (p, body) = attach(a, bad);
        assert_eq!(
            api.err("POST", &p, Some(body)).await.1,
            "invalid_input",
            "{bad}"
        );
    }
    let (p, body) = attach(a, "10.0.1.10");
    api.ok("POST", &p, Some(body)).await;
    let (p, body) = attach(b, "10.0.1.10");
    assert_eq!(api.err("POST", &p, Some(body)).await.1, "ip_not_available");
    let (p, body) = attach(a, "10.0.1.11");
    assert_eq!(
        api.err("POST", &p, Some(body)).await.1,
        "server_already_attached"
    );
    api.ok(
        "POST",
        &format!("/networks/{net}/actions/add_route"),
        Some(json!({ "destination": "0.0.0.0/0", "gateway": "10.0.1.10" })),
    )
    .await;
    assert_eq!(
        api.err(
            "POST",
            &format!("/networks/{net}/actions/add_route"),
            Some(json!({ "destination": "0.0.0.0/0", "gateway": "10.0.0.1" }))
        )
        .await
        .1,
        "invalid_input"
    );
    assert_eq!(
        api.err("DELETE", &format!("/networks/{net}"), None).await.1,
        "resource_in_use"
    );
    api.spec_clean();
}

#[tokio::test]
async fn label_selectors_pagination_and_sorting() {
    let api = Api::new();
    for (i, role) in ["kafka", "app", "kafka", "control"].iter().enumerate() {
        api.server(
            &format!("n{i}"),
            json!({ "labels": { "role": role, "cluster": "c" } }),
        )
        .await;
    }
    let names = |v: &Value| {
        v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    for (sel, want) in [
        ("role=kafka", vec!["n0", "n2"]),
        ("role==app", vec!["n1"]),
        ("role!=kafka", vec!["n1", "n3"]),
        ("role in (app,control)", vec!["n1", "n3"]),
        ("role notin (kafka,app)", vec!["n3"]),
        ("cluster,!missing", vec!["n0", "n1", "n2", "n3"]),
        ("!cluster", vec![]),
    ] {
        let q = serde_urlencoded::to_string([("label_selector", sel)]).unwrap();
        assert_eq!(
            names(&api.ok("GET", &format!("/servers?{q}"), None).await),
            want,
            "{sel}"
        );
    }
    assert_eq!(
        api.err("GET", "/servers?label_selector=a%20in%20(b", None)
            .await
            .1,
        "invalid_input"
    );
    let v = api
        .ok("GET", "/servers?per_page=3&page=2&sort=name:desc", None)
        .await;
    assert_eq!(names(&v), vec!["n0"]);
    assert_eq!(v["meta"]["pagination"]["previous_page"], 1);
    assert!(v["meta"]["pagination"]["next_page"].is_null());
    assert_eq!(v["meta"]["pagination"]["total_entries"], 4);
    assert_eq!(
        api.err("GET", "/servers?per_page=51", None).await.1,
        "invalid_input"
    );
    api.spec_clean();
}

#[tokio::test]
async fn uniqueness_catalog_and_input_checks() {
    let api = Api::new();
    api.server("dup", json!({})).await;
    assert_eq!(
        api.err(
            "POST",
            "/servers",
            Some(json!({ "name": "dup", "server_type": "cpx22", "image": "ubuntu-24.04" }))
        )
        .await,
        (409, "uniqueness_error".into())
    );
    assert_eq!(
        api.err(
            "POST",
            "/servers",
            Some(json!({ "name": "Bad_Name", "server_type": "cpx22", "image": "ubuntu-24.04" }))
        )
        .await
        .1,
        "invalid_input"
    );
    assert_eq!(api.err("POST", "/servers", Some(json!({ "name": "x", "server_type": "cpx21", "image": "ubuntu-24.04", "location": "nbg1" }))).await.1, "resource_unavailable");
    assert_eq!(api.err("POST", "/servers", Some(json!({ "name": "x", "server_type": "cpx22", "image": "ubuntu-24.04", "location": "mars1" }))).await.1, "invalid_input");
    let (s, v) = api
        .call(
            "POST",
            "/servers",
            Some(json!({ "name": "x", "server_type": "cpx99", "image": "ubuntu-24.04" })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["details"]["fields"][0]["name"], "server_type");
    assert_eq!(
        api.err(
            "POST",
            "/ssh_keys",
            Some(json!({ "name": "k", "public_key": "not a key" }))
        )
        .await
        .1,
        "invalid_input"
    );
    let fw = json!({ "name": "fw", "rules": [{ "direction": "in", "protocol": "tcp", "source_ips": ["0.0.0.0/0"] }] });
    assert_eq!(
        api.err("POST", "/firewalls", Some(fw)).await.1,
        "invalid_input"
    );
    let (s, _) = api.call("POST", "/servers", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = api.call("POST", "/networks", Some(json!("[1,"))).await;
    assert_eq!(
        (s.as_u16(), v["error"]["code"].as_str()),
        (400, Some("json_error"))
    );
    assert_eq!(api.err("GET", "/actions", None).await.1, "invalid_input");
    api.spec_clean();
}
