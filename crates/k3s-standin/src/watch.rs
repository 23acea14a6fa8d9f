//! `?watch=true` on the node list: a stream of `{"type", "object"}` lines,
//! as kubectl (`get -w`, `wait`) and kube-rs watchers read them. Changes are
//! found by comparing the store every half second; a Ready flip counts as a
//! change even though the stored object did not move.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::doc;
use crate::store::Store;
use crate::table;

const POLL: Duration = Duration::from_millis(500);
/// kube-apiserver closes watches after 30 to 60 minutes; so does this.
const LONGEST: Duration = Duration::from_secs(3600);

/// Which nodes a watch reports, and how.
pub struct Watch {
    /// The nodes.
    pub store: Arc<Store>,
    /// Label and field selectors, applied to each object.
    pub filter: Box<dyn Fn(&Value) -> bool + Send + Sync>,
    /// Only changes after this resourceVersion (None or 0: everything).
    pub since: Option<u64>,
    /// `timeoutSeconds`.
    pub timeout: Option<u64>,
    /// Wrap each object in a one-row Table.
    pub as_table: bool,
    /// `sendInitialEvents=true` (watch-list, used by kubectl 1.3x): end the
    /// initial ADDED events with a bookmark saying so.
    pub initial_events: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

struct Cursor {
    watch: Watch,
    /// name -> (resourceVersion, Ready status, last object seen)
    seen: BTreeMap<String, (String, String, Value)>,
    pending: VecDeque<Bytes>,
    deadline: Instant,
    first: bool,
}

/// The streaming response.
pub fn respond(watch: Watch) -> Response {
    let timeout = watch
        .timeout
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let cursor = Cursor {
        watch,
        seen: BTreeMap::new(),
        pending: VecDeque::new(),
        deadline: Instant::now() + timeout.min(LONGEST),
        first: true,
    };
    let stream = futures_util::stream::unfold(cursor, |mut cursor| async move {
        loop {
            if let Some(line) = cursor.pending.pop_front() {
                return Some((Ok::<_, Infallible>(line), cursor));
            }
            if Instant::now() >= cursor.deadline {
                return None;
            }
            if !cursor.first {
                tokio::time::sleep_until((Instant::now() + POLL).min(cursor.deadline)).await;
            }
            cursor.compare();
            if cursor.first && cursor.watch.initial_events {
                cursor.bookmark();
            }
            cursor.first = false;
        }
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

impl Cursor {
    fn compare(&mut self) {
        let (items, _) = self.watch.store.list();
        let items: Vec<Value> = items
            .into_iter()
            .filter(|o| (self.watch.filter)(o))
            .collect();
        let mut now = BTreeMap::new();
        for object in items {
            let name = doc::text(&object, &["metadata", "name"]).to_string();
            let version = doc::text(&object, &["metadata", "resourceVersion"]).to_string();
            let ready = doc::at(&object, &["status", "conditions"])
                .get(0)
                .map(|c| doc::text(c, &["status"]).to_string())
                .unwrap_or_default();
            let kind = match self.seen.get(&name) {
                None if self.first && self.is_old(&version) => None,
                None => Some("ADDED"),
                Some((v, r, _)) if *v != version || *r != ready => Some("MODIFIED"),
                Some(_) => None,
            };
            if let Some(kind) = kind {
                self.emit(kind, &object);
            }
            now.insert(name, (version, ready, object));
        }
        let gone: Vec<Value> = self
            .seen
            .iter()
            .filter(|(name, _)| !now.contains_key(*name))
            .map(|(_, (_, _, object))| object.clone())
            .collect();
        for object in gone {
            self.emit("DELETED", &object);
        }
        self.seen = now;
    }

    fn is_old(&self, version: &str) -> bool {
        match (self.watch.since, version.parse::<u64>()) {
            (Some(since), Ok(v)) if since > 0 => v <= since,
            _ => false,
        }
    }

    fn bookmark(&mut self) {
        let (_, version) = self.watch.store.list();
        let object = json!({
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {
                "resourceVersion": version,
                "annotations": { "k8s.io/initial-events-end": "true" },
            },
        });
        let mut line = json!({ "type": "BOOKMARK", "object": object }).to_string();
        line.push('\n');
        self.pending.push_back(Bytes::from(line));
    }

    fn emit(&mut self, kind: &str, object: &Value) {
        let object = if self.watch.as_table {
            let version = doc::text(object, &["metadata", "resourceVersion"]).to_string();
            table::nodes(std::slice::from_ref(object), &version, true)
        } else {
            object.clone()
        };
        let mut line = json!({ "type": kind, "object": object }).to_string();
        line.push('\n');
        self.pending.push_back(Bytes::from(line));
    }
}
