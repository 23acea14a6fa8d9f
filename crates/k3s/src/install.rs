//! Install steps on a node: server, readiness, join token, agent.

use std::time::Duration;

use tokio::time::Instant;

use crate::render::{
    InstallSpec, RenderError, Role, SERVER_TOKEN_PATH, TOKEN_PATH, install_script,
};
use crate::secret::Secret;
use crate::session::{Command, Session, SessionError, shell_quote};

/// Where first-boot user data puts the install script (see [`boot_command`]).
pub const BOOT_SCRIPT_PATH: &str = "/var/lib/k3strading/install-k3s.sh";
/// The first-boot install's output.
pub const BOOT_LOG_PATH: &str = "/var/log/k3strading-install.log";
/// The first-boot install's exit status, written when it ends.
pub const BOOT_STATUS_PATH: &str = "/var/lib/k3strading/install.status";
/// Exit status of a probe that found a failed first-boot install.
const BOOT_FAILED: u32 = 97;

/// How long one `/ping` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);
/// Timeout for reading or writing small files on the node.
const FILE_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors from install steps.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The spec could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// SSH or a remote command failed (output tail included, secrets redacted).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A server step got an agent spec or the other way round.
    #[error("node {node}: expected a {expected} spec")]
    WrongRole {
        /// The node.
        node: String,
        /// "server" or "agent".
        expected: &'static str,
    },
    /// The node did not pass its check before the deadline.
    #[error("{host}: {what} not ready within {waited:?}; last error: {last}")]
    NotReady {
        /// The node.
        host: String,
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        waited: Duration,
        /// The last failure seen.
        last: String,
    },
    /// The server's token file exists but is empty.
    #[error("{host}: {path} is empty")]
    EmptyToken {
        /// The node.
        host: String,
        /// The token file.
        path: &'static str,
    },
}

/// Installs (or updates) a K3s server with the cluster secret `token` (written to a 0600 file)
/// and waits until its API answers `/ping`.
pub async fn install_server(
    session: &Session,
    spec: &InstallSpec,
    token: &Secret,
    deadline: Instant,
) -> Result<(), InstallError> {
    if !matches!(spec.node.role, Role::Server { .. }) {
        return Err(InstallError::WrongRole {
            node: spec.node.name.clone(),
            expected: "server",
        });
    }
    run_install(session, spec, token, deadline).await?;
    wait_ready(session, deadline).await
}

/// Writes the token file, then runs the install script.
async fn run_install(
    session: &Session,
    spec: &InstallSpec,
    token: &Secret,
    deadline: Instant,
) -> Result<(), InstallError> {
    let script = install_script(spec)?;
    let with_newline = Secret::new(format!("{}\n", token.expose()));
    session
        .write_secret_file(
            TOKEN_PATH,
            &with_newline,
            FILE_TIMEOUT.min(remaining(deadline)),
        )
        .await?;
    let cmd = Command::new("sh -s", remaining(deadline))
        .stdin(script)
        .redacting(token);
    session.run(&cmd).await?;
    Ok(())
}

/// The command that runs the install script at first boot (for cloud-init `runcmd`), keeping
/// its output in [`BOOT_LOG_PATH`] and its exit status in [`BOOT_STATUS_PATH`].
pub fn boot_command() -> String {
    format!("sh {BOOT_SCRIPT_PATH} > {BOOT_LOG_PATH} 2>&1; echo $? > {BOOT_STATUS_PATH}")
}

/// Waits for a server that installs K3s at first boot until its API answers `/ping`.
///
/// Fails at once when the first-boot install failed, with the tail of its log (`redact`ed).
pub async fn wait_boot_install(
    session: &Session,
    redact: Option<&Secret>,
    deadline: Instant,
) -> Result<(), InstallError> {
    let probe = format!(
        "if [ -s {status} ] && [ \"$(cat {status})\" != 0 ]; then \
         echo \"the first-boot K3s install exited $(cat {status}); its log ends:\"; \
         tail -n 40 {log}; exit {code}; fi; \
         curl -fsk --max-time 10 https://127.0.0.1:6443/ping >/dev/null",
        status = BOOT_STATUS_PATH,
        log = BOOT_LOG_PATH,
        code = BOOT_FAILED,
    );
    wait_probe(
        session,
        &probe,
        "the K3s API (/ping)",
        Some(BOOT_FAILED),
        redact,
        deadline,
    )
    .await
}

/// Polls `https://127.0.0.1:6443/ping` from the node itself until it answers or `deadline` passes.
pub async fn wait_ready(session: &Session, deadline: Instant) -> Result<(), InstallError> {
    let probe = "curl -fsk --max-time 10 https://127.0.0.1:6443/ping";
    wait_until(session, probe, "the K3s API (/ping)", deadline).await
}

/// Runs `probe` until it exits 0, with backoff, bounded by `deadline`.
pub async fn wait_until(
    session: &Session,
    probe: &str,
    what: &str,
    deadline: Instant,
) -> Result<(), InstallError> {
    wait_probe(session, probe, what, None, None, deadline).await
}

/// [`wait_until`], except that exiting with `fatal`'s code fails at once.
async fn wait_probe(
    session: &Session,
    probe: &str,
    what: &str,
    fatal: Option<u32>,
    redact: Option<&Secret>,
    deadline: Instant,
) -> Result<(), InstallError> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(500);
    let mut last: Option<String> = None;
    loop {
        let timeout = PROBE_TIMEOUT.min(remaining(deadline));
        let mut cmd = Command::new(probe, timeout);
        if let Some(secret) = redact {
            cmd = cmd.redacting(secret);
        }
        match session.run(&cmd).await {
            Ok(_) => return Ok(()),
            Err(err @ SessionError::CommandFailed { exit_code, .. })
                if fatal.is_some() && exit_code == fatal =>
            {
                return Err(err.into());
            }
            // A probe cut short by the deadline says less than the failure before it.
            Err(SessionError::CommandTimeout { .. })
                if timeout < PROBE_TIMEOUT && last.is_some() => {}
            Err(
                err @ (SessionError::CommandFailed { .. } | SessionError::CommandTimeout { .. }),
            ) => {
                last = Some(err.to_string());
            }
            Err(err) => return Err(err.into()),
        }
        let wake = Instant::now() + backoff;
        if wake >= deadline {
            return Err(InstallError::NotReady {
                host: session.host().to_owned(),
                what: what.to_owned(),
                waited: started.elapsed(),
                last: last.unwrap_or_default(),
            });
        }
        tokio::time::sleep_until(wake).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Reads the server's secure join token (`K10…::server:…`).
pub async fn read_token(session: &Session) -> Result<Secret, InstallError> {
    let token = read_secret_file(session, SERVER_TOKEN_PATH, FILE_TIMEOUT).await?;
    let trimmed = Secret::new(token.expose().trim());
    if trimmed.expose().is_empty() {
        return Err(InstallError::EmptyToken {
            host: session.host().to_owned(),
            path: SERVER_TOKEN_PATH,
        });
    }
    Ok(trimmed)
}

/// Reads a file whose contents are secret (token, kubeconfig); they are never logged.
pub async fn read_secret_file(
    session: &Session,
    path: &str,
    timeout: Duration,
) -> Result<Secret, InstallError> {
    let cmd = Command::new(format!("cat {}", shell_quote(path)), timeout).secret_stdout();
    let out = session.run(&cmd).await?;
    Ok(Secret::new(out.stdout))
}

/// Writes the join token to a 0600 file, then installs (or updates) a K3s agent.
///
/// Whether the agent registered is for the Kubernetes API to tell (Node Ready).
pub async fn install_agent(
    session: &Session,
    spec: &InstallSpec,
    token: &Secret,
    deadline: Instant,
) -> Result<(), InstallError> {
    if !matches!(spec.node.role, Role::Agent { .. }) {
        return Err(InstallError::WrongRole {
            node: spec.node.name.clone(),
            expected: "agent",
        });
    }
    run_install(session, spec, token, deadline).await
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
