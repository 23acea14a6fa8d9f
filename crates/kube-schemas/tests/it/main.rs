//! The schemas against the official schemas directory; skipped (with a note) when it is
//! absent, a failure with CI=true.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::OnceLock;

use kube_schemas::Schemas;
use serde_json::{Value, json};

fn schemas() -> Option<&'static Schemas> {
    static SCHEMAS: OnceLock<Option<Schemas>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            let dir = Schemas::find_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()?;
            Some(Schemas::load(&dir).unwrap())
        })
        .as_ref()
}

fn paths(result: Result<(), kube_schemas::Invalid>) -> Vec<String> {
    result
        .unwrap_err()
        .problems
        .into_iter()
        .map(|p| p.path)
        .collect()
}

fn namespace() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kafka", "labels": {"a": "b"}},
        "spec": {"finalizers": ["kubernetes"]}
    })
}

fn kafka() -> Value {
    json!({
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "Kafka",
        "metadata": {"name": "trading", "namespace": "kafka"},
        "spec": {
            "kafka": {
                "version": "4.0.0",
                "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": false}]
            }
        }
    })
}

#[test]
fn a_valid_namespace_passes() {
    let Some(schemas) = schemas() else { return };
    schemas.validate(&namespace()).unwrap();
}

#[test]
fn a_namespace_with_a_number_for_finalizers_fails_naming_the_path() {
    let Some(schemas) = schemas() else { return };
    let mut ns = namespace();
    ns["spec"]["finalizers"] = json!(3);
    let err = schemas.validate(&ns).unwrap_err();
    assert!(err.to_string().contains("/spec/finalizers"), "{err}");
    assert_eq!(paths(Err(err)), ["/spec/finalizers"]);
}

#[test]
fn a_misspelt_field_is_refused() {
    let Some(schemas) = schemas() else { return };
    let mut ns = namespace();
    ns["metadata"]["lables"] = json!({});
    assert_eq!(paths(schemas.validate(&ns)), ["/metadata"]);
}

#[test]
fn a_kafka_from_the_crd_passes_and_a_string_replica_count_fails() {
    let Some(schemas) = schemas() else { return };
    schemas.validate(&kafka()).unwrap();
    let mut bad = kafka();
    bad["spec"]["kafka"]["replicas"] = json!("x");
    assert_eq!(paths(schemas.validate(&bad)), ["/spec/kafka/replicas"]);
}

#[test]
fn custom_resource_metadata_is_checked_as_object_meta() {
    let Some(schemas) = schemas() else { return };
    let mut bad = kafka();
    bad["metadata"]["labels"] = json!({"a": 1});
    assert_eq!(paths(schemas.validate(&bad)), ["/metadata/labels/a"]);
}

#[test]
fn an_unknown_kind_is_refused_and_says_so() {
    let Some(schemas) = schemas() else { return };
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    let err = schemas.validate(&obj).unwrap_err();
    assert!(err.to_string().contains("unknown kind"), "{err}");
}

#[test]
fn int_or_string_takes_both() {
    let Some(schemas) = schemas() else { return };
    for port in [json!(8080), json!("http")] {
        let np = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "n", "namespace": "x"},
            "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": port}]}]}
        });
        schemas.validate(&np).unwrap();
    }
}

#[test]
fn every_operator_kind_is_known() {
    let Some(schemas) = schemas() else { return };
    let kinds = schemas.kinds();
    for (api_version, kind) in [
        ("kafka.strimzi.io/v1beta2", "Kafka"),
        ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
        ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
        ("argoproj.io/v1alpha1", "Application"),
        ("helm.cattle.io/v1", "HelmChart"),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingAdmissionPolicy",
        ),
        ("scheduling.k8s.io/v1", "PriorityClass"),
    ] {
        assert!(
            kinds.contains(&(api_version.to_owned(), kind.to_owned())),
            "{api_version} {kind}"
        );
    }
}

#[test]
fn validation_messages_do_not_show_values() {
    let Some(schemas) = schemas() else { return };
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"password": 987654321}
    });
    let err = schemas.validate(&secret).unwrap_err();
    assert!(!err.to_string().contains("987654321"), "{err}");
}

#[test]
fn a_misspelt_field_in_a_custom_resource_is_refused() {
    let Some(schemas) = schemas() else { return };
    let mut bad = kafka();
    bad["spec"]["kafka"]["listner"] = json!([]);
    assert_eq!(paths(schemas.validate(&bad)), ["/spec/kafka"]);
}
