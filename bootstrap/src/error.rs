//! Errors of the bootstrap library.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while reading, rendering, writing or applying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API request failed.
    #[error("Kubernetes API: {action}: {source}")]
    Api {
        /// What was being done, e.g. "list nodes".
        action: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A node reported a quantity that is not a Kubernetes quantity.
    #[error("node {node}: allocatable {resource} {value:?}: {source}")]
    Quantity {
        /// The node.
        node: String,
        /// `cpu` or `memory`.
        resource: &'static str,
        /// The text as reported (a capacity, never a secret).
        value: String,
        /// Why it did not parse.
        source: crate::quantity::QuantityError,
    },
    /// The inputs cannot make a valid cluster description.
    #[error("invalid input: {0}")]
    Input(String),
    /// A rendered object lacks what every object needs (a bug in rendering).
    #[error("object {index}: {what}")]
    Object {
        /// Its place in the list.
        index: usize,
        /// What is missing.
        what: String,
    },
    /// Writing manifests failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Serialising an object to YAML failed.
    #[error("cannot serialise {name} as YAML: {source}")]
    Yaml {
        /// The object.
        name: String,
        /// Why.
        source: serde_yaml_ng::Error,
    },
    /// A wait ran past its deadline.
    #[error("timed out after {waited:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// The last state seen.
        last: String,
    },
}

/// Maps a client error to [`Error::Api`] with what was being done.
pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Api { action, source }
}
