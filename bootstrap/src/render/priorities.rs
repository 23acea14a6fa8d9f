//! PriorityClasses and the admission policy that makes a namespace's pods use its class.
//!
//! Kubernetes has no per-namespace default PriorityClass. A ValidatingAdmissionPolicy
//! (admissionregistration.k8s.io/v1, GA since 1.30) refuses, at CREATE, every pod in a
//! namespace labelled [`PRIORITY_LABEL`] whose `priorityClassName` is not the label's value.
//! Workloads must therefore name their class; a controller whose pods are refused reports
//! `FailedCreate` events that quote the policy's message.

use serde_json::{Value, json};

use super::{metadata, object};
use crate::facts::Facts;

/// Namespace label naming the PriorityClass its pods must use.
pub const PRIORITY_LABEL: &str = "k3strading.io/priority-class";

/// `(class, value, preemption policy, namespace, description)`, highest first.
pub const PRIORITY_CLASSES: [(&str, i32, &str, &str, &str); 3] = [
    (
        "trading-high",
        100_000,
        "PreemptLowerPriority",
        "ingestion",
        "Market data ingestion: must keep flowing; preempts strategies and monitoring.",
    ),
    (
        "trading-medium",
        10_000,
        "PreemptLowerPriority",
        "strategies",
        "Trading strategies: may be preempted by ingestion.",
    ),
    (
        "trading-low",
        1_000,
        "Never",
        "monitoring",
        "Monitoring: nice to have; never preempts, first to go.",
    ),
];

const POLICY: &str = "k3strading-namespace-priority";

/// The class a namespace's pods must use, if any.
pub(super) fn class_of(namespace: &str) -> Option<&'static str> {
    PRIORITY_CLASSES
        .iter()
        .find(|c| c.3 == namespace)
        .map(|c| c.0)
}

pub(super) fn render(facts: &Facts) -> Vec<Value> {
    let mut out: Vec<Value> = PRIORITY_CLASSES
        .iter()
        .map(|&(name, value, preemption, _, description)| {
            object(
                "scheduling.k8s.io/v1",
                "PriorityClass",
                metadata(facts, name, None, &[]),
                json!({
                    "value": value,
                    "globalDefault": false,
                    "preemptionPolicy": preemption,
                    "description": description,
                }),
            )
        })
        .collect();
    let label = format!("'{PRIORITY_LABEL}'");
    out.push(object(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
        metadata(facts, POLICY, None, &[]),
        json!({ "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [{
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE"],
                    "resources": ["pods"],
                }],
            },
            "variables": [{
                "name": "required",
                "expression": format!("namespaceObject.metadata.labels[{label}]"),
            }],
            "validations": [{
                "expression": "has(object.spec.priorityClassName) && object.spec.priorityClassName == variables.required",
                "messageExpression": "'pods in namespace ' + namespaceObject.metadata.name + ' must set priorityClassName: ' + variables.required",
                "reason": "Forbidden",
            }],
        }}),
    ));
    out.push(object(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        metadata(facts, POLICY, None, &[]),
        json!({ "spec": {
            "policyName": POLICY,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {
                    "matchExpressions": [{"key": PRIORITY_LABEL, "operator": "Exists"}],
                },
            },
        }}),
    ));
    out
}
