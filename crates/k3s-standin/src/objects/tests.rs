#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;

fn store() -> ObjectStore {
    ObjectStore::open(None, Arc::new(Store::default())).unwrap()
}

fn apply(store: &ObjectStore, object: &Value, manager: &str) -> Result<Value, ApiError> {
    let kind = store.kind_of(object)?;
    let ns = object["metadata"]["namespace"].as_str();
    let name = object["metadata"]["name"].as_str().unwrap();
    let request = ApplyRequest {
        applied: object,
        manager,
        force: false,
        api_version: &kind.api_version(),
        now: "t",
    };
    store
        .write(&kind, ns, name, Write::Apply(request))
        .map(|(o, _)| o)
}

#[test]
fn a_namespaced_object_in_a_missing_namespace_is_not_found() {
    let store = store();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "nope"}});
    let err = apply(&store, &cm, "m").unwrap_err();
    assert!(
        matches!(&err, ApiError::NotFound { resource, name } if resource == "namespaces" && name == "nope"),
        "{err}"
    );
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}});
    let stored = apply(&store, &cm, "m").unwrap();
    assert_eq!(stored["metadata"]["generation"], 1);
    assert!(!stored["metadata"]["uid"].as_str().unwrap().is_empty());
}

#[test]
fn the_same_apply_twice_keeps_the_resource_version_and_a_change_bumps_generation() {
    let store = store();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}});
    let once = apply(&store, &cm, "m").unwrap();
    let twice = apply(&store, &cm, "m").unwrap();
    assert_eq!(once, twice);
    let changed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "2"}});
    let third = apply(&store, &changed, "m").unwrap();
    assert_ne!(
        third["metadata"]["resourceVersion"],
        once["metadata"]["resourceVersion"]
    );
    assert_eq!(third["metadata"]["generation"], 2);
}

#[test]
fn a_crd_registers_its_kind_and_its_schema_rejects_bad_crs() {
    let store = store();
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
    });
    let stored = apply(&store, &crd, "m").unwrap();
    let conditions = stored["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );
    let kind = store.resolve("example.com", "v1", "widgets").unwrap();
    assert!(kind.namespaced);
    let bad = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": "big"}});
    let err = apply(&store, &bad, "m").unwrap_err();
    assert!(
        matches!(&err, ApiError::Invalid { message, .. } if message.starts_with("spec.size")),
        "{err}"
    );
    let good = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 2}});
    apply(&store, &good, "m").unwrap();
}

#[derive(Debug)]
struct RejectSecrets;
impl Validator for RejectSecrets {
    fn validate(&self, object: &Value) -> Result<(), String> {
        if object["kind"] == "Secret" {
            Err("data: Forbidden: no secrets".into())
        } else {
            Ok(())
        }
    }
}

#[test]
fn the_validation_hook_sees_every_write() {
    let store = store().with_validator(Arc::new(RejectSecrets));
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}});
    let err = apply(&store, &secret, "m").unwrap_err();
    assert_eq!(err.code_and_reason(), (422, "Invalid"));
    let kind = store.kind_of(&secret).unwrap();
    let create = Write::Create {
        body: secret.clone(),
        manager: "m",
        keep_status: false,
    };
    assert!(store.write(&kind, Some("default"), "s", create).is_err());
}

#[test]
fn objects_survive_a_reopen_and_versions_keep_rising() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.json");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}});
    let first = {
        let store = ObjectStore::open(Some(file.clone()), Arc::new(Store::default())).unwrap();
        apply(&store, &cm, "m").unwrap()
    };
    let store = ObjectStore::open(Some(file), Arc::new(Store::default())).unwrap();
    let kind = store.kind_of(&cm).unwrap();
    assert_eq!(store.get(&kind, Some("default"), "c").unwrap(), first);
    let changed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "2"}});
    let second = apply(&store, &changed, "m").unwrap();
    let version = |o: &Value| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(version(&second) > version(&first));
}
