#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;
use serde_json::json;

fn req<'a>(applied: &'a Value, manager: &'a str, force: bool) -> ApplyRequest<'a> {
    ApplyRequest {
        applied,
        manager,
        force,
        api_version: "v1",
        now: "2026-01-01T00:00:00Z",
    }
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": data})
}

#[test]
fn first_apply_records_the_managers_fields_in_f_notation() {
    let applied = cm(json!({"a": "1"}));
    let out = apply(None, &req(&applied, "k3strading", false)).unwrap();
    let entry = &out["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "k3strading");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(entry["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    assert_eq!(out["data"], json!({"a": "1"}));
}

#[test]
fn applying_the_same_object_again_changes_nothing() {
    let applied = cm(json!({"a": "1"}));
    let once = apply(None, &req(&applied, "m", false)).unwrap();
    let later = ApplyRequest {
        now: "2030-01-01T00:00:00Z",
        ..req(&applied, "m", false)
    };
    let twice = apply(Some(&once), &later).unwrap();
    assert_eq!(once, twice);
}

#[test]
fn a_different_value_on_anothers_field_conflicts_unless_forced() {
    let first = apply(None, &req(&cm(json!({"a": "1"})), "one", false)).unwrap();
    let other = cm(json!({"a": "2"}));
    let conflicts = apply(Some(&first), &req(&other, "two", false)).unwrap_err();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].manager, "one");
    assert_eq!(fields::display(&conflicts[0].path), ".data.a");

    let forced = apply(Some(&first), &req(&other, "two", true)).unwrap();
    assert_eq!(forced["data"]["a"], "2");
    let entries = read(&forced);
    assert_eq!(entries.len(), 1, "the loser owns nothing and is dropped");
    assert_eq!(entries[0].manager, "two");
}

#[test]
fn the_same_value_is_shared_without_conflict() {
    let first = apply(None, &req(&cm(json!({"a": "1"})), "one", false)).unwrap();
    let both = apply(Some(&first), &req(&cm(json!({"a": "1"})), "two", false)).unwrap();
    assert_eq!(read(&both).len(), 2);
    // "one" stops applying the field: "two" still owns it, so it stays.
    let one_leaves = apply(Some(&both), &req(&cm(json!({"b": "x"})), "one", false)).unwrap();
    assert_eq!(one_leaves["data"], json!({"a": "1", "b": "x"}));
}

#[test]
fn fields_a_manager_omits_now_are_removed() {
    let first = apply(None, &req(&cm(json!({"a": "1", "b": "2"})), "m", false)).unwrap();
    let second = apply(Some(&first), &req(&cm(json!({"a": "1"})), "m", false)).unwrap();
    assert_eq!(second["data"], json!({"a": "1"}));
    assert_eq!(
        second["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
}

#[test]
fn an_update_takes_the_fields_it_changed_from_the_applier() {
    let first = apply(None, &req(&cm(json!({"a": "1", "b": "2"})), "m", false)).unwrap();
    let mut edited = first.clone();
    edited["data"]["a"] = json!("9");
    let out = update(Some(&first), edited, "kubectl-edit", "v1", "t");
    let entries = read(&out);
    let apply_entry = entries.iter().find(|e| e.operation == "Apply").unwrap();
    let update_entry = entries.iter().find(|e| e.operation == "Update").unwrap();
    assert_eq!(apply_entry.fields.to_v1(), json!({"f:data": {"f:b": {}}}));
    assert_eq!(update_entry.manager, "kubectl-edit");
    assert_eq!(update_entry.fields.to_v1(), json!({"f:data": {"f:a": {}}}));
}

#[test]
fn lists_are_one_field() {
    let pod = |ports: Value| json!({"metadata": {"name": "p"}, "spec": {"ports": ports}});
    let first = apply(None, &req(&pod(json!([{"port": 1}])), "one", false)).unwrap();
    let conflicts = apply(
        Some(&first),
        &req(&pod(json!([{"port": 1}, {"port": 2}])), "two", false),
    )
    .unwrap_err();
    assert_eq!(fields::display(&conflicts[0].path), ".spec.ports");
}
