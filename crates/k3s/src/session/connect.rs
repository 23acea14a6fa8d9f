//! Connecting with retries while a machine boots, pinning the host key, authenticating.

use std::io::ErrorKind;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use russh::client::{self, AuthResult, Config, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use tokio::time::Instant;

use super::{Auth, Session, SessionError, Target};
use crate::keys::{fingerprint_of, parse_private, parse_public};

/// Upper bound for one TCP connect plus handshake, so a black-holed attempt cannot eat the deadline.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(20);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// What the server's host key must be.
#[derive(Debug, Clone)]
pub(crate) enum Pin {
    /// Exactly this key.
    Key(PublicKey),
    /// A key with this SHA256 fingerprint (unpadded base64url), e.g. from a server label.
    Fingerprint(String),
}

impl Pin {
    /// An OpenSSH public key line, or `SHA256:<fingerprint>` in either base64 alphabet.
    pub(crate) fn parse(text: &str) -> Result<Self, crate::keys::KeyError> {
        match text.trim().strip_prefix("SHA256:") {
            Some(fp) => Ok(Pin::Fingerprint(
                fp.trim_end_matches('=').replace('+', "-").replace('/', "_"),
            )),
            None => Ok(Pin::Key(parse_public(text)?)),
        }
    }

    fn matches(&self, key: &PublicKey) -> bool {
        match self {
            Pin::Key(expected) => key.key_data() == expected.key_data(),
            Pin::Fingerprint(fp) => fingerprint_of(key) == *fp,
        }
    }

    fn fingerprint(&self) -> String {
        match self {
            Pin::Key(k) => fingerprint_of(k),
            Pin::Fingerprint(fp) => fp.clone(),
        }
    }
}

/// russh handler that accepts exactly one host key.
#[derive(Debug)]
pub(crate) struct Pinned {
    expected: Pin,
    offered: Arc<OnceLock<String>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Certificates are not pinned keys: refuse them like any other stranger.
        let (matches, offered) = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                (self.expected.matches(key), fingerprint_of(key))
            }
            PublicKeyOrCertificate::Certificate(cert) => (
                false,
                format!(
                    "certificate for {}",
                    fingerprint_of(&PublicKey::from(cert.public_key().clone()))
                ),
            ),
        };
        if !matches {
            let _ = self.offered.set(offered);
        }
        Ok(matches)
    }
}

/// How the TCP leg of a connection is made.
pub(super) enum Dial<'a> {
    /// Straight to the target's address.
    Direct,
    /// Through a direct-tcpip channel of an existing session (jump host).
    Via(&'a Handle<Pinned>),
}

enum Failure {
    /// Worth another try while the machine boots (refused, reset, timed out, closed early).
    Transient(String),
    Fatal(SessionError),
}

/// Connects to `target`, retrying transient failures with backoff until `deadline`.
///
/// A host key mismatch or a refused login fails at once.
pub async fn connect(
    target: &Target,
    auth: &Auth,
    deadline: Instant,
) -> Result<Session, SessionError> {
    let handle = establish(target, auth, deadline, Dial::Direct).await?;
    Ok(Session {
        handle: Arc::new(handle),
        label: target.label(),
        auth: auth.clone(),
        _via: None,
    })
}

fn config() -> Arc<Config> {
    Arc::new(Config {
        inactivity_timeout: None,
        // Notice a dead peer (rebooted VM, dropped NAT entry) instead of waiting forever.
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        ..Config::default()
    })
}

pub(super) async fn establish(
    target: &Target,
    auth: &Auth,
    deadline: Instant,
    dial: Dial<'_>,
) -> Result<Handle<Pinned>, SessionError> {
    let host = target.label();
    let expected = Pin::parse(&target.host_key).map_err(|source| SessionError::Key {
        host: host.clone(),
        source,
    })?;
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let attempt_end = deadline.min(Instant::now() + ATTEMPT_LIMIT);
        let attempt = tokio::time::timeout_at(attempt_end, attempt(target, auth, &expected, &dial));
        let last = match attempt.await {
            Ok(Ok(handle)) => return Ok(handle),
            Ok(Err(Failure::Fatal(err))) => return Err(err),
            Ok(Err(Failure::Transient(why))) => why,
            Err(_) => "connect or handshake timed out".to_owned(),
        };
        let now = Instant::now();
        let wake = now + backoff.mul_f64(0.75 + fastrand::f64() / 2.0);
        // Another attempt only if it would start before the deadline.
        if wake >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(SessionError::Unreachable {
                host,
                waited: started.elapsed(),
                attempts,
                last,
            });
        }
        tracing::debug!(host = %host, attempt = attempts, error = %last, "SSH not reachable yet; retrying");
        tokio::time::sleep_until(wake).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn attempt(
    target: &Target,
    auth: &Auth,
    expected: &Pin,
    dial: &Dial<'_>,
) -> Result<Handle<Pinned>, Failure> {
    let host = target.label();
    let offered = Arc::new(OnceLock::new());
    let handler = Pinned {
        expected: expected.clone(),
        offered: Arc::clone(&offered),
    };
    let connected = match dial {
        Dial::Direct => {
            client::connect(config(), (target.host.as_str(), target.port), handler).await
        }
        Dial::Via(jump) => {
            let channel = jump
                .channel_open_direct_tcpip(
                    target.host.as_str(),
                    u32::from(target.port),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|e| classify(&host, "open a tunnel through the jump host", e))?;
            client::connect_stream(config(), channel.into_stream(), handler).await
        }
    };
    let mut handle = match connected {
        Ok(handle) => handle,
        Err(err) => {
            if let Some(offered) = offered.get() {
                return Err(Failure::Fatal(SessionError::HostKeyMismatch {
                    host,
                    expected: expected.fingerprint(),
                    offered: offered.clone(),
                }));
            }
            return Err(classify(&host, "SSH handshake", err));
        }
    };
    authenticate(&mut handle, target, auth)
        .await
        .map_err(Failure::Fatal)?;
    Ok(handle)
}

fn classify(host: &str, action: &'static str, err: russh::Error) -> Failure {
    let transient = match &err {
        russh::Error::IO(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::TimedOut
                | ErrorKind::UnexpectedEof
                | ErrorKind::NotConnected
                | ErrorKind::BrokenPipe
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
        ),
        russh::Error::Disconnect
        | russh::Error::HUP
        | russh::Error::ConnectionTimeout
        | russh::Error::Elapsed(_)
        | russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::ConnectFailed) => true,
        _ => false,
    };
    if transient {
        Failure::Transient(format!("{action}: {err}"))
    } else {
        Failure::Fatal(SessionError::Ssh {
            host: host.to_owned(),
            action,
            source: err,
        })
    }
}

async fn authenticate(
    handle: &mut Handle<Pinned>,
    target: &Target,
    auth: &Auth,
) -> Result<(), SessionError> {
    let host = target.label();
    let ssh_err = |action| {
        let host = host.clone();
        move |source| SessionError::Ssh {
            host,
            action,
            source,
        }
    };
    let accepted = match auth {
        Auth::PrivateKey(text) => {
            let key = parse_private(text).map_err(|source| SessionError::Key {
                host: host.clone(),
                source,
            })?;
            let rsa_hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(ssh_err("negotiate RSA hash"))?
                .flatten();
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash);
            handle
                .authenticate_publickey(target.user.as_str(), key)
                .await
                .map_err(ssh_err("authenticate"))?
        }
        Auth::Agent { socket } => authenticate_with_agent(handle, target, socket).await?,
    };
    match accepted {
        AuthResult::Success => Ok(()),
        AuthResult::Failure { .. } => Err(SessionError::AuthRejected {
            host,
            user: target.user.clone(),
        }),
    }
}

async fn authenticate_with_agent(
    handle: &mut Handle<Pinned>,
    target: &Target,
    socket: &std::path::Path,
) -> Result<AuthResult, SessionError> {
    let agent_err = |e: &dyn std::fmt::Display| SessionError::Agent {
        reason: e.to_string(),
    };
    let mut agent = AgentClient::connect_uds(socket)
        .await
        .map_err(|e| agent_err(&e))?;
    let identities = agent
        .request_identities()
        .await
        .map_err(|e| agent_err(&e))?;
    let mut last = AuthResult::Failure {
        remaining_methods: russh::MethodSet::empty(),
        partial_success: false,
    };
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        last = handle
            .authenticate_publickey_with(target.user.as_str(), key, None, &mut agent)
            .await
            .map_err(|e| agent_err(&e))?;
        if matches!(last, AuthResult::Success) {
            break;
        }
    }
    Ok(last)
}
