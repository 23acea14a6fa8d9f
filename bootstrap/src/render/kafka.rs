//! Strimzi Kafka 4.0.0 in KRaft mode: one dual-role node pool of three on the `kafka=true`
//! nodes, an internal listener and a NodePort listener (TLS + SCRAM-SHA-512) reachable
//! through Primary IP #2, and one KafkaUser for the apps.

use serde_json::{Value, json};

use super::{metadata, object};
use crate::facts::Facts;

/// Namespace of Kafka and its operator.
pub const KAFKA_NAMESPACE: &str = "kafka";
/// The Kafka cluster's name (pods are `trading-kafka-<id>`).
pub const KAFKA_CLUSTER: &str = "trading";
/// The node pool's name.
pub const KAFKA_POOL: &str = "kafka";
/// The apps' KafkaUser; Strimzi writes its credentials to a Secret of the same name.
pub const KAFKA_USER: &str = "trading-apps";
/// Kafka version.
pub const KAFKA_VERSION: &str = "4.0.0";
/// `metadata` of 4.0.0 in Strimzi 0.50.1's `kafka-versions.yaml`.
pub const METADATA_VERSION: &str = "4.0";
/// Per-broker NodePorts (broker id = index), inside the firewall's 31090-31095.
pub const BROKER_NODE_PORTS: [u16; 3] = [31090, 31091, 31092];
/// The external bootstrap service's NodePort.
pub const BOOTSTRAP_NODE_PORT: u16 = 31093;
const API: &str = "kafka.strimzi.io/v1beta2";
const STRIMZI_CLUSTER: (&str, &str) = ("strimzi.io/cluster", KAFKA_CLUSTER);

pub(super) fn render(facts: &Facts) -> Vec<Value> {
    vec![kafka(facts), pool(facts), user(facts)]
}

fn kafka(facts: &Facts) -> Value {
    let meta = super::annotated(
        metadata(facts, KAFKA_CLUSTER, Some(KAFKA_NAMESPACE), &[]),
        json!({"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}),
    );
    let brokers: Vec<Value> = BROKER_NODE_PORTS
        .iter()
        .enumerate()
        .map(|(id, port)| json!({"broker": id, "advertisedHost": facts.kafka_advertised_host, "nodePort": port}))
        .collect();
    let small = |cpu: &str, mem: &str| json!({"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": mem}});
    object(
        API,
        "Kafka",
        meta,
        json!({
            "spec": {
                "kafka": {
                    "version": KAFKA_VERSION,
                    "metadataVersion": METADATA_VERSION,
                    "listeners": [
                        {
                            "name": "plain", "port": 9092, "type": "internal", "tls": false,
                            "authentication": {"type": "scram-sha-512"},
                        },
                        {
                            "name": "external", "port": 9094, "type": "nodeport", "tls": true,
                            "authentication": {"type": "scram-sha-512"},
                            "configuration": {
                                "externalTrafficPolicy": "Cluster",
                                "bootstrap": {"nodePort": BOOTSTRAP_NODE_PORT},
                                "brokers": brokers,
                            },
                        },
                    ],
                    "authorization": {"type": "simple"},
                    "config": {
                        "offsets.topic.replication.factor": 3,
                        "transaction.state.log.replication.factor": 3,
                        "transaction.state.log.min.isr": 2,
                        "default.replication.factor": 3,
                        "min.insync.replicas": 2,
                    },
                    "metricsConfig": {"type": "strimziMetricsReporter", "values": {"allowList": ["kafka_server.*", "kafka_network.*", "kafka_log.*", "kafka_controller.*"]}},
                },
                "entityOperator": {
                    "topicOperator": {"resources": small("50m", "256Mi")},
                    "userOperator": {"resources": small("50m", "256Mi")},
                },
            },
        }),
    )
}

/// Three dual-role nodes (controller + broker) pinned to `kafka=true` nodes, ids 0-2.
/// Storage: a 20 GiB claim on K3s's `local-path` class (cpx22 has 80 GB of disk), so a
/// restarted pod keeps its log; the daily destroy drops it with the node anyway. 2 GiB of
/// a 4 GB node, with a 1 GiB heap, leaves the rest to the page cache.
fn pool(facts: &Facts) -> Value {
    let meta = super::annotated(
        metadata(facts, KAFKA_POOL, Some(KAFKA_NAMESPACE), &[STRIMZI_CLUSTER]),
        json!({"strimzi.io/next-node-ids": "[0-2]"}),
    );
    object(
        API,
        "KafkaNodePool",
        meta,
        json!({
            "spec": {
                "replicas": 3,
                "roles": ["controller", "broker"],
                "storage": {
                    "type": "jbod",
                    "volumes": [{
                        "id": 0, "type": "persistent-claim", "size": "20Gi", "class": "local-path",
                        "deleteClaim": true, "kraftMetadata": "shared",
                    }],
                },
                "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "2Gi"}},
                "jvmOptions": {"-Xms": "1g", "-Xmx": "1g"},
                "template": {
                    "pod": {
                        "metadata": {"annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9404"}},
                        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": [{"key": "kafka", "operator": "In", "values": ["true"]}]}],
                        }}},
                    },
                },
            },
        }),
    )
}

/// SCRAM-SHA-512 user for the apps: produce and consume on every topic, any consumer group.
/// Credentials: Secret `trading-apps` in `kafka`, keys `password` and `sasl.jaas.config`.
fn user(facts: &Facts) -> Value {
    let acl = |rtype: &str, ops: &[&str]| {
        json!({
            "resource": {"type": rtype, "name": "*", "patternType": "literal"},
            "operations": ops,
            "host": "*",
        })
    };
    object(
        API,
        "KafkaUser",
        metadata(facts, KAFKA_USER, Some(KAFKA_NAMESPACE), &[STRIMZI_CLUSTER]),
        json!({
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {
                    "type": "simple",
                    "acls": [
                        acl("topic", &["Read", "Write", "Create", "Describe", "DescribeConfigs"]),
                        acl("group", &["Read", "Describe"]),
                    ],
                },
            },
        }),
    )
}
