//! `meta.k8s.io/v1` Table output for nodes, with the columns kubectl shows.

use serde_json::{Value, json};

use crate::clock;
use crate::doc;
use crate::node::NODE_ROLE_PREFIX;

/// A Table of `nodes`; rows carry the full object when `full` (kubectl's
/// `includeObject=Object`), otherwise only its metadata.
pub fn nodes(nodes: &[Value], resource_version: &str, full: bool) -> Value {
    let column = |name: &str, kind: &str, format: &str, priority: u8, description: &str| json!({ "name": name, "type": kind, "format": format, "priority": priority, "description": description });
    let rows: Vec<Value> = nodes
        .iter()
        .map(|node| {
            let object = if full {
                node.clone()
            } else {
                json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": doc::at(node, &["metadata"]) })
            };
            json!({ "cells": cells(node), "object": object })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": { "resourceVersion": resource_version },
        "columnDefinitions": [
            column("Name", "string", "name", 0, "Name of the node."),
            column("Status", "string", "", 0, "The status of the node."),
            column("Roles", "string", "", 0, "The roles of the node."),
            column("Age", "string", "", 0, "Time since the node was created."),
            column("Version", "string", "", 0, "Kubelet version."),
            column("Internal-IP", "string", "", 1, "The node's internal IP."),
        ],
        "rows": rows,
    })
}

fn cells(node: &Value) -> Value {
    let ready = doc::at(node, &["status", "conditions"])
        .as_array()
        .and_then(|c| c.iter().find(|c| doc::text(c, &["type"]) == "Ready"))
        .map_or("Unknown", |c| {
            if doc::text(c, &["status"]) == "True" {
                "Ready"
            } else {
                "NotReady"
            }
        });
    let mut roles: Vec<&str> = doc::at(node, &["metadata", "labels"])
        .as_object()
        .map(|labels| {
            labels
                .keys()
                .filter_map(|k| k.strip_prefix(NODE_ROLE_PREFIX))
                .collect()
        })
        .unwrap_or_default();
    roles.sort_unstable();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    let created = doc::text(node, &["metadata", "creationTimestamp"]);
    let age = node_age(created);
    let ip = doc::at(node, &["status", "addresses"])
        .as_array()
        .and_then(|a| a.iter().find(|a| doc::text(a, &["type"]) == "InternalIP"))
        .map_or("<none>", |a| doc::text(a, &["address"]));
    json!([
        doc::at(node, &["metadata", "name"]),
        ready,
        roles,
        age,
        doc::at(node, &["status", "nodeInfo", "kubeletVersion"]),
        ip,
    ])
}

/// Age from a creationTimestamp.
fn node_age(created: &str) -> String {
    clock::parse_rfc3339(created).map_or_else(
        || "<unknown>".to_string(),
        |t| clock::human_age(clock::now_unix() - t),
    )
}

/// A Table for any kind: NAME and AGE, as kubectl shows a kind it has no
/// columns for (kubectl adds NAMESPACE itself with `-A`).
pub fn objects(items: &[Value], resource_version: &str, full: bool) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let object = if full {
                item.clone()
            } else {
                json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": doc::at(item, &["metadata"]) })
            };
            let age = node_age(doc::text(item, &["metadata", "creationTimestamp"]));
            json!({ "cells": [doc::at(item, &["metadata", "name"]), age], "object": object })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": { "resourceVersion": resource_version },
        "columnDefinitions": [
            { "name": "Name", "type": "string", "format": "name", "priority": 0, "description": "Name of the object." },
            { "name": "Age", "type": "string", "format": "", "priority": 0, "description": "Time since the object was created." },
        ],
        "rows": rows,
    })
}
