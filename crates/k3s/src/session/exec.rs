//! Running commands: timeouts, stdin, line-by-line logging with secrets redacted.

use std::fmt;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::Msg;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::{Session, SessionError, shell_quote};
use crate::secret::{REDACTED, Secret};

/// Lines of output kept for error messages.
const TAIL_LINES: usize = 40;
/// Characters of the command shown in logs and errors.
const COMMAND_SHOWN: usize = 120;

/// A remote command: a shell line, its timeout, optional stdin and the secrets to hide.
#[derive(Clone)]
pub struct Command {
    line: String,
    timeout: Duration,
    stdin: Zeroizing<Vec<u8>>,
    redact: Vec<Secret>,
    secret_stdout: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("line", &self.shown())
            .field("timeout", &self.timeout)
            .field("stdin_bytes", &self.stdin.len())
            .field("secret_stdout", &self.secret_stdout)
            .finish_non_exhaustive()
    }
}

impl Command {
    /// `line` runs under the login shell and is abandoned after `timeout`.
    ///
    /// The line is visible in the remote process list: never put secrets in it.
    pub fn new(line: impl Into<String>, timeout: Duration) -> Self {
        Self {
            line: line.into(),
            timeout,
            stdin: Zeroizing::new(Vec::new()),
            redact: Vec::new(),
            secret_stdout: false,
        }
    }

    /// Sends `bytes` on stdin, then end-of-file.
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Zeroizing::new(bytes.into());
        self
    }

    /// Sends a secret on stdin and hides it in logged output and errors.
    #[must_use]
    pub fn stdin_secret(mut self, secret: &Secret) -> Self {
        self.stdin = Zeroizing::new(secret.expose().as_bytes().to_vec());
        self.redacting(secret)
    }

    /// Hides `secret` wherever it appears in logged output and errors.
    #[must_use]
    pub fn redacting(mut self, secret: &Secret) -> Self {
        self.redact.push(secret.clone());
        self
    }

    /// Marks stdout as secret: it is returned but never logged nor put in errors.
    #[must_use]
    pub fn secret_stdout(mut self) -> Self {
        self.secret_stdout = true;
        self
    }

    /// The shell line.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn shown(&self) -> String {
        let first = self.line.lines().next().unwrap_or_default();
        let mut shown: String = self.scrub(first).chars().take(COMMAND_SHOWN).collect();
        if shown.len() < self.line.len() {
            shown.push('…');
        }
        shown
    }

    fn scrub(&self, text: &str) -> String {
        self.redact
            .iter()
            .fold(text.to_owned(), |acc, s| s.redact(&acc))
    }
}

/// What a command printed; it exited with status 0.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// Standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Standard error, lossily decoded as UTF-8.
    pub stderr: String,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Output may hold a token read from a node.
        f.debug_struct("Output")
            .field("stdout_bytes", &self.stdout.len())
            .field("stderr_bytes", &self.stderr.len())
            .finish()
    }
}

/// Collects one output stream and logs each complete line as it arrives.
struct Stream<'a> {
    name: &'static str,
    host: &'a str,
    cmd: &'a Command,
    secret: bool,
    all: Vec<u8>,
    pending: Vec<u8>,
}

impl<'a> Stream<'a> {
    fn new(name: &'static str, host: &'a str, cmd: &'a Command, secret: bool) -> Self {
        Self {
            name,
            host,
            cmd,
            secret,
            all: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.all.extend_from_slice(data);
        self.pending.extend_from_slice(data);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.log(&line);
        }
    }

    fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.log(&rest);
        }
        String::from_utf8_lossy(&self.all).into_owned()
    }

    fn log(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        let text = if self.secret {
            REDACTED.to_owned()
        } else {
            self.cmd.scrub(text)
        };
        tracing::debug!(host = %self.host, stream = self.name, "{text}");
    }

    fn tail(&self) -> Vec<String> {
        if self.secret {
            return vec![format!(
                "({} bytes of secret {} not shown)",
                self.all.len(),
                self.name
            )];
        }
        let text = String::from_utf8_lossy(&self.all);
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(TAIL_LINES);
        lines
            .into_iter()
            .skip(skip)
            .map(|l| self.cmd.scrub(l))
            .collect()
    }
}

impl Session {
    /// Runs `cmd`, streaming its output into `tracing` at debug level; non-zero exit is an error.
    pub async fn run(&self, cmd: &Command) -> Result<Output, SessionError> {
        let deadline = Instant::now() + cmd.timeout;
        let host = self.label.as_str();
        let timed_out = || SessionError::CommandTimeout {
            host: host.to_owned(),
            command: cmd.shown(),
            timeout: cmd.timeout,
        };
        let ssh = |action| {
            move |source| SessionError::Ssh {
                host: host.to_owned(),
                action,
                source,
            }
        };
        tracing::debug!(host = %host, command = %cmd.shown(), "running");
        let mut channel = tokio::time::timeout_at(deadline, self.handle.channel_open_session())
            .await
            .map_err(|_| timed_out())?
            .map_err(ssh("open a session channel"))?;
        let mut out = Stream::new("stdout", host, cmd, cmd.secret_stdout);
        let mut err = Stream::new("stderr", host, cmd, false);
        let mut exit = None;
        let mut signal = None;
        let finished = tokio::time::timeout_at(deadline, async {
            channel
                .exec(true, cmd.line.as_bytes())
                .await
                .map_err(ssh("start the command"))?;
            if !cmd.stdin.is_empty() {
                channel
                    .data(cmd.stdin.as_slice())
                    .await
                    .map_err(ssh("send stdin"))?;
            }
            // Always close stdin so a command that reads it cannot wait forever.
            channel.eof().await.map_err(ssh("close stdin"))?;
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.push(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => err.push(&data),
                    ChannelMsg::ExitStatus { exit_status } => exit = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        signal = Some(format!("{signal_name:?}"))
                    }
                    _ => {}
                }
            }
            Ok::<(), SessionError>(())
        })
        .await;
        match finished {
            Err(_) => {
                abandon(&channel).await;
                return Err(timed_out());
            }
            Ok(result) => result?,
        }
        let output = Output {
            stdout: out.finish(),
            stderr: err.finish(),
        };
        if exit == Some(0) {
            return Ok(output);
        }
        let status = match (exit, &signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "no exit status".to_owned(),
        };
        let mut tail = out.tail();
        tail.extend(err.tail());
        let skip = tail.len().saturating_sub(TAIL_LINES);
        Err(SessionError::CommandFailed {
            host: host.to_owned(),
            command: cmd.shown(),
            status,
            exit_code: exit,
            tail: tail.into_iter().skip(skip).collect::<Vec<_>>().join("\n"),
        })
    }

    /// Writes `contents` to `path` with mode 0600 (atomically, through stdin; never in argv).
    pub async fn write_secret_file(
        &self,
        path: &str,
        contents: &Secret,
        timeout: Duration,
    ) -> Result<(), SessionError> {
        let dir = match path.rsplit_once('/') {
            Some(("", _)) => "/",
            Some((dir, _)) => dir,
            None => ".",
        };
        let tmp = format!("{path}.tmp");
        let line = format!(
            "umask 077 && mkdir -p {dir} && cat > {tmp} && chmod 600 {tmp} && mv -f {tmp} {path}",
            dir = shell_quote(dir),
            tmp = shell_quote(&tmp),
            path = shell_quote(path),
        );
        self.run(&Command::new(line, timeout).stdin_secret(contents))
            .await
            .map(|_| ())
    }
}

/// Stops a timed-out command: OpenSSH delivers the signal; closing frees the channel either way.
async fn abandon(channel: &russh::Channel<Msg>) {
    let _ = channel.signal(russh::Sig::KILL).await;
    let _ = channel.close().await;
}
