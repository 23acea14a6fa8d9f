//! What a cluster looks like now, read from live objects, and its rendering as text tables.

use comfy_table::{Table, presets::ASCII_FULL_CONDENSED};
use k8s_openapi::api::core::v1::{Namespace, Node, ResourceQuota};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::error::{Error, api};
use crate::facts::{APP_LABEL, KAFKA_LABEL, has_label};
use crate::render::{
    CLUSTER_LABEL, KAFKA_CLUSTER, KAFKA_NAMESPACE, KAFKA_POOL, NAMESPACES, PRIORITY_LABEL,
};
use crate::wait::strimzi_ready;

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Name.
    pub name: String,
    /// From `node-role.kubernetes.io/<role>` labels, sorted.
    pub roles: Vec<String>,
    /// Labelled `kafka=true`.
    pub kafka: bool,
    /// Labelled `app=true`.
    pub app: bool,
    /// InternalIP address.
    pub internal_ip: String,
    /// Ready condition True.
    pub ready: bool,
}

/// One bootstrap namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRow {
    /// Name.
    pub name: String,
    /// `Active`, `Terminating`, or `missing`.
    pub phase: String,
    /// Enforced Pod Security level.
    pub enforce: String,
    /// PriorityClass its pods must use, if any.
    pub priority_class: String,
}

/// One quota resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    /// Namespace.
    pub namespace: String,
    /// e.g. `requests.cpu`.
    pub resource: String,
    /// Used now.
    pub used: String,
    /// Hard limit.
    pub hard: String,
}

/// The Kafka cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRow {
    /// Name.
    pub name: String,
    /// Ready condition True.
    pub ready: bool,
    /// `name type port bootstrap` per listener in status.
    pub listeners: Vec<String>,
}

/// One line of the expected placement table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRow {
    /// Namespace.
    pub namespace: String,
    /// What runs there.
    pub workload: String,
    /// Nodes it may run on.
    pub nodes: Vec<String>,
    /// What makes it so.
    pub guaranteed_by: String,
}

/// A cluster's state as bootstrap sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The cluster name.
    pub cluster: String,
    /// All nodes, sorted by name.
    pub nodes: Vec<NodeRow>,
    /// The bootstrap namespaces, in bootstrap order.
    pub namespaces: Vec<NamespaceRow>,
    /// Quotas of the cluster's namespaces.
    pub quotas: Vec<QuotaRow>,
    /// The Kafka cluster, if Strimzi serves its kind and it exists.
    pub kafka: Option<KafkaRow>,
    /// Namespaces, workloads and the nodes they land on.
    pub placement: Vec<PlacementRow>,
}

fn label<'a>(labels: Option<&'a std::collections::BTreeMap<String, String>>, key: &str) -> &'a str {
    labels.and_then(|l| l.get(key)).map_or("", String::as_str)
}

impl Status {
    /// Reads nodes, namespaces, quotas, Kafka and its node pool.
    pub async fn read(client: &kube::Client, cluster: &str) -> Result<Status, Error> {
        let nodes = Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await
            .map_err(api("list nodes"))?
            .items;
        let namespaces = Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await
            .map_err(api("list namespaces"))?
            .items;
        let selector = format!("{CLUSTER_LABEL}={cluster}");
        let quotas = Api::<ResourceQuota>::all(client.clone())
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(api("list resource quotas"))?
            .items;
        let kafka = strimzi(client, "Kafka", KAFKA_CLUSTER).await?;
        let pool = strimzi(client, "KafkaNodePool", KAFKA_POOL).await?;
        Ok(Status::from_objects(
            cluster,
            &nodes,
            &namespaces,
            &quotas,
            kafka.as_ref(),
            pool.as_ref(),
        ))
    }

    /// The status of listed objects (pure).
    pub fn from_objects(
        cluster: &str,
        nodes: &[Node],
        namespaces: &[Namespace],
        quotas: &[ResourceQuota],
        kafka: Option<&Value>,
        pool: Option<&Value>,
    ) -> Status {
        let mut node_rows: Vec<NodeRow> = nodes.iter().map(node_row).collect();
        node_rows.sort_by(|a, b| a.name.cmp(&b.name));
        let namespace_rows: Vec<NamespaceRow> = NAMESPACES
            .iter()
            .map(|&(name, _)| {
                let ns = namespaces
                    .iter()
                    .find(|n| n.metadata.name.as_deref() == Some(name));
                let labels = ns.and_then(|n| n.metadata.labels.as_ref());
                NamespaceRow {
                    name: name.to_owned(),
                    phase: ns.map_or("missing".into(), |n| {
                        n.status
                            .as_ref()
                            .and_then(|s| s.phase.clone())
                            .unwrap_or_default()
                    }),
                    enforce: label(labels, "pod-security.kubernetes.io/enforce").to_owned(),
                    priority_class: label(labels, PRIORITY_LABEL).to_owned(),
                }
            })
            .collect();
        let mut quota_rows = Vec::new();
        for q in quotas {
            let ns = q.metadata.namespace.clone().unwrap_or_default();
            let status = q.status.as_ref();
            if let Some(hard) = status
                .and_then(|s| s.hard.as_ref())
                .or(q.spec.as_ref().and_then(|s| s.hard.as_ref()))
            {
                for (resource, h) in hard {
                    let used = status
                        .and_then(|s| s.used.as_ref())
                        .and_then(|u| u.get(resource))
                        .map_or("-".into(), |u| u.0.clone());
                    quota_rows.push(QuotaRow {
                        namespace: ns.clone(),
                        resource: resource.clone(),
                        used,
                        hard: h.0.clone(),
                    });
                }
            }
        }
        quota_rows.sort_by(|a, b| (&a.namespace, &a.resource).cmp(&(&b.namespace, &b.resource)));
        let kafka_row = kafka.map(|k| KafkaRow {
            name: k
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            ready: strimzi_ready(k),
            listeners: k
                .pointer("/status/listeners")
                .and_then(Value::as_array)
                .map(|ls| ls.iter().map(listener).collect())
                .unwrap_or_default(),
        });
        let placement = placement(&node_rows, &namespace_rows, pool);
        Status {
            cluster: cluster.to_owned(),
            nodes: node_rows,
            namespaces: namespace_rows,
            quotas: quota_rows,
            kafka: kafka_row,
            placement,
        }
    }

    /// The tables, as plain ASCII text.
    pub fn render(&self) -> String {
        let mut out = format!("Cluster {}\n\nNodes\n", self.cluster);
        let mut t = table(&["NAME", "ROLES", "KAFKA", "APP", "INTERNAL-IP", "READY"]);
        for n in &self.nodes {
            let yes = |b: bool| if b { "yes" } else { "no" };
            t.add_row(vec![
                n.name.clone(),
                n.roles.join(","),
                yes(n.kafka).into(),
                yes(n.app).into(),
                n.internal_ip.clone(),
                yes(n.ready).into(),
            ]);
        }
        out.push_str(&format!("{t}\n\nNamespaces\n"));
        let mut t = table(&["NAMESPACE", "PHASE", "POD SECURITY", "PRIORITY CLASS"]);
        for n in &self.namespaces {
            t.add_row(vec![
                n.name.clone(),
                n.phase.clone(),
                n.enforce.clone(),
                n.priority_class.clone(),
            ]);
        }
        out.push_str(&format!("{t}\n\nQuotas\n"));
        let mut t = table(&["NAMESPACE", "RESOURCE", "USED", "HARD"]);
        for q in &self.quotas {
            t.add_row(vec![
                q.namespace.clone(),
                q.resource.clone(),
                q.used.clone(),
                q.hard.clone(),
            ]);
        }
        out.push_str(&format!("{t}\n\nKafka\n"));
        match &self.kafka {
            Some(k) => {
                let mut t = table(&["NAME", "READY", "LISTENERS"]);
                t.add_row(vec![
                    k.name.clone(),
                    if k.ready { "yes" } else { "no" }.into(),
                    k.listeners.join("\n"),
                ]);
                out.push_str(&format!("{t}\n"));
            }
            None => out.push_str("not found\n"),
        }
        out.push_str("\nExpected Namespaces + nodeSelector\n");
        let mut t = table(&["NAMESPACE", "WORKLOAD", "NODES", "GUARANTEED BY"]);
        for p in &self.placement {
            t.add_row(vec![
                p.namespace.clone(),
                p.workload.clone(),
                p.nodes.join(","),
                p.guaranteed_by.clone(),
            ]);
        }
        out.push_str(&format!("{t}\n"));
        out
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(ASCII_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

fn node_row(node: &Node) -> NodeRow {
    let labels = node.metadata.labels.as_ref();
    let mut roles: Vec<String> = labels
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let status = node.status.as_ref();
    NodeRow {
        name: node.metadata.name.clone().unwrap_or_default(),
        roles,
        kafka: has_label(node, KAFKA_LABEL),
        app: has_label(node, APP_LABEL),
        internal_ip: status
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map_or(String::new(), |a| a.address.clone()),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
    }
}

fn listener(l: &Value) -> String {
    let s = |k: &str| l.get(k).and_then(Value::as_str).unwrap_or_default();
    format!("{} {}", s("name"), s("bootstrapServers"))
}

/// The user's placement table, from the live labels, node pool and namespace labels.
fn placement(
    nodes: &[NodeRow],
    namespaces: &[NamespaceRow],
    pool: Option<&Value>,
) -> Vec<PlacementRow> {
    let with = |f: fn(&NodeRow) -> bool| {
        nodes
            .iter()
            .filter(|n| f(n))
            .map(|n| n.name.clone())
            .collect::<Vec<_>>()
    };
    let affinity = pool
        .and_then(|p| p.pointer("/spec/template/pod/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms"))
        .and_then(Value::as_array)
        .and_then(|terms| terms.first())
        .and_then(|t| t.get("matchExpressions"))
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .map(|e| {
                    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                    let values: Vec<&str> = e.get("values").and_then(Value::as_array).map(|v| v.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                    format!("{} {} [{}]", s("key"), s("operator"), values.join(","))
                })
                .collect::<Vec<_>>()
                .join(", ")
        });
    let mut rows = vec![PlacementRow {
        namespace: KAFKA_NAMESPACE.into(),
        workload: format!("{KAFKA_CLUSTER}-{KAFKA_POOL}-*"),
        nodes: with(|n| n.kafka),
        guaranteed_by: affinity.map_or("KafkaNodePool not found".into(), |a| {
            format!("KafkaNodePool required affinity: {a}")
        }),
    }];
    for ns in namespaces.iter().filter(|n| !n.priority_class.is_empty()) {
        rows.push(PlacementRow {
            namespace: ns.name.clone(),
            workload: "*".into(),
            nodes: with(|n| n.app),
            guaranteed_by: format!(
                "priorityClassName {} (admission policy) + nodeSelector app=true (app manifests)",
                ns.priority_class
            ),
        });
    }
    rows.push(PlacementRow {
        namespace: "argocd".into(),
        workload: "argocd-*".into(),
        nodes: with(|n| n.app),
        guaranteed_by: "nodeSelector: app=true (chart values)".into(),
    });
    rows
}

/// A Strimzi object in the Kafka namespace; `None` when its kind is not served or it is absent.
async fn strimzi(client: &kube::Client, kind: &str, name: &str) -> Result<Option<Value>, Error> {
    let gvk = GroupVersionKind::gvk("kafka.strimzi.io", "v1beta2", kind);
    let ar = match kube::discovery::pinned_kind(client, &gvk).await {
        Ok((ar, _)) => ar,
        Err(kube::Error::Discovery(_)) => return Ok(None),
        Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(None),
        Err(e) => return Err(api(format!("discover {kind}"))(e)),
    };
    let found = Api::<DynamicObject>::namespaced_with(client.clone(), KAFKA_NAMESPACE, &ar)
        .get_opt(name)
        .await
        .map_err(api(format!("read {kind} {name}")))?;
    Ok(found.and_then(|o| serde_json::to_value(o).ok()))
}
