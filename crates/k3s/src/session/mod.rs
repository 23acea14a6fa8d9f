//! SSH sessions with pinned host keys (russh client).
//!
//! There is no trust on first use: every [`Target`] carries the host public key the server must
//! present, and the handshake is abandoned before authentication when it differs.

mod connect;
mod exec;
mod tunnel;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::client::Handle;

pub use connect::connect;
pub use exec::{Command, Output};
pub use tunnel::Forward;

use crate::keys::KeyError;
use crate::secret::Secret;
use connect::Pinned;

/// Where to connect: address, login user and the pinned host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address (a private IP when reached through a jump host).
    pub host: String,
    /// TCP port of sshd.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// The host public key the server must present: an OpenSSH line, or `SHA256:<fingerprint>`
    /// (as `ssh-keygen -l` prints it, or unpadded base64url as in the `k3strading.io/host-key`
    /// server label).
    pub host_key: String,
}

impl Target {
    /// A target logging in as `root`.
    pub fn new(host: impl Into<String>, port: u16, host_key: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            user: "root".to_owned(),
            host_key: host_key.into(),
        }
    }

    /// The same target with another login user.
    #[must_use]
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// `host:port`, as shown in logs and errors.
    pub fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// An unencrypted OpenSSH private key.
    PrivateKey(Secret),
    /// The keys held by the SSH agent listening on this Unix socket.
    Agent {
        /// The agent's socket (usually from `SSH_AUTH_SOCK`).
        socket: PathBuf,
    },
}

impl Auth {
    /// The SSH agent named by `SSH_AUTH_SOCK`.
    pub fn agent_from_env() -> Result<Self, SessionError> {
        std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(|socket| Self::Agent {
                socket: PathBuf::from(socket),
            })
            .ok_or_else(|| SessionError::Agent {
                reason: "SSH_AUTH_SOCK is not set".to_owned(),
            })
    }
}

/// Errors from connecting, running commands and tunnelling.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The pinned host key or the login key did not parse.
    #[error("{host}: {source}")]
    Key {
        /// The target.
        host: String,
        /// What was wrong with the key.
        source: KeyError,
    },
    /// The server presented another host key than the pinned one; never retried.
    #[error(
        "{host}: host key mismatch: expected SHA256 {expected}, server offered {offered}; refusing to authenticate"
    )]
    HostKeyMismatch {
        /// The target.
        host: String,
        /// Fingerprint of the pinned key.
        expected: String,
        /// Fingerprint of the key the server offered.
        offered: String,
    },
    /// No SSH connection could be made before the deadline.
    #[error(
        "{host}: no SSH connection within {waited:?} after {attempts} attempts; last error: {last}"
    )]
    Unreachable {
        /// The target.
        host: String,
        /// How long connecting was tried.
        waited: Duration,
        /// Connection attempts made.
        attempts: u32,
        /// The last transient error seen.
        last: String,
    },
    /// The server refused every offered login key.
    #[error("{host}: server refused public key authentication as {user}")]
    AuthRejected {
        /// The target.
        host: String,
        /// The login user.
        user: String,
    },
    /// The SSH agent could not be reached or used.
    #[error("SSH agent: {reason}")]
    Agent {
        /// What failed.
        reason: String,
    },
    /// An SSH protocol or channel operation failed.
    #[error("{host}: {action}: {source}")]
    Ssh {
        /// The target.
        host: String,
        /// What was being done.
        action: &'static str,
        /// The library's error.
        source: russh::Error,
    },
    /// A command ran past its timeout and was abandoned.
    #[error("{host}: `{command}` did not finish within {timeout:?}")]
    CommandTimeout {
        /// The target.
        host: String,
        /// The command (first line, shortened).
        command: String,
        /// Its timeout.
        timeout: Duration,
    },
    /// A command exited non-zero or was killed by a signal.
    #[error("{host}: `{command}` failed ({status}); output tail:\n{tail}")]
    CommandFailed {
        /// The target.
        host: String,
        /// The command (first line, shortened).
        command: String,
        /// `exit code N`, `signal S`, or `no exit status`.
        status: String,
        /// Exit code if one was reported.
        exit_code: Option<u32>,
        /// The last lines of output, secrets redacted.
        tail: String,
    },
    /// A local listener for a port forward could not be bound.
    #[error("could not listen on 127.0.0.1 for a forward to {remote}: {source}")]
    Listen {
        /// The remote end of the forward.
        remote: String,
        /// The bind error.
        source: std::io::Error,
    },
}

/// An authenticated SSH session with a host whose key was pinned.
pub struct Session {
    handle: Arc<Handle<Pinned>>,
    label: String,
    auth: Auth,
    // A session reached through a jump host lives on that host's connection.
    _via: Option<Arc<Handle<Pinned>>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.label)
            .field("via_jump_host", &self._via.is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The `host:port` this session is connected to.
    pub fn host(&self) -> &str {
        &self.label
    }

    /// Closes the connection politely.
    pub async fn close(self) -> Result<(), SessionError> {
        self.handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await
            .map_err(|source| SessionError::Ssh {
                host: self.label.clone(),
                action: "disconnect",
                source,
            })
    }
}

/// Single-quotes `text` for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_survives_single_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn label_brackets_ipv6() {
        assert_eq!(Target::new("10.0.0.2", 22, "k").label(), "10.0.0.2:22");
        assert_eq!(Target::new("::1", 2222, "k").label(), "[::1]:2222");
    }
}
