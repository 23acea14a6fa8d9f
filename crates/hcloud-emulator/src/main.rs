//! `k3strading-cloud serve --listen 127.0.0.1:PORT --token TOKEN [options]`
//!
//! Prints exactly one line, `listening on http://127.0.0.1:PORT/v1`, on stdout
//! once ready; exits cleanly on SIGTERM or SIGINT. Refuses non-loopback
//! addresses unless `--allow-non-loopback` is given.
//!
//! `--vms` (root only) makes running servers sandboxes you can SSH into; the
//! ready line then comes once VMs can be created, and a stop removes every
//! namespace, mount and process the run made (see `hcloud_emulator::vms`).
//! It also starts the stand-in internet (`hcloud_emulator::inet`), whose
//! server is this binary's hidden `inet-serve` subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use hcloud_emulator::inet::{self, InetConfig};
use hcloud_emulator::vms::{Vms, VmsConfig};
use hcloud_emulator::world::Latency;
use hcloud_emulator::{Options, Shared, app, listen, pool};

const USAGE: &str =
    "k3strading-cloud: a local STAND-IN for the Hetzner Cloud API (it is not Hetzner)

usage: k3strading-cloud serve --listen ADDR:PORT --token TOKEN [options]
       k3strading-cloud --help

  --listen ADDR:PORT         where to serve, loopback only (127.0.0.0/8, ::1, localhost);
                             port 0 picks a free one. Prints `listening on http://ADDR:PORT/v1`
                             on stdout once ready; SIGTERM or SIGINT stops it cleanly
  --token TOKEN              the token clients must send (Authorization: Bearer TOKEN),
                             on the API and the admin API under /_emulator
  --allow-non-loopback       accept a --listen address that is not loopback
  --latency instant|realistic
                             realistic: Hetzner-like durations (create server 9 s, ...)
                             and, with --vms, K3s start and join delays (default instant)
  --time-scale F             multiplies realistic durations (default 1)
  --state FILE               keeps the API state in FILE (JSON) across restarts
  --request-budget N         rate-limit bucket, as Hetzner's (default 3600)
  --refill-per-second F      rate-limit refill per second (default 1)
  --ipv4-pool CIDR           Primary IP addresses (default 100.64.0.0/16); refused if it
                             overlaps a route of this machine
  --server-limit N           the project's server quota: creating beyond it answers 403
                             resource_limit_exceeded (default: no quota)
  --spec cloud.spec.json     checks every response against Hetzner's OpenAPI document;
                             breaches are listed at /_emulator/spec-violations

  --vms                      (root) running servers are VMs you can SSH into: namespaces,
                             copy-on-write overlays, real sshd, private networks, NAT and
                             firewalls. It also serves a STAND-IN internet to the VMs: a
                             STAND-IN K3s installer at https://get.k3s.io and the K3s
                             STAND-IN binary as the GitHub release of each --k3s-version
  --vms-prefix P             names this run's namespaces and links (default k3c); a start
                             first removes what a crashed run with the same prefix left
  --k3s-binary PATH          the K3s STAND-IN binary (default: `k3s` beside this program)
  --k3s-version V            a K3s release to serve (repeatable; default v1.34.1+k3s1)
  --k3s-schemas DIR          the official schemas directory: the K3s STAND-IN then
                             validates every object it stores against it";

fn parse(args: &[String]) -> Result<(Vec<SocketAddr>, Options)> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("serve") => {}
        None => bail!("{USAGE}"),
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
    let (mut listen, mut token, mut latency, mut scale) =
        (None, None, "instant".to_owned(), 1.0f64);
    let mut allow_non_loopback = false;
    let mut opts = Options::new("");
    let (mut k3s_binary, mut k3s_versions) = (None, Vec::new());
    let mut k3s_schemas: Option<PathBuf> = None;
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--listen" => listen = Some(value()?.clone()),
            "--allow-non-loopback" => allow_non_loopback = true,
            "--token" => token = Some(value()?.clone()),
            "--latency" => latency = value()?.clone(),
            "--time-scale" => scale = value()?.parse().context("--time-scale takes a number")?,
            "--state" => opts.state_file = Some(PathBuf::from(value()?)),
            "--request-budget" => {
                opts.rate_limit = value()?
                    .parse()
                    .context("--request-budget takes a whole number")?
            }
            "--refill-per-second" => {
                opts.refill_per_sec = value()?
                    .parse()
                    .context("--refill-per-second takes a number")?
            }
            "--ipv4-pool" => {
                opts.ipv4_pool = value()?.parse().context("--ipv4-pool takes an IPv4 CIDR")?
            }
            "--server-limit" => {
                opts.server_limit = Some(
                    value()?
                        .parse()
                        .context("--server-limit takes a whole number")?,
                )
            }
            "--vms" => opts.vms = Some(opts.vms.take().unwrap_or_default()),
            "--vms-prefix" => {
                let prefix = value()?.clone();
                opts.vms = Some(VmsConfig {
                    prefix,
                    ..opts.vms.take().unwrap_or_default()
                });
            }
            "--k3s-binary" => k3s_binary = Some(PathBuf::from(value()?)),
            "--k3s-schemas" => k3s_schemas = Some(PathBuf::from(value()?)),
            "--k3s-version" => k3s_versions.push(value()?.clone()),
            "--spec" => {
                let checker = hcloud_emulator::spec::SpecChecker::load(&PathBuf::from(value()?))?;
                opts.spec = Some(Arc::new(checker));
            }
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    opts.token = token
        .filter(|t| !t.is_empty())
        .with_context(|| format!("--token is required\n{USAGE}"))?;
    opts.latency = match latency.as_str() {
        "instant" => Latency::Instant,
        "realistic" => Latency::Realistic { scale },
        other => bail!("--latency must be instant or realistic, not {other:?}"),
    };
    if let Some(vms) = &mut opts.vms {
        vms.inet = Some(inet_config(
            k3s_binary,
            k3s_schemas,
            k3s_versions,
            &opts.latency,
        )?);
    }
    let listen = listen.with_context(|| format!("--listen is required\n{USAGE}"))?;
    Ok((listen::resolve(&listen, allow_non_loopback)?, opts))
}

/// The stand-in internet's settings; a missing K3s STAND-IN binary is
/// said once and makes the release URLs answer 404.
fn inet_config(
    k3s_binary: Option<PathBuf>,
    k3s_schemas: Option<PathBuf>,
    mut versions: Vec<String>,
    latency: &Latency,
) -> Result<InetConfig> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let explicit = k3s_binary.is_some();
    let bin = k3s_binary.unwrap_or_else(|| exe.with_file_name("k3s"));
    let k3s_binary = if bin.is_file() {
        Some(bin)
    } else if explicit {
        bail!("--k3s-binary {}: no such file", bin.display());
    } else {
        eprintln!(
            "k3strading-cloud: no K3s STAND-IN binary at {} (cargo build -p k3strading-k3s-standin); \
             the stand-in internet answers 404 for K3s releases",
            bin.display()
        );
        None
    };
    if versions.is_empty() {
        versions.push(inet::DEFAULT_K3S_VERSION.to_owned());
    }
    Ok(InetConfig {
        exe,
        k3s_binary,
        k3s_versions: versions,
        k3s_delays: latency.k3s_standin_delays(),
        k3s_schemas,
    })
}

/// `inet-serve …` (hidden): the stand-in internet's server, started by
/// `serve --vms` inside its namespace.
fn inet_serve(args: &[String]) -> Result<()> {
    let args = inet::server::parse(args)?;
    // Two threads: fifty VMs download the K3s binary from it at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(inet::server::run(args))?;
    Ok(())
}

async fn run(listen: Vec<SocketAddr>, opts: Options) -> Result<()> {
    let vms = match &opts.vms {
        // Checks the pool itself, after removing what a crashed run left.
        Some(cfg) => Some(Vms::start(cfg, &opts.ipv4_pool).await?),
        None => {
            pool::check_against_host(&opts.ipv4_pool).map_err(anyhow::Error::msg)?;
            None
        }
    };
    let served = serve(listen, opts, vms.clone()).await;
    if let Some(vms) = vms {
        vms.shutdown().await;
    }
    served
}

async fn serve(listen: Vec<SocketAddr>, opts: Options, vms: Option<Arc<Vms>>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen.as_slice())
        .await
        .with_context(|| format!("cannot listen on {listen:?}"))?;
    let addr = listener.local_addr()?;
    let emu = Shared::new(opts).map_err(anyhow::Error::msg)?;
    if let Some(vms) = &vms {
        vms.spawn(emu.clone());
    }
    // Handlers go in before the ready line, so a signal sent right after it
    // is never lost (or ignored, as background jobs inherit SIGINT ignored).
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    println!("listening on http://{addr}/v1");
    let shutdown = async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    };
    axum::serve(listener, app(emu))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("K3STRADING_CLOUD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some(inet::SUBCOMMAND) {
        return match inet_serve(args.get(1..).unwrap_or_default()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("k3strading-cloud {}: {e:#}", inet::SUBCOMMAND);
                std::process::ExitCode::FAILURE
            }
        };
    }
    let result = parse(&args).and_then(|(listen, opts)| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(run(listen, opts))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("k3strading-cloud: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
