//! Connecting to a real sshd: pinned host keys, retries while it boots, deadlines.

use std::time::Duration;

use k3s::{Command, KeyPair, SessionError, Target, connect, fingerprint};
use tokio::time::Instant;

use crate::sshd::{SshdFiles, available};

fn soon(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

#[tokio::test]
async fn pinned_host_key_lets_a_command_run_and_return_output() {
    if !available() {
        return;
    }
    let sshd = SshdFiles::new().start();
    let session = connect(&sshd.files.target(), &sshd.files.auth(), soon(30))
        .await
        .unwrap();
    let out = session
        .run(&Command::new(
            "echo hello; echo oops >&2",
            Duration::from_secs(20),
        ))
        .await
        .unwrap();
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "oops\n");
    assert!(
        sshd.wait_for_log("Accepted publickey for root"),
        "{}",
        sshd.log()
    );
}

#[tokio::test]
async fn wrong_host_key_fails_closed_before_authentication() {
    if !available() {
        return;
    }
    let sshd = SshdFiles::new().start();
    let impostor = KeyPair::generate("someone-else").unwrap();
    let target = Target::new("127.0.0.1", sshd.files.port, impostor.public_openssh());
    let started = Instant::now();
    let err = connect(&target, &sshd.files.auth(), soon(20))
        .await
        .unwrap_err();
    let SessionError::HostKeyMismatch {
        expected, offered, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(expected, &fingerprint(impostor.public_openssh()).unwrap());
    assert_eq!(
        offered,
        &fingerprint(sshd.files.host_key.public_openssh()).unwrap()
    );
    let text = err.to_string();
    assert!(
        text.contains(expected.as_str()) && text.contains(offered.as_str()),
        "{text}"
    );
    // Not retried: a mismatch returns long before the deadline would.
    assert!(started.elapsed() < Duration::from_secs(15));
    // sshd saw the client leave during key exchange, and never a login.
    assert!(sshd.wait_for_log("[preauth]"), "{}", sshd.log());
    assert!(!sshd.log().contains("Accepted publickey"), "{}", sshd.log());
    assert!(!sshd.log().contains("userauth"), "{}", sshd.log());
}

#[tokio::test]
async fn a_pin_by_fingerprint_admits_only_the_key_it_names() {
    if !available() {
        return;
    }
    let sshd = SshdFiles::new().start();
    // The right key's fingerprint, as the `k3strading.io/host-key` label holds it.
    let right = fingerprint(sshd.files.host_key.public_openssh()).unwrap();
    let target = Target::new("127.0.0.1", sshd.files.port, format!("SHA256:{right}"));
    let session = connect(&target, &sshd.files.auth(), soon(30))
        .await
        .unwrap();
    let out = session
        .run(&Command::new("echo pinned", Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(out.stdout, "pinned\n");
    // Another key's fingerprint fails closed, before any login.
    let other = fingerprint(KeyPair::generate("other").unwrap().public_openssh()).unwrap();
    let target = Target::new("127.0.0.1", sshd.files.port, format!("SHA256:{other}"));
    let err = connect(&target, &sshd.files.auth(), soon(20))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SessionError::HostKeyMismatch { expected, offered, .. }
            if *expected == other && *offered == right),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_login_key_is_refused_without_retrying() {
    if !available() {
        return;
    }
    let sshd = SshdFiles::new().start();
    let stranger = k3s::Auth::PrivateKey(KeyPair::generate("x").unwrap().private_openssh().clone());
    let err = connect(&sshd.files.target(), &stranger, soon(20))
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::AuthRejected { .. }), "{err:?}");
}

#[tokio::test]
async fn connect_retries_until_a_late_sshd_comes_up() {
    if !available() {
        return;
    }
    let files = SshdFiles::new();
    let (target, auth) = (files.target(), files.auth());
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        files.start()
    });
    let started = Instant::now();
    let connected = connect(&target, &auth, soon(60)).await;
    let sshd = starter.join().unwrap();
    let session = connected.unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "connected before sshd existed?"
    );
    let out = session
        .run(&Command::new("echo up", Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(out.stdout, "up\n");
}

#[tokio::test]
async fn connect_gives_up_at_the_deadline_when_nothing_listens() {
    let files = SshdFiles::new();
    let deadline = soon(2);
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        connect(&files.target(), &files.auth(), deadline),
    )
    .await;
    let err = outcome
        .expect("connect hung past its deadline")
        .unwrap_err();
    let SessionError::Unreachable { attempts, last, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*attempts >= 2, "retried only {attempts} times");
    assert!(last.contains("refused"), "{last}");
    assert!(Instant::now() >= deadline);
}
