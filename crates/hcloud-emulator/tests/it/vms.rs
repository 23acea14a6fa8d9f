//! `serve --vms`: servers become sandboxes reached with real OpenSSH. Needs
//! root, `sshd` and `iptables`; skipped with a note otherwise (failing with
//! `CI=true`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_k3strading-cloud");
const TOKEN: &str = "vms-token";
/// Generous: two busy cores, several builders.
const DEADLINE: Duration = Duration::from_secs(60);

fn available() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let tools = ["/usr/sbin/sshd", "/usr/sbin/iptables", "/usr/bin/ssh"]
        .iter()
        .all(|p| Path::new(p).exists());
    if root && tools {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: the --vms tests need root, sshd, iptables and ssh"
    );
    eprintln!("skipped: the --vms tests need root, /usr/sbin/sshd, /usr/sbin/iptables and ssh");
    false
}

fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = sh(program, args);
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A running `serve --vms` with a prefix and pool of its own.
struct Cloud {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Cloud {
    fn start(prefix: &str, pool: &str) -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--token",
                TOKEN,
                "--vms",
            ])
            .args(["--vms-prefix", prefix, "--ipv4-pool", pool])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("stderr")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("did not start: {line:?}"))
            .trim_end()
            .to_owned();
        for f in ["client", "host-a", "host-b", "impostor"] {
            let p = dir.path().join(f);
            ok(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-f", p.to_str().unwrap()],
            );
        }
        Cloud {
            child,
            url,
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.path(f)).unwrap()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Cloud-config with host key `host` and a marker file, command and line.
    fn user_data(&self, host: &str, extra_runcmd: &[&str]) -> String {
        let private: String = self
            .read(host)
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect();
        let mut ud = format!(
            "#cloud-config\nssh_keys:\n  ed25519_private: |\n{private}  ed25519_public: {}\n\
             ssh_authorized_keys: []\nwrite_files:\n  - path: /etc/written\n    content: from write_files\n    permissions: '0640'\n\
             runcmd:\n  - [sh, -c, \"echo first > /root/order\"]\n  - echo second >> /root/order\n",
            self.read(&format!("{host}.pub")).trim()
        );
        for c in extra_runcmd {
            ud.push_str(&format!("  - {c}\n"));
        }
        ud
    }

    /// Creates a server off, attaches it at `ip`, powers it on.
    async fn server(
        &self,
        name: &str,
        public: bool,
        ip: &str,
        ud: String,
        net: i64,
    ) -> (i64, Option<String>) {
        let s = self
            .post(
                "/servers",
                json!({"name": name, "server_type": "cpx22", "image": "ubuntu-24.04", "location": "fsn1",
                       "ssh_keys": ["me"], "user_data": ud, "start_after_create": false,
                       "labels": {"role": name},
                       "public_net": {"enable_ipv4": public, "enable_ipv6": false}}),
            )
            .await;
        let id = s["server"]["id"].as_i64().unwrap();
        let addr = s["server"]["public_net"]["ipv4"]["ip"]
            .as_str()
            .map(str::to_owned);
        self.post(
            &format!("/servers/{id}/actions/attach_to_network"),
            json!({"network": net, "ip": ip}),
        )
        .await;
        self.post(&format!("/servers/{id}/actions/poweron"), json!({}))
            .await;
        (id, addr)
    }

    fn ssh_config(&self, known_hosts: &str) -> PathBuf {
        let cfg = self.path(&format!("ssh_config-{known_hosts}"));
        std::fs::write(
            &cfg,
            format!(
                "Host *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
                 GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  \
                 BatchMode yes\n  ConnectTimeout 3\n  ServerAliveInterval 2\n  ServerAliveCountMax 3\n  LogLevel ERROR\n",
                self.path("client").display(),
                self.path(known_hosts).display()
            ),
        )
        .unwrap();
        cfg
    }

    /// `ssh -F <config for known_hosts> [extra…] target command`.
    fn ssh(&self, known_hosts: &str, extra: &[&str], target: &str, command: &str) -> Output {
        let cfg = self.ssh_config(known_hosts);
        // Every ssh has a deadline of its own.
        Command::new("timeout")
            .args(["30", "ssh", "-F"])
            .arg(cfg)
            .args(extra)
            .args([target, command])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Retries until `pred` holds for the output, within the deadline.
    fn ssh_until(
        &self,
        kh: &str,
        extra: &[&str],
        target: &str,
        cmd: &str,
        pred: impl Fn(&Output) -> bool,
    ) -> Output {
        let start = Instant::now();
        loop {
            let out = self.ssh(kh, extra, target, cmd);
            if pred(&out) {
                return out;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "ssh {target} {cmd:?} never got there: {out:?}\nstderr of the cloud: {}",
                self.read("stderr")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(mut self) -> String {
        ok("kill", &["-TERM", &self.child.id().to_string()]);
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < DEADLINE, "the cloud did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.read("stderr")
    }
}

impl Drop for Cloud {
    /// A failed test still stops the cloud the clean way (SIGTERM), so it
    /// removes its VMs; SIGKILL only when that does not finish in time.
    fn drop(&mut self) {
        let _ = sh("kill", &["-TERM", &self.child.id().to_string()]);
        let start = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn succeeded(o: &Output) -> bool {
    o.status.success()
}

fn ours_left(prefix: &str) -> Vec<String> {
    let mut left: Vec<String> = ok("ip", &["netns", "list"])
        .lines()
        .filter(|l| l.starts_with(&format!("{prefix}-")))
        .map(str::to_owned)
        .collect();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    left.extend(
        mounts
            .lines()
            .filter(|l| l.contains(&format!("/run/{prefix}-vms")))
            .map(str::to_owned),
    );
    if sh("ip", &["link", "show", "dev", &format!("{prefix}-pub")])
        .status
        .success()
    {
        left.push(format!("link {prefix}-pub"));
    }
    left
}

/// A prefix and pool of this test process's own (`n` tells tests apart).
fn unique(n: u32) -> (String, String) {
    let pid = std::process::id();
    (
        format!("v{}{n}", pid % 1000),
        format!("100.64.{}.0/24", 100 + (pid % 50) * 3 + n),
    )
}

#[test]
fn vms_refuse_to_start_without_root_naming_what_is_missing() {
    if !available() {
        return;
    }
    // As an unprivileged user (setpriv from util-linux drops root).
    let out = sh(
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "t",
            "--vms",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(err.contains("--vms needs root"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_are_vms_reached_with_openssh_through_firewalls_and_nat() {
    if !available() {
        return;
    }
    let (prefix, pool) = unique(0);
    let cloud = Cloud::start(&prefix, &pool);
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
                   "routes": [{"destination": "0.0.0.0/0", "gateway": "10.0.1.10"}]}),
        )
        .await["network"]["id"]
        .as_i64()
        .unwrap();
    let nat = [
        "sysctl -qw net.ipv4.ip_forward=1",
        "iptables -t nat -A POSTROUTING -s 10.0.0.0/16 -o eth0 -j MASQUERADE",
    ];
    let started = Instant::now();
    let (control, public) = cloud
        .server(
            "control",
            true,
            "10.0.1.10",
            cloud.user_data("host-a", &nat),
            net,
        )
        .await;
    let public = public.unwrap();
    let (_, none) = cloud
        .server(
            "kafka-1",
            false,
            "10.0.1.21",
            cloud.user_data("host-b", &[]),
            net,
        )
        .await;
    assert!(none.is_none());
    let key = |f: &str| {
        cloud
            .read(f)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    std::fs::write(
        cloud.path("known_hosts"),
        format!(
            "{public} {}\n10.0.1.21 {}\n",
            key("host-a.pub"),
            key("host-b.pub")
        ),
    )
    .unwrap();
    std::fs::write(
        cloud.path("wrong_hosts"),
        format!("{public} {}\n", key("impostor.pub")),
    )
    .unwrap();
    let target = format!("root@{public}");

    // Pinned host key from the user data: in, as root, named like the server.
    let out = cloud.ssh_until("known_hosts", &[], &target, "hostname", succeeded);
    eprintln!(
        "first ssh login {:?} after the create request",
        started.elapsed()
    );
    assert_eq!(stdout(&out), "control");
    let out = cloud.ssh("wrong_hosts", &["-o", "LogLevel=INFO"], &target, "true");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"),
        "{out:?}"
    );

    eprintln!("step: Through the control plane");
    // Through the control plane to the private-only VM.
    let jump = ["-J", target.as_str()];
    let out = cloud.ssh_until(
        "known_hosts",
        &jump,
        "root@10.0.1.21",
        "hostname",
        succeeded,
    );
    assert_eq!(stdout(&out), "kafka-1");

    eprintln!("step: cloud-init: write_files");
    // cloud-init: write_files with its mode, runcmd in order.
    let done = "cat /var/lib/cloud/instance/boot-finished >/dev/null && cat /root/order && stat -c %a /etc/written && cat /etc/written";
    let out = cloud.ssh_until("known_hosts", &[], &target, done, succeeded);
    assert_eq!(stdout(&out), "first\nsecond\n640\nfrom write_files");

    eprintln!("step: Egress of the private-only");
    // Egress of the private-only VM leaves through the control plane's NAT:
    // an "outside" namespace of this test, on a pool address, sees the
    // control plane's public address as the source.
    let outside = cloud.post("/primary_ips", json!({"name": "outside", "type": "ipv4", "assignee_type": "server", "location": "fsn1", "auto_delete": false})).await;
    let o_ip = outside["primary_ip"]["ip"].as_str().unwrap().to_owned();
    let (fabric, o_ns) = (format!("{prefix}-fabric"), format!("{prefix}-out"));
    ok("ip", &["netns", "add", &o_ns]);
    ok(
        "ip",
        &[
            "-n", &fabric, "link", "add", "o-out", "type", "veth", "peer", "name", "eth0", "netns",
            &o_ns,
        ],
    );
    ok(
        "ip",
        &[
            "-n",
            &fabric,
            "addr",
            "add",
            "172.31.1.1/32",
            "dev",
            "o-out",
        ],
    );
    ok("ip", &["-n", &fabric, "link", "set", "o-out", "up"]);
    ok(
        "ip",
        &[
            "-n",
            &fabric,
            "route",
            "add",
            &format!("{o_ip}/32"),
            "dev",
            "o-out",
        ],
    );
    ok(
        "ip",
        &[
            "-n",
            &o_ns,
            "addr",
            "add",
            &format!("{o_ip}/32"),
            "dev",
            "eth0",
        ],
    );
    ok("ip", &["-n", &o_ns, "link", "set", "eth0", "up"]);
    ok(
        "ip",
        &[
            "-n",
            &o_ns,
            "route",
            "add",
            "172.31.1.1",
            "dev",
            "eth0",
            "scope",
            "link",
        ],
    );
    ok(
        "ip",
        &["-n", &o_ns, "route", "add", "default", "via", "172.31.1.1"],
    );
    let mut listener = Command::new("ip")
        .args(["netns", "exec", &o_ns, "timeout", "60", "python3", "-c"])
        .arg(format!("import socket\ns=socket.socket()\ns.bind(('{o_ip}',8080))\ns.listen()\nprint('ready',flush=True)\nc,a=s.accept()\nprint(a[0],flush=True)"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = BufReader::new(listener.stdout.take().unwrap());
    let mut line = String::new();
    seen.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    eprintln!("step: connect to the outside");
    let send = format!("timeout 5 bash -c 'echo hi > /dev/tcp/{o_ip}/8080'");
    cloud.ssh_until("known_hosts", &jump, "root@10.0.1.21", &send, succeeded);
    line.clear();
    seen.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), public, "the outside saw {line:?}");
    listener.wait().unwrap();
    ok("ip", &["netns", "del", &o_ns]);

    eprintln!("step: A firewall without");
    // A firewall without a port-22 rule blocks ssh to the public address;
    // with one, ssh works again.
    let fw = cloud
        .post(
            "/firewalls",
            json!({"name": "web", "rules": [{"direction": "in", "protocol": "tcp", "port": "80", "source_ips": ["0.0.0.0/0"]}],
                   "apply_to": [{"type": "label_selector", "label_selector": {"selector": "role=control"}}]}),
        )
        .await["firewall"]["id"]
        .as_i64()
        .unwrap();
    let out = cloud.ssh_until("known_hosts", &[], &target, "true", |o| !o.status.success());
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    cloud
        .post(
            &format!("/firewalls/{fw}/actions/set_rules"),
            json!({"rules": [{"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0"]}]}),
        )
        .await;
    let out = cloud.ssh_until("known_hosts", &[], &target, "hostname", succeeded);
    assert_eq!(stdout(&out), "control");

    eprintln!("step: Delete: the address");
    // Delete: the address stops answering and the VM's namespace is gone.
    cloud
        .call(
            reqwest::Method::DELETE,
            &format!("/servers/{control}"),
            None,
        )
        .await;
    cloud.ssh_until("known_hosts", &[], &target, "true", |o| !o.status.success());
    let vm_ns = format!("{prefix}-vm{control}");
    let start = Instant::now();
    while ok("ip", &["netns", "list"])
        .lines()
        .any(|l| l.split_whitespace().next() == Some(vm_ns.as_str()))
    {
        assert!(start.elapsed() < DEADLINE, "{vm_ns} outlived its server");
        std::thread::sleep(Duration::from_millis(100));
    }

    eprintln!("step: Stop: nothing");
    // Stop: nothing of this run is left.
    let stderr = cloud.stop();
    assert_eq!(ours_left(&prefix), Vec::<String>::new(), "{stderr}");
    assert!(!Path::new(&format!("/run/{prefix}-vms")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_after_a_crash_removes_what_the_crashed_run_left() {
    if !available() {
        return;
    }
    let (prefix, pool) = unique(1);
    let mut cloud = Cloud::start(&prefix, &pool);
    cloud
        .post(
            "/ssh_keys",
            json!({"name": "me", "public_key": cloud.read("client.pub")}),
        )
        .await;
    let s = cloud
        .post("/servers", json!({"name": "lost", "server_type": "cpx22", "image": "ubuntu-24.04", "location": "fsn1", "ssh_keys": ["me"]}))
        .await;
    let id = s["server"]["id"].as_i64().unwrap();
    let vm_ns = format!("{prefix}-vm{id}");
    let start = Instant::now();
    while !ok("ip", &["netns", "list"]).contains(&vm_ns) {
        assert!(start.elapsed() < DEADLINE, "no VM came up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A crash: no cleanup runs.
    cloud.child.kill().unwrap();
    cloud.child.wait().unwrap();
    assert!(!ours_left(&prefix).is_empty());
    let again = Cloud::start(&prefix, &pool);
    let left = ok("ip", &["netns", "list"]);
    assert!(!left.contains(&vm_ns), "{left}");
    let stderr = again.stop();
    assert!(
        stderr.contains("removed namespaces an earlier run left"),
        "{stderr}"
    );
    assert_eq!(ours_left(&prefix), Vec::<String>::new());
}
