//! The Hetzner client against the local cloud: retry rules, rate limits,
//! ambiguous creates, locked resources, pagination and action batching.

use std::time::{Duration, Instant};

use hcloud::labels::Selector;
use hcloud::models::Labels;
use hcloud::{CreatePublicNet, CreateServer, Error, ErrorCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::{Cloud, TOKEN, options};

fn server_body(name: &str) -> CreateServer {
    CreateServer {
        name: name.into(),
        server_type: "cpx22".into(),
        image: "ubuntu-24.04".into(),
        location: "fsn1".into(),
        start_after_create: false,
        public_net: CreatePublicNet {
            enable_ipv4: false,
            enable_ipv6: false,
            ipv4: None,
        },
        ..CreateServer::default()
    }
}

async fn fault(
    cloud: &Cloud,
    method: &str,
    path: &str,
    status: u16,
    code: Option<&str>,
    times: u32,
) {
    cloud.admin("faults", json!({ "method": method, "path": path, "status": status, "code": code, "times": times })).await;
}

#[tokio::test]
async fn transient_errors_are_retried_and_others_are_not() {
    let cloud = Cloud::default().await;
    let c = cloud.client();
    for (status, code) in [
        (409, Some("conflict")),
        (429, Some("rate_limit_exceeded")),
        (502, Some("bad_gateway")),
        (504, Some("timeout")),
        (502, None),
        (504, None),
    ] {
        fault(&cloud, "GET", "/locations", status, code, 2).await;
        let before = c.total_requests();
        assert_eq!(c.locations().await.unwrap().len(), 6, "{status} {code:?}");
        assert_eq!(
            c.total_requests() - before,
            3,
            "{status} {code:?}: two failures then success"
        );
    }
    for (status, code) in [
        (422, "invalid_input"),
        (409, "uniqueness_error"),
        (423, "locked"),
        (403, "forbidden"),
        (500, "server_error"),
    ] {
        fault(&cloud, "GET", "/locations", status, Some(code), 1).await;
        let before = c.total_requests();
        let err = c.locations().await.unwrap_err();
        assert_eq!(err.code().map(ErrorCode::as_str), Some(code));
        assert_eq!(c.total_requests() - before, 1, "{code} must not be retried");
    }
    cloud.assert_spec_clean();
}

#[tokio::test]
async fn retries_stop_after_five_tries() {
    let cloud = Cloud::default().await;
    let c = cloud.client();
    fault(&cloud, "GET", "/server_types", 409, Some("conflict"), 10).await;
    let err = c.server_types().await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Conflict));
    assert_eq!(c.request_counts()["GET /server_types"], 5);
}

#[tokio::test]
async fn ambiguous_answers_to_creates_are_not_blindly_retried() {
    let cloud = Cloud::default().await;
    let c = cloud.client();
    fault(&cloud, "POST", "/servers", 502, Some("bad_gateway"), 1).await;
    let err = c.create_server(&server_body("amb-1")).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(c.request_counts()["POST /servers"], 1);
    // A conflict is known not to have happened, so it is retried.
    fault(&cloud, "POST", "/servers", 409, Some("conflict"), 1).await;
    c.create_server(&server_body("amb-2")).await.unwrap();
    assert_eq!(c.request_counts()["POST /servers"], 3);
}

#[tokio::test]
async fn locked_is_retried_only_where_the_call_opts_in() {
    let mut opts = options();
    opts.latency = hcloud_emulator::world::Latency::Realistic { scale: 0.005 };
    let cloud = Cloud::start(opts).await;
    let c = cloud.client();
    let net = c
        .create_network(
            "n",
            "10.0.0.0/16",
            "10.0.1.0/24",
            "eu-central",
            &Labels::new(),
        )
        .await
        .unwrap();
    let created = c.create_server(&server_body("locked-1")).await.unwrap();
    // create_server runs ~45 ms at this scale: the server is locked meanwhile.
    let err = c.poweron(created.server.id).await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Locked));
    // attach_to_network opts in and rides the lock out.
    let action = c
        .attach_to_network(created.server.id, net.id, Some("10.0.1.10"))
        .await
        .unwrap();
    c.wait_action(&action, Duration::from_secs(10), &CancellationToken::new())
        .await
        .unwrap();
    assert!(c.request_counts()["POST /servers/{id}/actions/attach_to_network"] >= 2);
    let s = c.server(created.server.id).await.unwrap();
    assert_eq!(s.private_ip(net.id), Some("10.0.1.10"));
    cloud.assert_spec_clean();
}

#[tokio::test]
async fn rate_limit_429_waits_until_reset_then_succeeds() {
    let mut opts = options();
    opts.rate_limit = 3;
    opts.refill_per_sec = 2.0;
    let cloud = Cloud::start(opts).await;
    let c = cloud.client();
    cloud.admin("budget", json!({ "remaining": 0 })).await;
    let t = Instant::now();
    c.locations().await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "did not wait for the reset: {:?}",
        t.elapsed()
    );
    assert!(cloud.requests().await.iter().any(|r| r.ends_with(" 429")));
    cloud.assert_spec_clean();
}

#[tokio::test]
async fn the_client_paces_itself_before_the_budget_runs_dry() {
    let mut opts = options();
    opts.rate_limit = 40;
    opts.refill_per_sec = 20.0;
    let cloud = Cloud::start(opts).await;
    let c = cloud.client();
    for _ in 0..60 {
        c.locations().await.unwrap();
    }
    let rejected = cloud
        .requests()
        .await
        .iter()
        .filter(|r| r.ends_with(" 429"))
        .count();
    assert_eq!(rejected, 0, "the client let the budget run dry");
    let (limit, remaining) = c.rate_limit();
    assert_eq!(limit, Some(40));
    assert!(remaining.is_some());
}

/// A burst of concurrent requests (fifty nodes at once) against a nearly
/// empty bucket queues at the refill rate instead of meeting 429s.
#[tokio::test]
async fn concurrent_requests_reserve_their_slots_instead_of_bursting_into_429s() {
    let mut opts = options();
    opts.rate_limit = 400;
    opts.refill_per_sec = 40.0;
    let cloud = Cloud::start(opts).await;
    let c = cloud.client();
    c.locations().await.unwrap();
    // The bucket at a tenth, as after a busy hour.
    cloud.admin("budget", json!({ "remaining": 40 })).await;
    c.locations().await.unwrap();
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..120 {
        let c = c.clone();
        burst.spawn(async move { c.locations().await });
    }
    while let Some(r) = burst.join_next().await {
        r.unwrap().unwrap();
    }
    let rejected = cloud
        .requests()
        .await
        .iter()
        .filter(|r| r.ends_with(" 429"))
        .count();
    assert_eq!(rejected, 0, "the burst ran the budget dry");
}

#[tokio::test]
async fn an_ambiguous_create_is_adopted_without_a_duplicate() {
    let cloud = Cloud::default().await;
    let c = cloud.client();
    cloud
        .admin(
            "faults",
            json!({ "method": "POST", "path": "/servers", "mode": "commit_then_drop" }),
        )
        .await;
    let body = server_body("adopt-me");
    let (server, adopted) = c
        .create_or_adopt(
            || async { c.create_server(&body).await.map(|r| r.server) },
            || async { Ok(c.servers(None, Some("adopt-me")).await?.into_iter().next()) },
        )
        .await
        .unwrap();
    assert!(adopted);
    assert_eq!(server.name, "adopt-me");
    assert_eq!(c.servers(None, Some("adopt-me")).await.unwrap().len(), 1);
    cloud.assert_spec_clean();
}

#[tokio::test]
async fn pagination_follows_next_page_past_fifty_items() {
    let cloud = Cloud::default().await;
    let c = cloud.client();
    let mut labels = Labels::new();
    labels.insert("batch".into(), "p".into());
    for i in 0..57 {
        c.create_placement_group(&format!("pg-{i}"), &labels)
            .await
            .unwrap();
    }
    let all = c
        .placement_groups(Some(&Selector::new().eq("batch", "p")), None)
        .await
        .unwrap();
    assert_eq!(all.len(), 57);
    let mut names: Vec<_> = all.iter().map(|g| g.name.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), 57);
    assert_eq!(c.request_counts()["GET /placement_groups"], 2);
    cloud.assert_spec_clean();
}

#[tokio::test]
async fn action_waits_batch_at_most_25_ids_per_poll_and_report_failures() {
    let mut opts = options();
    opts.latency = hcloud_emulator::world::Latency::Realistic { scale: 0.01 };
    let cloud = Cloud::start(opts).await;
    let c = cloud.client();
    let mut actions = Vec::new();
    for i in 0..30 {
        actions.push(
            c.create_server(&server_body(&format!("batch-{i}")))
                .await
                .unwrap()
                .action,
        );
    }
    let done = c
        .wait_actions(&actions, Duration::from_secs(20), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(done.len(), 30);
    let polls: Vec<usize> = cloud
        .request_log()
        .await
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"] == "/actions")
        .map(|r| r["query"].as_str().unwrap_or("").matches("id=").count())
        .collect();
    // The first round asks for all 30 in two requests (25 + 5), never more
    // than 25 ids at once, and never one request per action.
    assert_eq!(polls.get(..2), Some(&[25, 5][..]), "{polls:?}");
    assert!(polls.iter().all(|n| (1..=25).contains(n)), "{polls:?}");
    assert!(!c.request_counts().contains_key("GET /actions/{id}"));

    cloud.admin("action-faults", json!({ "command": "start_server", "mode": "fail", "code": "boot_failed", "message": "no bootable disk" })).await;
    let a = c.poweron(done[0].resources[0].id).await.unwrap();
    match c
        .wait_action(&a, Duration::from_secs(10), &CancellationToken::new())
        .await
        .unwrap_err()
    {
        Error::ActionFailed { command, error, .. } => {
            assert_eq!(command, "start_server");
            assert_eq!(error.code, "boot_failed");
        }
        other => panic!("{other}"),
    }
    cloud
        .admin(
            "action-faults",
            json!({ "command": "stop_server", "mode": "stuck" }),
        )
        .await;
    let a = c.poweroff(done[1].resources[0].id).await.unwrap();
    let err = c
        .wait_action(&a, Duration::from_millis(200), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    cloud.assert_spec_clean();
}

/// Separate waits of one client (a node resource each, in the provider)
/// share the poller: twenty concurrent waits cost about as many polls as
/// one, each poll asks for every action still running, and a wait that gives
/// up stops being polled for.
#[tokio::test]
async fn concurrent_waits_share_one_poller() {
    let mut opts = options();
    opts.latency = hcloud_emulator::world::Latency::Realistic { scale: 0.02 };
    let cloud = Cloud::start(opts).await;
    let c = cloud.client();
    let single = c.create_server(&server_body("alone")).await.unwrap().action;
    c.wait_action(&single, Duration::from_secs(20), &CancellationToken::new())
        .await
        .unwrap();
    let alone = c.request_counts().get("GET /actions").copied().unwrap_or(0);
    assert!(alone >= 2, "a 180 ms create took {alone} polls");

    let mut actions = Vec::new();
    for i in 0..20 {
        actions.push(
            c.create_server(&server_body(&format!("shared-{i}")))
                .await
                .unwrap()
                .action,
        );
    }
    let before = c.request_counts().get("GET /actions").copied().unwrap_or(0);
    let mut waits = tokio::task::JoinSet::new();
    for a in actions {
        let c = c.clone();
        waits.spawn(async move {
            c.wait_action(&a, Duration::from_secs(20), &CancellationToken::new())
                .await
        });
    }
    while let Some(w) = waits.join_next().await {
        w.unwrap().unwrap();
    }
    let shared = c.request_counts()["GET /actions"] - before;
    assert!(
        shared <= alone + 2,
        "20 concurrent waits took {shared} polls; one wait alone took {alone}"
    );

    // A wait that gives up leaves nothing polling behind it.
    cloud
        .admin(
            "action-faults",
            json!({ "command": "create_server", "mode": "stuck" }),
        )
        .await;
    let stuck = c.create_server(&server_body("stuck")).await.unwrap().action;
    let err = c
        .wait_action(
            &stuck,
            Duration::from_millis(100),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_giving_up = c.request_counts()["GET /actions"];
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.request_counts()["GET /actions"], after_giving_up);
}

#[tokio::test]
async fn the_token_never_shows_in_errors_or_debug_output() {
    let cloud = Cloud::default().await;
    let c = cloud.client();
    fault(&cloud, "GET", "/servers", 403, Some("forbidden"), 1).await;
    let err = c.servers(None, None).await.unwrap_err();
    for text in [err.to_string(), format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
    let ErrorCode::Forbidden = err.code().cloned().unwrap() else {
        panic!("{err}")
    };
    match err {
        Error::Api { error, .. } => assert!(error.correlation_id.is_some()),
        other => panic!("{other}"),
    }
}
