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
pub fn ssh_until_up(config: &Path, args: &[&str]) -> String {
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

/// Runs real kubectl with `args` through an `ssh -L` tunnel to the control
/// plane's 127.0.0.1:6443, with the server's own kubeconfig (only `server:`
/// changed); retried while the tunnel comes up.
pub fn kubectl(
    config: &Path,
    cp: &str,
    dir: &Path,
    kubeconfig: &str,
    args: &[&str],
) -> std::process::Output {
    let kubectl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/kubectl/bin/kubectl");
    assert!(
        kubectl.exists(),
        "no kubectl at {} (make setup)",
        kubectl.display()
    );
    let file = dir.join("kubeconfig");
    // A tunnel on a free port; started again (on a new port) if it exits,
    // e.g. when another test took the port first.
    let open = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tunnel = Command::new("ssh")
            .arg("-F")
            .arg(config)
            .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
            .arg(format!("127.0.0.1:{port}:127.0.0.1:6443"))
            .arg(cp)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::fs::write(
            &file,
            kubeconfig.replace(
                "server: https://127.0.0.1:6443",
                &format!("server: https://127.0.0.1:{port}"),
            ),
        )
        .unwrap();
        tunnel
    };
    let mut tunnel = open();
    let started = Instant::now();
    let out = loop {
        if let Ok(Some(_)) = tunnel.try_wait() {
            tunnel = open();
        }
        let out = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&file)
            .args(args)
            .arg("--request-timeout=10s")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        let refused = said.contains("connection") && said.contains("refused");
        if !refused || started.elapsed() > Duration::from_secs(90) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let _ = tunnel.kill();
    let _ = tunnel.wait();
    out
}

/// `kubectl get nodes -o json`, through the tunnel.
pub fn kubectl_nodes(config: &Path, cp: &str, dir: &Path, kubeconfig: &str) -> Vec<Value> {
    let out = kubectl(config, cp, dir, kubeconfig, &["get", "nodes", "-o", "json"]);
    assert!(
        out.status.success(),
        "kubectl through the tunnel failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"].as_array().unwrap().clone()
}

/// The `known_hosts` output written to `dir`, for OpenSSH.
fn known_hosts_file(dir: &Path, outputs: &Value) -> std::path::PathBuf {
    let path = dir.join("known_hosts");
    std::fs::write(&path, outputs["known_hosts"]["value"].as_str().unwrap()).unwrap();
    path
}

/// How to reach a converged cluster from outside with OpenSSH: an
/// `ssh_config` using the provider's key from state and the `known_hosts`
/// output (nothing trusted on first use), the control plane's public
/// address, and the K3s server's own kubeconfig read over SSH.
pub struct Reach {
    pub config: std::path::PathBuf,
    pub cp: String,
    pub kubeconfig: String,
}

pub fn reach(wd: &k3strading_e2e::Workdir) -> Reach {
    let dir = wd.path();
    let outputs: Value =
        serde_json::from_str(&ok(wd.run(&["output", "-json"]), "outputs").stdout).unwrap();
    let cp = outputs["control_plane_ipv4"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("terraform.tfstate")).unwrap())
            .unwrap();
    let key = dir.join("id_provider");
    std::fs::write(&key, cluster_attr(&state, "ssh_private_key")).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let known_hosts = known_hosts_file(dir, &outputs);
    let config = dir.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n  BatchMode yes\n  ConnectTimeout 10\n",
            key.display(),
            known_hosts.display()
        ),
    )
    .unwrap();
    let kubeconfig = ssh_until_up(&config, &[&cp, "cat", "/etc/rancher/k3s/k3s.yaml"]);
    Reach {
        config,
        cp,
        kubeconfig,
    }
}

pub fn cluster_attr(state: &Value, attr: &str) -> String {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "k3strading_cluster")
        .and_then(|r| r["instances"][0]["attributes"][attr].as_str())
        .unwrap()
        .to_owned()
}

/// Where the provider's login key comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Login {
    /// Generated per cluster and kept in state.
    Generated,
    /// The user's private key, from `K3STRADING_SSH_PRIVATE_KEY`.
    OwnKey,
    /// A key in the user's SSH agent, named by `K3STRADING_SSH_PUBLIC_KEY`.
    Agent,
}

/// 40 characters that only this secret has: an OpenSSH key's body starts
/// the same for every key, and its private seed sits about 216 base64
/// characters in; a token is one line.
pub fn probe(secret: &str) -> String {
    let body: String = secret
        .lines()
        .filter(|l| !l.contains("OPENSSH PRIVATE KEY"))
        .collect();
    if body.len() > 256 {
        body.chars().skip(216).take(40).collect()
    } else {
        body
    }
}

fn user_key(dir: &Path) -> (std::path::PathBuf, String, String) {
    let path = dir.join("id_user");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "user", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let private = std::fs::read_to_string(&path).unwrap();
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, private, public.trim().to_owned())
}

fn reachable_with_openssh(tf: &Terraform, prefix: &str, pool: &str) {
    reachable(tf, prefix, pool, Login::Generated);
}

fn reachable(tf: &Terraform, prefix: &str, pool: &str, login: Login) {
    if vms_skipped() {
        return;
    }
    let cloud = Cloud::start_vms(prefix, pool);
    let mut wd = workdir(tf, &cloud, None);
    let dir = wd.path().to_path_buf();
    let (user_path, user_private, user_public) = user_key(&dir);
    let agent_sock = dir.join("agent.sock");
    let mut agent = None;
    match login {
        Login::Generated => {}
        Login::OwnKey => wd.set_env("K3STRADING_SSH_PRIVATE_KEY", &user_private),
        Login::Agent => {
            agent = Some(
                Command::new("ssh-agent")
                    .arg("-D")
                    .arg("-a")
                    .arg(&agent_sock)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            let started = Instant::now();
            while !agent_sock.exists() {
                assert!(started.elapsed() < Duration::from_secs(10), "no agent");
                std::thread::sleep(Duration::from_millis(50));
            }
            let added = Command::new("ssh-add")
                .arg(&user_path)
                .env("SSH_AUTH_SOCK", &agent_sock)
                .output()
                .unwrap();
            assert!(added.status.success(), "{added:?}");
            wd.set_env("K3STRADING_SSH_PUBLIC_KEY", &user_public);
            // The provider's K3s steps log in through the same agent.
            wd.set_env("SSH_AUTH_SOCK", agent_sock.to_str().unwrap());
        }
    }
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
    let dir = dir.as_path();
    let (key, login_private) = if login == Login::Generated {
        let key = dir.join("id_provider");
        let text = cluster_attr(&state, "ssh_private_key");
        std::fs::write(&key, &text).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        (key, text)
    } else {
        // The user's key never enters state.
        let cluster = state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "k3strading_cluster")
            .unwrap();
        assert!(
            cluster["instances"][0]["attributes"]["ssh_private_key"].is_null(),
            "{login:?}: a private key is in state"
        );
        assert_eq!(
            cluster["instances"][0]["attributes"]["ssh_public_key"],
            user_public.as_str()
        );
        let text = std::fs::read_to_string(dir.join("terraform.tfstate")).unwrap();
        assert!(
            !text.contains(&probe(&user_private)),
            "{login:?}: key in state"
        );
        (user_path.clone(), user_private.clone())
    };
    // No secret was in any process's argv during the apply: the login key,
    // the K3s token, and every server's host private key (from the user data
    // the cloud received).
    let mut secrets = vec![
        ("the login private key", login_private),
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
        let probe = probe(secret);
        assert!(probe.len() >= 32, "{what}: nothing to look for");
        let leak = seen.iter().find(|c| c.contains(&probe));
        assert!(
            leak.is_none(),
            "{what} appeared in a process's argv during the apply: {:.40}…",
            leak.map(String::as_str).unwrap_or_default()
        );
    }
    let known_hosts = known_hosts_file(dir, &outputs);
    let config = dir.join("ssh_config");
    let write_config = |path: &Path, hosts: &Path| {
        std::fs::write(
            path,
            format!(
                "Host *\n  User root\n  {}\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n  BatchMode yes\n  ConnectTimeout 10\n",
                if login == Login::Agent {
                    format!("IdentityAgent {}", agent_sock.display())
                } else {
                    format!("IdentityFile {}\n  IdentitiesOnly yes", key.display())
                },
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
    // Its sshd admits every node's login at once (it is every node's jump host).
    let effective = ssh_until_up(&config, &[cp, "sshd", "-T"]);
    assert!(
        effective.lines().any(|l| l == "maxstartups 256:30:512"),
        "the control plane's sshd keeps the default MaxStartups: {:?}",
        effective
            .lines()
            .filter(|l| l.starts_with("maxst"))
            .collect::<Vec<_>>()
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
    // K3s: the kubeconfig is on the control plane, and real kubectl through
    // an `ssh -L` tunnel (only `server:` rewritten, TLS verified) sees the
    // five nodes Ready and labelled.
    let kubeconfig = ssh_until_up(&config, &[cp, "cat", "/etc/rancher/k3s/k3s.yaml"]);
    assert!(
        kubeconfig.contains("server: https://127.0.0.1:6443"),
        "kubeconfig without the local server address"
    );
    let token = ssh_until_up(&config, &[cp, "cat", "/var/lib/rancher/k3s/server/token"]);
    assert!(token.starts_with("K10"), "not a secure K3s token");
    secrets.push(("the K10 join token", token));
    for (what, secret) in &secrets {
        let probe = probe(secret);
        assert!(
            !seen.iter().any(|c| c.contains(&probe)),
            "{what} appeared in a process's argv during the apply"
        );
    }
    let nodes = kubectl_nodes(&config, cp, dir, &kubeconfig);
    let expect = [
        (
            "k3s-trading-dev-control",
            "10.0.1.10",
            "control-plane",
            None,
        ),
        (
            "k3s-trading-dev-kafka-0",
            "10.0.1.20",
            "kafka",
            Some("kafka"),
        ),
        (
            "k3s-trading-dev-kafka-1",
            "10.0.1.21",
            "kafka",
            Some("kafka"),
        ),
        (
            "k3s-trading-dev-kafka-2",
            "10.0.1.22",
            "kafka",
            Some("kafka"),
        ),
        ("k3s-trading-dev-app-0", "10.0.1.30", "app", Some("app")),
    ];
    assert_eq!(nodes.len(), expect.len(), "{nodes:#?}");
    for (name, ip, role, scheduling) in expect {
        let n = nodes
            .iter()
            .find(|n| n["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Node {name}: {nodes:#?}"));
        let labels = &n["metadata"]["labels"];
        assert_eq!(
            labels[format!("node-role.kubernetes.io/{role}")],
            "true",
            "{name}: {labels}"
        );
        if let Some(key) = scheduling {
            assert_eq!(labels[key], "true", "{name}: {labels}");
        }
        let ready = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "{name} is not Ready: {}", n["status"]);
        let internal = n["status"]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == "InternalIP")
            .unwrap();
        assert_eq!(internal["address"], ip, "{name}");
    }
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
    if let Some(mut a) = agent.take() {
        let _ = a.kill();
        let _ = a.wait();
    }
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
fn the_users_own_key_or_agent_logs_in_and_no_private_key_enters_state() {
    reachable(&terraforms()[0], "pvk", "100.64.212.0/24", Login::OwnKey);
    reachable(&terraforms()[0], "pva", "100.64.213.0/24", Login::Agent);
}

#[test]
fn seed_module_on_vms_is_reached_with_openssh_pinned_from_state_on_terraform_1_15_5() {
    reachable_with_openssh(&terraforms()[0], "pv15", "100.64.210.0/24");
}

#[test]
fn seed_module_on_vms_is_reached_with_openssh_pinned_from_state_on_terraform_1_13_5() {
    reachable_with_openssh(&terraforms()[1], "pv13", "100.64.211.0/24");
}

/// Kills every SSH session process (sshd's per-connection `sshd: root@…`)
/// of the VMs whose namespaces start with `prefix` — only this test's, as
/// other tests' VMs may be running beside it — as a dropped connection would
/// end them; the listeners stay. Returns how many were killed.
pub fn drop_ssh_sessions(prefix: &str) -> usize {
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let mut killed = 0;
    for ns in String::from_utf8_lossy(&namespaces.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-vm")))
    {
        let pids = Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .unwrap();
        for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&raw);
            if (cmd.starts_with("sshd: root@") || cmd.starts_with("sshd-session: root@"))
                && Command::new("kill")
                    .args(["-KILL", pid])
                    .status()
                    .is_ok_and(|s| s.success())
            {
                killed += 1;
            }
        }
    }
    killed
}

/// What the stand-in internet served so far (one line per request).
pub fn inet_requests(prefix: &str) -> String {
    std::fs::read_to_string(format!("/run/{prefix}-vms/inet/requests.log")).unwrap_or_default()
}

#[test]
fn k3s_steps_fail_with_the_log_tail_survive_dropped_connections_and_drain_on_delete() {
    if vms_skipped() {
        return;
    }
    let prefix = "pvf";
    let tf = &terraforms()[0];
    let cloud = Cloud::start_vms(prefix, "100.64.214.0/24");
    let wd = workdir(tf, &cloud, None);
    let dir = wd.path().to_path_buf();

    // 1. A release the internet does not have: the control plane's first-boot
    //    install fails, and the apply says so with the install log's tail.
    let failed = wd
        .run(&[
            "apply",
            "-auto-approve",
            "-no-color",
            "-var",
            "env=dev",
            "-var",
            "k3s_version=v1.33.9+k3s1",
        ])
        .unwrap();
    assert_ne!(failed.code, 0, "an unobtainable K3s release applied");
    let all = failed.all();
    assert!(
        all.contains("K3s on k3s-trading-dev-control: could not bring up the K3s server"),
        "{all}"
    );
    assert!(all.contains("the first-boot K3s install exited"), "{all}");
    assert!(all.contains("k3s install:"), "no log tail in: {all}");
    // A failed download is tried again, three times in all, before giving up.
    assert!(
        all.contains("k3s install: attempt 2 failed (exit 1); trying again"),
        "the installer was not tried again: {all}"
    );
    assert!(!all.contains("attempt 3 failed"), "{all}");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("terraform.tfstate")).unwrap())
            .unwrap();
    for attr in ["k3s_token", "ssh_private_key"] {
        let p = probe(&cluster_attr(&state, attr));
        assert!(!all.contains(&p), "{attr} in the apply's output");
    }

    // 2. The right release, with every SSH session killed while the agents
    //    join: the apply (or at most one more) converges.
    let downloads = |log: &str| log.lines().filter(|l| l.contains("/k3s ")).count();
    let before = downloads(&inet_requests(prefix));
    let running = wd.start(&APPLY, &[]).unwrap();
    let started = Instant::now();
    let mut killed = 0;
    while started.elapsed() < Duration::from_secs(120) {
        // The server's download plus two agents': agents are installing.
        if downloads(&inet_requests(prefix)) >= before + 3 {
            killed = drop_ssh_sessions(prefix);
            if killed > 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(killed > 0, "no SSH session was seen to kill");
    let first = running.wait().unwrap();
    if first.code != 0 {
        eprintln!(
            "apply after dropped sessions failed; re-applying:\n{}",
            first.all()
        );
        ok(wd.run(&APPLY), "re-apply after dropped sessions");
    }
    ok(wd.run(&PLAN), "empty plan after convergence");

    let Reach {
        config,
        cp,
        kubeconfig,
    } = reach(&wd);
    let names = |nodes: &[Value]| -> Vec<String> {
        let mut v: Vec<String> = nodes
            .iter()
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let nodes = kubectl_nodes(&config, &cp, &dir, &kubeconfig);
    assert_eq!(names(&nodes).len(), 5, "{:?}", names(&nodes));

    // 3. Taints are live: set on app-0 in place, and seen on its Node.
    let taint_of = |nodes: &[Value]| -> Value {
        nodes
            .iter()
            .find(|n| n["metadata"]["name"] == "k3s-trading-dev-app-0")
            .map(|n| n["spec"]["taints"].clone())
            .unwrap_or(Value::Null)
    };
    assert!(
        !taint_of(&nodes).to_string().contains("dedicated"),
        "{}",
        taint_of(&nodes)
    );
    let tainted = ok(
        wd.run(&[
            "apply",
            "-auto-approve",
            "-no-color",
            "-var",
            "env=dev",
            "-var",
            r#"app_taints=["dedicated=trading:NoSchedule"]"#,
        ]),
        "apply with app_taints",
    );
    assert!(
        tainted.stdout.contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        tainted.stdout
    );
    let taints = taint_of(&kubectl_nodes(&config, &cp, &dir, &kubeconfig));
    assert!(
        taints
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["key"] == "dedicated"
                && t["value"] == "trading"
                && t["effect"] == "NoSchedule")),
        "{taints}"
    );

    // ... and removed again, in place, when the variable goes.
    ok(wd.run(&APPLY), "apply without app_taints");
    let taints = taint_of(&kubectl_nodes(&config, &cp, &dir, &kubeconfig));
    assert!(!taints.to_string().contains("dedicated"), "{taints}");

    // 4. One app node fewer: its Node is drained and deleted before its server.
    ok(
        wd.run(&[
            "apply",
            "-auto-approve",
            "-no-color",
            "-var",
            "env=dev",
            "-var",
            "app_count=0",
        ]),
        "apply with app_count=0",
    );
    let nodes = kubectl_nodes(&config, &cp, &dir, &kubeconfig);
    assert_eq!(
        names(&nodes),
        [
            "k3s-trading-dev-control",
            "k3s-trading-dev-kafka-0",
            "k3s-trading-dev-kafka-1",
            "k3s-trading-dev-kafka-2"
        ],
    );
    ok(
        wd.run(&[
            "destroy",
            "-auto-approve",
            "-no-color",
            "-var",
            "env=dev",
            "-var",
            "app_count=0",
        ]),
        "destroy",
    );
    let after = cloud.inventory();
    assert!(after.servers.is_empty(), "{after:?}");
}
