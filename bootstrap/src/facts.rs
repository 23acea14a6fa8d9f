//! What rendering needs to know about a live cluster, read from its Nodes.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::error::{Error, api};
use crate::quantity;

/// Label that marks nodes for the trading apps.
pub const APP_LABEL: &str = "app";
/// Label that marks the Kafka nodes.
pub const KAFKA_LABEL: &str = "kafka";

/// One app node's allocatable resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCapacity {
    /// The Node's name.
    pub name: String,
    /// `status.allocatable.cpu` in millicores.
    pub cpu_millis: u64,
    /// `status.allocatable.memory` in bytes.
    pub memory_bytes: u64,
}

/// The facts bootstrap renders from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The cluster's name (label `k3strading.io/cluster`).
    pub cluster: String,
    /// Primary IP #2 (on kafka-0), advertised to Kafka clients outside the cluster.
    pub kafka_advertised_host: String,
    /// Nodes labelled `app=true`, sorted by name.
    pub app_nodes: Vec<NodeCapacity>,
    /// Names of nodes labelled `kafka=true`, sorted.
    pub kafka_nodes: Vec<String>,
}

impl Facts {
    /// Reads the Nodes: `app=true` nodes' allocatable, `kafka=true` node names.
    pub async fn read(
        client: &kube::Client,
        cluster: &str,
        kafka_advertised_host: &str,
    ) -> Result<Facts, Error> {
        check_host(kafka_advertised_host)?;
        let nodes = Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await
            .map_err(api("list nodes"))?;
        let mut facts = Facts::from_nodes(cluster, &nodes.items)?;
        facts.kafka_advertised_host = kafka_advertised_host.to_owned();
        Ok(facts)
    }

    /// The facts of a list of Nodes (pure; `kafka_advertised_host` left empty).
    pub fn from_nodes(cluster: &str, nodes: &[Node]) -> Result<Facts, Error> {
        let mut app_nodes = Vec::new();
        let mut kafka_nodes = Vec::new();
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            if has_label(node, KAFKA_LABEL) {
                kafka_nodes.push(name.clone());
            }
            if has_label(node, APP_LABEL) {
                app_nodes.push(capacity(node, name)?);
            }
        }
        app_nodes.sort_by(|a, b| a.name.cmp(&b.name));
        kafka_nodes.sort();
        Ok(Facts {
            cluster: cluster.to_owned(),
            kafka_advertised_host: String::new(),
            app_nodes,
            kafka_nodes,
        })
    }
}

/// The advertised host must be an IPv4 literal: it is what clients outside dial.
pub(crate) fn check_host(host: &str) -> Result<(), Error> {
    host.parse::<Ipv4Addr>().map(|_| ()).map_err(|_| {
        Error::Input(format!(
            "the Kafka advertised host {host:?} is not an IPv4 address (expected Primary IP #2)"
        ))
    })
}

/// True when the node has `label=true`.
pub(crate) fn has_label(node: &Node, label: &str) -> bool {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(label))
        .is_some_and(|v| v == "true")
}

fn capacity(node: &Node, name: String) -> Result<NodeCapacity, Error> {
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let read = |resource: &'static str, parse: fn(&str) -> Result<u64, quantity::QuantityError>| {
        let value = allocatable
            .and_then(|a| a.get(resource))
            .map(|q| q.0.clone())
            .unwrap_or_else(|| "0".into());
        parse(&value).map_err(|source| Error::Quantity {
            node: name.clone(),
            resource,
            value,
            source,
        })
    };
    Ok(NodeCapacity {
        cpu_millis: read("cpu", quantity::cpu_millis)?,
        memory_bytes: read("memory", quantity::bytes)?,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: &[&str], cpu: &str, memory: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name,
                "labels": labels.iter().map(|l| (l.to_string(), "true")).collect::<std::collections::BTreeMap<_, _>>()
            },
            "status": {"allocatable": {"cpu": cpu, "memory": memory}}
        }))
        .unwrap()
    }

    #[test]
    fn app_nodes_give_capacity_and_kafka_nodes_names_sorted() {
        let nodes = [
            node("app-1", &["app"], "2", "3.5G"),
            node("kafka-1", &["kafka"], "2", "4Gi"),
            node("app-0", &["app"], "1500m", "4028748Ki"),
            node("kafka-0", &["kafka"], "2", "4Gi"),
            node("control", &[], "2", "4Gi"),
        ];
        let facts = Facts::from_nodes("dev", &nodes).unwrap();
        assert_eq!(facts.kafka_nodes, ["kafka-0", "kafka-1"]);
        assert_eq!(
            facts.app_nodes,
            [
                NodeCapacity {
                    name: "app-0".into(),
                    cpu_millis: 1500,
                    memory_bytes: 4_125_437_952
                },
                NodeCapacity {
                    name: "app-1".into(),
                    cpu_millis: 2000,
                    memory_bytes: 3_500_000_000
                },
            ]
        );
    }

    #[test]
    fn a_bad_quantity_names_the_node() {
        let err = Facts::from_nodes("dev", &[node("app-0", &["app"], "lots", "1")]).unwrap_err();
        assert!(err.to_string().contains("app-0"), "{err}");
    }

    #[test]
    fn the_advertised_host_must_be_ipv4() {
        assert!(check_host("203.0.113.20").is_ok());
        assert!(check_host("kafka.example.com").is_err());
        assert!(check_host("2001:db8::1").is_err());
    }
}
