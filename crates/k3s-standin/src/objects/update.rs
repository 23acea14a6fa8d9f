//! How each kind of write turns the stored object into the new one, and
//! the identity fields the server keeps.

use serde_json::{Value, json};

use super::kinds::Kind;
use super::{ApiError, Write, managed};
use crate::doc;
use crate::store::merge_patch;

pub(super) fn compute(
    kind: &Kind,
    old: Option<&Value>,
    write: Write<'_>,
    now: &str,
) -> Result<Value, ApiError> {
    let api_version = kind.api_version();
    let missing = || ApiError::NotFound {
        resource: kind.qualified(),
        name: String::new(),
    };
    let keep_old_status = |new: &mut Value, old: &Value| match old.get("status") {
        Some(status) => doc::set(new, &["status"], status.clone()),
        None => {
            if let Value::Object(map) = new {
                map.remove("status");
            }
        }
    };
    match write {
        Write::Create {
            mut body,
            manager,
            keep_status,
        } => {
            if let Some(old) = old {
                let name = doc::text(old, &["metadata", "name"]).to_string();
                return Err(ApiError::AlreadyExists {
                    resource: kind.qualified(),
                    name,
                });
            }
            let status = body.get("status").cloned();
            managed::strip_server_fields(&mut body);
            if let (true, Some(status)) = (keep_status, status) {
                doc::set(&mut body, &["status"], status);
            }
            Ok(managed::update(None, body, manager, &api_version, now))
        }
        Write::Replace { mut body, manager } => {
            let old = old.ok_or_else(missing)?;
            let sent = doc::text(&body, &["metadata", "resourceVersion"]);
            if !sent.is_empty() && sent != doc::text(old, &["metadata", "resourceVersion"]) {
                let name = doc::text(old, &["metadata", "name"]).to_string();
                return Err(ApiError::StaleVersion {
                    resource: kind.qualified(),
                    name,
                });
            }
            managed::strip_server_fields(&mut body);
            keep_old_status(&mut body, old);
            copy_server_metadata(&mut body, old);
            Ok(managed::update(Some(old), body, manager, &api_version, now))
        }
        Write::Merge { mut patch, manager } => {
            let old = old.ok_or_else(missing)?;
            managed::strip_server_fields(&mut patch);
            let mut new = old.clone();
            merge_patch(&mut new, &patch);
            keep_old_status(&mut new, old);
            Ok(managed::update(Some(old), new, manager, &api_version, now))
        }
        Write::Apply(req) => {
            let mut new = managed::apply(old, &req).map_err(ApiError::ApplyConflict)?;
            match old {
                Some(old) => keep_old_status(&mut new, old),
                None => {
                    if let Value::Object(map) = &mut new {
                        map.remove("status");
                    }
                }
            }
            Ok(new)
        }
        Write::Status(status) => {
            let mut new = old.ok_or_else(missing)?.clone();
            doc::set(&mut new, &["status"], status);
            Ok(new)
        }
    }
}

fn copy_server_metadata(new: &mut Value, old: &Value) {
    for field in [
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
    ] {
        let value = doc::at(old, &["metadata", field]);
        if !value.is_null() {
            doc::set(new, &["metadata", field], value.clone());
        }
    }
}

/// uid, creationTimestamp, generation and resourceVersion of a stored write.
pub(super) fn finish_identity(new: &mut Value, old: Option<&Value>, now: &str, version: u64) {
    let generation = match old {
        None => 1,
        Some(old) => {
            let generation = doc::at(old, &["metadata", "generation"])
                .as_u64()
                .unwrap_or(1);
            if without_meta_and_status(old) == without_meta_and_status(new) {
                generation
            } else {
                generation + 1
            }
        }
    };
    let uid = old.map_or_else(crate::node::new_uid, |o| {
        doc::text(o, &["metadata", "uid"]).to_string()
    });
    let created = old.map_or_else(
        || now.to_string(),
        |o| doc::text(o, &["metadata", "creationTimestamp"]).to_string(),
    );
    doc::set(new, &["metadata", "uid"], json!(uid));
    doc::set(new, &["metadata", "creationTimestamp"], json!(created));
    doc::set(new, &["metadata", "generation"], json!(generation));
    doc::set(
        new,
        &["metadata", "resourceVersion"],
        json!(version.to_string()),
    );
}

fn without_meta_and_status(object: &Value) -> Value {
    let mut object = object.clone();
    if let Value::Object(map) = &mut object {
        map.remove("metadata");
        map.remove("status");
    }
    object
}
