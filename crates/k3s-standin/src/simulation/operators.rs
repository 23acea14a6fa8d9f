//! SIMULATED operators: the status Strimzi's cluster and user operators and
//! ArgoCD's application controller would report, once their Deployment
//! exists. No broker, topic or sync exists behind it.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Seen, Simulation, report};
use crate::clock;
use crate::doc;
use crate::objects::kinds::Kind;
use crate::objects::{ApiError, Write};

const STRIMZI: &str = "kafka.strimzi.io";

pub(super) fn reconcile(sim: &Simulation, seen: &mut Seen) {
    if deployment_exists(sim, "strimzi-cluster-operator") {
        each(sim, seen, (STRIMZI, "v1beta2", "kafkas"), kafka_status);
        each(
            sim,
            seen,
            (STRIMZI, "v1beta2", "kafkanodepools"),
            pool_status,
        );
        each(sim, seen, (STRIMZI, "v1beta2", "kafkausers"), user_status);
    }
    if deployment_exists(sim, "argocd-server") {
        each(
            sim,
            seen,
            ("argoproj.io", "v1alpha1", "applications"),
            |_, _| {
                Ok(Some(
                    json!({ "sync": { "status": "Synced" }, "health": { "status": "Healthy" } }),
                ))
            },
        );
    }
}

fn deployment_exists(sim: &Simulation, name: &str) -> bool {
    sim.objects
        .resolve("apps", "v1", "deployments")
        .is_ok_and(|kind| {
            let (items, _) = sim.objects.list(&kind, None);
            items
                .iter()
                .any(|d| doc::text(d, &["metadata", "name"]) == name)
        })
}

type StatusFn = fn(&Simulation, &Value) -> Result<Option<Value>, ApiError>;

/// Writes the status `compute` wants for every due object of a kind (a
/// write that changes nothing stores nothing).
fn each(
    sim: &Simulation,
    seen: &mut Seen,
    (group, version, plural): (&str, &str, &str),
    compute: StatusFn,
) {
    let Ok(kind) = sim.objects.resolve(group, version, plural) else {
        return;
    };
    let (items, _) = sim.objects.list(&kind, None);
    for item in items.iter().filter(|i| seen.due(i, sim.delay)) {
        let name = doc::text(item, &["metadata", "name"]);
        let namespace = doc::text(item, &["metadata", "namespace"]);
        let result = compute(sim, item).and_then(|status| match status {
            Some(status) => write_status(sim, &kind, namespace, name, status),
            None => Ok(()),
        });
        report(
            &format!("status of {} {namespace}/{name}", kind.kind),
            result,
        );
    }
}

fn write_status(
    sim: &Simulation,
    kind: &Kind,
    namespace: &str,
    name: &str,
    status: Value,
) -> Result<(), ApiError> {
    sim.objects
        .write(kind, Some(namespace), name, Write::Status(status))
        .map(|_| ())
}

/// A Ready condition that keeps its first transition time.
fn ready(object: &Value) -> Value {
    let since = doc::at(object, &["status", "conditions"])
        .as_array()
        .and_then(|c| c.iter().find(|c| doc::text(c, &["type"]) == "Ready"))
        .map(|c| doc::text(c, &["lastTransitionTime"]).to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| clock::rfc3339(clock::now_unix()));
    json!([{ "type": "Ready", "status": "True", "lastTransitionTime": since }])
}

fn generation(object: &Value) -> Value {
    doc::at(object, &["metadata", "generation"]).clone()
}

/// A Kafka is Ready once a KafkaNodePool names it.
fn kafka_status(sim: &Simulation, kafka: &Value) -> Result<Option<Value>, ApiError> {
    let name = doc::text(kafka, &["metadata", "name"]);
    let namespace = doc::text(kafka, &["metadata", "namespace"]);
    let pools = sim.objects.resolve(STRIMZI, "v1beta2", "kafkanodepools")?;
    let (pools, _) = sim.objects.list(&pools, Some(namespace));
    let mine: Vec<Value> = pools
        .iter()
        .filter(|p| doc::text(p, &["metadata", "labels", "strimzi.io/cluster"]) == name)
        .map(|p| json!({ "name": doc::at(p, &["metadata", "name"]) }))
        .collect();
    if mine.is_empty() {
        return Ok(None);
    }
    let listeners: Vec<Value> = doc::at(kafka, &["spec", "kafka", "listeners"])
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| listener_status(l, name, namespace))
                .collect()
        })
        .unwrap_or_default();
    let version = match doc::text(kafka, &["spec", "kafka", "version"]) {
        "" => "4.0.0",
        v => v,
    };
    Ok(Some(json!({
        "observedGeneration": generation(kafka),
        "conditions": ready(kafka),
        "listeners": listeners,
        "kafkaNodePools": mine,
        "kafkaVersion": version,
        "clusterId": cluster_id(kafka),
    })))
}

/// Advertised addresses: per broker from a nodeport listener's
/// `configuration.brokers`, else the bootstrap Service.
fn listener_status(listener: &Value, cluster: &str, namespace: &str) -> Value {
    let port = doc::at(listener, &["port"]).as_u64().unwrap_or(9092);
    let brokers = doc::at(listener, &["configuration", "brokers"])
        .as_array()
        .cloned()
        .unwrap_or_default();
    let addresses: Vec<Value> = if brokers.is_empty() {
        vec![json!({ "host": format!("{cluster}-kafka-bootstrap.{namespace}.svc"), "port": port })]
    } else {
        brokers
            .iter()
            .filter(|b| !doc::text(b, &["advertisedHost"]).is_empty())
            .map(|b| {
                let port = ["advertisedPort", "nodePort"]
                    .iter()
                    .find_map(|k| doc::at(b, &[k]).as_u64())
                    .unwrap_or(port);
                json!({ "host": doc::text(b, &["advertisedHost"]), "port": port })
            })
            .collect()
    };
    let bootstrap: Vec<String> = addresses
        .iter()
        .map(|a| format!("{}:{}", doc::text(a, &["host"]), doc::at(a, &["port"])))
        .collect();
    json!({ "name": doc::at(listener, &["name"]), "addresses": addresses, "bootstrapServers": bootstrap.join(",") })
}

/// A stable 22-character id derived from the Kafka's uid.
fn cluster_id(kafka: &Value) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        doc::text(kafka, &["metadata", "uid"]).as_bytes(),
    );
    let bytes = digest.as_ref().get(..16).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Node IDs stay as assigned while the replica count holds; new ones are
/// the lowest not used by another pool of the same cluster.
fn pool_status(sim: &Simulation, pool: &Value) -> Result<Option<Value>, ApiError> {
    let replicas = doc::at(pool, &["spec", "replicas"]).as_u64().unwrap_or(0);
    let cluster = doc::text(pool, &["metadata", "labels", "strimzi.io/cluster"]);
    let namespace = doc::text(pool, &["metadata", "namespace"]);
    let name = doc::text(pool, &["metadata", "name"]);
    let kind = sim.objects.resolve(STRIMZI, "v1beta2", "kafkanodepools")?;
    let (pools, _) = sim.objects.list(&kind, Some(namespace));
    let taken: Vec<u64> = pools
        .iter()
        .filter(|p| doc::text(p, &["metadata", "name"]) != name)
        .filter(|p| doc::text(p, &["metadata", "labels", "strimzi.io/cluster"]) == cluster)
        .flat_map(ids)
        .collect();
    let mut mine = ids(pool);
    mine.retain(|id| !taken.contains(id));
    mine.truncate(usize::try_from(replicas).unwrap_or(usize::MAX));
    let mut next = 0;
    while (mine.len() as u64) < replicas {
        if !taken.contains(&next) && !mine.contains(&next) {
            mine.push(next);
        }
        next += 1;
    }
    mine.sort_unstable();
    Ok(Some(json!({
        "observedGeneration": generation(pool),
        "replicas": replicas,
        "nodeIds": mine,
        "roles": doc::at(pool, &["spec", "roles"]),
    })))
}

fn ids(pool: &Value) -> Vec<u64> {
    doc::at(pool, &["status", "nodeIds"])
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// A KafkaUser gets its Secret (kept once made) and Ready.
fn user_status(sim: &Simulation, user: &Value) -> Result<Option<Value>, ApiError> {
    let name = doc::text(user, &["metadata", "name"]);
    let namespace = doc::text(user, &["metadata", "namespace"]);
    let password: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(12)
        .collect();
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{name}\" password=\"{password}\";"
    );
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": name, "namespace": namespace, "labels": {
            "strimzi.io/kind": "KafkaUser",
            "strimzi.io/cluster": doc::at(user, &["metadata", "labels", "strimzi.io/cluster"]),
        }},
        "data": { "password": b64(&password), "sasl.jaas.config": b64(&jaas) },
    });
    sim.objects.ensure(secret, "strimzi-user-operator")?;
    Ok(Some(json!({
        "observedGeneration": generation(user),
        "conditions": ready(user),
        "username": name,
        "secret": name,
    })))
}

/// Base64, as Secret data holds it.
pub(super) fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A Deployment as a chart would create it, shown available.
pub(super) fn available_deployment(
    namespace: &str,
    name: &str,
    release: &str,
    chart_label: &str,
) -> Value {
    let labels = json!({ "app.kubernetes.io/name": name });
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": namespace,
            "labels": { "app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": chart_label },
            "annotations": { "meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace },
        },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": labels },
            "template": { "metadata": { "labels": labels }, "spec": { "containers": [{ "name": name, "image": "k3s-standin/simulated:none" }] } },
        },
        "status": {
            "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
            "conditions": [
                { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "SIMULATED: Deployment has minimum availability." },
                { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "SIMULATED: the stand-in runs no pods." },
            ],
        },
    })
}
