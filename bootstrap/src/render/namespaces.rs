//! The namespaces, with Pod Security Admission levels.

use serde_json::{Value, json};

use super::{metadata, object};
use crate::facts::Facts;

/// Each namespace with its enforced Pod Security level.
///
/// - `kafka` baseline: the Strimzi chart's operator pod sets no restricted securityContext
///   (no seccomp profile, capabilities not dropped) and would be refused under restricted;
///   baseline still forbids privileged pods, host namespaces and hostPath.
/// - `ingestion`, `strategies` restricted: our own apps, which can and must run as non-root.
/// - `monitoring` baseline: the Prometheus chart's server is fine with baseline; the node
///   exporter (host network, host PID, hostPath) is disabled so privileged is not needed.
/// - `argocd` baseline: the chart's redis and repo-server do not all declare a restricted
///   securityContext.
///
/// Every namespace warns and audits at restricted, so drift shows.
pub const NAMESPACES: [(&str, &str); 5] = [
    ("kafka", "baseline"),
    ("ingestion", "restricted"),
    ("strategies", "restricted"),
    ("monitoring", "baseline"),
    ("argocd", "baseline"),
];

pub(super) fn render(facts: &Facts) -> Vec<Value> {
    NAMESPACES
        .iter()
        .map(|&(name, level)| {
            let mut labels = vec![
                ("kubernetes.io/metadata.name", name),
                ("pod-security.kubernetes.io/enforce", level),
                ("pod-security.kubernetes.io/enforce-version", "v1.34"),
                ("pod-security.kubernetes.io/warn", "restricted"),
                ("pod-security.kubernetes.io/warn-version", "v1.34"),
                ("pod-security.kubernetes.io/audit", "restricted"),
                ("pod-security.kubernetes.io/audit-version", "v1.34"),
            ];
            if let Some(class) = super::priorities::class_of(name) {
                labels.push((super::PRIORITY_LABEL, class));
            }
            object(
                "v1",
                "Namespace",
                metadata(facts, name, None, &labels),
                json!({}),
            )
        })
        .collect()
}
