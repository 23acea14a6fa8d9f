//! Clusters of more than 10 servers: `terraform/` with `app_count` 7 (11
//! servers) and 20 (24 servers) applies, re-plans empty and destroys on the
//! local cloud, and no spread placement group ever holds more than 10
//! servers. Plus Hetzner's project quota, reported as such.

use std::collections::BTreeMap;

use k3strading_e2e::Terraform;

use crate::common::*;

/// Placement group name → number of servers in it, as the cloud has them.
fn group_sizes(cloud: &Cloud) -> BTreeMap<String, usize> {
    let w = cloud.emu.world();
    w.placement_groups
        .values()
        .map(|g| (g.name.clone(), g.servers.len()))
        .collect()
}

fn scaled(tf: &Terraform, app_count: usize) {
    let cloud = Cloud::start(|_| {});
    let wd = workdir(tf, &cloud, None);
    let count = format!("app_count={app_count}");
    let args = |cmd: &'static [&'static str]| -> Vec<String> {
        cmd.iter()
            .map(|s| (*s).to_owned())
            .chain(["-no-color", "-var", "env=dev", "-var", &count].map(str::to_owned))
            .collect()
    };
    let run = |cmd: &'static [&'static str]| {
        let a = args(cmd);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        wd.run(&refs)
    };
    let apply = ok(run(&["apply", "-auto-approve"]), "apply");
    println!(
        "scale: {} servers applied in {:?} on Terraform {}",
        app_count + 4,
        apply.elapsed,
        tf.label
    );
    let servers = cloud.inventory().servers.len();
    assert_eq!(servers, app_count + 4);
    let sizes = group_sizes(&cloud);
    assert_eq!(
        sizes.values().sum::<usize>(),
        servers,
        "every server is in a group: {sizes:?}"
    );
    assert!(
        sizes.values().all(|n| *n <= 10),
        "a spread group holds more than 10 servers: {sizes:?}"
    );
    // Control plane alone, the brokers together, app VMs in tens.
    let mut want = BTreeMap::from([
        ("k3s-trading-dev-spread-1".to_owned(), 1),
        ("k3s-trading-dev-spread-2".to_owned(), 3),
    ]);
    for (i, chunk) in (0..app_count).collect::<Vec<_>>().chunks(10).enumerate() {
        want.insert(format!("k3s-trading-dev-spread-{}", 3 + i), chunk.len());
    }
    assert_eq!(sizes, want);
    let mark = cloud.mark();
    ok(run(&["plan", "-detailed-exitcode"]), "re-plan is empty");
    // The refresh reads the servers as one list of the cluster (50 a page),
    // not one request per resource.
    let refresh = crate::requests::Requests::since(&cloud, &mark);
    let reads = refresh.count("GET /servers/{id}", 200) + refresh.count("GET /servers", 200);
    assert!(
        reads <= 1 + servers.div_ceil(50) + 1,
        "refreshing {servers} servers took {reads} server reads:\n{}",
        refresh.render()
    );
    ok(run(&["destroy", "-auto-approve"]), "destroy");
    let after = cloud.inventory();
    assert!(after.servers.is_empty(), "{after:?}");
    assert_eq!(after.placement_groups, 0, "{after:?}");
    assert_eq!(after.primary_ips.len(), 2);
    cloud.assert_spec_clean();
}

#[test]
fn eleven_servers_apply_replan_empty_and_destroy_on_terraform_1_13_5() {
    scaled(&terraforms()[1], 7);
}

#[test]
fn twenty_four_servers_apply_replan_empty_and_destroy_on_terraform_1_15_5() {
    scaled(&terraforms()[0], 20);
}

#[test]
fn the_server_quota_is_reported_as_a_project_limit() {
    let tf = &terraforms()[0];
    // A project allowed 4 servers: the seed layout needs 5.
    let cloud = Cloud::start(|o| o.server_limit = Some(4));
    let wd = workdir(tf, &cloud, None);
    let run = wd
        .run(&["apply", "-auto-approve", "-no-color", "-var", "env=dev"])
        .unwrap();
    assert_ne!(run.code, 0, "apply should fail\n{}", run.all());
    // Terraform wraps long lines.
    let out = run.all().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        out.contains("Hetzner Cloud project limit reached"),
        "unclear diagnostic:\n{out}"
    );
    assert!(out.contains("raise the limit"), "no advice:\n{out}");
    assert!(out.contains("resource_limit_exceeded"), "no code:\n{out}");
    assert_eq!(cloud.inventory().servers.len(), 4, "the quota held");
}
