//! The local cloud in-process, Terraform work directories for the root
//! module, and inventory checks.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcloud_emulator::{Emu, Options, Shared, app};
use k3strading_e2e::{ProviderBin, Run, Terraform, Workdir};

use crate::facts::assert_converged;
use serde_json::Value;

pub const TOKEN: &str = "canary-7f3a9c1e-hetzner-token";
pub const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-k3strading");

/// The Terraform versions these tests run on.
pub fn terraforms() -> Vec<Terraform> {
    k3strading_e2e::PINNED_VERSIONS
        .iter()
        .map(|v| Terraform::pinned(v).unwrap())
        .collect()
}

fn spec() -> Option<Arc<hcloud_emulator::spec::SpecChecker>> {
    static SPEC: std::sync::OnceLock<Option<Arc<hcloud_emulator::spec::SpecChecker>>> =
        std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        hcloud_emulator::spec::find_hetzner_spec(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or_else(|e| panic!("{e}"))
            .map(Arc::new)
    })
    .clone()
}

/// A local cloud on its own runtime.
pub struct Cloud {
    pub url: String,
    pub emu: Emu,
    /// The VMs behind the servers, when started with [`Cloud::start_vms`].
    vms: Option<std::sync::Arc<hcloud_emulator::vms::Vms>>,
    _rt: tokio::runtime::Runtime,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        if let Some(vms) = self.vms.take() {
            self._rt.block_on(vms.shutdown());
        }
    }
}

/// Why VMs cannot run here, if they cannot (they need root and Debian's
/// openssh-server and iptables).
pub fn vms_unavailable() -> Option<String> {
    hcloud_emulator::vms::preflight(&hcloud_emulator::vms::VmsConfig::default())
        .err()
        .map(|e| e.to_string())
}

/// True, after saying why, when this machine cannot run the local cloud's
/// VMs, so a VM test returns early; with `CI=true` that is a failure.
pub fn vms_skipped() -> bool {
    let Some(why) = vms_unavailable() else {
        return false;
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true, but VMs cannot run here: {why}"
    );
    eprintln!("SKIP: the local cloud cannot run VMs here ({why})");
    true
}

/// A finished program's stdout and stderr, for assertions and messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Cloud {
    /// A local cloud whose servers are VMs with real sshds (`--vms`), with
    /// its own namespace prefix and public pool.
    pub fn start_vms(prefix: &str, pool: &str) -> Cloud {
        Cloud::start_vms_with(prefix, pool, |_| {})
    }

    /// [`Cloud::start_vms`] with more options set by `tweak`.
    pub fn start_vms_with(prefix: &str, pool: &str, tweak: impl FnOnce(&mut Options)) -> Cloud {
        let pool: ipnet::Ipv4Net = pool.parse().unwrap();
        // The stand-in internet runs from the `k3strading-cloud` executable
        // and serves the `k3s` stand-in; `cargo test --workspace` builds both
        // beside the provider.
        let dir = Path::new(BIN).parent().unwrap();
        let exe = dir.join("k3strading-cloud");
        let k3s = dir.join("k3s");
        assert!(
            exe.exists() && k3s.exists(),
            "{} and {} are needed: cargo build --workspace --bins",
            exe.display(),
            k3s.display()
        );
        let cfg = hcloud_emulator::vms::VmsConfig {
            prefix: prefix.into(),
            inet: Some(hcloud_emulator::inet::InetConfig {
                exe,
                k3s_binary: Some(k3s),
                k3s_versions: vec![hcloud_emulator::inet::DEFAULT_K3S_VERSION.to_owned()],
                k3s_delays: None,
                k3s_schemas: kube_schemas::Schemas::find_dir(
                    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap(),
                )
                .unwrap(),
            }),
        };
        let mut cloud = Cloud::start(|o| {
            o.ipv4_pool = pool;
            o.vms = Some(cfg.clone());
            tweak(o);
        });
        let vms = cloud
            ._rt
            .block_on(hcloud_emulator::vms::Vms::start(&cfg, &pool))
            .unwrap();
        let emu = cloud.emu.clone();
        {
            let _in_runtime = cloud._rt.enter();
            vms.spawn(emu);
        }
        cloud.vms = Some(vms);
        cloud
    }

    pub fn start(tweak: impl FnOnce(&mut Options)) -> Cloud {
        let mut opts = Options::new(TOKEN);
        opts.spec = spec();
        tweak(&mut opts);
        let emu = Shared::new(opts).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let router = app(emu.clone());
        let url = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await });
            format!("http://{addr}/v1")
        });
        Cloud {
            url,
            emu,
            vms: None,
            _rt: rt,
        }
    }

    /// Counts of every kind of object.
    pub fn inventory(&self) -> Inventory {
        let w = self.emu.world();
        Inventory {
            servers: w.servers.values().map(|s| s.server.name.clone()).collect(),
            networks: w.networks.len(),
            firewalls: w.firewalls.len(),
            placement_groups: w.placement_groups.len(),
            ssh_keys: w.ssh_keys.len(),
            primary_ips: w
                .primary_ips
                .values()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.ip.clone(),
                        p.assignee_id.is_some(),
                        p.protection.delete,
                    )
                })
                .collect(),
        }
    }

    /// Scripts a fault (see the admin API).
    pub fn fault(&self, f: Value) {
        self.emu.add_fault(serde_json::from_value(f).unwrap());
    }

    /// Calls the local cloud's admin API (`/_emulator/...`) over its socket,
    /// for what has no in-process handle; returns the status code.
    pub fn admin(&self, method: &str, path: &str, body: &Value) -> u16 {
        use std::io::{Read as _, Write as _};
        let addr = self
            .url
            .strip_prefix("http://")
            .and_then(|u| u.strip_suffix("/v1"))
            .unwrap();
        let body = body.to_string();
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        write!(
            conn,
            "{method} /_emulator{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Scripts an action outcome.
    pub fn action_fault(&self, f: Value) {
        self.emu
            .add_action_fault(serde_json::from_value(f).unwrap());
    }

    pub fn assert_spec_clean(&self) {
        let v = self.emu.violations.lock().unwrap();
        assert!(
            v.is_empty(),
            "responses that break the OpenAPI document: {}",
            serde_json::to_string_pretty(&*v).unwrap()
        );
    }
}

#[derive(Debug, PartialEq)]
pub struct Inventory {
    pub servers: Vec<String>,
    pub networks: usize,
    pub firewalls: usize,
    pub placement_groups: usize,
    pub ssh_keys: usize,
    /// (name, address, assigned, protected)
    pub primary_ips: Vec<(String, String, bool, bool)>,
}

/// The cluster name the root module derives from `env`.
pub fn cluster_name(env: &str) -> String {
    format!("k3s-trading-{env}")
}

/// One server of the root module's layout.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Server name.
    pub name: String,
    /// `control-plane`, `kafka` or `app`.
    pub role: &'static str,
    /// Fixed private address.
    pub private_ip: Ipv4Addr,
    /// Logical name of its Primary IP, if it has one.
    pub primary_ip: Option<&'static str>,
}

/// The servers `terraform/` makes for `cluster`: the control plane on
/// 10.0.1.10 with Primary IP `control`, kafka-N on 10.0.1.2N (kafka-0 with
/// Primary IP `kafka`), app-N on 10.0.1.(30+N).
pub fn layout(cluster: &str, app_count: u8) -> Vec<Planned> {
    let mut v = vec![Planned {
        name: format!("{cluster}-control"),
        role: "control-plane",
        private_ip: Ipv4Addr::new(10, 0, 1, 10),
        primary_ip: Some("control"),
    }];
    for n in 0..3u8 {
        v.push(Planned {
            name: format!("{cluster}-kafka-{n}"),
            role: "kafka",
            private_ip: Ipv4Addr::new(10, 0, 1, 20 + n),
            primary_ip: (n == 0).then_some("kafka"),
        });
    }
    for n in 0..app_count {
        v.push(Planned {
            name: format!("{cluster}-app-{n}"),
            role: "app",
            private_ip: Ipv4Addr::new(10, 0, 1, 30 + n),
            primary_ip: None,
        });
    }
    v
}

/// The placement group a server of `cluster` with `private_ip` belongs to:
/// spread groups hold at most 10 servers, so each block of ten addresses of
/// the /24 (10.0.1.10-19, 20-29, ...) has its own, `<cluster>-spread-N`.
pub fn expected_placement_group(cluster: &str, private_ip: Ipv4Addr) -> String {
    format!("{cluster}-spread-{}", private_ip.octets()[3] / 10)
}

/// A work directory holding `terraform/` (or `main_tf` when given), wired
/// to the provider binary and `cloud`.
pub fn workdir(tf: &Terraform, cloud: &Cloud, main_tf: Option<&str>) -> Workdir {
    let mut wd = Workdir::new(
        tf,
        &[ProviderBin {
            source: "k3strading/k3strading".into(),
            bin: PathBuf::from(BIN),
        }],
    )
    .unwrap();
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/main.tf");
    let text = match main_tf {
        Some(t) => t.to_owned(),
        None => std::fs::read_to_string(module).unwrap(),
    };
    wd.write("main.tf", &text).unwrap();
    wd.set_env("HCLOUD_ENDPOINT", &cloud.url);
    wd.set_env("HCLOUD_TOKEN", TOKEN);
    // Without VMs there is nothing to SSH into: terraform/ builds bare servers.
    if cloud.vms.is_none() {
        wd.set_env("TF_VAR_install_k3s", "false");
    }
    wd
}

pub const APPLY: [&str; 5] = ["apply", "-auto-approve", "-no-color", "-var", "env=dev"];
pub const PLAN: [&str; 5] = ["plan", "-detailed-exitcode", "-no-color", "-var", "env=dev"];
pub const DESTROY: [&str; 5] = ["destroy", "-auto-approve", "-no-color", "-var", "env=dev"];

/// Re-applies, expects an empty plan after that, and the full facts of the
/// seed layout: no orphans, no duplicates, nothing missing.
pub fn converged(tf: &Terraform, cloud: &Cloud, wd: &Workdir, what: &str) {
    let again = wd.run(&APPLY).unwrap();
    assert_eq!(
        again.code,
        0,
        "{what}: re-apply on Terraform {} did not converge\n{}",
        tf.label,
        again.all()
    );
    ok(wd.run(&PLAN), what);
    assert_converged(cloud, "dev", &format!("{what} (Terraform {})", tf.label));
    cloud.assert_spec_clean();
}

pub fn ok(run: anyhow::Result<Run>, what: &str) -> Run {
    run.unwrap().expect_code(0, what).unwrap()
}

/// `scripts/deploy.sh ACTION ENV` as the workflow runs it, on `wd`'s
/// Terraform directory with `wd`'s Terraform, the provider built here
/// (dev_overrides, so no init) and the `k3strading` built beside it; the
/// login key comes from `terraform output`. Callers add the endpoint.
pub fn deploy_script(
    wd: &k3strading_e2e::Workdir,
    action: &str,
    env: &str,
    limit_secs: u32,
) -> std::process::Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/deploy.sh");
    let mut c = std::process::Command::new("timeout");
    c.arg(limit_secs.to_string())
        .arg("bash")
        .arg(script)
        .args([action, env]);
    for (k, v) in wd.env_vars() {
        c.env(k, v);
    }
    c.env("TERRAFORM", &wd.terraform().bin)
        .env(
            "K3STRADING",
            Path::new(BIN).parent().unwrap().join("k3strading"),
        )
        .env("K3STRADING_TF_DIR", wd.path())
        .env("K3STRADING_TF_DEV_OVERRIDES", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env_remove("K3STRADING_SSH_PRIVATE_KEY")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("TF_LOG");
    c
}
