//! The daily loop: apply → nothing to change → destroy (only the Primary IPs
//! stay, unassigned and protected) → apply with empty state reuses them →
//! drift → import.

use k3strading_e2e::Terraform;
use serde_json::Value;

use crate::common::*;
use crate::facts::{assert_converged, assert_destroyed};

fn daily_loop(tf: &Terraform) {
    let cloud = Cloud::start(|_| {});
    let wd = workdir(tf, &cloud, None);
    let apply = ok(
        wd.run(&["apply", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "first apply",
    );
    println!(
        "Terraform {}: first apply of terraform/ took {:?}",
        tf.label, apply.elapsed
    );
    assert_converged(&cloud, "dev", "first apply");
    let first = cloud.inventory();
    let outputs: Value =
        serde_json::from_str(&ok(wd.run(&["output", "-json"]), "outputs").stdout).unwrap();
    let cp_ip = outputs["control_plane_ipv4"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let kafka_ip = outputs["kafka_ip"]["value"].as_str().unwrap().to_owned();
    assert_ne!(cp_ip, kafka_ip);
    // known_hosts pins every server: each address carries the host key whose
    // fingerprint (by OpenSSH's ssh-keygen) the server's label holds.
    {
        let known_hosts = outputs["known_hosts"]["value"].as_str().unwrap();
        let w = cloud.emu.world();
        let mut pinned = 0;
        for rec in w.servers.values() {
            let s = &rec.server;
            let label = &s.labels["k3strading.io/host-key"];
            let mut addrs: Vec<String> = s.private_net.iter().map(|p| p.ip.clone()).collect();
            addrs.extend(w.public_ipv4(s.id).map(|i| i.ip));
            for addr in addrs {
                let line = known_hosts
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(addr.as_str()))
                    .unwrap_or_else(|| panic!("{addr} ({}) is not in known_hosts", s.name));
                let key = line.split_once(' ').unwrap().1;
                assert_eq!(&crate::facts::openssh_fingerprint(key), label, "{}", s.name);
                pinned += 1;
            }
        }
        assert_eq!(pinned, known_hosts.lines().count(), "{known_hosts}");
        assert_eq!(pinned, 7, "5 private addresses and 2 public ones");
    }
    {
        let w = cloud.emu.world();
        let by_name = |n: &str| {
            w.servers
                .values()
                .find(|s| s.server.name == n)
                .unwrap()
                .server
                .clone()
        };
        let cp = by_name("k3s-trading-dev-control");
        assert_eq!(w.public_ipv4(cp.id).unwrap().ip, cp_ip);
        assert_eq!(cp.private_net[0].ip, "10.0.1.10");
        let k0 = by_name("k3s-trading-dev-kafka-0");
        assert_eq!(
            w.public_ipv4(k0.id).unwrap().ip,
            kafka_ip,
            "Primary IP #2 belongs on kafka-0"
        );
        for n in ["kafka-1", "kafka-2", "app-0"] {
            let s = by_name(&format!("k3s-trading-dev-{n}"));
            assert!(
                w.public_ipv4(s.id).is_none(),
                "{n} must have no public IPv4"
            );
            assert!(
                !w.primary_ips
                    .values()
                    .any(|p| p.kind == "ipv6" && p.assignee_id == Some(s.id)),
                "{n} has IPv6"
            );
            assert_eq!(s.labels["k3strading.io/cluster"], "k3s-trading-dev");
        }
        assert_eq!(
            by_name("k3s-trading-dev-app-0").private_net[0].ip,
            "10.0.1.30"
        );
        let net = w.networks.values().next().unwrap();
        assert!(
            net.routes
                .iter()
                .any(|r| r.destination == "0.0.0.0/0" && r.gateway == "10.0.1.10"),
            "no NAT route"
        );
        let ud = &w
            .servers
            .values()
            .find(|s| s.server.name == "k3s-trading-dev-kafka-1")
            .unwrap()
            .user_data;
        assert!(
            ud.as_deref()
                .unwrap()
                .contains("ip route replace default via 10.0.1.1")
        );
    }

    ok(
        wd.run(&["plan", "-detailed-exitcode", "-no-color", "-var", "env=dev"]),
        "re-plan with refresh",
    );
    ok(
        wd.run(&[
            "plan",
            "-refresh=false",
            "-detailed-exitcode",
            "-no-color",
            "-var",
            "env=dev",
        ]),
        "re-plan without refresh",
    );

    ok(
        wd.run(&["destroy", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "destroy",
    );
    assert_destroyed(&cloud, "dev", "destroy");

    // Tomorrow: a fresh checkout, no state at all.
    let wd2 = workdir(tf, &cloud, None);
    ok(
        wd2.run(&["apply", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "apply with empty state",
    );
    assert_converged(&cloud, "dev", "apply with empty state");
    let again = cloud.inventory();
    let addrs = |i: &Inventory| {
        let mut a: Vec<(String, String)> = i
            .primary_ips
            .iter()
            .map(|(n, ip, _, _)| (n.clone(), ip.clone()))
            .collect();
        a.sort();
        a
    };
    assert_eq!(addrs(&again), addrs(&first), "Primary IPs were not reused");
    let outputs: Value =
        serde_json::from_str(&ok(wd2.run(&["output", "-json"]), "outputs").stdout).unwrap();
    assert_eq!(outputs["control_plane_ipv4"]["value"], cp_ip.as_str());
    assert_eq!(outputs["kafka_ip"]["value"], kafka_ip.as_str());

    // Drift: a node deleted outside Terraform is planned for creation.
    let app_id = cloud
        .emu
        .world()
        .servers
        .values()
        .find(|s| s.server.name == "k3s-trading-dev-app-0")
        .unwrap()
        .server
        .id;
    cloud.emu.world().servers.remove(&app_id);
    let plan = wd2
        .run(&["plan", "-detailed-exitcode", "-no-color", "-var", "env=dev"])
        .unwrap()
        .expect_code(2, "plan after drift")
        .unwrap();
    assert!(
        plan.stdout
            .contains("k3strading_node.app[0] will be created"),
        "{}",
        plan.stdout
    );
    ok(
        wd2.run(&["apply", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "apply after drift",
    );
    // Labels changed outside are planned back in place.
    let k1 = cloud
        .emu
        .world()
        .servers
        .values()
        .find(|s| s.server.name == "k3s-trading-dev-kafka-1")
        .unwrap()
        .server
        .id;
    cloud
        .emu
        .world()
        .servers
        .get_mut(&k1)
        .unwrap()
        .server
        .labels
        .insert("env".into(), "tampered".into());
    let plan = wd2
        .run(&["plan", "-detailed-exitcode", "-no-color", "-var", "env=dev"])
        .unwrap()
        .expect_code(2, "plan after label drift")
        .unwrap();
    assert!(
        plan.stdout.contains("updated in-place") && plan.stdout.contains("tampered"),
        "{}",
        plan.stdout
    );
    ok(
        wd2.run(&["apply", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "apply after label drift",
    );
    ok(
        wd2.run(&["plan", "-detailed-exitcode", "-no-color", "-var", "env=dev"]),
        "converged",
    );

    // Import: forget everything, import by name, and the plan is empty again.
    let created_cluster = wd2.resource_values("k3strading_cluster.this").unwrap();
    let created_node = wd2.resource_values("k3strading_node.kafka[0]").unwrap();
    for addr in ["k3strading_cluster.this", "k3strading_node.kafka[0]"] {
        ok(wd2.run(&["state", "rm", addr]), "state rm");
    }
    ok(
        wd2.run(&[
            "import",
            "-no-color",
            "-var",
            "env=dev",
            "k3strading_cluster.this",
            "k3s-trading-dev",
        ]),
        "import cluster",
    );
    ok(
        wd2.run(&[
            "import",
            "-no-color",
            "-var",
            "env=dev",
            "k3strading_node.kafka[0]",
            "k3s-trading-dev-kafka-0",
        ]),
        "import node",
    );
    let imported_cluster = wd2.resource_values("k3strading_cluster.this").unwrap();
    let imported_node = wd2.resource_values("k3strading_node.kafka[0]").unwrap();
    // Documented: secrets, k3s_version, taints and timeouts are not recoverable.
    let ignore = [
        "k3s_token",
        "ssh_private_key",
        "host_public_key",
        "timeouts",
    ];
    for (k, v) in created_cluster.as_object().unwrap() {
        if !ignore.contains(&k.as_str()) {
            assert_eq!(
                &imported_cluster[k], v,
                "cluster attribute {k} differs after import"
            );
        }
    }
    for (k, v) in created_node.as_object().unwrap() {
        // ssh_private_key is the node's copy of the cluster's login key, from the config.
        if !["taints", "timeouts", "host_public_key", "ssh_private_key"].contains(&k.as_str()) {
            assert_eq!(
                &imported_node[k], v,
                "node attribute {k} differs after import"
            );
        }
    }
    // The nodes' copies of the login key come back from the config: an
    // in-place update of state only, which changes nothing in the cloud.
    let before = cloud.inventory();
    let updated = ok(wd2.run(&APPLY), "apply after import");
    assert!(
        updated.stdout.contains("0 added, ") && updated.stdout.contains("0 destroyed"),
        "{}",
        updated.stdout
    );
    assert_eq!(
        cloud.inventory(),
        before,
        "apply after import changed the cloud"
    );
    ok(
        wd2.run(&["plan", "-detailed-exitcode", "-no-color", "-var", "env=dev"]),
        "plan after import",
    );
    cloud.assert_spec_clean();
}

#[test]
fn daily_loop_on_terraform_1_15_5() {
    daily_loop(&terraforms()[0]);
}

#[test]
fn daily_loop_on_terraform_1_13_5() {
    daily_loop(&terraforms()[1]);
}

#[test]
fn empty_label_maps_do_not_show_a_change_on_every_plan() {
    let tf = &terraforms()[0];
    let cloud = Cloud::start(|_| {});
    let config = r#"
terraform {
  required_providers {
    k3strading = { source = "k3strading/k3strading" }
  }
}
resource "k3strading_cluster" "c" {
  name        = "k3s-trading-lbl"
  labels      = {}
  install_k3s = false
}
resource "k3strading_node" "n" {
  cluster     = k3strading_cluster.c.name
  name        = "k3s-trading-lbl-app-0"
  role        = "app"
  private_ip  = "10.0.1.30"
  labels      = {}
  install_k3s = false
}
"#;
    let wd = workdir(tf, &cloud, Some(config));
    ok(wd.run(&["apply", "-auto-approve", "-no-color"]), "apply");
    ok(
        wd.run(&["plan", "-detailed-exitcode", "-no-color"]),
        "empty re-plan",
    );
    cloud.assert_spec_clean();
}
