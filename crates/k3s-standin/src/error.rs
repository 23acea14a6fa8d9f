//! The one error type of the stand-in; messages never carry secrets.

use std::path::PathBuf;

/// Everything that makes `k3s server` or `k3s agent` stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line could not be understood.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// config.yaml is not valid.
    #[error("invalid config file {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A setting has a value K3s would reject.
    #[error("invalid value for {key}: {message}")]
    Setting {
        /// The config key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The join token is malformed (its content is never repeated here).
    #[error("invalid token: {0}")]
    Token(&'static str),
    /// The CA served by the server is not the one the token pins.
    #[error(
        "token CA hash does not match the Cluster CA certificate hash: token has {expected}, server's /cacerts hashes to {actual}; refusing to join"
    )]
    CaHashMismatch {
        /// The hash in the token.
        expected: String,
        /// The hash of what `/cacerts` returned.
        actual: String,
    },
    /// The agent's own labels include one the kubelet may not set.
    #[error(
        "node label {label} is not allowed: a kubelet may not set labels in the node-role.kubernetes.io namespace; apply it through the API after the node joined"
    )]
    ForbiddenLabel {
        /// The offending label key.
        label: String,
    },
    /// Certificate or key generation failed.
    #[error("certificates: {0}")]
    Pki(#[from] rcgen::Error),
    /// TLS setup failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// Talking to the server failed.
    #[error("{context}: {message}")]
    Join {
        /// What was being attempted.
        context: String,
        /// The cause, free of credentials.
        message: String,
    },
    /// The listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
