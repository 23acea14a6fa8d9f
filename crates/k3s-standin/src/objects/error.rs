//! Failures of API requests, each one a Kubernetes `Status` reason.

use super::managed::Conflict;

/// Why a request on an object failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 NotFound.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// Qualified resource (`kafkas.kafka.strimzi.io`).
        resource: String,
        /// The object's name.
        name: String,
    },
    /// 404 for a URL no resource type answers to.
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    /// 409 AlreadyExists.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// Qualified resource.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// 409 Conflict from server-side apply.
    #[error("Apply failed with {} conflict{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, conflict_list(.0))]
    ApplyConflict(Vec<Conflict>),
    /// 409 Conflict from a stale resourceVersion.
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    StaleVersion {
        /// Qualified resource.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// 422 Invalid.
    #[error("{kind}.{group} \"{name}\" is invalid: {message}")]
    Invalid {
        /// Kind.
        kind: String,
        /// Group.
        group: String,
        /// The object's name.
        name: String,
        /// `field: what is wrong`.
        message: String,
    },
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 415 UnsupportedMediaType.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 405 MethodNotAllowed.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
}

fn conflict_list(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("{}: {}", c.message(), super::fields::display(&c.path)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ApiError {
    /// The HTTP code and `reason`.
    pub fn code_and_reason(&self) -> (u16, &'static str) {
        match self {
            Self::NotFound { .. } | Self::NoSuchResource => (404, "NotFound"),
            Self::AlreadyExists { .. } => (409, "AlreadyExists"),
            Self::ApplyConflict(_) | Self::StaleVersion { .. } => (409, "Conflict"),
            Self::Invalid { .. } => (422, "Invalid"),
            Self::BadRequest(_) => (400, "BadRequest"),
            Self::UnsupportedMediaType(_) => (415, "UnsupportedMediaType"),
            Self::MethodNotAllowed => (405, "MethodNotAllowed"),
        }
    }

    /// `details`, when Kubernetes sends them.
    pub fn details(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        match self {
            Self::NotFound { resource, name } | Self::AlreadyExists { resource, name } => {
                let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
                Some(json!({"name": name, "group": group, "kind": kind}))
            }
            Self::ApplyConflict(conflicts) => {
                Some(json!({"causes": conflicts.iter().map(|c| json!({
                "type": "FieldManagerConflict", "message": c.message(), "field": super::fields::display(&c.path),
            })).collect::<Vec<_>>()}))
            }
            Self::Invalid {
                kind,
                group,
                name,
                message,
            } => {
                let field = message.split_once(':').map_or("", |(f, _)| f);
                Some(
                    json!({"name": name, "group": group, "kind": kind, "causes": [{
                        "type": "FieldValueInvalid", "message": message, "field": field,
                    }]}),
                )
            }
            _ => None,
        }
    }
}
