//! SIMULATION of K3s's Helm controller and of the operators the charts
//! would install (Strimzi, ArgoCD, Prometheus). Nothing is downloaded and
//! nothing runs: a `HelmChart` makes the CRDs and Deployments the chart would
//! create appear, marked available, and custom resources get the status the
//! real operators would report. Everything happens in one loop that looks
//! at the store every half delay; an object is acted on no sooner than one
//! delay after it was first seen.

mod crds;
mod helm;
mod operators;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::doc;
use crate::objects::ObjectStore;

/// The default delay before the simulation reacts.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(200);

/// What the simulation works on.
#[derive(Debug)]
pub struct Simulation {
    /// The objects.
    pub objects: Arc<ObjectStore>,
    /// How long after an object appears the simulation acts on it.
    pub delay: Duration,
    /// The directory holding `strimzi-0.50.1/`, `argocd-v3.5.1/`, ...: CRDs
    /// are read from there when present, schema-less otherwise.
    pub schemas: Option<PathBuf>,
}

/// When each object (by uid) was first seen.
#[derive(Debug, Default)]
struct Seen(HashMap<String, Instant>);

impl Seen {
    fn due(&mut self, object: &Value, delay: Duration) -> bool {
        let uid = doc::text(object, &["metadata", "uid"]).to_string();
        self.0.entry(uid).or_insert_with(Instant::now).elapsed() >= delay
    }
}

/// Registers the CRDs K3s ships built in (HelmChart, HelmChartConfig).
pub fn register_k3s_crds(
    objects: &ObjectStore,
    schemas: Option<&std::path::Path>,
) -> Result<(), crate::objects::ApiError> {
    for crd in crds::k3s(schemas) {
        objects.ensure(crd, "k3s")?;
    }
    Ok(())
}

/// Runs until the process ends.
pub async fn run(sim: Simulation) {
    let tick = (sim.delay / 2).max(Duration::from_millis(20));
    let mut seen = Seen::default();
    loop {
        tokio::time::sleep(tick).await;
        helm::reconcile(&sim, &mut seen);
        operators::reconcile(&sim, &mut seen);
    }
}

fn report(what: &str, result: Result<(), crate::objects::ApiError>) {
    if let Err(e) = result {
        eprintln!("level=warning msg=\"simulation: {what}: {e}\"");
    }
}
