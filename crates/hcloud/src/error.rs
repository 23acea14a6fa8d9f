//! Errors: transport, API error bodies, decoding, and failed actions are
//! kept apart so callers can tell what is worth retrying.

use std::time::Duration;

use crate::models::{ActionError, Id};

crate::string_enum!(
    /// Error codes from the API (`error.code`).
    ErrorCode {
        /// Invalid JSON.
        JsonError = "json_error",
        /// Bad or missing token.
        Unauthorized = "unauthorized",
        /// Read-only token.
        TokenReadonly = "token_readonly",
        /// Not permitted.
        Forbidden = "forbidden",
        /// Maintenance.
        Maintenance = "maintenance",
        /// Account limit reached.
        ResourceLimitExceeded = "resource_limit_exceeded",
        /// No such resource.
        NotFound = "not_found",
        /// Method not allowed.
        MethodNotAllowed = "method_not_allowed",
        /// A unique field is taken.
        UniquenessError = "uniqueness_error",
        /// Concurrent change; retry.
        Conflict = "conflict",
        /// Endpoint removed.
        DeprecatedApiEndpoint = "deprecated_api_endpoint",
        /// Not available for order.
        ResourceUnavailable = "resource_unavailable",
        /// Bad input; see details.fields.
        InvalidInput = "invalid_input",
        /// Service error.
        ServiceError = "service_error",
        /// Action not supported.
        UnsupportedError = "unsupported_error",
        /// An action is running on the resource.
        Locked = "locked",
        /// Protected against this action.
        Protected = "protected",
        /// Rate limit hit.
        RateLimitExceeded = "rate_limit_exceeded",
        /// Backend error.
        ServerError = "server_error",
        /// Backend unreachable; retry.
        BadGateway = "bad_gateway",
        /// Unavailable.
        Unavailable = "unavailable",
        /// Backend timed out; retry.
        Timeout = "timeout",
        /// The server must be off.
        ServerNotStopped = "server_not_stopped",
        /// The Primary IP must be unassigned first.
        MustBeUnassigned = "must_be_unassigned",
        /// The address is taken.
        IpNotAvailable = "ip_not_available",
        /// No free address.
        NoSubnetAvailable = "no_subnet_available",
        /// Already attached.
        ServerAlreadyAttached = "server_already_attached",
        /// Still in use.
        ResourceInUse = "resource_in_use",
        /// Primary IP already assigned.
        PrimaryIpAssigned = "primary_ip_assigned",
        /// Primary IP in another location.
        PrimaryIpDatacenterMismatch = "primary_ip_datacenter_mismatch",
        /// Primary IP of the wrong family.
        PrimaryIpVersionMismatch = "primary_ip_version_mismatch",
        /// Placement failed.
        PlacementError = "placement_error",
        /// Firewall already applied.
        FirewallAlreadyApplied = "firewall_already_applied",
    }
);

/// An error body returned by the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error.code`.
    pub code: ErrorCode,
    /// `error.message`.
    pub message: String,
    /// `error.details` (e.g. `fields` for invalid_input).
    pub details: serde_json::Value,
    /// `X-Correlation-Id`, for Hetzner support.
    pub correlation_id: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)?;
        if let Some(fields) = self.details.get("fields").and_then(|v| v.as_array()) {
            let names: Vec<&str> = fields
                .iter()
                .filter_map(|f| f.get("name")?.as_str())
                .collect();
            if !names.is_empty() {
                write!(f, "; fields: {}", names.join(", "))?;
            }
        }
        if let Some(id) = &self.correlation_id {
            write!(f, "; correlation id {id}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable HTTP response (connect, TLS, reset, timeout).
    #[error("{method} {path}: transport error: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// What happened (never contains the token).
        message: String,
        /// True when the request may have reached the API (the outcome is unknown).
        ambiguous: bool,
    },
    /// The API answered with an error body.
    #[error("{method} {path}: {error}")]
    Api {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The error.
        error: Box<ApiError>,
    },
    /// A response that did not decode.
    #[error("{method} {path}: unexpected response (HTTP {status}): {message}")]
    Decode {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Why.
        message: String,
    },
    /// An action ended with status error.
    #[error("action {id} ({command}) failed: {} ({})", error.message, error.code)]
    ActionFailed {
        /// Action id.
        id: Id,
        /// Its command.
        command: String,
        /// The action's error.
        error: ActionError,
    },
    /// A wait ran past its deadline.
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline.
        after: Duration,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Bad input detected before sending.
    #[error("{0}")]
    Invalid(String),
    /// The endpoint was refused (not https, or http off loopback); nothing was sent.
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
}

impl Error {
    /// A copy, for telling several waiters about one failure.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Transport {
                method,
                path,
                message,
                ambiguous,
            } => Error::Transport {
                method: method.clone(),
                path: path.clone(),
                message: message.clone(),
                ambiguous: *ambiguous,
            },
            Error::Api {
                method,
                path,
                error,
            } => Error::Api {
                method: method.clone(),
                path: path.clone(),
                error: error.clone(),
            },
            Error::Decode {
                method,
                path,
                status,
                message,
            } => Error::Decode {
                method: method.clone(),
                path: path.clone(),
                status: *status,
                message: message.clone(),
            },
            Error::ActionFailed { id, command, error } => Error::ActionFailed {
                id: *id,
                command: command.clone(),
                error: error.clone(),
            },
            Error::Timeout { what, after } => Error::Timeout {
                what: what.clone(),
                after: *after,
            },
            Error::Cancelled => Error::Cancelled,
            Error::Invalid(m) => Error::Invalid(m.clone()),
            Error::Endpoint(e) => Error::Invalid(e.to_string()),
        }
    }

    /// The API error code, if this is an API error.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    /// True for `not_found`.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(&ErrorCode::NotFound)
    }

    /// True when the request may have taken effect although no answer came.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Error::Transport { ambiguous, .. } => *ambiguous,
            Error::Api { error, .. } => {
                matches!(error.status, 502 | 504)
                    || matches!(error.code, ErrorCode::BadGateway | ErrorCode::Timeout)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_display_names_fields_and_correlation_id() {
        let e = ApiError {
            status: 422,
            code: ErrorCode::InvalidInput,
            message: "invalid input".into(),
            details: serde_json::json!({"fields": [{"name": "ip", "messages": ["bad"]}]}),
            correlation_id: Some("abc".into()),
        };
        let s = e.to_string();
        assert!(
            s.contains("fields: ip")
                && s.contains("correlation id abc")
                && s.contains("invalid_input"),
            "{s}"
        );
        assert_eq!(
            ErrorCode::from("brand_new"),
            ErrorCode::Unknown("brand_new".into())
        );
    }
}
