//! Hetzner's limits on servers: ten per spread placement group, and the
//! project's server quota.

use serde_json::json;

use crate::common::options;
use crate::rules::Api;

#[tokio::test]
async fn spread_groups_hold_ten_servers_and_the_quota_caps_the_project() {
    let mut opts = options();
    opts.server_limit = Some(12);
    let api = Api::with(opts);
    let pg = api
        .ok(
            "POST",
            "/placement_groups",
            Some(json!({ "name": "spread", "type": "spread" })),
        )
        .await["placement_group"]["id"]
        .as_i64()
        .unwrap();
    for i in 0..10 {
        api.server(&format!("g{i}"), json!({ "placement_group": pg }))
            .await;
    }
    let in_group = |name: &str| {
        Some(
            json!({ "name": name, "server_type": "cpx22", "image": "ubuntu-24.04",
            "start_after_create": false, "placement_group": pg,
            "public_net": { "enable_ipv4": false, "enable_ipv6": false } }),
        )
    };
    assert_eq!(
        api.err("POST", "/servers", in_group("g10")).await,
        (422, "placement_error".into()),
        "an eleventh server in a spread group"
    );

    // Outside the group, the project quota of 12 is what stops the 13th.
    let a = api.server("free-a", json!({})).await;
    api.server("free-b", json!({})).await;
    let (s, v) = api
        .call(
            "POST",
            "/servers",
            Some(json!({ "name": "free-c", "server_type": "cpx22", "image": "ubuntu-24.04" })),
        )
        .await;
    assert_eq!(s.as_u16(), 403, "{v}");
    assert_eq!(v["error"]["code"], "resource_limit_exceeded", "{v}");
    assert_eq!(v["error"]["details"]["limits"][0]["name"], "server_limit");
    assert_eq!(
        api.ok("GET", "/servers", None).await["meta"]["pagination"]["total_entries"],
        12
    );

    // A deleted server frees its slot once its delete action has finished.
    api.ok("DELETE", &format!("/servers/{a}"), None).await;
    let _ = api.ok("GET", "/servers", None).await;
    api.server("free-c", json!({})).await;
    api.spec_clean();
}

#[tokio::test]
async fn without_a_quota_servers_are_not_limited() {
    let api = Api::new();
    assert_eq!(api.emu.options().server_limit, None);
    for i in 0..13 {
        api.server(&format!("s{i}"), json!({})).await;
    }
    api.spec_clean();
}
