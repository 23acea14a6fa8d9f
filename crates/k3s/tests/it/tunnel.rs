//! Jump hosts and port forwards through a real sshd.

use std::time::Duration;

use k3s::{KeyPair, Session, SessionError, Target, connect, fingerprint};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use crate::sshd::{Sshd, SshdFiles, available};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

async fn session_to(sshd: &Sshd) -> Session {
    connect(&sshd.files.target(), &sshd.files.auth(), soon())
        .await
        .unwrap()
}

#[tokio::test]
async fn jump_reaches_a_second_sshd_through_the_first() {
    if !available() {
        return;
    }
    let bastion = SshdFiles::new().start();
    let inner = SshdFiles::with_login(bastion.files.login.clone()).start();
    let via = session_to(&bastion).await;
    let session = via.jump(&inner.files.target(), soon()).await.unwrap();
    let out = session
        .run(&k3s::Command::new("echo inside", Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(out.stdout, "inside\n");
    assert!(session.host().contains(" via "), "{}", session.host());
    assert!(
        inner.wait_for_log("Accepted publickey for root"),
        "{}",
        inner.log()
    );

    // The inner host key is pinned too.
    let impostor = KeyPair::generate("x").unwrap();
    let wrong = Target::new("127.0.0.1", inner.files.port, impostor.public_openssh());
    let err = via.jump(&wrong, soon()).await.unwrap_err();
    let SessionError::HostKeyMismatch { offered, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        offered,
        &fingerprint(inner.files.host_key.public_openssh()).unwrap()
    );
}

#[tokio::test]
async fn jump_goes_through_the_bastions_forwarding() {
    if !available() {
        return;
    }
    // With forwarding off on the bastion, the very same jump must fail: the path is via the bastion.
    let bastion = SshdFiles::new().extra("AllowTcpForwarding no").start();
    let inner = SshdFiles::with_login(bastion.files.login.clone()).start();
    let via = session_to(&bastion).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        via.jump(&inner.files.target(), soon()),
    )
    .await;
    let err = outcome.expect("jump hung past its deadline").unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Ssh { .. } | SessionError::Unreachable { .. }
        ),
        "{err:?}"
    );
}

async fn echo_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = conn.read(&mut buf).await {
                    if conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, task)
}

async fn round_trip(addr: std::net::SocketAddr, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(message).await?;
    let mut got = vec![0u8; message.len()];
    conn.read_exact(&mut got).await?;
    Ok(got)
}

#[tokio::test]
async fn forward_reaches_a_server_behind_the_ssh_host() {
    if !available() {
        return;
    }
    let sshd = SshdFiles::new().start();
    let session = session_to(&sshd).await;
    let (echo_port, _echo) = echo_server().await;
    let forward = session.forward("127.0.0.1", echo_port).await.unwrap();
    assert_ne!(forward.local_addr().port(), echo_port);
    for i in 0..3 {
        let message = format!("ping {i}");
        let got = tokio::time::timeout(
            Duration::from_secs(20),
            round_trip(forward.local_addr(), message.as_bytes()),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(got, message.as_bytes());
    }
    let addr = forward.local_addr();
    drop(forward);
    tokio::task::yield_now().await;
    let after = tokio::time::timeout(Duration::from_secs(20), round_trip(addr, b"x"))
        .await
        .unwrap();
    assert!(after.is_err(), "forward still answered after drop");
}

#[tokio::test]
async fn forward_fails_when_the_ssh_host_forbids_forwarding() {
    if !available() {
        return;
    }
    // Control for the test above: the echo must come through sshd, not around it.
    let sshd = SshdFiles::new().extra("AllowTcpForwarding no").start();
    let session = session_to(&sshd).await;
    let (echo_port, _echo) = echo_server().await;
    let forward = session.forward("127.0.0.1", echo_port).await.unwrap();
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        round_trip(forward.local_addr(), b"ping"),
    )
    .await
    .unwrap();
    assert!(
        got.is_err(),
        "echo came back although sshd forbids forwarding"
    );
}
