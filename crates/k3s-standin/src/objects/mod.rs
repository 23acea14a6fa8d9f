//! A generic object store for every kind but nodes and pods: built-in kinds
//! and custom resources of registered CRDs, namespaced or cluster-scoped,
//! with uid, creationTimestamp, generation, a resourceVersion from the same
//! counter as the nodes, managedFields, and the validation hook. Persisted
//! to `<data-dir>/server/db/objects.json` on every change.

pub mod error;
pub mod fields;
pub mod kinds;
pub mod managed;
mod persist;
mod update;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use error::ApiError;
use kinds::Kind;
pub use managed::ApplyRequest;
use validate::{AcceptAll, CrdSchemas, Validator};

use crate::clock;
use crate::doc;
use crate::store::Store;
use update::{compute, finish_identity};

/// (group, plural, namespace or "", name)
type Key = (String, String, String, String);

/// A write to one object.
#[derive(Debug)]
pub enum Write<'a> {
    /// POST: the object must not exist. `keep_status` is for the simulated
    /// controllers, which create objects with their status.
    Create {
        /// The object.
        body: Value,
        /// `fieldManager`.
        manager: &'a str,
        /// Keep the body's `status`.
        keep_status: bool,
    },
    /// PUT: the object must exist; a stale `resourceVersion` is a conflict.
    Replace {
        /// The object.
        body: Value,
        /// `fieldManager`.
        manager: &'a str,
    },
    /// A JSON merge patch (strategic merge patches are applied the same way).
    Merge {
        /// The patch.
        patch: Value,
        /// `fieldManager`.
        manager: &'a str,
    },
    /// Server-side apply.
    Apply(ApplyRequest<'a>),
    /// A controller's status write.
    Status(Value),
}

/// The store.
pub struct ObjectStore {
    state: Mutex<BTreeMap<Key, Value>>,
    kinds: Mutex<Vec<Kind>>,
    nodes: Arc<Store>,
    file: Option<PathBuf>,
    crd_schemas: CrdSchemas,
    hook: Arc<dyn Validator>,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// A store saved to `file` (when given), starting from its content, with
    /// the namespaces every cluster has; resourceVersions come from `nodes`.
    pub fn open(file: Option<PathBuf>, nodes: Arc<Store>) -> Result<Self, crate::Error> {
        let objects = match &file {
            Some(path) => persist::load(path)?,
            None => BTreeMap::new(),
        };
        let newest = objects
            .values()
            .filter_map(|o| {
                doc::text(o, &["metadata", "resourceVersion"])
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        nodes.raise_version(newest);
        let store = Self {
            state: Mutex::new(objects),
            kinds: Mutex::new(Vec::new()),
            nodes,
            file,
            crd_schemas: CrdSchemas::default(),
            hook: Arc::new(AcceptAll),
        };
        store.refresh_kinds(&store.lock());
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            store
                .ensure(namespace, "k3s")
                .map_err(|e| crate::Error::Usage(e.to_string()))?;
        }
        Ok(store)
    }

    /// Replaces the validation hook (the default accepts everything).
    #[must_use]
    pub fn with_validator(mut self, hook: Arc<dyn Validator>) -> Self {
        self.hook = hook;
        self
    }

    /// Every kind served now.
    pub fn kinds(&self) -> Vec<Kind> {
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The kind a URL names.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Result<Kind, ApiError> {
        self.kinds()
            .into_iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
            .ok_or(ApiError::NoSuchResource)
    }

    /// The kind of an object, from its apiVersion and kind.
    pub fn kind_of(&self, object: &Value) -> Result<Kind, ApiError> {
        let api_version = doc::text(object, &["apiVersion"]);
        let kind = doc::text(object, &["kind"]);
        self.kinds()
            .into_iter()
            .find(|k| k.api_version() == api_version && k.kind == kind)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("no kind {kind:?} in {api_version:?} is registered"))
            })
    }

    /// One object.
    pub fn get(&self, kind: &Kind, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let state = self.lock();
        state
            .get(&key(kind, namespace, name))
            .map(|o| as_version(o, kind))
            .ok_or_else(|| not_found(kind, name))
    }

    /// Objects of a kind, in one namespace or all, and the list's resourceVersion.
    pub fn list(&self, kind: &Kind, namespace: Option<&str>) -> (Vec<Value>, String) {
        let state = self.lock();
        let items = state
            .iter()
            .filter(|((g, p, ns, _), _)| {
                *g == kind.group && *p == kind.plural && namespace.is_none_or(|n| n == ns)
            })
            .map(|(_, o)| as_version(o, kind))
            .collect();
        (items, self.nodes.version().to_string())
    }

    /// Creates the object unless one of that name exists; returns the stored one.
    pub fn ensure(&self, object: Value, manager: &str) -> Result<Value, ApiError> {
        let kind = self.kind_of(&object)?;
        let namespace = doc::text(&object, &["metadata", "namespace"]).to_string();
        let namespace = kind.namespaced.then_some(namespace.as_str());
        let name = doc::text(&object, &["metadata", "name"]).to_string();
        if let Ok(existing) = self.get(&kind, namespace, &name) {
            return Ok(existing);
        }
        let write = Write::Create {
            body: object,
            manager,
            keep_status: true,
        };
        self.write(&kind, namespace, &name, write).map(|(o, _)| o)
    }

    /// Applies a write; returns the stored object and whether it was created.
    /// A write that changes nothing stores nothing (same resourceVersion).
    pub fn write(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        write: Write<'_>,
    ) -> Result<(Value, bool), ApiError> {
        let mut state = self.lock();
        if kind.namespaced {
            let ns =
                namespace.ok_or_else(|| ApiError::BadRequest("a namespace is required".into()))?;
            if !state.contains_key(&(String::new(), "namespaces".into(), String::new(), ns.into()))
            {
                return Err(ApiError::NotFound {
                    resource: "namespaces".into(),
                    name: ns.into(),
                });
            }
        }
        let key = key(kind, namespace, name);
        let old = state.get(&key);
        let now = clock::rfc3339(clock::now_unix());
        let mut new = compute(kind, old, write, &now).map_err(|e| match e {
            ApiError::NotFound { resource, .. } => ApiError::NotFound {
                resource,
                name: name.to_string(),
            },
            other => other,
        })?;
        for (field, value) in [
            ("apiVersion", kind.api_version()),
            ("kind", kind.kind.clone()),
        ] {
            doc::set(&mut new, &[field], Value::String(value));
        }
        doc::set(&mut new, &["metadata", "name"], json!(name));
        match namespace.filter(|_| kind.namespaced) {
            Some(ns) => doc::set(&mut new, &["metadata", "namespace"], json!(ns)),
            None => {
                if let Some(Value::Object(meta)) = new.get_mut("metadata") {
                    meta.remove("namespace");
                }
            }
        }
        if kind.is_crd() && doc::at(&new, &["status"]).is_null() {
            let status = kinds::crd_status(&new, &now);
            doc::set(&mut new, &["status"], status);
        }
        if kind.group.is_empty() && kind.kind == "Namespace" && doc::at(&new, &["status"]).is_null()
        {
            doc::set(&mut new, &["status"], json!({"phase": "Active"}));
        }
        let old_stored = old.map(|o| as_version(o, kind));
        if old_stored.as_ref() == Some(&new) {
            return Ok((new, false));
        }
        self.validate(kind, &new, name)?;
        finish_identity(&mut new, old, &now, self.nodes.next_version());
        let created = old.is_none();
        state.insert(key, new.clone());
        if kind.is_crd() {
            self.refresh_kinds(&state);
        }
        self.save(&state);
        Ok((new, created))
    }

    /// Deletes an object (a Namespace takes its objects along, a CRD its
    /// custom resources); returns it.
    pub fn delete(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let mut state = self.lock();
        let object = state
            .remove(&key(kind, namespace, name))
            .ok_or_else(|| not_found(kind, name))?;
        if kind.group.is_empty() && kind.plural == "namespaces" {
            state.retain(|(_, _, ns, _), _| ns != name);
        }
        if kind.is_crd() {
            let group = doc::text(&object, &["spec", "group"]).to_string();
            let plural = doc::text(&object, &["spec", "names", "plural"]).to_string();
            state.retain(|(g, p, _, _), _| !(*g == group && *p == plural));
            self.refresh_kinds(&state);
        }
        self.nodes.next_version();
        self.save(&state);
        Ok(as_version(&object, kind))
    }

    fn validate(&self, kind: &Kind, object: &Value, name: &str) -> Result<(), ApiError> {
        let invalid = |message: String| ApiError::Invalid {
            kind: kind.kind.clone(),
            group: kind.group.clone(),
            name: name.to_string(),
            message,
        };
        if kind.is_crd() {
            kinds::from_crd(object).map_err(invalid)?;
        }
        self.crd_schemas.validate(object).map_err(invalid)?;
        self.hook.validate(object).map_err(invalid)
    }

    fn refresh_kinds(&self, state: &BTreeMap<Key, Value>) {
        let crds: Vec<&Value> = state
            .iter()
            .filter(|((g, p, _, _), _)| g == kinds::CRD_GROUP && p == "customresourcedefinitions")
            .map(|(_, o)| o)
            .collect();
        let mut all = kinds::builtins();
        for crd in &crds {
            all.extend(
                kinds::from_crd(crd)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, _)| k),
            );
        }
        self.crd_schemas.rebuild(crds.into_iter());
        *self
            .kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = all;
    }

    fn save(&self, state: &BTreeMap<Key, Value>) {
        if let Some(file) = &self.file {
            persist::save(file, state);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Value>> {
        // Every write replaces whole objects, so a poisoned lock still holds
        // consistent data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key(kind: &Kind, namespace: Option<&str>, name: &str) -> Key {
    let ns = if kind.namespaced {
        namespace.unwrap_or_default()
    } else {
        ""
    };
    (
        kind.group.clone(),
        kind.plural.clone(),
        ns.to_string(),
        name.to_string(),
    )
}

fn not_found(kind: &Kind, name: &str) -> ApiError {
    ApiError::NotFound {
        resource: kind.qualified(),
        name: name.to_string(),
    }
}

/// The stored object as the requested version shows it (the stand-in does
/// no conversion between versions: only apiVersion changes).
fn as_version(object: &Value, kind: &Kind) -> Value {
    let mut object = object.clone();
    doc::set(
        &mut object,
        &["apiVersion"],
        Value::String(kind.api_version()),
    );
    object
}

#[cfg(test)]
mod tests;
