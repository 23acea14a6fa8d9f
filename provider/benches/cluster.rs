//! The cluster benchmark: real Terraform applies `terraform/` against the
//! local cloud with VMs and the K3s stand-in, on the `realistic` latency
//! profile with a compressed clock, and prints for each run the apply's wall
//! time next to the critical-path bound of the same profile, the API
//! requests per server (polls included) and the peak request rate against
//! Hetzner's budget, the provider's peak memory and the phase timings; then
//! `terraform plan` of 50 app nodes next to the same plan with
//! `terraform_data` stand-ins and with the no-op `tfexample` provider.
//!
//! Run: `make bench` (root, for the VMs). Knobs: `BENCH_TIME_SCALE` (default
//! 0.5), `BENCH_APP_NODES` (default 50), `BENCH_PARALLELISM` (default 64).
//! It prints figures; it asserts nothing about them.

// A measuring program: JSON from the local cloud is indexed freely.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use k3strading_e2e::{ProviderBin, Terraform, Workdir};
use serde_json::Value;

const TOKEN: &str = "bench-token";
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-k3strading");

fn target_dir() -> PathBuf {
    // target/release/deps/cluster-… → target/release
    Path::new(PROVIDER)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `k3strading-cloud serve --vms --latency realistic --time-scale F`, as a
/// process of its own, stopped (and its VMs removed) on drop.
struct Cloud {
    child: Child,
    url: String,
}

impl Cloud {
    fn start(scale: f64, prefix: &str, pool: &str) -> Result<Cloud> {
        let exe = target_dir().join("k3strading-cloud");
        if !exe.exists() || !target_dir().join("k3s").exists() {
            bail!(
                "{} and the k3s stand-in beside it are needed: cargo build --release --bins",
                exe.display()
            );
        }
        let mut child = Command::new(&exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN])
            .args(["--latency", "realistic", "--time-scale", &scale.to_string()])
            .args(["--vms", "--vms-prefix", prefix, "--ipv4-pool", pool])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        use std::io::BufRead as _;
        let stdout = child.stdout.take().context("no stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("the cloud did not start: {line:?}"))?
            .to_owned();
        Ok(Cloud { child, url })
    }

    fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Result<Value> {
        let base = self.url.trim_end_matches("/v1");
        let mut c = Command::new("curl");
        c.args(["-sf", "-X", method, "-H"])
            .arg(format!("Authorization: Bearer {TOKEN}"))
            .arg(format!("{base}/_emulator{path}"));
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "-d", b]);
        }
        let out = c.output()?;
        if !out.status.success() {
            bail!("{method} /_emulator{path} failed");
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(Value::Null))
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        // The stand-in internet's request log, for looking into slow installs.
        if let Some(dir) = std::env::var_os("BENCH_LOG_DIR") {
            let _ = std::fs::copy(
                "/run/bch-vms/inet/requests.log",
                Path::new(&dir).join("inet-requests.log"),
            );
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The highest VmHWM (peak resident memory) seen of any running provider
/// process, sampled every 50 ms while a command runs.
struct MemoryWatch {
    stop: Arc<AtomicBool>,
    peak_kb: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MemoryWatch {
    fn start() -> MemoryWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kb = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak_kb.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let status = e.path().join("status");
                    let Ok(text) = std::fs::read_to_string(&status) else {
                        continue;
                    };
                    if !text.starts_with("Name:\tterraform-provi") {
                        continue;
                    }
                    let exe = std::fs::read_link(e.path().join("exe")).unwrap_or_default();
                    if !exe
                        .to_string_lossy()
                        .contains("terraform-provider-k3strading")
                    {
                        continue;
                    }
                    if let Some(kb) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                    {
                        p.fetch_max(kb, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        MemoryWatch {
            stop,
            peak_kb,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kb.load(Ordering::Relaxed)
    }
}

/// The floor of an apply on the `realistic` profile: the network, then one
/// server (create, attach, power on), one K3s server start and one agent
/// join, one after the other; everything else can overlap.
fn critical_path(scale: f64) -> (Duration, &'static str) {
    let secs = 0.5 + (9.0 + 2.0 + 4.0) + 15.0 + 10.0;
    (
        Duration::from_secs_f64(secs * scale),
        "network 0.5 + server create 9, attach 2, power on 4 + K3s server 15 + agent join 10 s, × time scale",
    )
}

struct Applied {
    wall: Duration,
    servers: usize,
    requests: Vec<Value>,
    peak_kb: u64,
    phases: BTreeMap<String, Vec<(f64, String)>>,
}

fn module_workdir(tf: &Terraform, cloud: &Cloud) -> Result<Workdir> {
    let mut wd = Workdir::new(
        tf,
        &[ProviderBin {
            source: "k3strading/k3strading".into(),
            bin: PathBuf::from(PROVIDER),
        }],
    )?;
    wd.write(
        "main.tf",
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/main.tf"),
        )?,
    )?;
    wd.set_env("HCLOUD_ENDPOINT", &cloud.url);
    wd.set_env("HCLOUD_TOKEN", TOKEN);
    Ok(wd)
}

/// The provider's "phase done" lines: phase → (seconds, resource).
fn phases(log: &Path) -> BTreeMap<String, Vec<(f64, String)>> {
    let mut out: BTreeMap<String, Vec<(f64, String)>> = BTreeMap::new();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines().filter(|l| l.contains("phase done:")) {
        let phase = line
            .split_once(" phase=\"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(p, _)| p.to_owned())
            .or_else(|| {
                line.split_once(" phase=")
                    .and_then(|(_, r)| r.split_whitespace().next())
                    .map(str::to_owned)
            });
        let took = line
            .split_once(" took_ms=")
            .and_then(|(_, r)| r.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok());
        let node = line
            .split_once(" node=")
            .and_then(|(_, r)| r.split_whitespace().next())
            .unwrap_or("?")
            .to_owned();
        if let (Some(p), Some(t)) = (phase, took) {
            out.entry(p).or_default().push((t / 1000.0, node));
        }
    }
    out
}

fn apply(wd: &Workdir, cloud: &Cloud, app_nodes: u32, parallelism: u32) -> Result<Applied> {
    cloud.admin("DELETE", "/requests", None)?;
    let log = match std::env::var_os("BENCH_LOG_DIR") {
        Some(dir) => {
            PathBuf::from(dir).join(format!("apply-{app_nodes}-{}.log", std::process::id()))
        }
        None => wd.path().join("apply.log"),
    };
    let _ = std::fs::remove_file(&log);
    let watch = MemoryWatch::start();
    let t = Instant::now();
    let log_path = log.display().to_string();
    let app = format!("app_count={app_nodes}");
    let par = format!("-parallelism={parallelism}");
    let run = wd.run_env(
        &[
            "apply",
            "-auto-approve",
            "-no-color",
            &par,
            "-var",
            "env=bench",
            "-var",
            &app,
        ],
        &[("TF_LOG_PROVIDER", "INFO"), ("TF_LOG_PATH", &log_path)],
    )?;
    let wall = t.elapsed();
    let peak_kb = watch.finish();
    let run = run.expect_code(0, "apply")?;
    drop(run);
    let state = cloud.admin("GET", "/state", None)?;
    let servers = state["servers"].as_array().map_or(0, Vec::len);
    let requests = cloud.admin("GET", "/requests", None)?["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(Applied {
        wall,
        servers,
        requests,
        peak_kb,
        phases: phases(&log),
    })
}

fn destroy(wd: &Workdir, app_nodes: u32, parallelism: u32) -> Result<Duration> {
    let t = Instant::now();
    let app = format!("app_count={app_nodes}");
    let par = format!("-parallelism={parallelism}");
    wd.run(&[
        "destroy",
        "-auto-approve",
        "-no-color",
        &par,
        "-var",
        "env=bench",
        "-var",
        &app,
    ])?
    .expect_code(0, "destroy")?;
    Ok(t.elapsed())
}

/// Most requests that arrived within any `window`.
fn peak(requests: &[Value], window: u64) -> usize {
    let mut at: Vec<u64> = requests
        .iter()
        .filter_map(|r| r["at_ms"].as_u64())
        .collect();
    at.sort_unstable();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..at.len() {
        while at[hi] - at[lo] >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn report(label: &str, a: &Applied, scale: f64) {
    let (bound, how) = critical_path(scale);
    let n = a.requests.len();
    let polls = a
        .requests
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/actions"))
        })
        .count();
    let limited = a.requests.iter().filter(|r| r["status"] == 429).count();
    println!("{label}:");
    println!(
        "  apply {:.1} s; critical-path bound {:.1} s ({how}); ratio {:.2}",
        a.wall.as_secs_f64(),
        bound.as_secs_f64(),
        a.wall.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "  API requests: {n} for {} servers = {:.1} per server ({polls} of them action polls); 429 answers: {limited}",
        a.servers,
        n as f64 / a.servers.max(1) as f64
    );
    println!(
        "  peak request rate: {} in 1 s, {} in 60 s; Hetzner's budget: 3600 per hour, refilled at 1 per second",
        peak(&a.requests, 1000),
        peak(&a.requests, 60_000)
    );
    println!(
        "  provider peak memory (VmHWM): {:.1} MiB",
        a.peak_kb as f64 / 1024.0
    );
    let mut by_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for r in &a.requests {
        let path = r["path"].as_str().unwrap_or_default();
        let key: Vec<&str> = path
            .split('/')
            .map(|s| {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    "{id}"
                } else {
                    s
                }
            })
            .collect();
        *by_endpoint
            .entry(format!(
                "{} {}",
                r["method"].as_str().unwrap_or("?"),
                key.join("/")
            ))
            .or_default() += 1;
    }
    let mut top: Vec<_> = by_endpoint.into_iter().collect();
    top.sort_by_key(|e| std::cmp::Reverse(e.1));
    let top: Vec<String> = top
        .iter()
        .take(6)
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    println!("  busiest endpoints: {}", top.join(", "));
    println!("  phases (median / max over resources, s):");
    for (phase, mut t) in a.phases.clone() {
        t.sort_by(|a, b| a.0.total_cmp(&b.0));
        let median = t[t.len() / 2].0;
        let (max, slowest) = &t[t.len() - 1];
        println!(
            "    {phase:<30} {median:>6.2} / {max:>6.2}  ({} resources; slowest {slowest})",
            t.len()
        );
    }
}

fn median_plan(wd: &Workdir, args: &[&str], runs: usize) -> Result<(Duration, u64)> {
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let watch = MemoryWatch::start();
        let t = Instant::now();
        let run = wd.run(args)?;
        times.push(t.elapsed());
        peak = peak.max(watch.finish());
        if run.code != 0 && run.code != 2 {
            bail!("plan failed: {}", run.all());
        }
    }
    times.sort();
    Ok((times[times.len() / 2], peak))
}

/// The same shape as `terraform/` with `app_nodes` app nodes, as
/// `terraform_data` resources: Terraform's own, no plugin at all.
fn terraform_data_config(nodes: u32) -> String {
    format!(
        r#"resource "terraform_data" "cluster" {{
  input = {{ name = "k3s-trading-bench", cidr = "10.0.1.0/24", primary_ips = ["control", "kafka"] }}
}}
resource "terraform_data" "node" {{
  count = {nodes}
  input = {{ cluster = terraform_data.cluster.output.name, name = "node-${{count.index}}", ip = "10.0.1.${{30 + count.index}}" }}
}}
"#
    )
}

/// The same shape with the no-op example provider's `tfexample_file`.
fn tfexample_config(dir: &Path, nodes: u32) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    tfexample = {{ source = "k3strading/tfexample" }}
  }}
}}
provider "tfexample" {{
  label = "bench"
}}
resource "tfexample_file" "cluster" {{
  path    = "{dir}/cluster.txt"
  content = "k3s-trading-bench"
}}
resource "tfexample_file" "node" {{
  count   = {nodes}
  path    = "{dir}/node-${{count.index}}.txt"
  content = "${{tfexample_file.cluster.content}}-${{count.index}}"
}}
"#,
        dir = dir.display()
    )
}

fn plans(tf: &Terraform, k3s: &Workdir, app_nodes: u32) -> Result<()> {
    const RUNS: usize = 5;
    let nodes = app_nodes + 3;
    let app = format!("app_count={app_nodes}");
    let (ours, ours_kb) = median_plan(
        k3s,
        &[
            "plan",
            "-no-color",
            "-detailed-exitcode",
            "-var",
            "env=bench",
            "-var",
            &app,
        ],
        RUNS,
    )?;
    let data = Workdir::new(tf, &[])?;
    data.write("main.tf", &terraform_data_config(nodes))?;
    data.run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "terraform_data apply")?;
    let (builtin, _) = median_plan(&data, &["plan", "-no-color", "-detailed-exitcode"], RUNS)?;
    let example_bin = target_dir().join("terraform-provider-tfexample");
    let example = Workdir::new(
        tf,
        &[ProviderBin {
            source: "k3strading/tfexample".into(),
            bin: example_bin,
        }],
    )?;
    let files = example.path().join("files");
    std::fs::create_dir_all(&files)?;
    example.write("main.tf", &tfexample_config(&files, nodes))?;
    example
        .run(&["apply", "-auto-approve", "-no-color"])?
        .expect_code(0, "tfexample apply")?;
    let (noop, _) = median_plan(&example, &["plan", "-no-color", "-detailed-exitcode"], RUNS)?;
    println!(
        "terraform plan with refresh, cluster + {nodes} nodes (median of {RUNS}, Terraform {}):",
        tf.label
    );
    println!(
        "  k3strading {:.0} ms; no-op tfexample {:.0} ms ({:.2} ×); terraform_data {:.0} ms ({:.2} ×); provider peak memory {:.1} MiB",
        ours.as_secs_f64() * 1e3,
        noop.as_secs_f64() * 1e3,
        ours.as_secs_f64() / noop.as_secs_f64(),
        builtin.as_secs_f64() * 1e3,
        ours.as_secs_f64() / builtin.as_secs_f64(),
        ours_kb as f64 / 1024.0
    );
    Ok(())
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let scale: f64 = env_or("BENCH_TIME_SCALE", 0.5);
    let app_nodes: u32 = env_or("BENCH_APP_NODES", 50);
    let parallelism: u32 = env_or("BENCH_PARALLELISM", 64);
    let tf = Terraform::pinned("1.15.5")?;
    println!(
        "cluster benchmark: realistic profile, time scale {scale}, VMs with the K3s stand-in, \
         Terraform {} with -parallelism={parallelism}",
        tf.label
    );

    // BENCH_STEPS picks parts: scale, plan, low (default: all; the seed
    // layout always runs, as the yardstick).
    let steps = std::env::var("BENCH_STEPS").unwrap_or_else(|_| "scale,plan,low".into());
    let step = |s: &str| steps.split(',').any(|x| x.trim() == s);
    let cloud = Cloud::start(scale, "bch", "100.64.230.0/24")?;
    let wd = module_workdir(&tf, &cloud)?;
    let seed = apply(&wd, &cloud, 1, parallelism)?;
    report(
        "seed layout (control plane, 3 Kafka, 1 app: 5 servers)",
        &seed,
        scale,
    );
    let gone = destroy(&wd, 1, parallelism)?;
    println!("  destroy {:.1} s", gone.as_secs_f64());
    if !(step("scale") || step("plan") || step("low")) {
        return Ok(());
    }

    let big = apply(&wd, &cloud, app_nodes, parallelism)?;
    report(
        &format!("{app_nodes} app nodes ({} servers)", app_nodes + 4),
        &big,
        scale,
    );
    println!(
        "  ratio to the seed layout's apply: {:.2}",
        big.wall.as_secs_f64() / seed.wall.as_secs_f64()
    );
    if step("plan") {
        plans(&tf, &wd, app_nodes)?;
    }
    let gone = destroy(&wd, app_nodes, parallelism)?;
    println!(
        "destroy of {app_nodes} app nodes {:.1} s",
        gone.as_secs_f64()
    );

    if !step("low") {
        return Ok(());
    }
    // Hetzner's bucket need not be full: start at 10 % of it.
    cloud.admin("POST", "/budget", Some(r#"{"remaining":360}"#))?;
    let low = apply(&wd, &cloud, app_nodes, parallelism)?;
    report(
        &format!(
            "{app_nodes} app nodes, rate-limit bucket at 10 % (360 of 3600) when the apply starts"
        ),
        &low,
        scale,
    );
    destroy(&wd, app_nodes, parallelism)?;
    Ok(())
}
