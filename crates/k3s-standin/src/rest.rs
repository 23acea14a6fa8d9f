//! The generic verbs over [`crate::objects`]: get, list, create (POST),
//! replace (PUT), patch (merge, strategic merge as merge, and server-side
//! apply) and delete, on core (`/api/v1/...`) and group (`/apis/...`) URLs.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use crate::api::{AppState, include_object, status, wants_table};
use crate::discovery;
use crate::doc;
use crate::objects::kinds::Kind;
use crate::objects::{ApiError, Write};
use crate::select::Selector;
use crate::table;

mod request;
use request::{check_identity, manager, parse_body, patch, refuse_dry_run};

type Params = HashMap<String, String>;

/// The routes (more specific node and pod routes are added elsewhere).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/namespaces", any(namespaces))
        .route("/api/v1/namespaces/{namespace}", any(namespace))
        .route("/api/v1/{plural}", any(dispatch))
        .route("/api/v1/{plural}/{name}", any(dispatch))
        .route("/api/v1/namespaces/{namespace}/{plural}", any(dispatch))
        .route(
            "/api/v1/namespaces/{namespace}/{plural}/{name}",
            any(dispatch),
        )
        .route("/apis/{group}", get(api_group))
        .route("/apis/{group}/{version}", get(group_resources))
        .route("/apis/{group}/{version}/{plural}", any(dispatch))
        .route("/apis/{group}/{version}/{plural}/{name}", any(dispatch))
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}",
            any(dispatch),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
            any(dispatch),
        )
}

/// A request's method, query, headers and body.
struct Call {
    method: Method,
    query: Params,
    headers: HeaderMap,
    body: Bytes,
}

async fn namespaces(
    State(s): State<AppState>,
    method: Method,
    Query(q): Query<Params>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::from([("plural".to_string(), "namespaces".to_string())]);
    handle(
        &s,
        params,
        Call {
            method,
            query: q,
            headers: h,
            body,
        },
    )
}

async fn namespace(
    State(s): State<AppState>,
    method: Method,
    Path(mut p): Path<Params>,
    Query(q): Query<Params>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let name = p.remove("namespace").unwrap_or_default();
    let params = Params::from([
        ("plural".to_string(), "namespaces".to_string()),
        ("name".to_string(), name),
    ]);
    handle(
        &s,
        params,
        Call {
            method,
            query: q,
            headers: h,
            body,
        },
    )
}

async fn dispatch(
    State(s): State<AppState>,
    method: Method,
    Path(p): Path<Params>,
    Query(q): Query<Params>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &s,
        p,
        Call {
            method,
            query: q,
            headers: h,
            body,
        },
    )
}

async fn api_group(State(s): State<AppState>, Path(group): Path<String>) -> Response {
    match discovery::group(&s.objects.kinds(), &group) {
        Some(body) => axum::Json(body).into_response(),
        None => failure(&ApiError::NoSuchResource),
    }
}

async fn group_resources(
    State(s): State<AppState>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    match discovery::resources(&s.objects.kinds(), &group, &version, Vec::new()) {
        Some(body) => axum::Json(body).into_response(),
        None => failure(&ApiError::NoSuchResource),
    }
}

/// A `Status` for an [`ApiError`].
pub fn failure(error: &ApiError) -> Response {
    let (code, reason) = error.code_and_reason();
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match error.details() {
        None => status(code, reason, &error.to_string()),
        Some(details) => {
            let body = json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": error.to_string(), "reason": reason, "details": details, "code": code.as_u16(),
            });
            (code, axum::Json(body)).into_response()
        }
    }
}

fn handle(state: &AppState, params: Params, call: Call) -> Response {
    let group = params.get("group").map_or("", String::as_str);
    let version = params.get("version").map_or("v1", String::as_str);
    let plural = params.get("plural").map_or("", String::as_str);
    let kind = match state.objects.resolve(group, version, plural) {
        Ok(kind) => kind,
        Err(e) => return failure(&e),
    };
    let namespace = params.get("namespace").map(String::as_str);
    if namespace.is_some() && !kind.namespaced {
        return failure(&ApiError::NoSuchResource);
    }
    let result = match params.get("name") {
        None => collection(state, &kind, namespace, &call),
        Some(name) => item(state, &kind, namespace, name, &call),
    };
    result.unwrap_or_else(|e| failure(&e))
}

fn collection(
    state: &AppState,
    kind: &Kind,
    namespace: Option<&str>,
    call: &Call,
) -> Result<Response, ApiError> {
    match call.method {
        Method::GET => {
            if call
                .query
                .get("watch")
                .is_some_and(|w| w == "true" || w == "1")
            {
                return Err(ApiError::MethodNotAllowed);
            }
            let selector = call
                .query
                .get("labelSelector")
                .map(|s| Selector::parse(s))
                .transpose()
                .map_err(ApiError::BadRequest)?;
            let (items, version) = state.objects.list(kind, namespace);
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| {
                    selector
                        .as_ref()
                        .is_none_or(|s| s.matches(doc::at(o, &["metadata", "labels"])))
                })
                .collect();
            if wants_table(&call.headers) {
                return Ok(axum::Json(table::objects(
                    &items,
                    &version,
                    include_object(&call.query),
                ))
                .into_response());
            }
            let list = json!({
                "kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(),
                "metadata": { "resourceVersion": version }, "items": items,
            });
            Ok(axum::Json(list).into_response())
        }
        Method::POST => {
            refuse_dry_run(call)?;
            let body = parse_body(call)?;
            check_identity(kind, namespace, None, &body)?;
            let name = doc::text(&body, &["metadata", "name"]).to_string();
            if name.is_empty() {
                return Err(ApiError::Invalid {
                    kind: kind.kind.clone(),
                    group: kind.group.clone(),
                    name,
                    message: "metadata.name: Required value: name or generateName is required (the stand-in supports name only)".into(),
                });
            }
            let manager = manager(call);
            let (object, _) = state.objects.write(
                kind,
                namespace,
                &name,
                Write::Create {
                    body,
                    manager: &manager,
                    keep_status: false,
                },
            )?;
            Ok((StatusCode::CREATED, axum::Json(object)).into_response())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn item(
    state: &AppState,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    call: &Call,
) -> Result<Response, ApiError> {
    let manager = manager(call);
    let (object, created) = match call.method {
        Method::GET => {
            let object = state.objects.get(kind, namespace, name)?;
            if wants_table(&call.headers) {
                let version = doc::text(&object, &["metadata", "resourceVersion"]).to_string();
                return Ok(axum::Json(table::objects(
                    &[object],
                    &version,
                    include_object(&call.query),
                ))
                .into_response());
            }
            (object, false)
        }
        Method::DELETE => (state.objects.delete(kind, namespace, name)?, false),
        Method::PUT => {
            refuse_dry_run(call)?;
            let body = parse_body(call)?;
            check_identity(kind, namespace, Some(name), &body)?;
            state.objects.write(
                kind,
                namespace,
                name,
                Write::Replace {
                    body,
                    manager: &manager,
                },
            )?
        }
        Method::PATCH => {
            refuse_dry_run(call)?;
            patch(state, kind, namespace, name, call, &manager)?
        }
        _ => return Err(ApiError::MethodNotAllowed),
    };
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, axum::Json(object)).into_response())
}
