//! Keys checked against OpenSSH's own ssh-keygen.

use std::process::Command;

use k3s::{KeyPair, fingerprint};

use crate::sshd::write_private_key;

fn ssh_keygen_available() -> bool {
    if std::path::Path::new("/usr/bin/ssh-keygen").exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must have ssh-keygen (openssh-client)"
    );
    eprintln!("SKIP: ssh-keygen (Debian openssh-client) is not installed");
    false
}

#[test]
fn fingerprint_is_ssh_keygens_sha256_in_base64url() {
    if !ssh_keygen_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for i in 0..8 {
        let pair = KeyPair::generate(&format!("k{i}")).unwrap();
        let path = dir.path().join(format!("k{i}.pub"));
        std::fs::write(&path, format!("{}\n", pair.public_openssh())).unwrap();
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let theirs = line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .strip_prefix("SHA256:")
            .unwrap()
            .to_owned();
        let ours = fingerprint(pair.public_openssh()).unwrap();
        assert_eq!(ours.len(), 43);
        assert_eq!(
            ours.replace('-', "+").replace('_', "/"),
            theirs,
            "ssh-keygen said: {line}"
        );
    }
}

#[test]
fn private_key_text_is_accepted_by_openssh_as_is() {
    if !ssh_keygen_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = KeyPair::generate("login").unwrap();
    let path = write_private_key(dir.path(), "id", &pair);
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -y: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let derived = String::from_utf8(out.stdout).unwrap();
    let blob = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    assert_eq!(blob(&derived), blob(pair.public_openssh()));
}
