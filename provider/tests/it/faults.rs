//! Fault runs: under injected API faults the apply succeeds or fails with a
//! clear diagnostic, a re-apply converges, and the inventory holds exactly the
//! seed layout: no orphans, no duplicates. Plus the token canary.

use std::time::{Duration, Instant};

use hcloud_emulator::world::Latency;
use k3strading_e2e::Terraform;
use serde_json::json;

use crate::common::*;

const APPLY: [&str; 5] = ["apply", "-auto-approve", "-no-color", "-var", "env=dev"];

fn converged(tf: &Terraform, cloud: &Cloud, wd: &k3strading_e2e::Workdir, what: &str) {
    let again = wd.run(&APPLY).unwrap();
    assert_eq!(
        again.code,
        0,
        "{what}: re-apply did not converge\n{}",
        again.all()
    );
    ok(
        wd.run(&["plan", "-detailed-exitcode", "-no-color", "-var", "env=dev"]),
        what,
    );
    let inv = cloud.inventory();
    assert_eq!(
        inv.server_names(),
        seed_servers("dev"),
        "{what}: orphans or duplicates on Terraform {}",
        tf.label
    );
    assert_eq!(
        (
            inv.networks,
            inv.firewalls,
            inv.placement_groups,
            inv.ssh_keys,
            inv.primary_ips.len()
        ),
        (1, 1, 3, 1, 2),
        "{what}: {inv:?}"
    );
    cloud.assert_spec_clean();
}

/// Applies under `inject`; the first apply may fail only with `expected_error`.
fn fault_run(
    tf: &Terraform,
    what: &str,
    tweak: impl FnOnce(&mut hcloud_emulator::Options),
    inject: impl FnOnce(&Cloud),
    expected_error: Option<&str>,
) {
    let cloud = Cloud::start(tweak);
    inject(&cloud);
    // Short deadlines, so a stuck action fails the apply quickly.
    let module = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/main.tf"),
    )
    .unwrap();
    let module = module.replace(
        "  server_type = var.server_type\n",
        "  server_type = var.server_type\n  timeouts {\n    create = \"5s\"\n  }\n",
    );
    let module = module.replace(
        "  control_plane_ip    = \"10.0.1.10\"\n",
        "  control_plane_ip    = \"10.0.1.10\"\n  timeouts {\n    create = \"5s\"\n  }\n",
    );
    assert_eq!(module.matches("create = \"5s\"").count(), 3);
    let wd = workdir(tf, &cloud, Some(&module));
    let first = wd.run(&APPLY).unwrap();
    match expected_error {
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
    converged(tf, &cloud, &wd, what);
}

type Tweak = fn(&mut hcloud_emulator::Options);
type Inject = fn(&Cloud);

fn no_tweak(_: &mut hcloud_emulator::Options) {}

/// (name, cloud options, injection, expected first-apply error)
fn table() -> Vec<(&'static str, Tweak, Inject, Option<&'static str>)> {
    vec![
        (
            "rate_limit",
            |o| {
                o.rate_limit = 25;
                o.refill_per_sec = 15.0;
            },
            |_| {},
            None,
        ),
        (
            "conflict",
            no_tweak,
            |c| {
                c.fault(json!({ "method": "POST", "path": "/servers", "status": 409, "code": "conflict", "times": 2 }))
            },
            None,
        ),
        (
            "bad_gateway_on_reads",
            no_tweak,
            |c| c.fault(json!({ "method": "GET", "path": "/networks", "status": 502, "times": 2 })),
            None,
        ),
        (
            "bad_gateway_on_create",
            no_tweak,
            |c| {
                c.fault(json!({ "method": "POST", "path": "/servers", "status": 502, "code": "bad_gateway", "times": 1 }))
            },
            None,
        ),
        (
            "locked",
            no_tweak,
            |c| {
                c.fault(json!({ "method": "POST", "path": "/servers/{id}/actions/attach_to_network", "status": 423, "code": "locked", "times": 2 }))
            },
            None,
        ),
        (
            "ambiguous_create",
            no_tweak,
            |c| {
                c.fault(json!({ "method": "POST", "path": "/servers", "mode": "commit_then_drop", "times": 1 }))
            },
            None,
        ),
        (
            "failing_action",
            no_tweak,
            |c| {
                c.action_fault(json!({ "command": "start_server", "mode": "fail", "code": "boot_failed", "message": "no bootable disk" }))
            },
            Some("boot_failed"),
        ),
        (
            "stuck_action",
            no_tweak,
            |c| {
                c.action_fault(
                    json!({ "command": "attach_to_network", "mode": "stuck", "duration_ms": 7000 }),
                )
            },
            Some("did not finish"),
        ),
    ]
}

fn run_fault(tf: &Terraform, name: &str) {
    let (what, tweak, inject, expected) = table().into_iter().find(|(n, ..)| *n == name).unwrap();
    fault_run(tf, what, tweak, inject, expected);
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
fn primary_ip_release_lag_is_ridden_out() {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|_| {});
    let wd = workdir(tf, &cloud, None);
    ok(wd.run(&APPLY), "apply");
    // Hetzner keeps reporting the IPs as assigned for a while after delete.
    cloud.emu.world().ip_release_lag_ms = 4000;
    ok(
        wd.run(&["destroy", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "destroy",
    );
    assert!(
        cloud
            .inventory()
            .primary_ips
            .iter()
            .any(|(_, _, assigned, _)| *assigned),
        "no lag to ride out"
    );
    ok(wd.run(&APPLY), "apply while the IPs still look assigned");
    let polls = cloud
        .emu
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/primary_ips/"))
        .count();
    assert!(polls >= 2, "the provider did not wait for the release");
    converged(tf, &cloud, &wd, "release lag");
}

#[test]
fn provider_killed_mid_apply_then_reapply_converges() {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|o| o.latency = Latency::Realistic { scale: 0.1 });
    let wd = workdir(tf, &cloud, None);
    let mut child = wd.spawn(&APPLY).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until the first server exists, then kill the provider.
    while cloud.inventory().servers.is_empty() {
        assert!(Instant::now() < deadline, "apply never created a server");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pattern = format!(
        "{}/.plugins/terraform-provider-k3strading",
        wd.path().display()
    );
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &pattern])
        .status()
        .unwrap();
    assert!(killed.success(), "no provider process to kill");
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "apply survived the provider being killed"
    );
    converged(tf, &cloud, &wd, "provider killed mid-apply");
}

#[test]
fn the_token_never_appears_in_state_plans_logs_or_the_cloud() {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|_| {});
    let wd = workdir(tf, &cloud, None);
    let mut seen = Vec::new();
    for args in [
        &APPLY[..],
        &["plan", "-no-color", "-var", "env=dev"],
        &["show", "-json"],
        &["destroy", "-auto-approve", "-no-color", "-var", "env=dev"],
    ] {
        let run = wd.run_env(args, &[("TF_LOG", "TRACE")]).unwrap();
        assert_eq!(
            run.code,
            0,
            "{args:?}\n{}",
            run.stderr
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(
            run.stderr
                .contains("provider.terraform-provider-k3strading"),
            "provider logs missing from TF_LOG=TRACE"
        );
        seen.push(run.all());
    }
    seen.push(std::fs::read_to_string(wd.path().join("terraform.tfstate")).unwrap());
    seen.push(
        std::fs::read_to_string(wd.path().join("terraform.tfstate.backup")).unwrap_or_default(),
    );
    seen.push(serde_json::to_string(&*cloud.emu.world()).unwrap());
    seen.push(serde_json::to_string(&cloud.emu.request_log()).unwrap());
    for (i, text) in seen.iter().enumerate() {
        assert!(!text.contains(TOKEN), "the token leaked into output #{i}");
    }
}

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
