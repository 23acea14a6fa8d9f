//! The CRDs the simulated charts register: read from the schemas directory
//! when it holds them, otherwise schema-less (any content accepted).

use std::path::Path;

use serde_json::{Value, json};

/// The CRDs K3s itself ships: HelmChart and HelmChartConfig.
pub fn k3s(dir: Option<&Path>) -> Vec<Value> {
    let g = "helm.cattle.io";
    vec![
        from_file(
            dir,
            "helm-controller-v0.16.26/helm.cattle.io_helmcharts.yaml",
        )
        .unwrap_or_else(|| schemaless(g, &["v1"], "HelmChart", "helmcharts", &[])),
        from_file(
            dir,
            "helm-controller-v0.16.26/helm.cattle.io_helmchartconfigs.yaml",
        )
        .unwrap_or_else(|| schemaless(g, &["v1"], "HelmChartConfig", "helmchartconfigs", &[])),
    ]
}

/// Strimzi 0.50.1: Kafka, KafkaNodePool, KafkaTopic (from files) and
/// KafkaUser (always schema-less: its CRD is not in the schemas directory).
pub fn strimzi(dir: Option<&Path>) -> Vec<Value> {
    let g = "kafka.strimzi.io";
    let versions = ["v1beta2", "v1"];
    vec![
        from_file(dir, "strimzi-0.50.1/040-Crd-kafka.yaml")
            .unwrap_or_else(|| schemaless(g, &versions, "Kafka", "kafkas", &["k"])),
        from_file(dir, "strimzi-0.50.1/045-Crd-kafkanodepool.yaml").unwrap_or_else(|| {
            schemaless(g, &versions, "KafkaNodePool", "kafkanodepools", &["knp"])
        }),
        from_file(dir, "strimzi-0.50.1/043-Crd-kafkatopic.yaml")
            .unwrap_or_else(|| schemaless(g, &versions, "KafkaTopic", "kafkatopics", &["kt"])),
        schemaless(g, &versions, "KafkaUser", "kafkausers", &["ku"]),
    ]
}

/// ArgoCD v3.5.1: Application and AppProject.
pub fn argocd(dir: Option<&Path>) -> Vec<Value> {
    let g = "argoproj.io";
    vec![
        from_file(dir, "argocd-v3.5.1/application-crd.yaml").unwrap_or_else(|| {
            schemaless(
                g,
                &["v1alpha1"],
                "Application",
                "applications",
                &["app", "apps"],
            )
        }),
        from_file(dir, "argocd-v3.5.1/appproject-crd.yaml").unwrap_or_else(|| {
            schemaless(
                g,
                &["v1alpha1"],
                "AppProject",
                "appprojects",
                &["appproj", "appprojs"],
            )
        }),
    ]
}

/// The Prometheus operator's ServiceMonitor and PodMonitor, schema-less.
pub fn prometheus() -> Vec<Value> {
    let g = "monitoring.coreos.com";
    vec![
        schemaless(g, &["v1"], "ServiceMonitor", "servicemonitors", &["smon"]),
        schemaless(g, &["v1"], "PodMonitor", "podmonitors", &["pmon"]),
    ]
}

fn from_file(dir: Option<&Path>, rel: &str) -> Option<Value> {
    let path = dir?.join(rel);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| {
            eprintln!(
                "level=warning msg=\"simulation: {}: {e}; registering a schema-less CRD\"",
                path.display()
            )
        })
        .ok()?;
    serde_yaml_ng::from_str(&text)
        .map_err(|e| {
            eprintln!(
                "level=warning msg=\"simulation: {}: {e}; registering a schema-less CRD\"",
                path.display()
            )
        })
        .ok()
}

/// A namespaced CRD whose versions accept anything; the first is stored.
pub fn schemaless(
    group: &str,
    versions: &[&str],
    kind: &str,
    plural: &str,
    short: &[&str],
) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({
                "name": v, "served": true, "storage": i == 0,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } },
            })
        })
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": { "kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                "singular": kind.to_ascii_lowercase(), "shortNames": short },
            "versions": versions,
        },
    })
}
