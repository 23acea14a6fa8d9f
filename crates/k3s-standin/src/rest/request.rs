//! Reading a request: its body, the patch kinds, the field manager.

use axum::http::header;
use serde_json::Value;

use super::Call;
use crate::api::AppState;
use crate::doc;
use crate::objects::kinds::Kind;
use crate::objects::{ApiError, ApplyRequest, Write};

pub(super) fn patch(
    state: &AppState,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    call: &Call,
    manager: &str,
) -> Result<(Value, bool), ApiError> {
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    match media {
        "application/apply-patch+yaml" => {
            let Some(manager) = call.query.get("fieldManager").filter(|m| !m.is_empty()) else {
                return Err(ApiError::BadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into()));
            };
            let force = call.query.get("force").is_some_and(|f| f == "true");
            let body = parse_body(call)?;
            check_identity(kind, namespace, Some(name), &body)?;
            if body.get("apiVersion").is_none() || body.get("kind").is_none() {
                return Err(ApiError::BadRequest(
                    "apiVersion and kind must be set in an applied configuration".into(),
                ));
            }
            let now = crate::clock::rfc3339(crate::clock::now_unix());
            let api_version = kind.api_version();
            let request = ApplyRequest {
                applied: &body,
                manager,
                force,
                api_version: &api_version,
                now: &now,
            };
            state
                .objects
                .write(kind, namespace, name, Write::Apply(request))
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let patch: Value = serde_json::from_slice(&call.body)
                .map_err(|e| ApiError::BadRequest(format!("the patch is not JSON: {e}")))?;
            if !patch.is_object() {
                return Err(ApiError::BadRequest(
                    "the patch is not a JSON object".into(),
                ));
            }
            state
                .objects
                .write(kind, namespace, name, Write::Merge { patch, manager })
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the stand-in applies merge, strategic-merge (as merge) and apply patches, not {other:?}"
        ))),
    }
}

pub(super) fn refuse_dry_run(call: &Call) -> Result<(), ApiError> {
    if call.query.contains_key("dryRun") {
        return Err(ApiError::BadRequest(
            "dryRun is not supported by the stand-in".into(),
        ));
    }
    Ok(())
}

/// JSON, or YAML (what apply patches are; JSON is YAML too).
pub(super) fn parse_body(call: &Call) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(&call.body)
        .or_else(|_| serde_yaml_ng::from_slice(&call.body))
        .map_err(|e| ApiError::BadRequest(format!("the body is neither JSON nor YAML: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::BadRequest("the body is not an object".into()))
    }
}

/// The body names the same kind, namespace and object as the URL.
pub(super) fn check_identity(
    kind: &Kind,
    namespace: Option<&str>,
    name: Option<&str>,
    body: &Value,
) -> Result<(), ApiError> {
    let mismatch = |what: &str, sent: &str, want: &str| {
        ApiError::BadRequest(format!(
            "the {what} of the object ({sent}) does not match the {what} of the request ({want})"
        ))
    };
    let sent_kind = doc::text(body, &["kind"]);
    if !sent_kind.is_empty() && sent_kind != kind.kind {
        return Err(mismatch("kind", sent_kind, &kind.kind));
    }
    let sent_version = doc::text(body, &["apiVersion"]);
    if !sent_version.is_empty() && sent_version != kind.api_version() {
        return Err(mismatch("apiVersion", sent_version, &kind.api_version()));
    }
    let sent_ns = doc::text(body, &["metadata", "namespace"]);
    if let Some(ns) =
        namespace.filter(|ns| !sent_ns.is_empty() && kind.namespaced && sent_ns != *ns)
    {
        return Err(mismatch("namespace", sent_ns, ns));
    }
    let sent_name = doc::text(body, &["metadata", "name"]);
    if let Some(name) = name.filter(|name| !sent_name.is_empty() && sent_name != *name) {
        return Err(mismatch("name", sent_name, name));
    }
    Ok(())
}

/// `fieldManager`, else the client's name from its User-Agent, as
/// kube-apiserver does.
pub(super) fn manager(call: &Call) -> String {
    if let Some(m) = call.query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    call.headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}
