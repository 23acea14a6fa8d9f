//! Fault runs: under injected API faults the apply succeeds or fails with a
//! clear diagnostic, the request log (or the actions) shows the fault really
//! happened, a re-apply converges, and the cloud holds the full facts of the
//! seed layout: no orphans, no duplicates. Plus a foreign server that shares
//! a node's name.

use k3strading_e2e::Terraform;
use serde_json::json;

use crate::common::*;
use crate::requests::{Requests, endpoint, has_query};

/// Applies under `case`'s fault; the first apply may fail only with its
/// expected error; the fault must show in the request log or the actions.
fn fault_run(tf: &Terraform, what: &str, case: FaultCase) {
    let cloud = Cloud::start(case.tweak);
    (case.inject)(&cloud);
    // Short deadlines, so a stuck action fails the apply quickly.
    let module = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/main.tf"),
    )
    .unwrap();
    // Whatever `terraform fmt` aligned it to.
    let module: String = module
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("server_type") && t.ends_with("= var.server_type") {
                format!("{l}\n  timeouts {{\n    create = \"5s\"\n  }}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let module = module.replace(
        "  control_plane_ip    = \"10.0.1.10\"\n",
        "  control_plane_ip    = \"10.0.1.10\"\n  timeouts {\n    create = \"5s\"\n  }\n",
    );
    assert_eq!(module.matches("create = \"5s\"").count(), 3);
    let wd = workdir(tf, &cloud, Some(&module));
    let first = wd.run(&APPLY).unwrap();
    match case.expected_error {
        None => assert_eq!(first.code, 0, "{what}: apply failed\n{}", first.all()),
        Some(msg) => {
            assert_ne!(first.code, 0, "{what}: apply should have failed");
            assert!(
                first.all().contains(msg),
                "{what}: unclear diagnostic, wanted {msg:?}\n{}",
                first.all()
            );
        }
    }
    (case.fired)(&cloud, &Requests::all(&cloud));
    converged(tf, &cloud, &wd, what);
}

struct FaultCase {
    tweak: fn(&mut hcloud_emulator::Options),
    inject: fn(&Cloud),
    /// What the first apply must fail with, when it must.
    expected_error: Option<&'static str>,
    /// Asserts from the request log and the world that the fault happened.
    fired: fn(&Cloud, &Requests),
}

fn no_tweak(_: &mut hcloud_emulator::Options) {}

/// Seconds since the epoch of an RFC 3339 time with second precision in UTC
/// (`2026-07-01T12:00:00Z`), as the cloud writes action start times.
fn epoch_secs(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| t.get(r).unwrap().parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    // Days from civil (proleptic Gregorian), with March as the first month.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

/// Asserts that `ep` was answered `status` exactly `n` times.
fn expect_count(r: &Requests, ep: &str, status: u16, n: usize) {
    let got = r.count(ep, status);
    assert_eq!(
        got,
        n,
        "{ep} was answered {status} {got} times, not {n}\n{}",
        r.render()
    );
}

fn server_creates(r: &Requests) -> usize {
    r.to("POST /servers").count()
}

fn table(name: &str) -> FaultCase {
    match name {
        "rate_limit" => FaultCase {
            tweak: |o| {
                o.rate_limit = 20;
                o.refill_per_sec = 10.0;
            },
            // The budget is spent before the run starts. How many slots have
            // refilled by the first request depends on how fast the run
            // starts, so the first catalog read is also answered 429 for sure.
            inject: |c| {
                assert_eq!(c.admin("POST", "/budget", &json!({ "remaining": 0 })), 200);
                c.fault(json!({
                    "method": "GET", "path": "/server_types", "status": 429,
                    "code": "rate_limit_exceeded", "times": 1,
                }));
            },
            expected_error: None,
            fired: |_, r| {
                let (i, refused) =
                    r.0.iter()
                        .enumerate()
                        .find(|(_, e)| e.status == 429)
                        .unwrap_or_else(|| panic!("no request was answered 429\n{}", r.render()));
                let ep = endpoint(refused);
                assert!(
                    r.to(&ep)
                        .any(|(j, e)| j > i && (200..300).contains(&e.status)),
                    "{ep} was not tried again after the 429\n{}",
                    r.render()
                );
            },
        },
        "conflict" => FaultCase {
            tweak: no_tweak,
            inject: |c| {
                c.fault(json!({ "method": "POST", "path": "/servers", "status": 409, "code": "conflict", "times": 2 }))
            },
            expected_error: None,
            fired: |_, r| {
                expect_count(r, "POST /servers", 409, 2);
                expect_count(r, "POST /servers", 201, 5);
                assert_eq!(
                    server_creates(r),
                    7,
                    "one retry per conflict\n{}",
                    r.render()
                );
            },
        },
        "bad_gateway_on_reads" => {
            FaultCase {
                tweak: no_tweak,
                inject: |c| {
                    c.fault(json!({ "method": "GET", "path": "/primary_ips", "status": 502, "times": 2 }))
                },
                expected_error: None,
                fired: |_, r| {
                    let failed: Vec<usize> = r
                        .to("GET /primary_ips")
                        .filter(|(_, e)| e.status == 502)
                        .map(|(i, _)| i)
                        .collect();
                    expect_count(r, "GET /primary_ips", 502, 2);
                    let last = *failed.last().unwrap();
                    assert!(
                        r.to("GET /primary_ips")
                            .any(|(i, e)| i > last && e.status == 200),
                        "the read was not repeated after the 502\n{}",
                        r.render()
                    );
                },
            }
        }
        "bad_gateway_on_create" => FaultCase {
            tweak: no_tweak,
            inject: |c| {
                c.fault(json!({ "method": "POST", "path": "/servers", "status": 502, "code": "bad_gateway", "times": 1 }))
            },
            expected_error: None,
            fired: |_, r| {
                let creates: Vec<u16> = r.to("POST /servers").map(|(_, e)| e.status).collect();
                assert_eq!(
                    creates.first(),
                    Some(&502),
                    "the first server create was not answered 502\n{}",
                    r.render()
                );
                expect_count(r, "POST /servers", 201, 5);
                assert_eq!(server_creates(r), 6, "one retry, no more\n{}", r.render());
            },
        },
        "locked" => FaultCase {
            tweak: no_tweak,
            inject: |c| {
                c.fault(json!({ "method": "POST", "path": "/servers/{id}/actions/attach_to_network", "status": 423, "code": "locked", "times": 2 }))
            },
            expected_error: None,
            fired: |_, r| {
                let ep = "POST /servers/{id}/actions/attach_to_network";
                expect_count(r, ep, 423, 2);
                expect_count(r, ep, 201, 5);
            },
        },
        "ambiguous_create" => FaultCase {
            tweak: no_tweak,
            inject: |c| {
                c.fault(json!({ "method": "POST", "path": "/servers", "mode": "commit_then_drop", "times": 1 }))
            },
            expected_error: None,
            fired: |c, r| {
                // The control plane is created first and alone: its create
                // was committed (201), and instead of polling the create
                // action the provider looked the server up by name, because
                // the answer never reached it.
                let (i, first) = r.to("POST /servers").next().unwrap();
                assert_eq!(first.status, 201, "{}", r.render());
                let next = r.0.get(i + 1).unwrap();
                assert!(
                    endpoint(next) == "GET /servers"
                        && has_query(next, "name", "k3s-trading-dev-control"),
                    "the provider did not look the server up after its create \
                     (so the answer reached it)\n{}",
                    r.render()
                );
                assert_eq!(server_creates(r), 5, "created twice\n{}", r.render());
                assert!(
                    c.emu
                        .world()
                        .servers
                        .values()
                        .any(|s| s.server.name == "k3s-trading-dev-control"),
                    "the committed create left no server"
                );
            },
        },
        "failing_action" => FaultCase {
            tweak: no_tweak,
            inject: |c| {
                c.action_fault(json!({ "command": "start_server", "mode": "fail", "code": "boot_failed", "message": "no bootable disk" }))
            },
            expected_error: Some("boot_failed"),
            fired: |c, r| {
                let failed: Vec<i64> = c
                    .emu
                    .world()
                    .actions
                    .values()
                    .filter(|a| {
                        a.action.command == "start_server"
                            && a.action.status == hcloud::models::ActionStatus::Error
                            && a.action
                                .error
                                .as_ref()
                                .is_some_and(|e| e.code == "boot_failed")
                    })
                    .map(|a| a.action.id)
                    .collect();
                assert_eq!(failed.len(), 1, "no failed start_server action");
                assert!(
                    r.polls_of_action(failed[0]) >= 1,
                    "the failed action was never polled\n{}",
                    r.render()
                );
            },
        },
        "stuck_action" => FaultCase {
            tweak: no_tweak,
            inject: |c| {
                c.action_fault(
                    json!({ "command": "attach_to_network", "mode": "stuck", "duration_ms": 7000 }),
                )
            },
            expected_error: Some("did not finish"),
            fired: |c, r| {
                let stuck: Vec<i64> = c
                    .emu
                    .world()
                    .actions
                    .values()
                    .filter(|a| {
                        let started_ms = epoch_secs(&a.action.started) * 1000;
                        a.action.command == "attach_to_network"
                            && a.done_at.is_some_and(|d| d - (started_ms as u64) >= 5000)
                    })
                    .map(|a| a.action.id)
                    .collect();
                assert_eq!(stuck.len(), 1, "no long-running attach action");
                assert!(
                    r.polls_of_action(stuck[0]) >= 2,
                    "the stuck action was not polled until the deadline\n{}",
                    r.render()
                );
            },
        },
        other => panic!("no fault case {other}"),
    }
}

fn run_fault(tf: &Terraform, name: &str) {
    fault_run(tf, name, table(name));
}

macro_rules! fault_tests {
    ($($name:ident),* $(,)?) => {
        mod terraform_1_15_5 {
            $(#[test] fn $name() { super::run_fault(&crate::common::terraforms()[0], stringify!($name)); })*
        }
        mod terraform_1_13_5 {
            $(#[test] fn $name() { super::run_fault(&crate::common::terraforms()[1], stringify!($name)); })*
        }
    };
}

fault_tests!(
    rate_limit,
    conflict,
    bad_gateway_on_reads,
    bad_gateway_on_create,
    locked,
    ambiguous_create,
    failing_action,
    stuck_action
);

#[test]
fn a_foreign_server_with_a_node_name_is_never_touched() {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|_| {});
    // Someone's own server, without the cluster label, has a node's name.
    let foreign = {
        let mut w = cloud.emu.world();
        let id = w.id();
        let mut server = hcloud::models::Server {
            id,
            name: "k3s-trading-dev-app-0".into(),
            ..Default::default()
        };
        server.status = hcloud::models::ServerStatus::Running;
        w.servers.insert(
            id,
            hcloud_emulator::world::ServerRec {
                server,
                user_data: None,
                ssh_keys: Vec::new(),
            },
        );
        id
    };
    let wd = workdir(tf, &cloud, None);
    let run = wd.run(&APPLY).unwrap();
    assert_ne!(run.code, 0);
    assert!(
        run.all().contains("is not part of this cluster"),
        "{}",
        run.all()
    );
    assert!(
        cloud.emu.world().servers.contains_key(&foreign),
        "the foreign server was deleted"
    );
}
