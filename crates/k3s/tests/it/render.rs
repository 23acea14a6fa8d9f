//! Rendered config.yaml and install scripts: golden files and shellcheck.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use k3s::render::{InstallSpec, NodeSpec, Role, config_yaml, install_script};

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 accepts):\n{actual}"
    );
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn server() -> NodeSpec {
    NodeSpec {
        name: "control-plane".into(),
        role: Role::Server {
            tls_san: vec!["203.0.113.10".into(), "api.example.com".into()],
        },
        private_ip: "10.0.1.2".parse().unwrap(),
        labels: BTreeMap::new(),
        taints: vec!["node-role.kubernetes.io/control-plane:NoSchedule".into()],
        flannel_iface: None,
    }
}

fn kafka_agent() -> NodeSpec {
    NodeSpec {
        name: "kafka-0".into(),
        role: Role::Agent {
            server_url: "https://10.0.1.2:6443".into(),
        },
        private_ip: "10.0.1.3".parse().unwrap(),
        labels: labels(&[("kafka", "true")]),
        taints: vec!["dedicated=kafka:NoSchedule".into()],
        flannel_iface: None,
    }
}

fn app_agent() -> NodeSpec {
    NodeSpec {
        name: "app-0".into(),
        role: Role::Agent {
            server_url: "https://10.0.1.2:6443".into(),
        },
        private_ip: "10.0.1.4".parse().unwrap(),
        labels: labels(&[("app", "true")]),
        taints: vec![],
        flannel_iface: Some("enp7s0".into()),
    }
}

fn roles() -> [(&'static str, NodeSpec); 3] {
    [
        ("server", server()),
        ("kafka-agent", kafka_agent()),
        ("app-agent", app_agent()),
    ]
}

#[test]
fn config_yaml_matches_golden_per_role() {
    for (name, node) in roles() {
        golden(&format!("config-{name}.yaml"), &config_yaml(&node).unwrap());
    }
}

#[test]
fn install_script_matches_golden_per_role() {
    for (name, node) in roles() {
        golden(
            &format!("install-{name}.sh"),
            &install_script(&InstallSpec::new(node)).unwrap(),
        );
    }
}

#[test]
fn rendered_scripts_pass_shellcheck() {
    if !std::path::Path::new("/usr/bin/shellcheck").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have Debian's shellcheck"
        );
        eprintln!("SKIP: Debian shellcheck is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, node) in roles() {
        let path = dir.path().join(format!("{name}.sh"));
        std::fs::write(&path, install_script(&InstallSpec::new(node)).unwrap()).unwrap();
        let out = Command::new("/usr/bin/shellcheck")
            .args(["-s", "sh", "-S", "style"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn scripts_pin_the_version_and_keep_secrets_and_roles_out() {
    for (name, node) in roles() {
        let script = install_script(&InstallSpec::new(node.clone())).unwrap();
        assert!(script.contains("VERSION='v1.34.1+k3s1'"), "{name}");
        assert!(!script.contains("K3S_TOKEN="), "{name}: token inline");
        assert!(
            !script.contains("node-role.kubernetes.io/control-plane=true"),
            "{name}"
        );
        let exec = if matches!(node.role, Role::Server { .. }) {
            "INSTALL_K3S_EXEC=server"
        } else {
            "INSTALL_K3S_EXEC=agent"
        };
        assert!(script.contains(exec), "{name}");
        assert_eq!(
            script.contains("K3S_URL='https://10.0.1.2:6443'"),
            exec.ends_with("agent"),
            "{name}"
        );
        assert!(script.contains("journalctl -u \"$UNIT\" -n 50"), "{name}");
    }
}
