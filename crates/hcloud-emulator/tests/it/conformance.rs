//! Hetzner's official Python client (`hcloud` from PyPI, installed by
//! scripts/setup.sh) runs the project's flow against the local cloud, with
//! every response checked against the OpenAPI document when it is present.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn official_python_client_conforms() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/hcloud/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh first",
        python.display()
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k3strading-cloud"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--token",
        "conformance-token",
    ]);
    if let Some(spec) = crate::common::spec_path() {
        cmd.arg("--spec").arg(spec);
    }
    let mut cloud = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(cloud.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let out = Command::new(python)
        .arg(root.join("tests/conformance/hcloud_official_client.py"))
        .env("EMULATOR_URL", &url)
        .env("EMULATOR_TOKEN", "conformance-token")
        .output()
        .unwrap();
    let _ = cloud.kill();
    let _ = cloud.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"));
}
