//! `examples/` as real Terraform sees it: every example is formatted and
//! valid, the resource examples apply against the local cloud, and the
//! documented import commands (the `import.sh` files, which the docs show)
//! work as written.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use k3strading_e2e::{ProviderBin, Terraform, Workdir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The provider example and both resource examples in one configuration:
/// the node example refers to the cluster example's resource.
fn resource_examples() -> String {
    [
        "examples/provider/provider.tf",
        "examples/resources/k3strading_cluster/resource.tf",
        "examples/resources/k3strading_node/resource.tf",
    ]
    .map(read)
    .join("\n")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() && e.path().extension().is_some_and(|x| x == "tf") {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn valid(wd: &Workdir, chdir: &str, what: &str) {
    let c = format!("-chdir={chdir}");
    // Modules only: dev_overrides stand in for installed providers, and
    // `init` would look the providers up in a registry.
    wd.run(&[&c, "get", "-no-color"])
        .unwrap()
        .expect_code(0, &format!("{what}: get"))
        .unwrap();
    let run = wd
        .run(&[&c, "validate", "-json", "-no-color"])
        .unwrap()
        .expect_code(0, &format!("{what}: validate"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["valid"], true, "{what}: {}", run.stdout);
    assert_eq!(v["error_count"], 0, "{what}: {}", run.stdout);
    // The only warning allowed is the one the test set-up causes.
    let others: Vec<_> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["summary"] != "Provider development overrides are in effect")
        .collect();
    assert!(others.is_empty(), "{what}: {others:?}");
}

#[test]
fn every_example_is_formatted_and_valid() {
    let tfexample = Path::new(BIN)
        .parent()
        .unwrap()
        .join("terraform-provider-tfexample");
    for tf in terraforms() {
        let wd = Workdir::new(
            &tf,
            &[
                ProviderBin {
                    source: "k3strading/k3strading".into(),
                    bin: PathBuf::from(BIN),
                },
                ProviderBin {
                    source: "k3strading/tfexample".into(),
                    bin: tfexample.clone(),
                },
            ],
        )
        .unwrap();
        let fmt = wd
            .run(&[
                "fmt",
                "-check",
                "-recursive",
                "-no-color",
                &repo().join("examples").display().to_string(),
            ])
            .unwrap();
        assert_eq!(fmt.code, 0, "terraform fmt would change: {}", fmt.all());

        // The resource examples, together, as the docs show them.
        let dir = wd.path().join("resources");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), resource_examples()).unwrap();
        valid(&wd, "resources", "examples/resources");
        // The local example uses the module by its relative path.
        copy_dir(&repo().join("terraform"), &wd.path().join("terraform"));
        copy_dir(
            &repo().join("examples/local"),
            &wd.path().join("examples/local"),
        );
        valid(&wd, "examples/local", "examples/local");
        copy_dir(
            &repo().join("examples/tfexample"),
            &wd.path().join("tfexample"),
        );
        valid(&wd, "tfexample", "examples/tfexample");
    }
}

/// The `terraform import ...` line of an `import.sh`.
fn import_line(rel: &str) -> String {
    let text = read(rel);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("terraform import "))
        .collect();
    assert_eq!(lines.len(), 1, "{rel} should show one import command");
    lines[0].to_owned()
}

#[test]
fn the_resource_examples_apply_and_import_as_documented() {
    let tf: Terraform = terraforms()[0].clone();
    let cloud = Cloud::start(|_| {});
    // Without VMs there is nothing to SSH into: the examples get bare
    // servers (install_k3s = false), everything else as written.
    let config = resource_examples().replace(
        "resource \"k3strading_cluster\" \"prod\" {\n",
        "resource \"k3strading_cluster\" \"prod\" {\n  install_k3s = false\n",
    );
    let config = config.replace(
        "  cluster    = k3strading_cluster.prod.name\n",
        "  cluster    = k3strading_cluster.prod.name\n  install_k3s = false\n",
    );
    assert_eq!(config.matches("install_k3s = false").count(), 3, "{config}");
    let wd = workdir(&tf, &cloud, Some(&config));
    wd.run(&["apply", "-auto-approve", "-no-color"])
        .unwrap()
        .expect_code(0, "apply of the resource examples")
        .unwrap();
    let addresses = [
        "k3strading_cluster.prod",
        "k3strading_node.app",
        "k3strading_node.kafka[0]",
        "k3strading_node.kafka[1]",
        "k3strading_node.kafka[2]",
    ];
    let list = wd.run(&["state", "list"]).unwrap();
    assert_eq!(list.stdout.lines().collect::<Vec<_>>(), addresses);

    // Forget the cluster and kafka-0, then import them with the commands
    // the docs show, run by a shell as a user would paste them.
    for a in ["k3strading_cluster.prod", "k3strading_node.kafka[0]"] {
        wd.run(&["state", "rm", a])
            .unwrap()
            .expect_code(0, "state rm")
            .unwrap();
    }
    let bin = wd.path().join(".bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&tf.bin, bin.join("terraform")).unwrap();
    for rel in [
        "examples/resources/k3strading_cluster/import.sh",
        "examples/resources/k3strading_node/import.sh",
    ] {
        let line = import_line(rel);
        let mut c = Command::new("bash");
        c.arg("-c").arg(&line).current_dir(wd.path());
        for (k, v) in wd.env_vars() {
            c.env(k, v);
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = c.env("PATH", path).env_remove("TF_LOG").output().unwrap();
        assert!(
            out.status.success(),
            "{rel}: `{line}` failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = wd.run(&["state", "list"]).unwrap();
    let mut listed: Vec<&str> = list.stdout.lines().collect();
    listed.sort();
    assert_eq!(listed, addresses);
    let cluster = wd.resource_values("k3strading_cluster.prod").unwrap();
    assert_eq!(cluster["network_cidr"], "10.0.1.0/24", "{cluster}");
    let node = wd.resource_values("k3strading_node.kafka[0]").unwrap();
    assert_eq!(node["primary_ip"], "kafka", "{node}");
    assert_eq!(node["private_ip"], "10.0.1.20", "{node}");

    wd.run(&["destroy", "-auto-approve", "-no-color"])
        .unwrap()
        .expect_code(0, "destroy")
        .unwrap();
    let after = cloud.inventory();
    assert!(after.servers.is_empty(), "{after:?}");
    assert_eq!(after.primary_ips.len(), 2, "{after:?}");
}
