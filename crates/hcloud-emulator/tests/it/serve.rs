//! The `k3strading-cloud serve` contract, checked from outside the process,
//! with `--spec` so every response is checked against Hetzner's document.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::spec_path;

const BIN: &str = env!("CARGO_BIN_EXE_k3strading-cloud");

fn start(extra: &[&str]) -> (Child, String, BufReader<std::process::ChildStdout>) {
    start_on("127.0.0.1:0", extra)
}

/// Starts `serve --listen <listen>`; the URL returned is the one printed.
fn start_on(listen: &str, extra: &[&str]) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", listen, "--token", "serve-token"]);
    if let Some(spec) = spec_path() {
        cmd.arg("--spec").arg(spec);
    }
    let mut child = cmd
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve --listen {listen} {extra:?} did not start: {line:?}"))
        .trim_end()
        .to_owned();
    assert!(line.ends_with("/v1\n"), "{line:?}");
    let port: u16 = url
        .trim_end_matches("/v1")
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    (child, url, out)
}

fn signal(child: &Child, sig: &str) {
    Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
}

/// Runs the binary to its exit; a server that keeps running fails the test
/// instead of hanging it.
fn exit_of(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{args:?} is still running after 5 s; stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn exits_cleanly(mut child: Child) {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "{s:?}");
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "still running after the signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fails the test when a response broke Hetzner's OpenAPI document. `url`
/// is the `/v1` base printed at start.
async fn assert_spec_clean(url: &str) {
    let admin = format!("{}/_emulator/spec-violations", url.trim_end_matches("/v1"));
    let v: serde_json::Value = get(&admin, "serve-token").await.json().await.unwrap();
    assert_eq!(v["checking"], spec_path().is_some(), "{v}");
    assert_eq!(
        v["violations"],
        serde_json::json!([]),
        "responses that break the OpenAPI document: {v:#}"
    );
}

async fn get(url: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn prints_exactly_one_line_serves_and_exits_on_sigterm() {
    let (child, url, mut out) = start(&[]);
    let r = get(&format!("{url}/locations"), "serve-token").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().contains_key("ratelimit-remaining")
            && r.headers().contains_key("x-correlation-id")
    );
    assert_eq!(
        get(&format!("{url}/servers/4242"), "serve-token")
            .await
            .status(),
        404
    );
    assert_eq!(get(&format!("{url}/servers"), "wrong").await.status(), 401);
    assert_spec_clean(&url).await;
    signal(&child, "-TERM");
    exits_cleanly(child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "more than one line on stdout");
}

#[tokio::test]
async fn exits_cleanly_on_sigint() {
    let (child, _, _out) = start(&["--latency", "realistic", "--time-scale", "0.1"]);
    signal(&child, "-INT");
    exits_cleanly(child);
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cloud.json");
    let state_arg = state.to_str().unwrap();
    let (child, url, _out) = start(&["--state", state_arg]);
    let r = reqwest::Client::new()
        .post(format!("{url}/ssh_keys"))
        .bearer_auth("serve-token")
        .json(&serde_json::json!({ "name": "kept", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3bHHp0gBDpX6n7OJ0zNQbRCpVqk0bm3I+z0fQZ2Pv" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_spec_clean(&url).await;
    signal(&child, "-TERM");
    exits_cleanly(child);
    let (child, url, _out) = start(&["--state", state_arg]);
    let v: serde_json::Value = get(&format!("{url}/ssh_keys?name=kept"), "serve-token")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ssh_keys"].as_array().unwrap().len(), 1);
    assert_spec_clean(&url).await;
    signal(&child, "-TERM");
    exits_cleanly(child);
}

#[test]
fn bad_arguments_and_unsafe_pools_are_refused_with_a_message() {
    for args in [
        vec!["serve", "--token", "t"],
        vec!["serve", "--listen", "127.0.0.1:0"],
        vec!["bogus"],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "t",
            "--ipv4-pool",
            "192.0.2.0/25",
        ],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "t",
            "--server-limit",
            "many",
        ],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn non_loopback_listen_addresses_are_refused_naming_the_flags() {
    for addr in ["0.0.0.0:0", "[::]:0", "10.11.12.13:0"] {
        let out = exit_of(&["serve", "--listen", addr, "--token", "t"]);
        assert!(!out.status.success(), "{addr}: {:?}", out.status);
        assert!(out.stdout.is_empty(), "{addr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--listen") && err.contains("--allow-non-loopback"),
            "{addr}: {err}"
        );
    }
}

#[tokio::test]
async fn allow_non_loopback_listens_on_every_interface() {
    let (child, url, _out) = start_on("0.0.0.0:0", &["--allow-non-loopback"]);
    assert!(url.starts_with("http://0.0.0.0:"), "{url}");
    let local = url.replace("0.0.0.0", "127.0.0.1");
    let r = get(&format!("{local}/locations"), "serve-token").await;
    assert_eq!(r.status(), 200);
    assert_spec_clean(&local).await;
    signal(&child, "-TERM");
    exits_cleanly(child);
}

#[tokio::test]
async fn server_limit_sets_the_project_quota() {
    let (child, url, _out) = start(&["--server-limit", "1"]);
    let create = |name: &str| {
        reqwest::Client::new()
            .post(format!("{url}/servers"))
            .bearer_auth("serve-token")
            .json(&serde_json::json!({ "name": name, "server_type": "cpx22", "image": "ubuntu-24.04" }))
            .send()
    };
    assert_eq!(create("one").await.unwrap().status(), 201);
    let r = create("two").await.unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "resource_limit_exceeded", "{v}");
    assert_spec_clean(&url).await;
    signal(&child, "-TERM");
    exits_cleanly(child);
}
