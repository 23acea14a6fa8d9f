//! Release packaging and `make install`, checked by real Terraform: the zip,
//! checksums and manifest are named as registries expect, a filesystem
//! mirror in the registry's packed layout serves the zip to `terraform init`
//! (which records the zip's hash), and the implied local mirror that
//! `scripts/install-provider.sh` fills is found with no CLI configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

const VERSION: &str = "0.1.0";
const NAME: &str = "terraform-provider-k3strading";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// A root module that only requires the provider at VERSION.
fn module(dir: &Path) {
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "terraform {{\n  required_providers {{\n    k3strading = {{\n      source  = \"k3strading/k3strading\"\n      version = \"{VERSION}\"\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
}

fn terraform(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(&terraforms()[0].bin);
    c.args(args)
        .current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env_remove("TF_CLI_CONFIG_FILE")
        .env_remove("TF_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn release_files_are_named_as_registries_expect_and_terraform_installs_the_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    let packed = Command::new("bash")
        .arg(script("package-release.sh"))
        .arg(VERSION)
        .arg(&out)
        .arg(format!("linux_amd64={BIN}"))
        .output()
        .unwrap();
    assert!(packed.status.success(), "{}", text(&packed));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            format!("{NAME}_{VERSION}_SHA256SUMS"),
            format!("{NAME}_{VERSION}_linux_amd64.zip"),
            format!("{NAME}_{VERSION}_manifest.json"),
        ]
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(format!("{NAME}_{VERSION}_manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["metadata"]["protocol_versions"],
        serde_json::json!(["6.0"])
    );
    let check = Command::new("sha256sum")
        .args(["-c", &format!("{NAME}_{VERSION}_SHA256SUMS")])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    let zip = out.join(format!("{NAME}_{VERSION}_linux_amd64.zip"));
    let listing = Command::new("python3")
        .args(["-m", "zipfile", "-l"])
        .arg(&zip)
        .output()
        .unwrap();
    assert!(
        text(&listing).contains(&format!("{NAME}_v{VERSION}")),
        "{}",
        text(&listing)
    );

    // A filesystem mirror in the packed layout holds the zip as it is.
    let mirror = tmp.path().join("mirror");
    let host = mirror.join("registry.terraform.io/k3strading/k3strading");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::copy(&zip, host.join(zip.file_name().unwrap())).unwrap();
    let cli = tmp.path().join("terraformrc");
    std::fs::write(
        &cli,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"k3strading/k3strading\"]\n  }}\n}}\n",
            mirror.display()
        ),
    )
    .unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    module(&root);
    let init = terraform(
        &root,
        &["init", "-input=false", "-no-color"],
        &[("TF_CLI_CONFIG_FILE", &cli)],
    );
    assert!(
        init.status.success(),
        "init from the mirror: {}",
        text(&init)
    );
    // Terraform records the h1 hash of what it unpacked: SHA-256 over the
    // sorted "<sha256 hex>  <file name>" lines of the package's files. Here
    // that is our binary under the name registries use.
    let lock = std::fs::read_to_string(root.join(".terraform.lock.hcl")).unwrap();
    let binary = std::fs::read(BIN).unwrap();
    let hex: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &binary)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let summary = format!("{hex}  {NAME}_v{VERSION}\n");
    let h1 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, summary.as_bytes()).as_ref(),
    );
    assert!(
        lock.contains(&format!("h1:{h1}")),
        "the lock file does not record the packaged binary (h1:{h1}):\n{lock}"
    );
    let valid = terraform(
        &root,
        &["validate", "-no-color"],
        &[("TF_CLI_CONFIG_FILE", &cli)],
    );
    assert!(valid.status.success(), "validate: {}", text(&valid));
}

#[test]
fn make_install_puts_the_provider_where_terraform_init_finds_it_without_dev_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let installed = Command::new("bash")
        .arg(script("install-provider.sh"))
        .arg(BIN)
        .env("HOME", &home)
        .env_remove("TF_PLUGIN_DIR")
        .output()
        .unwrap();
    assert!(installed.status.success(), "{}", text(&installed));
    assert!(
        home.join(format!(
            ".terraform.d/plugins/registry.terraform.io/k3strading/k3strading/{VERSION}/linux_amd64/{NAME}_v{VERSION}"
        ))
        .exists()
    );
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    module(&root);
    // No CLI configuration at all: the implied local mirror under $HOME.
    let init = terraform(
        &root,
        &["init", "-input=false", "-no-color"],
        &[("HOME", &home)],
    );
    assert!(
        init.status.success(),
        "init from the implied mirror: {}",
        text(&init)
    );
    assert!(
        text(&init).contains(&format!("k3strading/k3strading v{VERSION}")),
        "{}",
        text(&init)
    );
}

/// What the release workflow publishes from the per-platform builds
/// (`scripts/release-assets.sh`): the provider's registry files over every
/// platform, and the CLI per platform with its own checksums.
#[test]
fn a_release_publishes_every_platform_with_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let cli = Path::new(BIN).parent().unwrap().join("k3strading");
    // The same binaries stand for both platforms: names are what is checked.
    for platform in ["linux_amd64", "darwin_arm64"] {
        std::fs::copy(BIN, raw.join(format!("raw-{NAME}_{platform}"))).unwrap();
        std::fs::copy(&cli, raw.join(format!("raw-k3strading_{platform}"))).unwrap();
    }
    let out = tmp.path().join("dist");
    let assets = |raw: &Path| {
        Command::new("bash")
            .arg(script("release-assets.sh"))
            .arg(VERSION)
            .arg(raw)
            .arg(&out)
            .env_remove("GPG_KEY_ID")
            .output()
            .unwrap()
    };
    let made = assets(&raw);
    assert!(made.status.success(), "{}", text(&made));
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            format!("k3strading_{VERSION}_SHA256SUMS"),
            format!("k3strading_{VERSION}_darwin_arm64"),
            format!("k3strading_{VERSION}_linux_amd64"),
            format!("{NAME}_{VERSION}_SHA256SUMS"),
            format!("{NAME}_{VERSION}_darwin_arm64.zip"),
            format!("{NAME}_{VERSION}_linux_amd64.zip"),
            format!("{NAME}_{VERSION}_manifest.json"),
        ]
    );
    for sums in [
        format!("k3strading_{VERSION}_SHA256SUMS"),
        format!("{NAME}_{VERSION}_SHA256SUMS"),
    ] {
        let listed = std::fs::read_to_string(out.join(&sums)).unwrap();
        assert!(
            listed.contains("darwin_arm64") && listed.contains("linux_amd64"),
            "{sums}: {listed}"
        );
        let check = Command::new("sha256sum")
            .args(["-c", &sums])
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(check.status.success(), "{sums}: {}", text(&check));
    }
    // A platform whose CLI is missing stops the release.
    std::fs::remove_file(raw.join("raw-k3strading_darwin_arm64")).unwrap();
    let refused = assets(&raw);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("darwin_arm64 has a provider but no raw-k3strading_darwin_arm64"),
        "{}",
        text(&refused)
    );
}
