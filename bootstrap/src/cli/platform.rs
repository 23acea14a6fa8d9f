//! `k3strading bootstrap` and `k3strading status`: the Kubernetes side,
//! applied or shown through the SSH tunnel to the control plane.

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use comfy_table::{Table, presets::ASCII_FULL};
use indicatif::{ProgressBar, ProgressStyle};
use k3strading_cluster::inventory::Inventory;
use k3strading_cluster::{Hetzner, names};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Login;
use super::access::{cluster_api, hetzner_client, reach};

/// How long to wait for the control plane's sshd.
const CONNECT: Duration = Duration::from_secs(60);

/// The address Kafka advertises: the cluster's Primary IP with logical name `kafka`.
async fn kafka_host(
    api: &k3strading_cluster::hcloud::Client,
    cluster: &str,
) -> anyhow::Result<String> {
    let cancel = CancellationToken::new();
    let inv = Inventory::read(&Hetzner::new(api, &cancel), cluster).await?;
    inv.primary_ips
        .iter()
        .find(|ip| ip.labels.get(names::PRIMARY_IP).map(String::as_str) == Some("kafka"))
        .map(|ip| ip.ip.clone())
        .with_context(|| {
            format!("cluster {cluster} has no Primary IP named kafka ({cluster}-kafka)")
        })
}

/// What `bootstrap` was asked to do.
#[derive(Debug)]
pub struct Request<'a> {
    /// The cluster.
    pub cluster: &'a str,
    /// The login.
    pub login: &'a Login,
    /// Only write the objects here.
    pub render: Option<&'a Path>,
    /// Where the root Application points, and apply options.
    pub options: bootstrap::Options,
    /// How long everything may take.
    pub timeout: Duration,
}

/// Renders from live facts, then writes the objects (`--render`) or applies them.
pub async fn bootstrap(req: Request<'_>) -> anyhow::Result<()> {
    let started = Instant::now();
    let api = hetzner_client()?;
    let advertised = kafka_host(&api, req.cluster).await?;
    let reached = reach(&api, req.cluster, req.login, CONNECT).await?;
    let kube = cluster_api(&reached).await?;
    let facts = bootstrap::Facts::read(kube.client(), req.cluster, &advertised).await?;
    let objects = bootstrap::render(&facts, &req.options)?;
    if let Some(dir) = req.render {
        let files = bootstrap::write_dir(dir, &objects)?;
        println!(
            "wrote {} objects in {} files to {} (nothing applied)",
            objects.len(),
            files.len(),
            dir.display()
        );
        return Ok(());
    }
    let progress = Progress::new();
    let phases = bootstrap::apply_with(
        kube.client(),
        &objects,
        started + req.timeout,
        req.options.force,
        &mut |p| progress.report(&p),
    )
    .await;
    progress.finish();
    let phases = phases?;
    let mut t = Table::new();
    t.load_preset(ASCII_FULL);
    t.set_header(["PHASE", "SECONDS"]);
    for (phase, took) in &phases.timings {
        t.add_row([phase.to_string(), format!("{:.1}", took.as_secs_f64())]);
    }
    println!("{t}");
    println!(
        "bootstrapped {} ({} objects) in {:.1}s",
        req.cluster,
        objects.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Nodes, namespaces, quotas, Kafka and the placement table, from the live cluster.
pub async fn status(cluster: &str, login: &Login) -> anyhow::Result<()> {
    let api = hetzner_client()?;
    let reached = reach(&api, cluster, login, CONNECT).await?;
    let kube = cluster_api(&reached).await?;
    let status = bootstrap::Status::read(kube.client(), cluster).await?;
    print!("{}", status.render());
    Ok(())
}

/// Shows progress: a spinner on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    fn report(&self, p: &bootstrap::Progress) {
        let line = match p {
            bootstrap::Progress::Started(phase) => format!("{phase}…"),
            bootstrap::Progress::Applied(what) => format!("applied {what}"),
            bootstrap::Progress::Waiting(what) => format!("waiting: {what}"),
            bootstrap::Progress::Finished(phase, took) => {
                let done = format!("✓ {phase} ({:.1}s)", took.as_secs_f64());
                match &self.bar {
                    Some(bar) => bar.println(done),
                    None => eprintln!("{done}"),
                }
                return;
            }
        };
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
