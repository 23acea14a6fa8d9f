//! The acceptance suite against real Hetzner Cloud, and its harness.
//!
//! `acceptance_on_real_hetzner` creates and destroys a whole cluster on
//! Hetzner with the daily deploy script, in a Hetzner project of yours. It
//! runs only when asked twice: `--ignored` and `K3STRADING_ACCEPTANCE=1`,
//! with `HCLOUD_TOKEN` set (see docs/acceptance.md for the cost). Whatever
//! happens, its guard removes everything the run labelled, the two Primary
//! IPs included, since an acceptance run must not leave anything billed.
//!
//! The harness itself, the guard above all, is tested on the local cloud in
//! every test run: a create that fails half-way is cleaned up by label.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hcloud::labels::Selector;
use hcloud::{Client, Config, Token};

use crate::common::*;

/// Where a run goes.
struct Target {
    /// `None`: Hetzner's own API.
    endpoint: Option<String>,
    token: String,
}

impl Target {
    fn api_url(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| "https://api.hetzner.cloud/v1".to_owned())
    }

    fn client(&self) -> Client {
        Client::new(Config::new(self.api_url(), Token::new(self.token.clone()))).unwrap()
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A unique environment name for one run, valid for the module's `env`.
fn run_env() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("acc-{:06x}", (nanos ^ std::process::id()) & 0xff_ffff)
}

/// Removes, by label, everything a run's cluster left: `k3strading
/// teardown` for the servers and per-run objects, then the two Primary IPs
/// (unprotected, unassigned, deleted). Runs on drop, so also after a panic.
struct Cleanup<'a> {
    target: &'a Target,
    cluster: String,
}

impl Cleanup<'_> {
    fn run(&self) -> Result<(), String> {
        let k3s = Path::new(BIN).parent().unwrap().join("k3strading");
        let mut c = Command::new("timeout");
        c.arg("900")
            .arg(&k3s)
            .args(["teardown", "--cluster", &self.cluster, "--yes"])
            .env("HCLOUD_TOKEN", &self.target.token)
            .env_remove("HCLOUD_ENDPOINT");
        if let Some(e) = &self.target.endpoint {
            c.env("HCLOUD_ENDPOINT", e);
        }
        let out = c.output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("teardown: {}", text(&out)));
        }
        let api = self.target.client();
        let cluster = self.cluster.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let mine = Selector::new().eq("k3strading.io/cluster", &cluster);
            let ips = api
                .primary_ips(Some(&mine), None)
                .await
                .map_err(|e| e.to_string())?;
            let cancel = tokio_util::sync::CancellationToken::new();
            let wait = Duration::from_secs(300);
            for ip in ips {
                if ip.protection.delete {
                    let a = api
                        .protect_primary_ip(ip.id, false)
                        .await
                        .map_err(|e| e.to_string())?;
                    api.wait_action(&a, wait, &cancel)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                if ip.assignee_id.is_some() {
                    let a = api
                        .unassign_primary_ip(ip.id)
                        .await
                        .map_err(|e| e.to_string())?;
                    api.wait_action(&a, wait, &cancel)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                api.delete_primary_ip(ip.id)
                    .await
                    .map_err(|e| e.to_string())?;
                eprintln!("acceptance: deleted Primary IP {}", ip.name);
            }
            Ok(())
        })
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.run() {
            eprintln!(
                "acceptance: CLEAN-UP FAILED for {}: {e}\n\
                 Remove what is left by hand: everything labelled k3strading.io/cluster={}",
                self.cluster, self.cluster
            );
        }
    }
}

/// `scripts/deploy.sh ACTION ENV` with real Terraform on `terraform/`, the
/// provider built here (dev_overrides), and the `k3strading` built here.
fn deploy(
    target: &Target,
    wd: &k3strading_e2e::Workdir,
    action: &str,
    env: &str,
    extra: &[(&str, &str)],
) -> Output {
    let mut c = deploy_script(wd, action, env, 1800);
    c.env("HCLOUD_TOKEN", &target.token)
        .env_remove("HCLOUD_ENDPOINT");
    if let Some(e) = &target.endpoint {
        c.env("HCLOUD_ENDPOINT", e);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A Terraform directory with `terraform/`'s module and no endpoint of its
/// own: the target's comes through the deploy script's environment.
fn module_dir() -> k3strading_e2e::Workdir {
    let mut wd = k3strading_e2e::Workdir::new(
        &terraforms()[0],
        &[k3strading_e2e::ProviderBin {
            source: "k3strading/k3strading".into(),
            bin: PathBuf::from(BIN),
        }],
    )
    .unwrap();
    let module = std::fs::read_to_string(repo().join("terraform/main.tf")).unwrap();
    wd.write("main.tf", &module).unwrap();
    wd.remove_env("HCLOUD_ENDPOINT");
    wd
}

/// What a run on Hetzner costs, from Hetzner's own price list: every
/// server of the layout for each started hour, plus the two Primary IPs
/// while they exist. Net prices (VAT comes on top).
fn cost_estimate(target: &Target, servers: u32, hours: u32) -> String {
    let api = target.client();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let types = rt.block_on(api.server_types()).unwrap();
    let cpx22 = types.iter().find(|t| t.name == "cpx22").unwrap();
    let price = cpx22.prices.iter().find(|p| p.location == "fsn1").unwrap();
    let hourly: f64 = price.price_hourly.net.parse().unwrap();
    format!(
        "{servers} × cpx22 × {hours} h × EUR {hourly:.4} = EUR {:.3} net, plus the Primary IPs' hours",
        f64::from(servers) * f64::from(hours) * hourly
    )
}

#[test]
#[ignore = "real Hetzner Cloud: needs HCLOUD_TOKEN and K3STRADING_ACCEPTANCE=1, and costs money (docs/acceptance.md)"]
fn acceptance_on_real_hetzner() {
    let token = std::env::var("HCLOUD_TOKEN").unwrap_or_default();
    assert!(
        std::env::var("K3STRADING_ACCEPTANCE").as_deref() == Ok("1") && !token.trim().is_empty(),
        "the acceptance suite runs only with K3STRADING_ACCEPTANCE=1 and HCLOUD_TOKEN set"
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the acceptance suite never runs in CI"
    );
    let target = Target {
        endpoint: None,
        token,
    };
    let env = run_env();
    let cluster = format!("k3s-trading-{env}");
    eprintln!(
        "acceptance: cluster {cluster}; cost: {}",
        cost_estimate(&target, 5, 1)
    );
    let started = Instant::now();
    let _cleanup = Cleanup {
        target: &target,
        cluster: cluster.clone(),
    };
    let wd = module_dir();
    let created = deploy(&target, &wd, "create", &env, &[]);
    assert!(
        created.status.success(),
        "deploy.sh create: {}",
        text(&created)
    );
    let said = text(&created);
    for node in ["control", "kafka-0", "kafka-1", "kafka-2", "app-0"] {
        let row = said
            .lines()
            .find(|l| l.starts_with(&format!("| {cluster}-{node} ")))
            .unwrap_or_else(|| panic!("no Node {node}:\n{said}"));
        assert!(row.trim_end_matches(['|', ' ']).ends_with("yes"), "{row}");
    }
    assert!(
        said.contains("| trading | yes"),
        "Kafka is not ready:\n{said}"
    );
    let up = started.elapsed();
    let destroyed = deploy(&target, &wd, "destroy", &env, &[]);
    assert!(
        destroyed.status.success(),
        "deploy.sh destroy: {}",
        text(&destroyed)
    );
    eprintln!(
        "acceptance: up in {} s, everything gone after {} s",
        up.as_secs(),
        started.elapsed().as_secs()
    );
}

/// The harness on the local cloud: a create that fails half-way (every
/// server create fails) leaves the Primary IPs, network, firewall,
/// placement group and SSH key behind; the guard removes them all by label.
#[test]
fn the_acceptance_guard_cleans_up_a_failed_run_by_label() {
    let cloud = Cloud::start(|_| {});
    let target = Target {
        endpoint: Some(cloud.url.clone()),
        token: TOKEN.to_owned(),
    };
    let env = run_env();
    let cluster = format!("k3s-trading-{env}");
    // Another cluster, which the guard must leave alone.
    let other = module_dir();
    let kept = deploy(
        &target,
        &other,
        "create",
        "keep",
        &[("TF_VAR_install_k3s", "false"), ("K3STRADING", "true")],
    );
    assert!(kept.status.success(), "{}", text(&kept));
    let before = cloud.inventory();

    let status = cloud.admin(
        "POST",
        "/action-faults",
        &serde_json::json!({"command": "create_server", "mode": "fail", "times": 100}),
    );
    assert_eq!(status, 200);
    {
        let _cleanup = Cleanup {
            target: &target,
            cluster: cluster.clone(),
        };
        let wd = module_dir();
        let failed = deploy(
            &target,
            &wd,
            "create",
            &env,
            &[("TF_VAR_install_k3s", "false")],
        );
        assert!(!failed.status.success(), "the create should have failed");
        let half = cloud.inventory();
        assert!(
            half.primary_ips.iter().any(|p| p.0.starts_with(&cluster))
                && half.networks > before.networks,
            "the failed create left nothing to clean up: {half:?}"
        );
    }
    let after = cloud.inventory();
    assert_eq!(
        after, before,
        "the guard left something of {cluster}, or removed another cluster's"
    );
}
