//! Prints protocol figures for the example provider built alongside this
//! binary: start-to-handshake time, TLS connect time, GetProviderSchema round
//! trip, a full plan/apply/destroy cycle on each available Terraform, and the
//! size of the provider binaries.
//!
//! Run: `cargo run --release -p k3strading-e2e --bin protocol-bench`

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use k3strading_e2e::plugin::{ClientIdentity, Plugin};
use k3strading_e2e::{PINNED_VERSIONS, Terraform, scenario};
use tfplug::proto::tfplugin6 as pb;

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| {
        samples
            .get(((samples.len() - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name:<36} n={:<4} min={:>9.3?} median={:>9.3?} p95={:>9.3?} max={:>9.3?}",
        samples.len(),
        pick(0.0),
        pick(0.5),
        pick(0.95),
        pick(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let exe = std::env::current_exe()?;
    let example = exe.with_file_name("terraform-provider-tfexample");
    let id = ClientIdentity::generate()?;

    let mut handshakes = Vec::new();
    let mut connects = Vec::new();
    for _ in 0..20 {
        let plugin = Plugin::start(&example, &id)?;
        handshakes.push(plugin.handshake_time);
        let t = Instant::now();
        let mut c = plugin.connect(Some(&id)).await?;
        c.get_provider_schema(pb::get_provider_schema::Request {})
            .await?;
        connects.push(t.elapsed());
    }
    stats("start -> handshake line", handshakes);
    stats("TLS connect + first GetProviderSchema", connects);

    let plugin = Plugin::start(&example, &id)?;
    let mut c = plugin.connect(Some(&id)).await?;
    let mut rtts = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        c.get_provider_schema(pb::get_provider_schema::Request {})
            .await?;
        rtts.push(t.elapsed());
    }
    stats("GetProviderSchema round trip", rtts);
    drop(plugin);

    let mut tfs: Vec<Terraform> = PINNED_VERSIONS
        .iter()
        .filter_map(|v| Terraform::pinned(v).ok())
        .collect();
    tfs.extend(Terraform::on_path());
    for tf in &tfs {
        let version = tf.version()?;
        let mut cycles = Vec::new();
        for _ in 0..3 {
            cycles.push(cycle(tf, &example)?);
        }
        stats(&format!("plan+apply+destroy, Terraform {version}"), cycles);
    }

    for name in [
        "terraform-provider-tfexample",
        "terraform-provider-k3strading",
    ] {
        let p = exe.with_file_name(name);
        match std::fs::metadata(&p) {
            Ok(m) => println!(
                "{name:<36} {:.1} MiB ({} bytes, {})",
                m.len() as f64 / 1048576.0,
                m.len(),
                profile(&exe)
            ),
            Err(_) => println!("{name:<36} not built next to this binary"),
        }
    }
    Ok(())
}

fn profile(exe: &Path) -> &'static str {
    if exe.components().any(|c| c.as_os_str() == "release") {
        "release"
    } else {
        "debug"
    }
}

fn cycle(tf: &Terraform, example: &Path) -> Result<Duration> {
    let scratch = tempfile::tempdir()?;
    let file = scratch.path().join("bench.txt");
    let body = format!(
        "resource \"tfexample_file\" \"a\" {{\n  path = \"{}\"\n  content = \"x\"\n}}\n",
        file.display()
    );
    let wd = scenario::example_workdir(tf, example, &body)?;
    let t = Instant::now();
    wd.run(&["plan", "-out=tfplan", "-no-color"])?
        .expect_code(0, "plan")?;
    wd.run(&["apply", "-no-color", "tfplan"])?
        .expect_code(0, "apply")?;
    wd.run(&["destroy", "-auto-approve", "-no-color"])?
        .expect_code(0, "destroy")
        .context("destroy")?;
    Ok(t.elapsed())
}
