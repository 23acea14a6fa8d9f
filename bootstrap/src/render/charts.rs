//! HelmChart objects for K3s's built-in Helm controller (namespace `kube-system`), each
//! pinned by chart version, with values sized for cpx22 nodes (2 vCPU, 4 GB).

use serde_json::{Value, json};

use super::{metadata, object};
use crate::error::Error;
use crate::facts::Facts;

/// A pinned chart: `(name, repository, version)`.
pub type Chart = (&'static str, &'static str, &'static str);

/// Strimzi's operator chart; its version is the Strimzi release (0.50.1 is the last with
/// Kafka 4.0.0).
pub const STRIMZI_CHART: Chart = (
    "strimzi-kafka-operator",
    "https://strimzi.io/charts/",
    "0.50.1",
);
/// Argo CD's chart; 8.5.0 ships Argo CD v3.1.5.
pub const ARGOCD_CHART: Chart = ("argo-cd", "https://argoproj.github.io/argo-helm", "8.5.0");
/// The Prometheus community chart; 27.19.0 ships Prometheus v3.4.1.
pub const PROMETHEUS_CHART: Chart = (
    "prometheus",
    "https://prometheus-community.github.io/helm-charts",
    "27.19.0",
);

pub(super) fn render(facts: &Facts) -> Result<Vec<Value>, Error> {
    Ok(vec![
        chart(facts, "strimzi", STRIMZI_CHART, "kafka", &strimzi_values())?,
        chart(facts, "argocd", ARGOCD_CHART, "argocd", &argocd_values())?,
        chart(
            facts,
            "prometheus",
            PROMETHEUS_CHART,
            "monitoring",
            &prometheus_values(),
        )?,
    ])
}

fn chart(
    facts: &Facts,
    name: &str,
    (chart, repo, version): Chart,
    target: &str,
    values: &Value,
) -> Result<Value, Error> {
    let values = serde_yaml_ng::to_string(values).map_err(|source| Error::Yaml {
        name: format!("HelmChart {name} values"),
        source,
    })?;
    Ok(object(
        "helm.cattle.io/v1",
        "HelmChart",
        metadata(facts, name, Some("kube-system"), &[]),
        json!({
            "spec": {
                "chart": chart,
                "repo": repo,
                "version": version,
                "targetNamespace": target,
                "valuesContent": values,
            },
        }),
    ))
}

fn resources(cpu: &str, memory: &str, memory_limit: &str) -> Value {
    json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}})
}

/// The operator watches its own namespace (`kafka`), the chart's default; it may run on any
/// node. Its pods get the restricted security provider so Kafka pods satisfy restricted too.
fn strimzi_values() -> Value {
    json!({
        "resources": resources("100m", "384Mi", "384Mi"),
        "extraEnvs": [{"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"}],
    })
}

/// On app nodes; Dex and notifications off (no SSO, no notifiers), one replica each.
fn argocd_values() -> Value {
    json!({
        "global": {"nodeSelector": {"app": "true"}},
        "dex": {"enabled": false},
        "notifications": {"enabled": false},
        "controller": {"resources": resources("100m", "384Mi", "768Mi")},
        "server": {"resources": resources("50m", "128Mi", "256Mi")},
        "repoServer": {"resources": resources("50m", "128Mi", "512Mi")},
        "applicationSet": {"resources": resources("25m", "64Mi", "128Mi")},
        "redis": {"resources": resources("25m", "64Mi", "128Mi")},
    })
}

/// On app nodes at `trading-low`, inside monitoring's 10 % quota: the server and
/// kube-state-metrics only (no Alertmanager, Pushgateway or node exporter), one day of
/// retention on an emptyDir (the cluster is destroyed daily). The chart's
/// `kubernetes-pods` job scrapes pods annotated `prometheus.io/scrape`, which the Kafka
/// pods are.
fn prometheus_values() -> Value {
    json!({
        "alertmanager": {"enabled": false},
        "prometheus-pushgateway": {"enabled": false},
        "prometheus-node-exporter": {"enabled": false},
        "kube-state-metrics": {
            "nodeSelector": {"app": "true"},
            "priorityClassName": "trading-low",
            "resources": resources("10m", "48Mi", "96Mi"),
        },
        "configmapReload": {"prometheus": {"resources": resources("5m", "16Mi", "32Mi")}},
        "server": {
            "nodeSelector": {"app": "true"},
            "priorityClassName": "trading-low",
            "retention": "1d",
            "persistentVolume": {"enabled": false},
            "resources": resources("100m", "384Mi", "512Mi"),
        },
    })
}
