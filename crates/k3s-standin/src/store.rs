//! The Node registry behind the API, kept in memory and, for a server,
//! written to `<data-dir>/server/db/nodes.json` on every change so a
//! restarted server still knows its agents and labels applied through the
//! API (K3s keeps them in its datastore).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clock;
use crate::doc;
use crate::node::{self, Registration};

/// How long a node may go without a heartbeat before it turns Unknown
/// (the node lifecycle controller's default grace period).
pub const GRACE: Duration = Duration::from_secs(40);

#[derive(Debug)]
struct Entry {
    object: Value,
    last_heartbeat: Instant,
    /// The server's own node needs no heartbeat: it lives in this process.
    local: bool,
}

#[derive(Debug, Default)]
struct State {
    nodes: BTreeMap<String, Entry>,
    resource_version: u64,
    next_cidr: u8,
}

/// Thread-safe store of Node objects.
#[derive(Debug, Default)]
pub struct Store {
    state: Mutex<State>,
    file: Option<PathBuf>,
}

/// What nodes.json holds.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    resource_version: u64,
    next_cidr: u8,
    nodes: Vec<Value>,
}

impl Store {
    /// A store saved to `file`, starting from its content when present.
    /// Loaded nodes get a full grace period to send their next heartbeat.
    pub fn open(file: PathBuf) -> Result<Self, crate::Error> {
        let mut state = State::default();
        match std::fs::read(&file) {
            Ok(bytes) => {
                let saved: Saved =
                    serde_json::from_slice(&bytes).map_err(|e| crate::Error::Config {
                        path: file.clone(),
                        message: e.to_string(),
                    })?;
                state.resource_version = saved.resource_version;
                state.next_cidr = saved.next_cidr;
                for object in saved.nodes {
                    let name = doc::text(&object, &["metadata", "name"]).to_string();
                    let entry = Entry {
                        object,
                        last_heartbeat: Instant::now(),
                        local: false,
                    };
                    state.nodes.insert(name, entry);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::Error::io("read", file, e)),
        }
        Ok(Self {
            state: Mutex::new(state),
            file: Some(file),
        })
    }

    /// Registers a node; `local` marks the server's own. A node that exists
    /// keeps its identity, spec and the labels it has (a restarted kubelet
    /// adds its own labels but does not remove others), and gets fresh status.
    pub fn register(&self, reg: &Registration, local: bool) {
        let mut state = self.lock();
        let index = state.next_cidr;
        let mut object = node::build(reg, clock::now_unix(), index);
        if let Some(old) = state.nodes.get(&reg.name) {
            for path in [
                ["metadata", "uid"].as_slice(),
                &["metadata", "creationTimestamp"],
                &["spec"],
            ] {
                doc::set(&mut object, path, doc::at(&old.object, path).clone());
            }
            for map in ["labels", "annotations"] {
                let mut merged = doc::at(&old.object, &["metadata", map]).clone();
                merge_patch(&mut merged, doc::at(&object, &["metadata", map]));
                doc::set(&mut object, &["metadata", map], merged);
            }
        } else {
            state.next_cidr = state.next_cidr.wrapping_add(1);
        }
        state.resource_version += 1;
        doc::set(
            &mut object,
            &["metadata", "resourceVersion"],
            Value::String(state.resource_version.to_string()),
        );
        state.nodes.insert(
            reg.name.clone(),
            Entry {
                object,
                last_heartbeat: Instant::now(),
                local,
            },
        );
        self.save(&state);
    }

    /// Records a heartbeat; false when the node no longer exists (deleted
    /// nodes stay deleted, as with a real kubelet that is not restarted).
    pub fn heartbeat(&self, name: &str) -> bool {
        let mut state = self.lock();
        match state.nodes.get_mut(name) {
            Some(entry) => {
                entry.last_heartbeat = Instant::now();
                true
            }
            None => false,
        }
    }

    /// One node, with its Ready condition brought up to date.
    pub fn get(&self, name: &str) -> Option<Value> {
        let state = self.lock();
        state.nodes.get(name).map(current)
    }

    /// All nodes, in name order, and the list's resourceVersion.
    pub fn list(&self) -> (Vec<Value>, String) {
        let state = self.lock();
        let items = state.nodes.values().map(current).collect();
        (items, state.resource_version.to_string())
    }

    /// Applies `patch` as a JSON merge patch; identity fields are kept.
    pub fn patch(&self, name: &str, patch: &Value) -> Option<Value> {
        let mut state = self.lock();
        state.resource_version += 1;
        let version = state.resource_version.to_string();
        let entry = state.nodes.get_mut(name)?;
        let keep = entry.object.clone();
        merge_patch(&mut entry.object, patch);
        for field in ["apiVersion", "kind"] {
            doc::set(
                &mut entry.object,
                &[field],
                doc::at(&keep, &[field]).clone(),
            );
        }
        for field in ["name", "uid", "creationTimestamp"] {
            let value = doc::at(&keep, &["metadata", field]).clone();
            doc::set(&mut entry.object, &["metadata", field], value);
        }
        doc::set(
            &mut entry.object,
            &["metadata", "resourceVersion"],
            Value::String(version),
        );
        let patched = current(entry);
        self.save(&state);
        Some(patched)
    }

    /// The next resourceVersion: nodes and every other object share one
    /// counter, as they share etcd's revision in Kubernetes.
    pub fn next_version(&self) -> u64 {
        let mut state = self.lock();
        state.resource_version += 1;
        let version = state.resource_version;
        self.save(&state);
        version
    }

    /// Moves the counter to at least `version` (after loading other objects).
    pub fn raise_version(&self, version: u64) {
        let mut state = self.lock();
        if state.resource_version < version {
            state.resource_version = version;
            self.save(&state);
        }
    }

    /// The current resourceVersion.
    pub fn version(&self) -> u64 {
        self.lock().resource_version
    }

    /// Removes a node, returning it.
    pub fn delete(&self, name: &str) -> Option<Value> {
        let mut state = self.lock();
        let entry = state.nodes.remove(name)?;
        state.resource_version += 1;
        self.save(&state);
        Some(current(&entry))
    }

    /// Writes nodes.json (to a temporary file, then renamed, so a crash
    /// never leaves half a file). A failure is reported, not fatal: the API
    /// keeps serving from memory.
    fn save(&self, state: &State) {
        let Some(file) = &self.file else { return };
        let saved = Saved {
            resource_version: state.resource_version,
            next_cidr: state.next_cidr,
            nodes: state.nodes.values().map(|e| e.object.clone()).collect(),
        };
        let tmp = file.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(&saved)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                crate::paths::write_file(&tmp, &bytes, 0o600).map_err(|e| e.to_string())
            })
            .and_then(|()| std::fs::rename(&tmp, file).map_err(|e| e.to_string()));
        if let Err(e) = result {
            eprintln!("level=error msg=\"save {}: {e}\"", file.display());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a Node half-written in
        // a way later readers could not serve, so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn current(entry: &Entry) -> Value {
    let mut object = entry.object.clone();
    let fresh = entry.local || entry.last_heartbeat.elapsed() < GRACE;
    let ago = i64::try_from(entry.last_heartbeat.elapsed().as_secs()).unwrap_or(0);
    let now = clock::now_unix();
    let heartbeat = clock::rfc3339(if entry.local { now } else { now - ago });
    let transition = doc::at(&object, &["status", "conditions"])
        .get(0)
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let transition = if fresh { transition } else { heartbeat.clone() };
    doc::set(
        &mut object,
        &["status", "conditions"],
        Value::Array(vec![node::ready_condition(fresh, &heartbeat, &transition)]),
    );
    object
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
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

    fn reg(name: &str) -> Registration {
        Registration {
            name: name.into(),
            internal_ip: "10.0.0.2".into(),
            labels: BTreeMap::new(),
            taints: vec![],
            cpu: 2,
            memory_kib: 4_000_000,
            kernel_version: "6.1".into(),
        }
    }

    #[test]
    fn merge_patch_adds_replaces_and_removes() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(doc, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }

    #[test]
    fn patch_cannot_rename_and_bumps_the_resource_version() {
        let store = Store::default();
        store.register(&reg("n1"), false);
        let before = store.get("n1").unwrap();
        let after = store
            .patch(
                "n1",
                &json!({"metadata": {"name": "evil", "labels": {"k": "v"}}}),
            )
            .unwrap();
        assert_eq!(after["metadata"]["name"], "n1");
        assert_eq!(after["metadata"]["labels"]["k"], "v");
        assert_ne!(
            after["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"]
        );
    }

    #[test]
    fn a_node_without_heartbeats_for_the_grace_period_turns_unknown_and_recovers() {
        let store = Store::default();
        store.register(&reg("n1"), false);
        store.register(&reg("server"), true);
        let ready =
            |name: &str| store.get(name).unwrap()["status"]["conditions"][0]["status"].clone();
        assert_eq!(ready("n1"), "True");
        let past = Instant::now()
            .checked_sub(GRACE + Duration::from_secs(1))
            .unwrap();
        for entry in store.lock().nodes.values_mut() {
            entry.last_heartbeat = past;
        }
        assert_eq!(ready("n1"), "Unknown");
        assert_eq!(
            ready("server"),
            "True",
            "the server's own node needs no heartbeat"
        );
        assert!(store.heartbeat("n1"));
        assert_eq!(ready("n1"), "True");
    }

    #[test]
    fn deleted_nodes_do_not_come_back_by_heartbeat() {
        let store = Store::default();
        store.register(&reg("n1"), false);
        assert!(store.heartbeat("n1"));
        assert!(store.delete("n1").is_some());
        assert!(!store.heartbeat("n1"));
        assert!(store.get("n1").is_none());
    }
}
