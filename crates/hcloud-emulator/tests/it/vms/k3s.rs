//! The project's own K3s install script, unchanged, in VMs: it downloads the
//! (stand-in) installer and K3s release from their real URLs, served by the
//! stand-in internet, and the nodes come up for real kubectl.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use k3s::{InstallSpec, NodeSpec, Role};
use serde_json::json;

use super::{BIN, Cloud, DEADLINE, available, inet_log, ok, stdout, succeeded, unique};

const CP_IP: &str = "10.0.1.10";
const WORKER_IP: &str = "10.0.1.21";

/// A tool the test needs beyond root: skipped without it (failing with CI=true).
fn needs(path: &Path, how: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: {} is missing ({how})",
        path.display()
    );
    eprintln!("skipped: {} is missing ({how})", path.display());
    false
}

fn k3s_standin() -> PathBuf {
    Path::new(BIN).with_file_name("k3s")
}

fn kubectl() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/kubectl/bin/kubectl")
}

fn node(name: &str, role: Role, ip: &str) -> NodeSpec {
    NodeSpec {
        name: name.into(),
        role,
        private_ip: ip.parse::<Ipv4Addr>().unwrap(),
        labels: Default::default(),
        taints: vec![],
        flannel_iface: None,
    }
}

fn script(spec: &InstallSpec) -> Vec<u8> {
    k3s::render::install_script(spec).unwrap().into_bytes()
}

/// Writes the cluster secret the server's `token-file` names, 0600, over stdin.
fn put_server_secret(cloud: &Cloud, target: &str) {
    let put = "umask 077 && mkdir -p /etc/rancher/k3s && cat > /etc/rancher/k3s/token";
    let out = cloud.ssh_stdin(
        "known_hosts",
        &[],
        target,
        put,
        b"cluster-secret-for-tests\n",
    );
    assert!(out.status.success(), "token: {}", text(&out));
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A control plane with a Primary IP and NAT, plus (when `worker`) a
/// private-only server routed through it; returns the control plane's
/// public address once both answer over SSH.
async fn cluster(cloud: &Cloud, worker: bool) -> String {
    cloud
        .post(
            "/ssh_keys",
            json!({"name": "me", "public_key": cloud.read("client.pub")}),
        )
        .await;
    let net = cloud
        .post(
            "/networks",
            json!({"name": "net", "ip_range": "10.0.0.0/16",
                   "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"}],
                   "routes": [{"destination": "0.0.0.0/0", "gateway": CP_IP}]}),
        )
        .await["network"]["id"]
        .as_i64()
        .unwrap();
    let nat = [
        "sysctl -qw net.ipv4.ip_forward=1",
        "iptables -t nat -A POSTROUTING -s 10.0.0.0/16 -o eth0 -j MASQUERADE",
    ];
    let ud = cloud.user_data("host-a", &nat);
    let (_, public) = cloud.server("control", true, CP_IP, ud, net).await;
    let public = public.unwrap();
    let key = |f: &str| {
        let k = cloud.read(f);
        k.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    };
    let mut known = format!("{public} {}\n", key("host-a.pub"));
    if worker {
        let ud = cloud.user_data("host-b", &[]);
        cloud.server("kafka-1", false, WORKER_IP, ud, net).await;
        known.push_str(&format!("{WORKER_IP} {}\n", key("host-b.pub")));
    }
    std::fs::write(cloud.path("known_hosts"), known).unwrap();
    let target = format!("root@{public}");
    // First boot (NAT included) is done once boot-finished exists.
    let done = "cat /var/lib/cloud/instance/boot-finished";
    cloud.ssh_until("known_hosts", &[], &target, done, succeeded);
    if worker {
        let jump = ["-J", target.as_str()];
        let w = format!("root@{WORKER_IP}");
        cloud.ssh_until("known_hosts", &jump, &w, done, succeeded);
    }
    public
}

/// A free local port for `ssh -L`.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `ssh -N -L port:127.0.0.1:6443` to the control plane, killed on drop.
struct Tunnel(std::process::Child);

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubectl_nodes(kubeconfig: &Path) -> Output {
    Command::new("timeout")
        .arg("20")
        .arg(kubectl())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--request-timeout=10s", "get", "nodes", "-o"])
        .arg("jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}")
        .env("HOME", kubeconfig.parent().unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projects_install_script_brings_up_k3s_from_the_stand_in_internet_on_a_public_and_a_nat_only_node()
 {
    if !available()
        || !needs(&k3s_standin(), "cargo build -p k3strading-k3s-standin")
        || !needs(&kubectl(), "run scripts/setup.sh")
    {
        return;
    }
    let started = Instant::now();
    let (prefix, pool) = unique(2);
    let cloud = Cloud::start(&prefix, &pool);
    let public = cluster(&cloud, true).await;
    let target = format!("root@{public}");
    let jump = ["-J", target.as_str()];
    let worker = format!("root@{WORKER_IP}");

    // Server: the script as the project renders it, on stdin.
    let server = InstallSpec::new(node(
        "control",
        Role::Server {
            tls_san: vec![public.clone()],
        },
        CP_IP,
    ));
    put_server_secret(&cloud, &target);
    let out = cloud.ssh_stdin("known_hosts", &[], &target, "sh -s", &script(&server));
    assert!(out.status.success(), "server install: {}", text(&out));
    assert!(
        text(&out).contains("installed K3s v1.34.1+k3s1"),
        "{}",
        text(&out)
    );
    let ping = "curl -sf --cacert /var/lib/rancher/k3s/server/tls/server-ca.crt https://127.0.0.1:6443/ping";
    let out = cloud.ssh_until("known_hosts", &[], &target, ping, succeeded);
    assert_eq!(stdout(&out), "pong");

    // The join token goes to the worker over stdin, 0600.
    let out = cloud.ssh(
        "known_hosts",
        &[],
        &target,
        "cat /var/lib/rancher/k3s/server/token",
    );
    assert!(out.status.success(), "{out:?}");
    let token = out.stdout;
    let put = "umask 077 && mkdir -p /etc/rancher/k3s && cat > /etc/rancher/k3s/token && stat -c %a /etc/rancher/k3s/token";
    let out = cloud.ssh_stdin("known_hosts", &jump, &worker, put, &token);
    assert_eq!(stdout(&out), "600", "{}", text(&out));

    // Agent, through the jump host; its downloads leave through the NAT.
    let before = inet_log(&prefix).lines().count();
    let agent = InstallSpec::new(node(
        "kafka-1",
        Role::Agent {
            server_url: format!("https://{CP_IP}:6443"),
        },
        WORKER_IP,
    ));
    let out = cloud.ssh_stdin("known_hosts", &jump, &worker, "sh -s", &script(&agent));
    assert!(out.status.success(), "agent install: {}", text(&out));
    let log = inet_log(&prefix);
    let new: Vec<&str> = log.lines().skip(before).collect();
    let k3s = "GET github.com /k3s-io/k3s/releases/download/v1.34.1+k3s1/k3s";
    assert!(
        new.iter().any(|l| *l == format!("{k3s} from {public} 302")),
        "the worker's download did not come from the control plane's address: {new:?}"
    );
    assert!(
        new.iter().all(|l| l.contains(&format!(" from {public} "))),
        "{new:?}"
    );
    let unit = "stat -c %a /etc/systemd/system/k3s-agent.service.env && grep -c K3S_URL= /etc/systemd/system/k3s-agent.service.env && grep -A1 ^ExecStart= /etc/systemd/system/k3s-agent.service";
    let out = cloud.ssh("known_hosts", &jump, &worker, unit);
    assert_eq!(
        stdout(&out),
        "600\n1\nExecStart=/usr/local/bin/k3s \\\n    agent",
        "{}",
        text(&out)
    );

    // Real kubectl through an SSH tunnel sees both nodes Ready.
    let out = cloud.ssh("known_hosts", &[], &target, "cat /etc/rancher/k3s/k3s.yaml");
    assert!(out.status.success(), "{out:?}");
    let port = free_port();
    let kubeconfig = cloud.path("kubeconfig");
    std::fs::write(
        &kubeconfig,
        String::from_utf8(out.stdout).unwrap().replace(
            "https://127.0.0.1:6443",
            &format!("https://127.0.0.1:{port}"),
        ),
    )
    .unwrap();
    let _tunnel = Tunnel(
        Command::new("ssh")
            .arg("-F")
            .arg(cloud.ssh_config("known_hosts"))
            .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
            .arg(format!("{port}:127.0.0.1:6443"))
            .arg(&target)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    loop {
        let out = kubectl_nodes(&kubeconfig);
        if stdout(&out) == "control=True\nkafka-1=True" {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "nodes not Ready: {}\n{}",
            text(&out),
            cloud.read("stderr")
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Again: up to date, nothing restarted.
    let pid = "cat /run/systemctl-standin/k3s.service.pid";
    let before = stdout(&cloud.ssh("known_hosts", &[], &target, pid));
    let out = cloud.ssh_stdin("known_hosts", &[], &target, "sh -s", &script(&server));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout(&out),
        "K3s v1.34.1+k3s1 up to date",
        "{}",
        text(&out)
    );
    assert_eq!(stdout(&cloud.ssh("known_hosts", &[], &target, pid)), before);
    ok("true", &[]);
    eprintln!("two nodes installed and Ready in {:?}", started.elapsed());
    cloud.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_k3s_version_the_stand_in_internet_does_not_serve_fails_the_install_clearly() {
    if !available() || !needs(&k3s_standin(), "cargo build -p k3strading-k3s-standin") {
        return;
    }
    let (prefix, pool) = unique(3);
    let cloud = Cloud::start(&prefix, &pool);
    let public = cluster(&cloud, false).await;
    let target = format!("root@{public}");
    let mut spec = InstallSpec::new(node("control", Role::Server { tls_san: vec![] }, CP_IP));
    spec.k3s_version = "v1.99.0+k3s1".into();
    put_server_secret(&cloud, &target);
    let out = cloud.ssh_stdin("known_hosts", &[], &target, "sh -s", &script(&spec));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("could not download the checksums of K3s v1.99.0+k3s1"),
        "{said}"
    );
    assert!(
        said.contains("k3s install: K3s v1.99.0+k3s1 did not install and start"),
        "{said}"
    );
    assert!(
        inet_log(&prefix).contains(
            "GET github.com /k3s-io/k3s/releases/download/v1.99.0+k3s1/sha256sum-amd64.txt from"
        ),
        "{}",
        inet_log(&prefix)
    );
    let out = cloud.ssh("known_hosts", &[], &target, "test -e /usr/local/bin/k3s");
    assert!(!out.status.success(), "nothing may be installed");
    cloud.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysctl_in_a_vm_never_changes_the_hosts_kernel_and_journalctl_tails_unit_logs() {
    if !available() {
        return;
    }
    let host = |k: &str| {
        std::fs::read_to_string(format!("/proc/sys/{}", k.replace('.', "/")))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (over, panic) = (host("vm.overcommit_memory"), host("kernel.panic"));
    let new_over = (over.parse::<u32>().unwrap() + 1) % 3;
    let new_panic = panic.parse::<i64>().unwrap() + 7;
    let (prefix, pool) = unique(4);
    let cloud = Cloud::start(&prefix, &pool);
    let public = cluster(&cloud, false).await;
    let target = format!("root@{public}");
    let cmd = format!(
        "printf 'vm.overcommit_memory = {new_over}\\n# comment\\nkernel.panic = {new_panic}\\n' > /etc/sysctl.d/90-t.conf \
         && sysctl -q -p /etc/sysctl.d/90-t.conf && sysctl --system >/dev/null \
         && sysctl -n vm.overcommit_memory kernel.panic net.ipv4.ip_forward"
    );
    let out = cloud.ssh("known_hosts", &[], &target, &cmd);
    assert_eq!(
        stdout(&out),
        format!("{new_over}\n{new_panic}\n1"),
        "the VM sees what it set (and its own netns forwarding): {}",
        text(&out)
    );
    assert_eq!(host("vm.overcommit_memory"), over, "host changed!");
    assert_eq!(host("kernel.panic"), panic, "host changed!");

    let logs = "printf 'one\\ntwo\\nthree\\n' > /var/log/k3s.log && journalctl -u k3s -n 2 --no-pager && journalctl -u k3s-agent.service --no-pager";
    let out = cloud.ssh("known_hosts", &[], &target, logs);
    assert_eq!(
        stdout(&out),
        "two\nthree\n-- No entries --",
        "{}",
        text(&out)
    );
    cloud.stop();
}
