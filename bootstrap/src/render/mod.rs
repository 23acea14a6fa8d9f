//! Every object bootstrap creates, as complete JSON objects in apply order, rendered from
//! [`Facts`] and [`Options`] alone.

mod argocd;
mod charts;
mod kafka;
mod namespaces;
mod priorities;
mod quotas;

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::facts::{Facts, check_host};
use crate::options::Options;

pub use charts::{ARGOCD_CHART, PROMETHEUS_CHART, STRIMZI_CHART};
pub use kafka::{
    BOOTSTRAP_NODE_PORT, BROKER_NODE_PORTS, KAFKA_CLUSTER, KAFKA_NAMESPACE, KAFKA_POOL, KAFKA_USER,
    KAFKA_VERSION, METADATA_VERSION,
};
pub use namespaces::NAMESPACES;
pub use priorities::{PRIORITY_CLASSES, PRIORITY_LABEL};

/// Label every object carries: who manages it.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "k3strading");
/// Label every object carries: which cluster it belongs to.
pub const CLUSTER_LABEL: &str = "k3strading.io/cluster";

/// All objects, in apply order.
pub fn render(facts: &Facts, opts: &Options) -> Result<Vec<Value>, Error> {
    check_host(&facts.kafka_advertised_host)?;
    if facts.cluster.is_empty() {
        return Err(Error::Input("the cluster name is empty".into()));
    }
    let mut objects = namespaces::render(facts);
    objects.extend(priorities::render(facts));
    objects.extend(quotas::render(facts));
    objects.extend(argocd::repo_secret(facts, opts));
    objects.extend(charts::render(facts)?);
    objects.extend(kafka::render(facts));
    objects.push(argocd::render(facts, opts));
    Ok(objects)
}

/// `metadata` with the common labels plus `extra`, and a namespace when given.
pub(crate) fn metadata(
    facts: &Facts,
    name: &str,
    namespace: Option<&str>,
    extra: &[(&str, &str)],
) -> Value {
    let mut labels = Map::new();
    labels.insert(MANAGED_BY.0.into(), json!(MANAGED_BY.1));
    labels.insert(CLUSTER_LABEL.into(), json!(facts.cluster));
    for (k, v) in extra {
        labels.insert((*k).into(), json!(v));
    }
    let mut meta = json!({ "name": name, "labels": labels });
    if let (Some(ns), Some(map)) = (namespace, meta.as_object_mut()) {
        map.insert("namespace".into(), json!(ns));
    }
    meta
}

/// A complete object.
pub(crate) fn object(api_version: &str, kind: &str, metadata: Value, body: Value) -> Value {
    let mut obj = json!({ "apiVersion": api_version, "kind": kind, "metadata": metadata });
    if let (Some(map), Value::Object(body)) = (obj.as_object_mut(), body) {
        map.extend(body);
    }
    obj
}

/// `metadata` with `annotations` added.
pub(crate) fn annotated(mut metadata: Value, annotations: Value) -> Value {
    if let Some(map) = metadata.as_object_mut() {
        map.insert("annotations".into(), annotations);
    }
    metadata
}
