//! `serve --vms`: servers become sandboxes reached with real OpenSSH. Needs
//! root, `sshd` and `iptables`; skipped with a note otherwise (failing with
//! `CI=true`). This file holds the helpers; the tests are in the modules.

mod basics;
mod k3s;
mod scripts;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_k3strading-cloud");
pub const TOKEN: &str = "vms-token";
/// Generous: two busy cores, several builders.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn available() -> bool {
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

pub fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

pub fn ok(program: &str, args: &[&str]) -> String {
    let out = sh(program, args);
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A running `serve --vms` with a prefix and pool of its own.
pub struct Cloud {
    pub child: Child,
    pub url: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Cloud {
    pub fn start(prefix: &str, pool: &str) -> Cloud {
        Cloud::start_with(prefix, pool, &[])
    }

    /// [`Cloud::start`] with more `serve` options.
    pub fn start_with(prefix: &str, pool: &str, extra: &[&str]) -> Cloud {
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
            .args(extra)
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

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    pub fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.path(f)).unwrap()
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Cloud-config with host key `host` and a marker file, command and line.
    pub fn user_data(&self, host: &str, extra_runcmd: &[&str]) -> String {
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
    pub async fn server(
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

    pub fn ssh_config(&self, known_hosts: &str) -> PathBuf {
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
    pub fn ssh(&self, known_hosts: &str, extra: &[&str], target: &str, command: &str) -> Output {
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

    /// [`Cloud::ssh`] with `input` on the remote command's stdin (scripts
    /// and secrets go this way, never into an argument vector).
    pub fn ssh_stdin(
        &self,
        known_hosts: &str,
        extra: &[&str],
        target: &str,
        command: &str,
        input: &[u8],
    ) -> Output {
        use std::io::Write as _;
        let cfg = self.ssh_config(known_hosts);
        let mut child = Command::new("timeout")
            .args(["120", "ssh", "-F"])
            .arg(cfg)
            .args(extra)
            .args([target, command])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Retries until `pred` holds for the output, within the deadline.
    pub fn ssh_until(
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

    pub fn stop(mut self) -> String {
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

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

pub fn succeeded(o: &Output) -> bool {
    o.status.success()
}

pub fn ours_left(prefix: &str) -> Vec<String> {
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

/// The stand-in internet's request log of a run.
pub fn inet_log(prefix: &str) -> String {
    std::fs::read_to_string(format!("/run/{prefix}-vms/inet/requests.log")).unwrap_or_default()
}

/// A prefix and pool of this test process's own (`n`, below 6, tells tests
/// apart).
pub fn unique(n: u32) -> (String, String) {
    let pid = std::process::id();
    (
        format!("v{}{n}", pid % 1000),
        format!("100.64.{}.0/24", 100 + (pid % 25) * 6 + n),
    )
}
