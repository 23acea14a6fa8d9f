//! Figures for `terraform apply -var env=dev` of terraform/ on the local
//! cloud: wall time per latency profile, API requests in total and per
//! server, and the busiest endpoints.
//!
//! Run: `cargo bench -p k3strading-provider` (needs scripts/setup.sh).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hcloud_emulator::world::Latency;
use hcloud_emulator::{Options, Shared, app};
use k3strading_e2e::{ProviderBin, Terraform, Workdir};

fn run(tf: &Terraform, latency: Latency, label: &str) -> anyhow::Result<()> {
    let mut opts = Options::new("bench-token");
    opts.latency = latency;
    let emu = Shared::new(opts).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let router = app(emu.clone());
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, router).await });
        anyhow::Ok(format!("http://{addr}/v1"))
    })?;
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-k3strading"));
    let mut wd = Workdir::new(
        tf,
        &[ProviderBin {
            source: "k3strading/k3strading".into(),
            bin,
        }],
    )?;
    wd.write(
        "main.tf",
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/main.tf"),
        )?,
    )?;
    wd.set_env("HCLOUD_ENDPOINT", &url);
    wd.set_env("HCLOUD_TOKEN", "bench-token");
    let t = Instant::now();
    wd.run(&["apply", "-auto-approve", "-no-color", "-var", "env=dev"])?
        .expect_code(0, "apply")?;
    let apply = t.elapsed();
    let log = emu.request_log();
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    for r in &log {
        let key = r
            .path
            .split('/')
            .map(|s| {
                if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
                    "{id}"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        *per.entry(format!("{} {key}", r.method)).or_default() += 1;
    }
    let servers = emu.world().servers.len();
    println!(
        "apply of terraform/ ({label}, Terraform {}): {apply:.2?}, {} API requests, {:.1} per server ({servers} servers)",
        tf.label,
        log.len(),
        log.len() as f64 / servers as f64
    );
    let mut top: Vec<_> = per.into_iter().collect();
    top.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (k, v) in top.iter().take(8) {
        println!("    {v:>4}  {k}");
    }
    let t = Instant::now();
    wd.run(&["destroy", "-auto-approve", "-no-color", "-var", "env=dev"])?
        .expect_code(0, "destroy")?;
    println!("destroy ({label}): {:.2?}", t.elapsed());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let tf = Terraform::pinned("1.15.5")?;
    run(&tf, Latency::Instant, "instant profile")?;
    run(
        &tf,
        Latency::Realistic { scale: 0.2 },
        "realistic profile, time scale 0.2",
    )?;
    run(
        &tf,
        Latency::Realistic { scale: 1.0 },
        "realistic profile, real time",
    )?;
    Ok(())
}
