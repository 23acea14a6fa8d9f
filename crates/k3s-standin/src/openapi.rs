//! The least of `/openapi/v3` that `kubectl apply` needs: it asks whether
//! the server checks fields itself (the `fieldValidation` query parameter
//! on PATCH) and, if it cannot find out, validates on the client against
//! `/openapi/v2`, which the stand-in does not serve. Each served group
//! version gets a document with one PATCH operation per kind carrying that
//! parameter. No schemas are published: validation is the server's hook.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use crate::api::AppState;
use crate::objects::kinds::Kind;

/// `GET /openapi/v3`.
pub async fn root(State(state): State<AppState>) -> Json<Value> {
    let mut paths = Map::new();
    for kind in state.objects.kinds() {
        let key = if kind.group.is_empty() {
            "api/v1".to_string()
        } else {
            format!("apis/{}/{}", kind.group, kind.version)
        };
        let url = format!("/openapi/v3/{key}?hash=STANDIN");
        paths.insert(key, json!({ "serverRelativeURL": url }));
    }
    Json(json!({ "paths": paths }))
}

/// `GET /openapi/v3/api/v1`.
pub async fn core(State(state): State<AppState>) -> Json<Value> {
    Json(document(&state.objects.kinds(), "", "v1"))
}

/// `GET /openapi/v3/apis/{group}/{version}`.
pub async fn group(
    State(state): State<AppState>,
    Path((group, version)): Path<(String, String)>,
) -> Json<Value> {
    Json(document(&state.objects.kinds(), &group, &version))
}

fn document(kinds: &[Kind], group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for kind in kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        let prefix = if group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{group}/{version}")
        };
        let path = if kind.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", kind.plural)
        } else {
            format!("{prefix}/{}/{{name}}", kind.plural)
        };
        let operation = json!({ "patch": {
            "operationId": format!("patch{}", kind.kind),
            "x-kubernetes-group-version-kind": { "group": group, "version": version, "kind": kind.kind },
            "parameters": [{ "name": "fieldValidation", "in": "query", "schema": { "type": "string", "uniqueItems": true } }],
            "responses": {},
        }});
        paths.insert(path, operation);
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes (k3s STAND-IN)", "version": crate::node::KUBELET_VERSION },
        "paths": paths,
    })
}
