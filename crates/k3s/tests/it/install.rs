//! Install steps that are safe to run against this machine's own sshd.

use std::time::Duration;

use k3s::install::{InstallError, install_agent, install_server, read_secret_file, wait_until};
use k3s::render::{InstallSpec, NodeSpec, Role};
use k3s::{Secret, SessionError};
use tokio::time::Instant;

use crate::exec::{Captured, session};

#[tokio::test]
async fn secret_files_are_read_whole_and_never_logged() {
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
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let token = "K10deadbeef::server:0123456789abcdef\n";
    std::fs::write(&path, token).unwrap();
    let secret = read_secret_file(&session, path.to_str().unwrap(), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(secret.expose(), token);
    assert!(!format!("{secret:?} {secret}").contains("0123456789abcdef"));
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("<redacted>"),
        "stdout line was not logged at all: {logged}"
    );
    assert!(!logged.contains("0123456789abcdef"), "{logged}");

    let missing = dir.path().join("missing");
    let err = read_secret_file(&session, missing.to_str().unwrap(), Duration::from_secs(20))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::Session(SessionError::CommandFailed { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn wait_until_retries_a_probe_until_it_passes() {
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ready");
    let creator = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            std::fs::write(flag, b"").unwrap();
        })
    };
    let probe = format!("test -e {}", flag.display());
    wait_until(
        &session,
        &probe,
        "flag",
        Instant::now() + Duration::from_secs(60),
    )
    .await
    .unwrap();
    creator.join().unwrap();
}

#[tokio::test]
async fn wait_until_gives_up_at_its_deadline() {
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        wait_until(&session, "exit 7", "never", deadline),
    )
    .await;
    let err = waited
        .expect("wait_until hung past its deadline")
        .unwrap_err();
    let InstallError::NotReady { last, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(last.contains("exit code 7"), "{last}");
}

#[tokio::test]
async fn install_steps_refuse_the_wrong_role_before_touching_the_node() {
    let Some((_sshd, session)) = session().await else {
        return;
    };
    let node = |role| NodeSpec {
        name: "n".into(),
        role,
        private_ip: "10.0.1.9".parse().unwrap(),
        labels: Default::default(),
        taints: vec![],
        flannel_iface: None,
    };
    let agent = InstallSpec::new(node(Role::Agent {
        server_url: "https://10.0.1.2:6443".into(),
    }));
    let server = InstallSpec::new(node(Role::Server { tls_san: vec![] }));
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = install_server(&session, &agent, &Secret::new("t"), deadline)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::WrongRole {
                expected: "server",
                ..
            }
        ),
        "{err:?}"
    );
    let err = install_agent(&session, &server, &Secret::new("t"), deadline)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::WrongRole {
                expected: "agent",
                ..
            }
        ),
        "{err:?}"
    );
}
