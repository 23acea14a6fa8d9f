//! Field sets as `metadata.managedFields` records them (`FieldsV1`, the
//! `f:` notation). Lists are treated atomically: a list is one field, so
//! two managers cannot own different items of the same list.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A field: the keys from the object's root.
pub type Path = Vec<String>;

/// Metadata keys that identify an object or are set by the server; nobody
/// owns them.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// A set of leaf fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    /// Every leaf an object sets: scalars, lists and empty maps, leaving out
    /// `apiVersion`, `kind`, `status` and the server's metadata.
    pub fn of(object: &Value) -> Self {
        let mut set = BTreeSet::new();
        if let Value::Object(map) = object {
            for (key, value) in map {
                match key.as_str() {
                    "apiVersion" | "kind" | "status" => {}
                    "metadata" => {
                        if let Value::Object(meta) = value {
                            for (k, v) in meta {
                                if !SERVER_METADATA.contains(&k.as_str()) {
                                    leaves(v, vec!["metadata".into(), k.clone()], &mut set);
                                }
                            }
                        }
                    }
                    _ => leaves(value, vec![key.clone()], &mut set),
                }
            }
        }
        Self(set)
    }

    /// Reads a `fieldsV1` value. Keyed list entries (`k:`, `v:`, `i:`) written
    /// by a real API server make their list one atomic field here.
    pub fn from_v1(fields: &Value) -> Self {
        let mut set = BTreeSet::new();
        read_v1(fields, &mut Vec::new(), &mut set);
        Self(set)
    }

    /// Writes the set as `fieldsV1`.
    pub fn to_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            // A field that is a leaf and also has owned children gets ".".
            let parent = self
                .0
                .iter()
                .any(|p| p.len() > path.len() && p.starts_with(path));
            insert_v1(&mut root, path, parent);
        }
        Value::Object(root)
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Path> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes one field.
    pub fn remove(&mut self, path: &Path) {
        self.0.remove(path);
    }

    /// Adds one field.
    pub fn insert(&mut self, path: Path) {
        self.0.insert(path);
    }

    /// The fields equal to `path`, inside it, or containing it.
    pub fn overlapping<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a Path> {
        self.0
            .iter()
            .filter(move |p| p.starts_with(path) || path.starts_with(p))
    }
}

fn insert_v1(node: &mut Map<String, Value>, path: &[String], dot: bool) {
    let Some((first, rest)) = path.split_first() else {
        if dot {
            node.insert(".".into(), Value::Object(Map::new()));
        }
        return;
    };
    let child = node
        .entry(format!("f:{first}"))
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(map) = child {
        insert_v1(map, rest, dot);
    }
}

fn leaves(value: &Value, path: Path, set: &mut BTreeSet<Path>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let mut next = path.clone();
                next.push(key.clone());
                leaves(child, next, set);
            }
        }
        _ => {
            set.insert(path);
        }
    }
}

fn read_v1(node: &Value, path: &mut Path, set: &mut BTreeSet<Path>) {
    let Value::Object(map) = node else { return };
    if map.is_empty() && !path.is_empty() {
        set.insert(path.clone());
        return;
    }
    for (key, child) in map {
        if let Some(name) = key.strip_prefix("f:") {
            path.push(name.to_string());
            read_v1(child, path, set);
            path.pop();
        } else if !path.is_empty() {
            // "." (the field itself) or a list item key: the whole field.
            set.insert(path.clone());
        }
    }
}

/// The value at `path`, if any.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| v.get(key))
}

/// Removes the field at `path`, then any map left empty on the way up
/// (below the root's own sections).
pub fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let Some(Value::Object(parent)) = value_at_mut(object, parents) else {
        return;
    };
    parent.remove(last);
    let empty = parent.is_empty();
    if empty && parents.len() > 1 {
        remove_at(object, parents);
    }
}

fn value_at_mut<'a>(object: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(object, |v, key| v.get_mut(key))
}

/// `.spec.replicas`, as Kubernetes names a field in messages.
pub fn display(path: &[String]) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_skip_identity_and_status_and_keep_lists_atomic() {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "labels": {"app": "x"}, "annotations": {}},
            "data": {"k": "v"}, "spec": {"ports": [{"port": 1}]}, "status": {"phase": "x"},
        });
        let set = FieldSet::of(&object);
        let paths: Vec<String> = set.iter().map(|p| display(p)).collect();
        assert_eq!(
            paths,
            [
                ".data.k",
                ".metadata.annotations",
                ".metadata.labels.app",
                ".spec.ports"
            ]
        );
    }

    #[test]
    fn fields_v1_round_trips_in_the_f_notation() {
        let set = FieldSet::of(
            &json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 3, "x": []}}),
        );
        let v1 = set.to_v1();
        assert_eq!(
            v1,
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}, "f:x": {}}})
        );
        assert_eq!(FieldSet::from_v1(&v1), set);
    }

    #[test]
    fn keyed_list_entries_from_a_real_server_read_as_the_whole_list() {
        let set = FieldSet::from_v1(&json!({"f:spec": {"f:ports": {"k:{\"port\":1}": {".": {}}}}}));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [&vec!["spec".to_string(), "ports".to_string()]]
        );
    }

    #[test]
    fn remove_at_prunes_maps_left_empty() {
        let mut object = json!({"spec": {"a": {"b": 1}, "c": 2}});
        remove_at(&mut object, &["spec".into(), "a".into(), "b".into()]);
        assert_eq!(object, json!({"spec": {"c": 2}}));
    }
}
