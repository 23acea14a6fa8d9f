//! Server-side apply of rendered objects, phase by phase, with bounded waits between.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope, pinned_kind};
use serde_json::Value;
use tokio::time::Instant;

use crate::error::{Error, api};
use crate::files::describe;
use crate::render::{KAFKA_CLUSTER, KAFKA_NAMESPACE, KAFKA_USER};
use crate::wait::{conditions_summary, deployment_available, poll, strimzi_ready};

/// The field manager of every object bootstrap applies.
pub const FIELD_MANAGER: &str = "k3strading";

/// The steps of a bootstrap, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Namespaces, PriorityClasses, the admission policy, quotas, LimitRanges.
    NamespacesAndPolicy,
    /// The HelmCharts K3s installs.
    HelmCharts,
    /// Strimzi's operator Deployment available.
    OperatorReady,
    /// Kafka, its node pool and user applied and Ready.
    KafkaReady,
    /// `argocd-server` available.
    ArgoCdAvailable,
    /// The root Application applied.
    Application,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::NamespacesAndPolicy => "namespaces and policy",
            Phase::HelmCharts => "HelmCharts",
            Phase::OperatorReady => "Strimzi operator ready",
            Phase::KafkaReady => "Kafka ready",
            Phase::ArgoCdAvailable => "ArgoCD available",
            Phase::Application => "root Application",
        })
    }
}

/// What [`apply`] reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A phase began.
    Started(Phase),
    /// An object was applied (`Kind namespace/name`).
    Applied(String),
    /// Waiting for something (e.g. a CRD to be served, a Deployment to be available).
    Waiting(String),
    /// A phase ended after this long.
    Finished(Phase, Duration),
}

/// How long each phase took, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phases {
    /// `(phase, duration)`.
    pub timings: Vec<(Phase, Duration)>,
}

/// The phase an object is applied in.
pub fn phase_of(object: &Value) -> Phase {
    match object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "HelmChart" => Phase::HelmCharts,
        "Kafka" | "KafkaNodePool" | "KafkaUser" | "KafkaTopic" => Phase::KafkaReady,
        "Application" | "AppProject" => Phase::Application,
        _ => Phase::NamespacesAndPolicy,
    }
}

/// The group, version and kind of an object.
pub fn gvk_of(object: &Value) -> Result<GroupVersionKind, Error> {
    let s = |k: &str| object.get(k).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (s("apiVersion"), s("kind"));
    if api_version.is_empty() || kind.is_empty() {
        return Err(Error::Input(format!(
            "{} has no apiVersion or kind",
            describe(object)
        )));
    }
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Ok(GroupVersionKind::gvk(group, version, kind))
}

/// Applies `objects` (in [`crate::render`]'s order) server-side without force; see
/// [`apply_with`].
pub async fn apply(
    client: &kube::Client,
    objects: &[Value],
    deadline: Instant,
    progress: &mut dyn FnMut(Progress),
) -> Result<Phases, Error> {
    apply_with(client, objects, deadline, false, progress).await
}

/// Applies `objects` phase by phase, waiting between phases for what the next needs. Kinds
/// not served yet (operators' custom resources) are retried until their CRD is served.
/// Every wait ends at `deadline`. Applying the same objects again changes nothing.
/// `force` takes over fields another manager owns.
pub async fn apply_with(
    client: &kube::Client,
    objects: &[Value],
    deadline: Instant,
    force: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Phases, Error> {
    let mut phases = Phases::default();
    for phase in [
        Phase::NamespacesAndPolicy,
        Phase::HelmCharts,
        Phase::OperatorReady,
        Phase::KafkaReady,
        Phase::ArgoCdAvailable,
        Phase::Application,
    ] {
        progress(Progress::Started(phase));
        let started = Instant::now();
        for object in objects.iter().filter(|o| phase_of(o) == phase) {
            apply_one(client, object, deadline, force, progress).await?;
        }
        match phase {
            Phase::OperatorReady => {
                wait_deployment(
                    client,
                    KAFKA_NAMESPACE,
                    "strimzi-cluster-operator",
                    deadline,
                    progress,
                )
                .await?;
            }
            Phase::KafkaReady => {
                wait_strimzi(client, "Kafka", KAFKA_CLUSTER, deadline, progress).await?;
                wait_strimzi(client, "KafkaUser", KAFKA_USER, deadline, progress).await?;
            }
            Phase::ArgoCdAvailable => {
                wait_deployment(client, "argocd", "argocd-server", deadline, progress).await?;
            }
            _ => {}
        }
        let took = started.elapsed();
        progress(Progress::Finished(phase, took));
        phases.timings.push((phase, took));
    }
    Ok(phases)
}

/// The ApiResource of a kind, waiting (until `deadline`) while it is not served, e.g.
/// until an operator's CRD is Established.
async fn resource(
    client: &kube::Client,
    gvk: &GroupVersionKind,
    deadline: Instant,
    progress: &mut dyn FnMut(Progress),
) -> Result<(ApiResource, Scope), Error> {
    let discover = |e| {
        api(format!(
            "discover {}/{} {}",
            gvk.group, gvk.version, gvk.kind
        ))(e)
    };
    match pinned_kind(client, gvk).await {
        Ok((ar, caps)) => return Ok((ar, caps.scope)),
        Err(e) if not_served(&e) => {}
        Err(e) => return Err(discover(e)),
    }
    let what = format!("{}/{} {} to be served", gvk.group, gvk.version, gvk.kind);
    progress(Progress::Waiting(what.clone()));
    poll(&what, deadline, || async {
        match pinned_kind(client, gvk).await {
            Ok((ar, caps)) => Ok(Ok((ar, caps.scope))),
            Err(e) if not_served(&e) => Ok(Err("not served".to_owned())),
            Err(e) => Err(discover(e)),
        }
    })
    .await
}

/// Discovery errors that mean "this kind is not served yet".
fn not_served(e: &kube::Error) -> bool {
    match e {
        kube::Error::Discovery(_) => true,
        kube::Error::Api(status) => status.is_not_found(),
        _ => false,
    }
}

async fn apply_one(
    client: &kube::Client,
    object: &Value,
    deadline: Instant,
    force: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let gvk = gvk_of(object)?;
    let (ar, scope) = resource(client, &gvk, deadline, progress).await?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    let target: Api<DynamicObject> = match (scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        (Scope::Namespaced, None) => {
            return Err(Error::Input(format!(
                "{} is namespaced but has no namespace",
                describe(object)
            )));
        }
        (Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
    };
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if force {
        params = params.force();
    }
    target
        .patch(name, &params, &Patch::Apply(object))
        .await
        .map_err(api(format!("apply {}", describe(object))))?;
    progress(Progress::Applied(describe(object)));
    Ok(())
}

async fn wait_deployment(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    deadline: Instant,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let what = format!("Deployment {namespace}/{name} to be available");
    progress(Progress::Waiting(what.clone()));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    poll(&what, deadline, || async {
        let found = deployments
            .get_opt(name)
            .await
            .map_err(api(format!("read Deployment {namespace}/{name}")))?;
        let Some(found) = found else {
            return Ok(Err("not created yet".to_owned()));
        };
        let value = serde_json::to_value(&found).unwrap_or_default();
        Ok(if deployment_available(&value) {
            Ok(())
        } else {
            Err(conditions_summary(&value))
        })
    })
    .await
}

async fn wait_strimzi(
    client: &kube::Client,
    kind: &str,
    name: &str,
    deadline: Instant,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let gvk = GroupVersionKind::gvk("kafka.strimzi.io", "v1beta2", kind);
    let (ar, _) = resource(client, &gvk, deadline, progress).await?;
    let what = format!("{kind} {KAFKA_NAMESPACE}/{name} to be Ready");
    progress(Progress::Waiting(what.clone()));
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), KAFKA_NAMESPACE, &ar);
    poll(&what, deadline, || async {
        let found = objects
            .get_opt(name)
            .await
            .map_err(api(format!("read {kind} {name}")))?;
        let Some(found) = found else {
            return Ok(Err("not created yet".to_owned()));
        };
        let value = serde_json::to_value(&found).unwrap_or_default();
        Ok(if strimzi_ready(&value) {
            Ok(())
        } else {
            Err(conditions_summary(&value))
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_versions_split_into_group_and_version() {
        let gvk =
            gvk_of(&json!({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "Kafka"})).unwrap();
        assert_eq!(
            (gvk.group.as_str(), gvk.version.as_str(), gvk.kind.as_str()),
            ("kafka.strimzi.io", "v1beta2", "Kafka")
        );
        let core = gvk_of(&json!({"apiVersion": "v1", "kind": "Namespace"})).unwrap();
        assert_eq!((core.group.as_str(), core.version.as_str()), ("", "v1"));
        assert!(gvk_of(&json!({"kind": "Namespace"})).is_err());
    }

    #[test]
    fn objects_map_to_phases() {
        let kind = |k: &str| phase_of(&json!({"kind": k}));
        assert_eq!(kind("Namespace"), Phase::NamespacesAndPolicy);
        assert_eq!(
            kind("ValidatingAdmissionPolicy"),
            Phase::NamespacesAndPolicy
        );
        assert_eq!(kind("HelmChart"), Phase::HelmCharts);
        assert_eq!(kind("KafkaUser"), Phase::KafkaReady);
        assert_eq!(kind("Application"), Phase::Application);
    }

    #[test]
    fn only_missing_kinds_are_waited_for() {
        let missing =
            kube::Error::Discovery(kube::error::DiscoveryError::MissingKind("Kafka".into()));
        assert!(not_served(&missing));
        let forbidden = kube::Error::Api(Box::new(
            kube::core::Status::failure("no", "Forbidden").with_code(403),
        ));
        assert!(!not_served(&forbidden));
    }
}
