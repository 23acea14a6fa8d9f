//! The sliver of the Kubernetes API that `kubectl get/label/delete node`
//! uses (and the empty pod lists `kubectl drain` reads), plus K3s's unauthenticated `/ping` and `/cacerts`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::doc;
use crate::join;
use crate::listener::Peer;
use crate::node::KUBELET_VERSION;
use crate::objects::ObjectStore;
use crate::select;
use crate::store::Store;
use crate::table;
use crate::watch;
use crate::{discovery, openapi, rest};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The nodes.
    pub store: Arc<Store>,
    /// Every other object.
    pub objects: Arc<ObjectStore>,
    /// `/cacerts`, byte for byte.
    pub server_ca_pem: Arc<str>,
    /// The join secret.
    pub secret: Arc<str>,
    /// `host:port` advertised in `/api`.
    pub advertise: Arc<str>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("advertise", &self.advertise)
            .finish_non_exhaustive()
    }
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/cacerts", get(cacerts))
        .merge(join::routes())
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/api/v1", get(api_resources))
        .route("/api/v1/nodes", get(list_nodes))
        .route("/api/v1/pods", get(list_pods))
        .route("/api/v1/namespaces/{namespace}/pods", get(list_pods))
        .route(
            "/api/v1/nodes/{name}",
            get(get_node).patch(patch_node).delete(delete_node),
        )
        .route("/openapi/v3", get(openapi::root))
        .route("/openapi/v3/api/v1", get(openapi::core))
        .route("/openapi/v3/apis/{group}/{version}", get(openapi::group))
        .merge(rest::routes())
        .fallback(|| async {
            status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            )
        })
        .layer(middleware::from_fn(authenticate))
        .with_state(state)
}

/// K3s runs kube-apiserver with anonymous auth off: only the bootstrap
/// endpoints answer without a client certificate (the join endpoints check
/// the token themselves).
async fn authenticate(peer: Option<Extension<Peer>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = path == "/ping" || path == "/cacerts" || path.starts_with(join::PREFIX);
    if open || peer.is_some_and(|Extension(p)| p == Peer::Admin) {
        next.run(request).await
    } else {
        status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }
}

async fn cacerts(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain")],
        state.server_ca_pem.to_string(),
    )
        .into_response()
}

/// A `metav1.Status` failure.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

fn not_found(name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("nodes \"{name}\" not found"),
    )
}

async fn version() -> Json<Value> {
    Json(json!({
        "major": "1", "minor": "34", "emulationMajor": "1", "emulationMinor": "34",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "33",
        "gitVersion": KUBELET_VERSION, "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-09-10T00:00:00Z", "goVersion": "go1.24.6",
        "compiler": "gc", "platform": "linux/amd64",
    }))
}

// Plain application/json here makes kubectl fall back from aggregated to
// legacy discovery, which needs far fewer documents.
async fn api_versions(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": &*state.advertise }],
    }))
}

async fn api_groups(State(state): State<AppState>) -> Json<Value> {
    Json(discovery::groups(&state.objects.kinds()))
}

async fn api_resources(State(state): State<AppState>) -> Json<Value> {
    let own = json!([{
            "name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
            "verbs": ["delete", "get", "list", "patch", "watch"], "shortNames": ["no"],
        }, {
            "name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
            "verbs": ["get", "list"], "shortNames": ["po"],
    }]);
    let own = own.as_array().cloned().unwrap_or_default();
    Json(discovery::resources(&state.objects.kinds(), "", "v1", own).unwrap_or(Value::Null))
}

pub(crate) fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept
                .split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
}

async fn list_nodes(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (items, resource_version) = state.store.list();
    let labels = match query
        .get("labelSelector")
        .map(|s| select::Selector::parse(s))
        .transpose()
    {
        Ok(selector) => selector,
        Err(message) => return status(StatusCode::BAD_REQUEST, "BadRequest", &message),
    };
    let name = match query
        .get("fieldSelector")
        .map(|s| select::name_field(s))
        .transpose()
    {
        Ok(name) => name.flatten(),
        Err(message) => return status(StatusCode::BAD_REQUEST, "BadRequest", &message),
    };
    let filter = move |n: &Value| {
        labels
            .as_ref()
            .is_none_or(|s| s.matches(doc::at(n, &["metadata", "labels"])))
            && name
                .as_ref()
                .is_none_or(|want| doc::text(n, &["metadata", "name"]) == want.as_str())
    };
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch::respond(watch::Watch {
            store: state.store.clone(),
            filter: Box::new(filter),
            since: query.get("resourceVersion").and_then(|v| v.parse().ok()),
            timeout: query.get("timeoutSeconds").and_then(|v| v.parse().ok()),
            as_table: wants_table(&headers),
            initial_events: query.get("sendInitialEvents").is_some_and(|v| v == "true"),
        });
    }
    let items: Vec<Value> = items.into_iter().filter(|n| filter(n)).collect();
    if wants_table(&headers) {
        return Json(table::nodes(
            &items,
            &resource_version,
            include_object(&query),
        ))
        .into_response();
    }
    Json(json!({
        "kind": "NodeList", "apiVersion": "v1",
        "metadata": { "resourceVersion": resource_version },
        "items": items,
    }))
    .into_response()
}

/// The stand-in runs no pods, so every list is empty (what `kubectl drain`
/// finds on a node with nothing to evict). Selectors cannot narrow an empty
/// list: `fieldSelector` and `labelSelector` are accepted and ignored.
async fn list_pods(State(state): State<AppState>) -> Json<Value> {
    let (_, resource_version) = state.store.list();
    Json(json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": { "resourceVersion": resource_version },
        "items": [],
    }))
}

pub(crate) fn include_object(query: &HashMap<String, String>) -> bool {
    query.get("includeObject").is_some_and(|v| v == "Object")
}

async fn get_node(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match state.store.get(&name) {
        Some(node) if wants_table(&headers) => {
            let version = doc::text(&node, &["metadata", "resourceVersion"]).to_string();
            Json(table::nodes(&[node], &version, include_object(&query))).into_response()
        }
        Some(node) => Json(node).into_response(),
        None => not_found(&name),
    }
}

async fn patch_node(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // For the map fields kubectl label/annotate touch, a strategic merge
    // patch means the same as a JSON merge patch.
    if !content_type.starts_with("application/merge-patch+json")
        && !content_type.starts_with("application/strategic-merge-patch+json")
    {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the stand-in applies merge and strategic-merge patches only, not {content_type:?}"
            ),
        );
    }
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(patch @ Value::Object(_)) => patch,
        Ok(_) | Err(_) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "the patch is not a JSON object",
            );
        }
    };
    match state.store.patch(&name, &patch) {
        Some(node) => Json(node).into_response(),
        None => not_found(&name),
    }
}

async fn delete_node(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.store.delete(&name) {
        Some(node) => Json(node).into_response(),
        None => not_found(&name),
    }
}
