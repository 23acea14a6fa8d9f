//! `k3s server`: files, token, certificates, authentication.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use rustls::pki_types::ServerName;

use crate::support::{Server, block, get, sha256_hex, tls_config};

#[test]
fn token_is_k10_with_the_sha256_of_cacerts_and_files_have_k3s_modes() {
    let server =
        Server::start("node-name: s1\nnode-ip: 127.0.0.1\nwrite-kubeconfig-mode: \"0640\"");
    let token = server.token();
    let (status, cacerts) = block(get(
        &server.client(false),
        &format!("{}/cacerts", server.url()),
    ))
    .unwrap();
    assert_eq!(status, 200);
    let hash = token
        .strip_prefix("K10")
        .and_then(|t| t.split_once("::server:"))
        .map(|(hash, _)| hash.to_string())
        .unwrap_or_else(|| {
            panic!(
                "token is not K10<hash>::server:<secret>: {} chars",
                token.len()
            )
        });
    assert_eq!(
        hash,
        sha256_hex(cacerts.as_bytes()),
        "token must pin sha256 of /cacerts"
    );
    // /cacerts is the CA the kubeconfig trusts, byte for byte.
    assert_eq!(
        cacerts,
        server.kubeconfig_pem("clusters", "certificate-authority-data")
    );

    let mode = |rel: &str| {
        std::fs::metadata(server.path(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("var/lib/rancher/k3s/server/token"), 0o600);
    assert_eq!(mode("etc/rancher/k3s/k3s.yaml"), 0o640);
    let kubeconfig = server.kubeconfig();
    assert_eq!(
        kubeconfig["clusters"][0]["cluster"]["server"],
        format!("https://127.0.0.1:{}", server.port)
    );
    // The secret never reaches the log.
    let secret = token.rsplit(':').next().unwrap();
    assert!(!server.proc.log_text().contains(secret));
}

#[test]
fn token_file_supplies_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "my-chosen-secret\n").unwrap();
    let server = Server::start(&format!(
        "node-name: s1\nnode-ip: 127.0.0.1\ntoken-file: {}",
        file.display()
    ));
    assert!(
        server.token().ends_with("::server:my-chosen-secret"),
        "token does not carry the token-file secret"
    );
}

#[test]
fn ping_and_cacerts_are_open_and_everything_else_wants_the_admin_certificate() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let anonymous = server.client(false);
    let admin = server.client(true);
    let url = server.url();
    block(async {
        assert_eq!(
            get(&anonymous, &format!("{url}/ping")).await.unwrap(),
            (200, "pong".to_string())
        );
        for path in [
            "/version",
            "/api",
            "/api/v1/nodes",
            "/api/v1/nodes/s1",
            "/no/such/path",
        ] {
            let (status, body) = get(&anonymous, &format!("{url}{path}")).await.unwrap();
            assert_eq!(
                status, 401,
                "{path} answered {status} without a client certificate"
            );
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["kind"], "Status");
            assert_eq!(body["reason"], "Unauthorized");
        }
        let (status, body) = get(&admin, &format!("{url}/version")).await.unwrap();
        assert_eq!(status, 200);
        let version: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(version["gitVersion"], "v1.34.1+k3s1");
    });
}

#[test]
fn serving_certificate_names_loopback_node_ip_advertise_address_and_every_tls_san() {
    let server = Server::start(
        "node-name: s1\nnode-ip: 10.9.8.7\nadvertise-address: 10.9.8.6\ntls-san:\n  - api.example.test\n  - 10.9.8.5",
    );
    let ca = server.kubeconfig_pem("clusters", "certificate-authority-data");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(&ca, None)));
    let handshake = |name: &'static str| {
        let connector = connector.clone();
        let addr = server.addr();
        block(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from(name).unwrap();
            connector.connect(name, tcp).await.map(|_| ())
        })
    };
    for name in [
        "127.0.0.1",
        "localhost",
        "10.9.8.7",
        "10.9.8.6",
        "api.example.test",
        "10.9.8.5",
    ] {
        handshake(name).unwrap_or_else(|e| panic!("certificate does not cover {name}: {e}"));
    }
    let err = handshake("not-listed.example.test").expect_err("an unlisted name must not verify");
    assert!(err.to_string().contains("not valid for name"), "{err}");
}

#[test]
fn own_node_carries_node_labels_and_taints_but_no_role() {
    let server = Server::start(
        "node-name: s1\nnode-ip: 127.0.0.1\nnode-label:\n  - kafka=true\nnode-taint:\n  - dedicated=control:NoSchedule",
    );
    let (status, body) = block(get(
        &server.client(true),
        &format!("{}/api/v1/nodes/s1", server.url()),
    ))
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let node: serde_json::Value = serde_json::from_str(&body).unwrap();
    let labels = node["metadata"]["labels"].as_object().unwrap();
    assert_eq!(labels["kafka"], "true");
    assert!(
        labels
            .keys()
            .all(|k| !k.starts_with("node-role.kubernetes.io/")),
        "{labels:?}"
    );
    assert_eq!(node["spec"]["taints"][0]["key"], "dedicated");
    assert_eq!(
        node["status"]["addresses"][0],
        serde_json::json!({"type": "InternalIP", "address": "127.0.0.1"})
    );
    assert_eq!(node["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(node["status"]["conditions"][0]["status"], "True");
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.34.1+k3s1");
    for key in ["cpu", "memory", "pods"] {
        assert!(
            node["status"]["allocatable"][key].is_string(),
            "allocatable.{key}"
        );
        assert!(
            node["status"]["capacity"][key].is_string(),
            "capacity.{key}"
        );
    }
}

#[test]
fn help_and_version_say_this_is_a_stand_in() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_k3s"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, help) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(
        help.contains("STAND-IN") && help.contains("NOT the K3s binary"),
        "{help}"
    );
    let (code, version) = run(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(
        version.contains("v1.34.1+k3s1") && version.contains("STAND-IN"),
        "{version}"
    );
    assert_eq!(
        run(&["etcd-snapshot"]).0,
        Some(2),
        "unknown subcommands are usage errors"
    );
}

#[test]
fn pods_list_empty_in_every_namespace_whatever_the_selectors() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let admin = server.client(true);
    let url = server.url();
    block(async {
        for path in [
            "/api/v1/pods",
            "/api/v1/pods?fieldSelector=spec.nodeName%3Ds1",
            "/api/v1/namespaces/kube-system/pods?labelSelector=app%3Dx&fieldSelector=spec.nodeName%3Ds1",
        ] {
            let (status, body) = get(&admin, &format!("{url}{path}")).await.unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            let list: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(list["kind"], "PodList", "{path}");
            assert_eq!(list["apiVersion"], "v1", "{path}");
            assert!(list["metadata"]["resourceVersion"].is_string(), "{path}");
            assert_eq!(list["items"], serde_json::json!([]), "{path}");
        }
        let (status, body) = get(&admin, &format!("{url}/api/v1")).await.unwrap();
        assert_eq!(status, 200);
        let discovery: serde_json::Value = serde_json::from_str(&body).unwrap();
        let pods = discovery["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods")
            .unwrap_or_else(|| panic!("no pods in /api/v1: {body}"));
        assert_eq!(pods["namespaced"], true);
        assert_eq!(pods["verbs"], serde_json::json!(["get", "list"]));
        // Anonymous callers still get nothing.
        let (status, _) = get(&server.client(false), &format!("{url}/api/v1/pods"))
            .await
            .unwrap();
        assert_eq!(status, 401);
    });
}
