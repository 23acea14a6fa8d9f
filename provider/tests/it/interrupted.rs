//! The provider killed mid-run: found as a process below the Terraform it
//! serves, and killed at a moment read from the request log (the control
//! plane's create, a node's create, a server's delete). Terraform fails; the
//! next run, with the same state or none at all, converges with nothing
//! duplicated and nothing left over.

use std::time::{Duration, Instant};

use hcloud_emulator::world::Latency;
use k3strading_e2e::{Run, Terraform, Workdir, process};

use crate::common::*;
use crate::facts::assert_destroyed;
use crate::requests::Requests;

const PROVIDER: &str = "terraform-provider-k3strading";

/// Hetzner-like durations at a third of real time: a server create takes
/// about 3 s, so there is a window to kill in.
fn slow_cloud() -> Cloud {
    Cloud::start(|o| o.latency = Latency::Realistic { scale: 0.3 })
}

/// Runs `args`, waits until `moment` holds for the requests the run made,
/// kills every provider process below that Terraform, and returns the
/// failed run.
fn kill_provider_when(
    cloud: &Cloud,
    wd: &Workdir,
    args: &[&str],
    moment: impl Fn(&Requests) -> bool,
    what: &str,
) -> Run {
    let mark = cloud.mark();
    let mut run = wd.start(args, &[]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !moment(&Requests::since(cloud, &mark)) {
        if run.finished().unwrap() {
            panic!(
                "{what}: Terraform ended before the moment came\n{}",
                run.wait().unwrap().all()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the moment never came\n{}",
            Requests::since(cloud, &mark).render()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let providers = run.descendants_named(PROVIDER);
    assert!(
        !providers.is_empty(),
        "{what}: no {PROVIDER} below Terraform (pid {})",
        run.pid()
    );
    for pid in &providers {
        process::signal(*pid, "KILL").unwrap();
    }
    let out = run.wait().unwrap();
    assert_ne!(
        out.code,
        0,
        "{what}: Terraform succeeded although its provider was killed\n{}",
        out.all()
    );
    // Terraform reports a lost provider either way, depending on whether
    // it was waiting for an answer or had calls cut off.
    let all = out.all();
    assert!(
        all.contains("Plugin did not respond") || all.contains("request was cancelled"),
        "{what}: Terraform did not report the lost provider\n{all}"
    );
    out
}

fn server_creates(r: &Requests) -> usize {
    r.to("POST /servers")
        .filter(|(_, e)| e.status == 201)
        .count()
}

fn running_nodes(cloud: &Cloud) -> usize {
    cloud
        .emu
        .world()
        .servers
        .values()
        .filter(|s| {
            s.server
                .labels
                .get("k3strading.io/role")
                .map(String::as_str)
                != Some("control-plane")
                && s.server.status == hcloud::models::ServerStatus::Running
        })
        .count()
}

fn killed_during_cluster_create(tf: &Terraform) {
    let cloud = slow_cloud();
    let wd = workdir(tf, &cloud, None);
    let mark = cloud.mark();
    kill_provider_when(
        &cloud,
        &wd,
        &APPLY,
        |r| server_creates(r) >= 1,
        "kill during the cluster create",
    );
    let r = Requests::since(&cloud, &mark);
    assert_eq!(
        server_creates(&r),
        1,
        "the kill came after the control plane's create\n{}",
        r.render()
    );
    converged(tf, &cloud, &wd, "provider killed during the cluster create");
}

fn killed_during_node_creates(tf: &Terraform) -> (Cloud, Workdir) {
    let cloud = slow_cloud();
    let wd = workdir(tf, &cloud, None);
    kill_provider_when(
        &cloud,
        &wd,
        &APPLY,
        |r| server_creates(r) >= 2,
        "kill during the node creates",
    );
    // Nothing powers a node on once its provider is gone.
    assert!(
        running_nodes(&cloud) < 4,
        "the kill came after every node was up"
    );
    (cloud, wd)
}

fn killed_during_destroy(tf: &Terraform) {
    let cloud = slow_cloud();
    let wd = workdir(tf, &cloud, None);
    ok(wd.run(&APPLY), "apply");
    // Real-time deletes (3 s each): the cluster's teardown, which waits for
    // the nodes' deletes, cannot begin before the kill lands.
    cloud.emu.world().latency = Latency::Realistic { scale: 1.0 };
    kill_provider_when(
        &cloud,
        &wd,
        &DESTROY,
        |r| r.to("DELETE /servers/{id}").next().is_some(),
        "kill during destroy",
    );
    // The cluster goes last: its control plane is still there.
    assert!(
        cloud
            .emu
            .world()
            .servers
            .values()
            .any(|s| s.server.name == "k3s-trading-dev-control"),
        "the kill came after the cluster's teardown began"
    );
    ok(wd.run(&DESTROY), "destroy again after the kill");
    assert_destroyed(&cloud, "dev", "destroy again after the kill");
    cloud.assert_spec_clean();
}

mod terraform_1_15_5 {
    #[test]
    fn provider_killed_during_the_cluster_create_then_reapply_converges() {
        super::killed_during_cluster_create(&crate::common::terraforms()[0]);
    }

    #[test]
    fn provider_killed_during_the_node_creates_then_reapply_converges() {
        let tf = &crate::common::terraforms()[0];
        let (cloud, wd) = super::killed_during_node_creates(tf);
        super::converged(tf, &cloud, &wd, "provider killed during the node creates");
    }

    #[test]
    fn provider_killed_during_destroy_then_destroy_again_leaves_only_the_ips() {
        super::killed_during_destroy(&crate::common::terraforms()[0]);
    }
}

mod terraform_1_13_5 {
    #[test]
    fn provider_killed_during_the_cluster_create_then_reapply_converges() {
        super::killed_during_cluster_create(&crate::common::terraforms()[1]);
    }

    #[test]
    fn provider_killed_during_the_node_creates_then_reapply_converges() {
        let tf = &crate::common::terraforms()[1];
        let (cloud, wd) = super::killed_during_node_creates(tf);
        super::converged(tf, &cloud, &wd, "provider killed during the node creates");
    }

    #[test]
    fn provider_killed_during_destroy_then_destroy_again_leaves_only_the_ips() {
        super::killed_during_destroy(&crate::common::terraforms()[1]);
    }
}

/// Tomorrow's checkout after an interrupted run: no state at all, servers
/// left behind in every stage of their create. The apply adopts or replaces
/// them and never makes a second one.
#[test]
fn empty_state_apply_after_an_interrupted_run_adopts_what_was_left() {
    let tf = &terraforms()[0];
    let (cloud, _interrupted) = killed_during_node_creates(tf);
    let left: Vec<(i64, String)> = cloud
        .emu
        .world()
        .servers
        .values()
        .map(|s| (s.server.id, s.server.name.clone()))
        .collect();
    assert!(left.len() >= 2, "nothing was left behind: {left:?}");
    let fresh = workdir(tf, &cloud, None);
    assert!(!fresh.path().join("terraform.tfstate").exists());
    let mark = cloud.mark();
    converged(
        tf,
        &cloud,
        &fresh,
        "empty-state apply after an interrupted run",
    );
    let r = Requests::since(&cloud, &mark);
    let w = cloud.emu.world();
    for (id, name) in &left {
        let adopted = w.servers.contains_key(id);
        let replaced =
            r.0.iter()
                .any(|e| e.method == "DELETE" && e.path == format!("/servers/{id}"));
        assert!(
            adopted || replaced,
            "{name} ({id}) vanished without being replaced\n{}",
            r.render()
        );
    }
}

/// A destroy cut short after the control plane was deleted (Hetzner
/// refused the network's delete): the cluster stays in state without a
/// control plane, so the next apply builds it again and the next destroy
/// removes what was left; found by the fault campaign, where the refresh
/// used to drop the cluster and leave its network and key behind.
#[test]
fn a_destroy_cut_short_after_the_control_plane_went_is_finished_later() {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|_| {});
    let wd = workdir(tf, &cloud, None);
    let cut_short = |what: &str| {
        cloud.fault(serde_json::json!({
            "method": "DELETE", "path": "/networks/{id}", "status": 423,
            "code": "locked", "times": 1,
        }));
        let cut = wd.run(&DESTROY).unwrap();
        assert_ne!(cut.code, 0, "{what}: the destroy was not cut short");
        let left = cloud.inventory();
        assert!(left.servers.is_empty(), "{what}: {left:?}");
        assert_eq!(left.networks, 1, "{what}: {left:?}");
    };
    ok(wd.run(&APPLY), "apply");
    cut_short("first destroy");
    // The next apply replaces the cluster and converges.
    converged(tf, &cloud, &wd, "apply after a cut-short destroy");
    cut_short("second destroy");
    // The next destroy removes the rest.
    ok(wd.run(&DESTROY), "destroy after a cut-short destroy");
    assert_destroyed(&cloud, "dev", "destroy after a cut-short destroy");
}
