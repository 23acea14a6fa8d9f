//! Running commands on a real sshd: timeouts, failures, secrets on stdin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k3s::{Command, Secret, Session, SessionError, connect};
use tokio::time::Instant;

use crate::sshd::{Sshd, SshdFiles, available};

pub async fn session() -> Option<(Sshd, Session)> {
    if !available() {
        return None;
    }
    let sshd = SshdFiles::new().start();
    let session = connect(
        &sshd.files.target(),
        &sshd.files.auth(),
        Instant::now() + Duration::from_secs(30),
    )
    .await
    .unwrap();
    Some((sshd, session))
}

#[tokio::test]
async fn a_command_past_its_timeout_is_abandoned_with_a_timeout_error() {
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let cmd = Command::new("sleep 60", Duration::from_secs(1));
    let outcome = tokio::time::timeout(Duration::from_secs(30), session.run(&cmd)).await;
    let err = outcome.expect("run ignored its timeout").unwrap_err();
    assert!(
        matches!(&err, SessionError::CommandTimeout { command, .. } if command == "sleep 60"),
        "{err:?}"
    );
}

#[tokio::test]
async fn non_zero_exit_carries_the_code_and_the_output_tail() {
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let cmd = Command::new(
        "for i in $(seq 1 100); do echo line$i; done; echo broken >&2; exit 3",
        Duration::from_secs(20),
    );
    let err = session.run(&cmd).await.unwrap_err();
    let SessionError::CommandFailed {
        exit_code, tail, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*exit_code, Some(3));
    assert!(
        tail.contains("line100") && tail.contains("broken"),
        "{tail}"
    );
    assert!(
        !tail.contains("line1\n"),
        "tail should be the end only: {tail}"
    );
}

/// Every process's argv on this machine, joined.
fn all_cmdlines() -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            all.push_str(&String::from_utf8_lossy(&bytes).replace('\0', " "));
            all.push('\n');
        }
    }
    all
}

#[tokio::test]
async fn a_secret_on_stdin_never_shows_in_any_process_arguments() {
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let secret = Secret::new(format!("K10{}::server:s3cr3t", std::process::id()));
    let marker = format!("argv-marker-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    // The command holds the secret for a while; the marker proves the scan sees this command's argv.
    let line = format!(
        "f=$(mktemp); cat > \"$f\"; while [ ! -e {done} ]; do sleep 0.1; done; wc -c < \"$f\"; rm -f \"$f\" # {marker}",
        done = done.display()
    );
    let cmd = Command::new(line, Duration::from_secs(60)).stdin_secret(&secret);
    let scan = {
        let (secret, marker, done) = (secret.expose().to_owned(), marker.clone(), done.clone());
        tokio::task::spawn_blocking(move || {
            let (mut saw_marker, mut saw_secret) = (0, 0);
            for _ in 0..100 {
                let all = all_cmdlines();
                saw_marker += usize::from(all.contains(&marker));
                saw_secret += usize::from(all.contains(&secret));
                if saw_marker >= 5 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            std::fs::write(&done, b"").unwrap();
            (saw_marker, saw_secret)
        })
    };
    let out = session.run(&cmd).await.unwrap();
    let (saw_marker, saw_secret) = scan.await.unwrap();
    assert!(saw_marker >= 1, "the scan never saw the running command");
    assert_eq!(saw_secret, 0, "secret seen in a process's arguments");
    assert_eq!(out.stdout.trim(), secret.expose().len().to_string());
}

#[tokio::test]
async fn write_secret_file_creates_a_0600_file_with_the_exact_contents() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/token");
    let secret = Secret::new("K10abc::server:xyz\n");
    session
        .write_secret_file(path.to_str().unwrap(), &secret, Duration::from_secs(20))
        .await
        .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), secret.expose());
}

/// A tracing writer that keeps everything in memory.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn output_lines_are_logged_with_the_host_and_secrets_redacted() {
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let secret = Secret::new("tok-9f8e7d");
    let cmd = Command::new(
        "read -r t; echo \"first\"; echo \"token is $t\"; echo \"$t\" >&2; exit 1",
        Duration::from_secs(20),
    )
    .stdin_secret(&secret);
    let err = session.run(&cmd).await.unwrap_err();
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("first") && logged.contains("token is <redacted>"),
        "{logged}"
    );
    assert!(logged.contains(session.host()), "{logged}");
    assert!(!logged.contains(secret.expose()), "{logged}");
    let text = err.to_string();
    assert!(
        text.contains("token is <redacted>") && !text.contains(secret.expose()),
        "{text}"
    );
}
