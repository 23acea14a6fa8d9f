//! Running the system tools (`ip`, `iptables`, `unshare`, …) with argument
//! vectors and a deadline, and the error type of the VM layer.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

/// How long one tool invocation may take before it is killed.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// What went wrong while managing VMs.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// `--vms` cannot work on this machine.
    #[error("--vms needs {missing}")]
    Unavailable {
        /// What is missing, in words.
        missing: String,
    },
    /// A tool could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A tool failed.
    #[error("{program} {args} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its arguments (never secrets: names, addresses, paths).
        args: String,
        /// Exit status.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// A tool did not finish in time.
    #[error("{program} {args} did not finish within {secs} s")]
    Timeout {
        /// The program.
        program: String,
        /// Its arguments.
        args: String,
        /// The deadline.
        secs: u64,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The stand-in internet could not be set up.
    #[error(transparent)]
    Inet(#[from] crate::inet::InetError),
    /// The server's user data is not usable cloud-config.
    #[error("user data of server {server}: {reason}")]
    UserData {
        /// The server's name.
        server: String,
        /// Why (never the content).
        reason: String,
    },
}

/// Attaches a path to an I/O error.
pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> VmError {
    let path = path.into();
    move |source| VmError::Io { path, source }
}

/// Runs `program args…` to completion within [`DEADLINE`]; returns stdout.
pub async fn run(program: &str, args: &[&str]) -> Result<String, VmError> {
    let joined = args.join(" ");
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, child)
        .await
        .map_err(|_| VmError::Timeout {
            program: program.into(),
            args: joined.clone(),
            secs: DEADLINE.as_secs(),
        })?
        .map_err(|source| VmError::Spawn {
            program: program.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(VmError::Failed {
            program: program.into(),
            args: joined,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip ARGS…`.
pub async fn ip(args: &[&str]) -> Result<String, VmError> {
    run("ip", args).await
}

/// `ip netns exec NS PROGRAM ARGS…`.
pub async fn in_ns(ns: &str, program: &str, args: &[&str]) -> Result<String, VmError> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all).await
}
