//! The seed module on the local cloud with VMs (`--vms`: network namespaces
//! with Debian's real sshd; needs root, openssh-server and iptables). Checked
//! from outside with real OpenSSH only: the key and the `known_hosts` come
//! from Terraform's state and outputs, nothing is trusted on first use.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k3strading_e2e::Terraform;
use serde_json::Value;

use crate::common::*;

/// Runs `ssh` with `config` and `args`, bounded in time.
fn ssh(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("30")
        .arg("ssh")
        .arg("-F")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

/// Retries a login while the VM boots; returns what the command printed.
fn ssh_until_up(config: &Path, args: &[&str]) -> String {
    let started = Instant::now();
    loop {
        let out = ssh(config, args);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "ssh {args:?} never succeeded: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Collects the command line of every process, over and over, until stopped.
struct ArgvScan {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<std::collections::BTreeSet<String>>,
}

impl ArgvScan {
    fn start() -> ArgvScan {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(raw) = std::fs::read(entry.path().join("cmdline"))
                        && !raw.is_empty()
                    {
                        seen.insert(String::from_utf8_lossy(&raw).replace('\0', " "));
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        });
        ArgvScan { stop, thread }
    }

    fn stop(self) -> std::collections::BTreeSet<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn cluster_attr(state: &Value, attr: &str) -> String {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "k3strading_cluster")
        .and_then(|r| r["instances"][0]["attributes"][attr].as_str())
        .unwrap()
        .to_owned()
}

fn reachable_with_openssh(tf: &Terraform, prefix: &str, pool: &str) {
    if let Some(why) = vms_unavailable() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true, but VMs cannot run here: {why}"
        );
        eprintln!("SKIP: the local cloud cannot run VMs here ({why})");
        return;
    }
    let cloud = Cloud::start_vms(prefix, pool);
    let wd = workdir(tf, &cloud, None);
    let argv = ArgvScan::start();
    ok(
        wd.run(&["apply", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "apply on VMs",
    );
    let seen = argv.stop();
    let outputs: Value =
        serde_json::from_str(&ok(wd.run(&["output", "-json"]), "outputs").stdout).unwrap();
    let cp = outputs["control_plane_ipv4"]["value"].as_str().unwrap();
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(wd.path().join("terraform.tfstate")).unwrap(),
    )
    .unwrap();
    let dir = wd.path();
    let key = dir.join("id_provider");
    std::fs::write(&key, cluster_attr(&state, "ssh_private_key")).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // No secret was in any process's argv during the apply: the login key,
    // the K3s token, and every server's host private key (from the user data
    // the cloud received).
    let mut secrets = vec![
        ("ssh_private_key", cluster_attr(&state, "ssh_private_key")),
        ("k3s_token", cluster_attr(&state, "k3s_token")),
    ];
    for rec in cloud.emu.world().servers.values() {
        let ud = rec.user_data.clone().unwrap_or_default();
        assert!(
            ud.contains("ed25519_private"),
            "{} has no host key",
            rec.server.name
        );
        let key: Vec<&str> = ud
            .lines()
            .map(str::trim)
            .skip_while(|l| !l.contains("BEGIN OPENSSH PRIVATE KEY"))
            .take_while(|l| !l.contains("END OPENSSH PRIVATE KEY"))
            .collect();
        secrets.push(("a host private key", key.join("\n")));
    }
    assert!(
        seen.iter()
            .any(|c| c.contains("apply") && c.contains("-auto-approve")),
        "the scan saw no Terraform apply, so it proves nothing: {} command lines",
        seen.len()
    );
    for (what, secret) in &secrets {
        // An OpenSSH key's body starts the same for every key; its private
        // seed sits about 216 base64 characters in. A token is one line.
        let body: String = secret
            .lines()
            .filter(|l| !l.contains("OPENSSH PRIVATE KEY"))
            .collect();
        let probe: String = if body.len() > 256 {
            body.chars().skip(216).take(40).collect()
        } else {
            body.clone()
        };
        assert!(probe.len() >= 32, "{what}: nothing to look for");
        let leak = seen.iter().find(|c| c.contains(&probe));
        assert!(
            leak.is_none(),
            "{what} appeared in a process's argv during the apply: {:.40}…",
            leak.map(String::as_str).unwrap_or_default()
        );
    }
    let known_hosts = dir.join("known_hosts");
    std::fs::write(
        &known_hosts,
        outputs["known_hosts"]["value"].as_str().unwrap(),
    )
    .unwrap();
    let config = dir.join("ssh_config");
    let write_config = |path: &Path, hosts: &Path| {
        std::fs::write(
            path,
            format!(
                "Host *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n  BatchMode yes\n  ConnectTimeout 10\n",
                key.display(),
                hosts.display()
            ),
        )
        .unwrap();
    };
    write_config(&config, &known_hosts);

    // The control plane at its Primary IP, as root, pinned from state.
    assert_eq!(
        ssh_until_up(&config, &[cp, "hostname"]),
        "k3s-trading-dev-control"
    );
    // A private-only node through the control plane as a jump host (the jump
    // is pinned by the same known_hosts, through the config file).
    assert_eq!(
        ssh_until_up(&config, &["-J", cp, "10.0.1.21", "hostname"]),
        "k3s-trading-dev-kafka-1"
    );
    // A known_hosts that pins another server's key (kafka-0's) for every
    // address fails closed.
    let wrong_hosts = dir.join("known_hosts_wrong");
    let swapped: String = outputs["known_hosts"]["value"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| {
            let addr = l.split_whitespace().next().unwrap();
            let other = outputs["known_hosts"]["value"]
                .as_str()
                .unwrap()
                .lines()
                .find(|o| o.starts_with("10.0.1.20 "))
                .unwrap()
                .split_once(' ')
                .unwrap()
                .1;
            format!("{addr} {other}\n")
        })
        .collect();
    std::fs::write(&wrong_hosts, swapped).unwrap();
    let wrong_config = dir.join("ssh_config_wrong");
    write_config(&wrong_config, &wrong_hosts);
    let refused = ssh(&wrong_config, &[cp, "hostname"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("Host key verification failed"), "{err}");
    // The Kubernetes API port is not open to the public address.
    let probe = Command::new("timeout")
        .args(["5", "bash", "-c", &format!("echo > /dev/tcp/{cp}/6443")])
        .output()
        .unwrap();
    assert!(!probe.status.success(), "6443 answered on {cp}");

    ok(
        wd.run(&["destroy", "-auto-approve", "-no-color", "-var", "env=dev"]),
        "destroy on VMs",
    );
    let after = cloud.inventory();
    assert!(after.servers.is_empty(), "{after:?}");
    assert_eq!(
        (
            after.networks,
            after.firewalls,
            after.placement_groups,
            after.ssh_keys
        ),
        (0, 0, 0, 0)
    );
    assert!(
        after
            .primary_ips
            .iter()
            .all(|(_, _, assigned, protected)| !*assigned && *protected)
            && after.primary_ips.len() == 2,
        "{after:?}"
    );
    // The address no longer answers once its VM is gone.
    let started = Instant::now();
    while ssh(&config, &[cp, "true"]).status.success() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{cp} still answers"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn seed_module_on_vms_is_reached_with_openssh_pinned_from_state_on_terraform_1_15_5() {
    reachable_with_openssh(&terraforms()[0], "pv15", "100.64.210.0/24");
}

#[test]
fn seed_module_on_vms_is_reached_with_openssh_pinned_from_state_on_terraform_1_13_5() {
    reachable_with_openssh(&terraforms()[1], "pv13", "100.64.211.0/24");
}
