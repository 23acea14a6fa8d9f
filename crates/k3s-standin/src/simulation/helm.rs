//! SIMULATED Helm controller: a `HelmChart` is "installed" by creating what
//! the chart would create (CRDs, a Deployment shown available, a Secret),
//! and gets the status K3s's controller reports (`status.jobName`). No chart
//! is fetched; `spec.version` is kept and named in the status message.

use serde_json::{Value, json};

use super::{Seen, Simulation, crds, report};
use crate::doc;
use crate::objects::{ApiError, Write};

const MANAGER: &str = "helm-controller";

pub(super) fn reconcile(sim: &Simulation, seen: &mut Seen) {
    let Ok(kind) = sim.objects.resolve("helm.cattle.io", "v1", "helmcharts") else {
        return;
    };
    let (charts, _) = sim.objects.list(&kind, None);
    for chart in charts {
        let desired = status(&chart);
        if doc::at(&chart, &["status"]) == &desired || !seen.due(&chart, sim.delay) {
            continue;
        }
        let name = doc::text(&chart, &["metadata", "name"]).to_string();
        let namespace = doc::text(&chart, &["metadata", "namespace"]).to_string();
        let status = match install(sim, &chart) {
            Ok(()) => desired,
            Err(e) => json!({ "jobName": format!("helm-install-{name}"), "conditions": [
                { "type": "Failed", "status": "True", "reason": "InstallFailed", "message": e.to_string() },
            ]}),
        };
        let result = sim
            .objects
            .write(&kind, Some(&namespace), &name, Write::Status(status));
        report(
            &format!("status of HelmChart {namespace}/{name}"),
            result.map(|_| ()),
        );
    }
}

fn status(chart: &Value) -> Value {
    let name = doc::text(chart, &["metadata", "name"]);
    let version = match doc::text(chart, &["spec", "version"]) {
        "" => "latest".to_string(),
        v => v.to_string(),
    };
    json!({
        "jobName": format!("helm-install-{name}"),
        "conditions": [{
            "type": "JobCreated", "status": "True", "reason": "Simulated",
            "message": format!("SIMULATED install of chart {} version {version} (the k3s stand-in fetches no charts)", doc::text(chart, &["spec", "chart"])),
        }],
    })
}

/// The chart's base name: `strimzi-kafka-operator` from a plain name, a
/// `repo/name` reference or an OCI URL.
fn chart_name(chart: &Value) -> String {
    let chart = doc::text(chart, &["spec", "chart"]);
    chart.rsplit('/').next().unwrap_or(chart).to_string()
}

fn install(sim: &Simulation, chart: &Value) -> Result<(), ApiError> {
    let namespace = match doc::text(chart, &["spec", "targetNamespace"]) {
        "" => doc::text(chart, &["metadata", "namespace"]).to_string(),
        ns => ns.to_string(),
    };
    let ns_kind = sim.objects.resolve("", "v1", "namespaces")?;
    if sim.objects.get(&ns_kind, None, &namespace).is_err() {
        if doc::at(chart, &["spec", "createNamespace"]).as_bool() != Some(true) {
            return Err(ApiError::NotFound {
                resource: "namespaces".into(),
                name: namespace,
            });
        }
        let body =
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace } });
        sim.objects.ensure(body, MANAGER)?;
    }
    let release = doc::text(chart, &["metadata", "name"]).to_string();
    let label = format!(
        "{}-{}",
        chart_name(chart),
        doc::text(chart, &["spec", "version"])
    );
    let schemas = sim.schemas.as_deref();
    let (crds, deployment) = match chart_name(chart).as_str() {
        "strimzi-kafka-operator" => (crds::strimzi(schemas), "strimzi-cluster-operator"),
        "argo-cd" => (crds::argocd(schemas), "argocd-server"),
        "prometheus" | "kube-prometheus-stack" => (crds::prometheus(), "prometheus-server"),
        _ => return Ok(()),
    };
    for crd in crds {
        sim.objects.ensure(crd, MANAGER)?;
    }
    sim.objects.ensure(
        super::operators::available_deployment(&namespace, deployment, &release, &label),
        MANAGER,
    )?;
    if deployment == "argocd-server" {
        let password: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(16)
            .collect();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": { "name": "argocd-initial-admin-secret", "namespace": namespace },
            "data": { "password": super::operators::b64(&password) },
        });
        sim.objects.ensure(secret, MANAGER)?;
    }
    Ok(())
}
