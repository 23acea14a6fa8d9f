//! Prints how long a provider binary takes from spawn to its go-plugin
//! handshake line, with and without AutoMTLS (`PLUGIN_CLIENT_CERT`), for the
//! k3strading provider and the example provider built next to this binary.
//! Terraform starts a provider several times per command, so this start-up
//! time is paid again and again. With AutoMTLS it also prints spawn to the
//! end of the first call (mutual TLS handshake and GetProviderSchema), so
//! that work moved from before the handshake line to after it still shows.
//!
//! Run: `cargo build --release -p k3strading-provider && cargo run --release
//! -p k3strading-e2e --bin start-bench [-- RUNS [BINARY...]]`
//!
//! RUNS defaults to 30. Without BINARY arguments, both providers next to this
//! binary are measured.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use k3strading_e2e::plugin::{ClientIdentity, Plugin};
use tfplug::proto::tfplugin6 as pb;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let runs: usize = match args.next() {
        Some(n) => n.parse().context("RUNS must be a number")?,
        None => 30,
    };
    let mut bins: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if bins.is_empty() {
        let exe = std::env::current_exe()?;
        for name in [
            "terraform-provider-k3strading",
            "terraform-provider-tfexample",
        ] {
            let p = exe.with_file_name(name);
            if p.exists() {
                bins.push(p);
            } else {
                println!(
                    "{name}: not built next to this binary (cargo build --release -p k3strading-provider)"
                );
            }
        }
    }
    // A client certificate like Terraform's, fresh for this run.
    let id = ClientIdentity::generate()?;
    for bin in &bins {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // One start to warm the page cache, not counted.
        drop(start(bin, Some(&id))?);
        let mut lines = Vec::with_capacity(runs);
        let mut first_calls = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (plugin, started) = start(bin, Some(&id))?;
            lines.push(plugin.handshake_time);
            let mut client = plugin.connect(Some(&id)).await?;
            client
                .get_provider_schema(pb::get_provider_schema::Request {})
                .await?;
            first_calls.push(started.elapsed());
        }
        report(&format!("{name}, with PLUGIN_CLIENT_CERT"), lines);
        report(
            &format!("{name}, with PLUGIN_CLIENT_CERT, to first call"),
            first_calls,
        );
        let mut lines = Vec::with_capacity(runs);
        for _ in 0..runs {
            lines.push(start(bin, None)?.0.handshake_time);
        }
        report(&format!("{name}, without PLUGIN_CLIENT_CERT"), lines);
    }
    Ok(())
}

/// Spawns `bin` with the environment Terraform gives a provider and reads
/// its handshake line. Returns the running plugin (killed when dropped) and
/// the instant just before the spawn.
fn start(bin: &Path, client: Option<&ClientIdentity>) -> Result<(Plugin, Instant)> {
    let mut cmd = Command::new(bin);
    cmd.env("TF_PLUGIN_MAGIC_COOKIE", tfplug::server::MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env_remove("PLUGIN_CLIENT_CERT")
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(id) = client {
        cmd.env("PLUGIN_CLIENT_CERT", &id.cert_pem);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let handshake_time = start.elapsed();
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    let (addr, cert) = match fields.as_slice() {
        ["1", "6", "tcp", addr, "grpc", cert] if cert.is_empty() != client.is_some() => {
            (*addr, *cert)
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{}: unexpected handshake line {line:?}", bin.display());
        }
    };
    let plugin = Plugin {
        addr: addr.parse()?,
        server_cert: base64::engine::general_purpose::STANDARD_NO_PAD.decode(cert)?,
        child,
        handshake_time,
        line,
    };
    Ok((plugin, start))
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| {
        samples
            .get(((samples.len().saturating_sub(1)) as f64 * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name:<66} n={:<3} min={:>8.2?} median={:>8.2?} p90={:>8.2?} max={:>8.2?}",
        samples.len(),
        pick(0.0),
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
}
