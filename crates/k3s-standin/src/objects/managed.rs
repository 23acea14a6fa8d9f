//! Who owns which field: the `metadata.managedFields` bookkeeping of
//! server-side apply (operation `Apply`) and of every other write
//! (operation `Update`). Lists are atomic (see [`super::fields`]).

use serde_json::{Map, Value, json};

use super::fields::{self, FieldSet, Path};
use crate::store::merge_patch;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the manager wrote with.
    pub api_version: String,
    /// When the set last changed.
    pub time: String,
    /// The fields it owns.
    pub fields: FieldSet,
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Its owner.
    pub manager: String,
    /// The apiVersion the owner used.
    pub api_version: String,
    /// The field.
    pub path: Path,
}

impl Conflict {
    /// The message kube-apiserver uses.
    pub fn message(&self) -> String {
        format!(
            "conflict with \"{}\" using {}",
            self.manager, self.api_version
        )
    }
}

/// The entries stored in an object.
pub fn read(object: &Value) -> Vec<Entry> {
    let Some(list) = object
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| Entry {
            manager: text(e, "manager"),
            operation: text(e, "operation"),
            api_version: text(e, "apiVersion"),
            time: text(e, "time"),
            fields: FieldSet::from_v1(e.get("fieldsV1").unwrap_or(&Value::Null)),
        })
        .collect()
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Stores `entries` in `object` (entries owning nothing are dropped).
pub fn write(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": e.fields.to_v1(),
            })
        })
        .collect();
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// What an apply request asks for.
#[derive(Debug)]
pub struct ApplyRequest<'a> {
    /// The applied configuration.
    pub applied: &'a Value,
    /// `fieldManager`.
    pub manager: &'a str,
    /// `force=true`: take conflicting fields over.
    pub force: bool,
    /// The apiVersion of the request.
    pub api_version: &'a str,
    /// Now, RFC 3339.
    pub now: &'a str,
}

/// Server-side apply onto `old` (None: the object is created). Fields the
/// manager applied before and omits now are removed unless someone else
/// owns them; with `force`, conflicting fields change owner.
pub fn apply(old: Option<&Value>, req: &ApplyRequest<'_>) -> Result<Value, Vec<Conflict>> {
    let mut result = old.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let mut entries = old.map(read).unwrap_or_default();
    let applied_set = FieldSet::of(req.applied);
    let is_mine = |e: &Entry| e.manager == req.manager && e.operation == "Apply";

    let mut conflicts = Vec::new();
    for entry in entries.iter().filter(|e| !is_mine(e)) {
        for path in applied_set.iter() {
            for owned in entry.fields.overlapping(path) {
                let shorter = if owned.len() < path.len() {
                    owned
                } else {
                    path
                };
                if fields::value_at(&result, shorter) != fields::value_at(req.applied, shorter) {
                    conflicts.push(Conflict {
                        manager: entry.manager.clone(),
                        api_version: entry.api_version.clone(),
                        path: owned.clone(),
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() {
        if !req.force {
            conflicts.sort_by(|a, b| a.path.cmp(&b.path));
            conflicts.dedup();
            return Err(conflicts);
        }
        for conflict in &conflicts {
            for entry in entries.iter_mut().filter(|e| e.manager == conflict.manager) {
                entry.fields.remove(&conflict.path);
            }
        }
    }

    let previous = entries
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for path in previous.iter() {
        let still_applied = applied_set.overlapping(path).next().is_some();
        let owned_by_others = entries
            .iter()
            .filter(|e| !is_mine(e))
            .any(|e| e.fields.overlapping(path).next().is_some());
        if !still_applied && !owned_by_others {
            fields::remove_at(&mut result, path);
        }
    }
    let mut body = req.applied.clone();
    strip_server_fields(&mut body);
    merge_patch(&mut result, &body);

    match entries.iter_mut().find(|e| is_mine(e)) {
        Some(entry) => {
            if entry.fields != applied_set || entry.api_version != req.api_version {
                entry.fields = applied_set;
                entry.api_version = req.api_version.to_string();
                entry.time = req.now.to_string();
            }
        }
        None => entries.push(Entry {
            manager: req.manager.to_string(),
            operation: "Apply".into(),
            api_version: req.api_version.to_string(),
            time: req.now.to_string(),
            fields: applied_set,
        }),
    }
    write(&mut result, &entries);
    Ok(result)
}

/// Records a non-apply write (create, replace, merge patch): the manager
/// takes every field whose value it changed, from whoever owned it; fields
/// that no longer exist are owned by nobody.
pub fn update(
    old: Option<&Value>,
    mut new: Value,
    manager: &str,
    api_version: &str,
    now: &str,
) -> Value {
    let mut entries = old.map(read).unwrap_or_default();
    let new_set = FieldSet::of(&new);
    let changed: Vec<Path> = new_set
        .iter()
        .filter(|p| old.and_then(|o| fields::value_at(o, p)) != fields::value_at(&new, p))
        .cloned()
        .collect();
    for entry in &mut entries {
        let stale: Vec<Path> = entry
            .fields
            .iter()
            .filter(|p| {
                fields::value_at(&new, p).is_none()
                    || changed.iter().any(|c| c.starts_with(p) || p.starts_with(c))
            })
            .cloned()
            .collect();
        for path in stale {
            entry.fields.remove(&path);
        }
    }
    if !changed.is_empty() {
        let index = entries
            .iter()
            .position(|e| e.manager == manager && e.operation == "Update");
        let i = match index {
            Some(i) => i,
            None => {
                entries.push(Entry {
                    manager: manager.to_string(),
                    operation: "Update".into(),
                    api_version: api_version.to_string(),
                    time: String::new(),
                    fields: FieldSet::default(),
                });
                entries.len() - 1
            }
        };
        if let Some(entry) = entries.get_mut(i) {
            for path in changed {
                entry.fields.insert(path);
            }
            entry.time = now.to_string();
            entry.api_version = api_version.to_string();
        }
    }
    write(&mut new, &entries);
    new
}

/// Removes what a client may not set through apply: the server's metadata
/// and `status` (written only by controllers here).
pub fn strip_server_fields(body: &mut Value) {
    if let Value::Object(map) = body {
        map.remove("status");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for key in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                meta.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
