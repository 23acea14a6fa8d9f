//! Processes, files and clients shared by the tests.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Generous: two cores are shared with other builds.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A child process killed (by its own PID) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts the binary with `args` and `env`, output into `dir/<name>.log`.
pub fn spawn(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k3s"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    for var in [
        "K3S_URL",
        "K3S_TOKEN",
        "K3S_TOKEN_FILE",
        "K3S_CONFIG_FILE",
        "K3S_STANDIN_ROOT",
        "K3S_STANDIN_SCHEMAS",
        "K3S_STANDIN_HELM_DELAY_MS",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc {
        child: cmd.spawn().unwrap(),
        log,
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server and where its files are.
pub struct Server {
    pub proc: Proc,
    pub root: tempfile::TempDir,
    pub port: u16,
    pub args: Vec<String>,
}

impl Server {
    /// Starts `k3s server` with `config` (YAML) in a fresh root; returns
    /// once k3s.yaml exists, which the server writes after binding.
    pub fn start(config: &str) -> Self {
        Self::start_with(config, &[])
    }

    /// As [`Server::start`], with more command-line arguments.
    pub fn start_with(config: &str, args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let root = tempfile::tempdir().unwrap();
        let port = free_port();
        let dir = root.path().join("etc/rancher/k3s");
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!("{config}\nhttps-listen-port: {port}\nbind-address: 127.0.0.1\n");
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        let proc = Self::launch(root.path(), &args);
        Self {
            proc,
            root,
            port,
            args,
        }
    }

    /// Stops the server (by its PID) and starts it again on the same root.
    pub fn restart(self) -> Self {
        let Self {
            proc,
            root,
            port,
            args,
        } = self;
        drop(proc);
        std::fs::remove_file(root.path().join("etc/rancher/k3s/k3s.yaml")).unwrap();
        let proc = Self::launch(root.path(), &args);
        Self {
            proc,
            root,
            port,
            args,
        }
    }

    fn launch(root: &Path, extra: &[String]) -> Proc {
        let root_arg = root.to_str().unwrap().to_string();
        let mut args = vec!["server", "--standin-root", &root_arg];
        args.extend(extra.iter().map(String::as_str));
        let mut proc = spawn(
            root,
            "server",
            &args,
            &[("K3S_STANDIN_HELM_DELAY_MS", "100")],
        );
        let kubeconfig = root.join("etc/rancher/k3s/k3s.yaml");
        let start = Instant::now();
        while !kubeconfig.exists() {
            if let Ok(Some(status)) = proc.child.try_wait() {
                panic!("server exited with {status}: {}", proc.log_text());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no kubeconfig after {DEADLINE:?}: {}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proc
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.path("var/lib/rancher/k3s/server/token"))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn kubeconfig(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("etc/rancher/k3s/k3s.yaml")).unwrap();
        serde_yaml_ng::from_str(&text).unwrap()
    }

    /// A field of the kubeconfig's first cluster or user, base64-decoded.
    pub fn kubeconfig_pem(&self, section: &str, field: &str) -> String {
        let doc = self.kubeconfig();
        let item = &doc[section][0][if section == "clusters" {
            "cluster"
        } else {
            "user"
        }];
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(item[field].as_str().unwrap())
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    /// An HTTPS client that trusts the kubeconfig's CA, optionally
    /// presenting the admin client certificate.
    pub fn client(&self, admin: bool) -> reqwest::Client {
        let ca = self.kubeconfig_pem("clusters", "certificate-authority-data");
        let tls = tls_config(
            &ca,
            admin.then(|| {
                (
                    self.kubeconfig_pem("users", "client-certificate-data"),
                    self.kubeconfig_pem("users", "client-key-data"),
                )
            }),
        );
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // Each `block` call has its own runtime: a pooled connection
            // from a finished runtime would hang the next request.
            .pool_max_idle_per_host(0)
            .timeout(DEADLINE)
            .no_proxy()
            .build()
            .unwrap()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

pub fn tls_config(ca_pem: &str, identity: Option<(String, String)>) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match identity {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    }
}

/// Runs an agent with `config` (YAML) and `env`; returns the process.
pub fn agent(name: &str, config: &str, env: &[(&str, &str)]) -> (Proc, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let args = [
        "agent",
        "--config",
        path.to_str().unwrap(),
        "--standin-root",
        root.path().to_str().unwrap(),
    ];
    (spawn(root.path(), name, &args, env), root)
}

/// Waits for a process to exit within the deadline; its status and log.
pub fn wait_exit(proc: &mut Proc) -> (std::process::ExitStatus, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = proc.child.try_wait().unwrap() {
            return (status, proc.log_text());
        }
        // An agent that joined will not exit: fail now rather than at the deadline.
        assert!(
            !proc.log_text().contains(") joined https://"),
            "unexpectedly joined: {}",
            proc.log_text()
        );
        assert!(
            start.elapsed() < DEADLINE,
            "still running after {DEADLINE:?}: {}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `check` until it returns Ok or the deadline passes.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> anyhow::Result<T>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(e) if start.elapsed() > DEADLINE => {
                panic!("{what}: gave up after {DEADLINE:?}: {e:#}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The directory whose Cargo.toml has `[workspace]`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .expect("no workspace root above the crate")
        .to_path_buf()
}

/// A tool or file the tests need from outside the repository: `None` with a
/// note when absent, a failure naming the path when CI=true.
pub fn required_outside(path: PathBuf, what: &str, how: &str) -> anyhow::Result<Option<PathBuf>> {
    if path.exists() {
        return Ok(Some(path));
    }
    if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        bail!(
            "{what} is missing at {} (CI=true makes this a failure; {how})",
            path.display()
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: SKIPPED: {what} is absent at {}; {how}",
        path.display()
    );
    Ok(None)
}

/// GETs `path` and returns status and body.
pub async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<(u16, String)> {
    let response = client.get(url).send().await.context("GET")?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// Runs a future to completion on a small runtime of its own.
pub fn block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
