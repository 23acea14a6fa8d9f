//! Status tables from sample live objects: a golden file.

use bootstrap::Status;
use serde_json::json;

use crate::golden;

fn node(
    name: &str,
    labels: serde_json::Value,
    ip: &str,
    ready: &str,
) -> k8s_openapi::api::core::v1::Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": ready}]
        }
    }))
    .unwrap()
}

#[test]
fn status_tables_match_their_golden_file() {
    let nodes = [
        node(
            "dev-control",
            json!({"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/master": "true"}),
            "10.0.1.10",
            "True",
        ),
        node(
            "dev-kafka-0",
            json!({"kafka": "true", "node-role.kubernetes.io/kafka": "true"}),
            "10.0.1.20",
            "True",
        ),
        node(
            "dev-app-0",
            json!({"app": "true", "node-role.kubernetes.io/app": "true"}),
            "10.0.1.30",
            "False",
        ),
    ];
    let objects =
        bootstrap::render(&crate::render::facts(), &bootstrap::Options::default()).unwrap();
    let namespaces: Vec<k8s_openapi::api::core::v1::Namespace> = objects
        .iter()
        .filter(|o| o["kind"] == "Namespace" && o["metadata"]["name"] != "argocd")
        .map(|o| {
            let mut o = o.clone();
            o["status"] = json!({"phase": "Active"});
            serde_json::from_value(o).unwrap()
        })
        .collect();
    let quota: k8s_openapi::api::core::v1::ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "k3strading-share", "namespace": "ingestion"},
        "status": {"hard": {"requests.cpu": "2000m", "requests.memory": "3934Mi"}, "used": {"requests.cpu": "250m", "requests.memory": "512Mi"}}
    }))
    .unwrap();
    let mut kafka = objects
        .iter()
        .find(|o| o["kind"] == "Kafka")
        .unwrap()
        .clone();
    kafka["metadata"]["generation"] = json!(1);
    kafka["status"] = json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}], "listeners": [
        {"name": "plain", "bootstrapServers": "trading-kafka-bootstrap.kafka.svc:9092"},
        {"name": "external", "bootstrapServers": "203.0.113.20:31093"}
    ]});
    let pool = objects
        .iter()
        .find(|o| o["kind"] == "KafkaNodePool")
        .unwrap();
    let status = Status::from_objects(
        "dev",
        &nodes,
        &namespaces,
        &[quota],
        Some(&kafka),
        Some(pool),
    );
    golden("status.txt", &status.render());
    let empty = Status::from_objects("dev", &[], &[], &[], None, None);
    golden("status-empty.txt", &empty.render());
}
