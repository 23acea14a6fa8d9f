//! The local cloud in-process, Terraform work directories for the root
//! module, and inventory checks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hcloud_emulator::{Emu, Options, Shared, app};
use k3strading_e2e::{ProviderBin, Run, Terraform, Workdir};
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
    _rt: tokio::runtime::Runtime,
}

impl Cloud {
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
        Cloud { url, emu, _rt: rt }
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

impl Inventory {
    /// Sorted server names.
    pub fn server_names(&self) -> Vec<String> {
        let mut s = self.servers.clone();
        s.sort();
        s
    }
}

/// The servers the root module makes for `env` with one app VM.
pub fn seed_servers(env: &str) -> Vec<String> {
    let mut v: Vec<String> = ["control", "kafka-0", "kafka-1", "kafka-2", "app-0"]
        .iter()
        .map(|s| format!("k3s-trading-{env}-{s}"))
        .collect();
    v.sort();
    v
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
    wd
}

pub fn ok(run: anyhow::Result<Run>, what: &str) -> Run {
    run.unwrap().expect_code(0, what).unwrap()
}
