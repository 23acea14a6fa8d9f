//! One error type for the whole crate; front ends map it to their own
//! reporting (a Terraform diagnostic pointing at an attribute, a CLI message).

use hcloud::ErrorCode;

/// The input an error is about, so a front end can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The cluster or node name.
    Name,
    /// The cluster a node belongs to.
    Cluster,
    /// The location.
    Location,
    /// The server type.
    ServerType,
    /// The system image.
    Image,
    /// A fixed private address.
    PrivateIp,
    /// The cluster's Primary IPs.
    PrimaryIps,
    /// Which Primary IP the control plane uses.
    ControlPlanePrimaryIp,
    /// The Primary IP a node uses.
    PrimaryIp,
}

/// Everything that can go wrong building, reading or removing a cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Hetzner refused or failed a request.
    #[error("Hetzner Cloud: could not {doing}: {source}")]
    Api {
        /// What we were doing, e.g. "create the network".
        doing: String,
        /// Hetzner's answer.
        source: hcloud::Error,
    },
    /// The project hit one of Hetzner's account limits (e.g. its server quota).
    #[error("Hetzner Cloud project limit reached: could not {doing}: {source}")]
    Limit {
        /// What we were doing.
        doing: String,
        /// Hetzner's answer (`resource_limit_exceeded`).
        source: hcloud::Error,
    },
    /// The request cannot be carried out as asked (bad input, or a name
    /// already taken by something that is not this cluster's).
    #[error("{summary}: {detail}")]
    Refused {
        /// The input at fault, if one is.
        field: Option<Field>,
        /// One line a user understands.
        summary: String,
        /// What to do about it, or more detail.
        detail: String,
    },
    /// A wait ran past its deadline.
    #[error("timed out: {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// More detail.
        detail: String,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The system random source failed.
    #[error("could not generate {0}: the system random source failed")]
    Random(&'static str),
    /// A K3s step on a server failed (SSH, install, join, Kubernetes API). The detail carries
    /// the remote output's tail with secrets redacted.
    #[error("K3s on {node}: could not {step}: {detail}")]
    K3s {
        /// The server.
        node: String,
        /// The step, e.g. "install the agent".
        step: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A key could not be made, encoded or parsed.
    #[error("SSH key: {source}")]
    Key {
        /// What went wrong (never shows private key text).
        source: k3s::keys::KeyError,
    },
}

impl Error {
    /// An API failure while `doing` something; quota and cancellation are
    /// told apart so callers can say what to do.
    pub fn api(doing: impl Into<String>, source: hcloud::Error) -> Error {
        let doing = doing.into();
        match &source {
            hcloud::Error::Cancelled => Error::Cancelled,
            e if e.code() == Some(&ErrorCode::ResourceLimitExceeded) => {
                Error::Limit { doing, source }
            }
            _ => Error::Api { doing, source },
        }
    }

    /// A refusal about `field`.
    pub fn refused(
        field: impl Into<Option<Field>>,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) -> Error {
        Error::Refused {
            field: field.into(),
            summary: summary.into(),
            detail: detail.into(),
        }
    }

    /// The input at fault, if any.
    pub fn field(&self) -> Option<Field> {
        match self {
            Error::Refused { field, .. } => *field,
            _ => None,
        }
    }

    /// One line for a user.
    pub fn summary(&self) -> String {
        match self {
            Error::Api { doing, .. } => format!("Hetzner Cloud: could not {doing}"),
            Error::Limit { doing, .. } => {
                format!("Hetzner Cloud project limit reached: could not {doing}")
            }
            Error::Refused { summary, .. } => summary.clone(),
            Error::Timeout { what, .. } => format!("Timed out: {what}"),
            Error::Cancelled => "Cancelled".to_owned(),
            Error::Random(what) => format!("Could not generate {what}"),
            Error::Key { .. } => "Unusable SSH key".to_owned(),
            Error::K3s { node, step, .. } => format!("K3s on {node}: could not {step}"),
        }
    }

    /// Detail for debugging, and what to do.
    pub fn detail(&self) -> String {
        match self {
            Error::Api { source, .. } => source.to_string(),
            Error::Limit { source, .. } => format!(
                "{source}. The project's quota (e.g. its number of servers) is full: ask Hetzner to raise the limit (Cloud Console → Limits) or build fewer servers."
            ),
            Error::Refused { detail, .. } | Error::Timeout { detail, .. } => detail.clone(),
            Error::Cancelled => "the operation was stopped on request".to_owned(),
            Error::Random(_) => "the system random source failed".to_owned(),
            Error::Key { source } => source.to_string(),
            Error::K3s { detail, .. } => detail.clone(),
        }
    }

    /// A K3s step's failure.
    pub fn k3s(node: &str, step: &'static str, e: impl std::fmt::Display) -> Error {
        Error::K3s {
            node: node.to_owned(),
            step,
            detail: e.to_string(),
        }
    }

    /// True for "does not exist" answers.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { source, .. } if source.is_not_found())
    }
}
