//! `k3s agent`: CA pinning, kubelet label rules, token checks.

use crate::support::{Server, agent, block, get, wait_exit};

fn node_names(server: &Server) -> Vec<String> {
    let (status, body) = block(get(
        &server.client(true),
        &format!("{}/api/v1/nodes", server.url()),
    ))
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn agent_refuses_a_server_whose_ca_does_not_match_the_token_and_names_both_hashes() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let real = server.token();
    let (real_hash, secret) = real
        .trim_start_matches("K10")
        .split_once("::server:")
        .unwrap();
    let pinned = "ab".repeat(32);
    let forged = format!("K10{pinned}::server:{secret}");
    let (mut proc, _root) = agent(
        "agent",
        "node-name: a1\nnode-ip: 127.0.0.2\n",
        &[("K3S_URL", &server.url()), ("K3S_TOKEN", &forged)],
    );
    let (status, log) = wait_exit(&mut proc);
    assert!(
        !status.success(),
        "agent joined a server with another CA: {log}"
    );
    assert!(
        log.contains(&pinned) && log.contains(real_hash),
        "error must name both hashes: {log}"
    );
    assert!(!log.contains(secret), "the secret leaked into the log");
    assert_eq!(
        node_names(&server),
        ["s1"],
        "the agent must not have registered"
    );
}

#[test]
fn agent_with_a_node_role_label_refuses_to_start() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let config = format!(
        "node-name: a1\nnode-ip: 127.0.0.2\nserver: {}\ntoken: {}\nnode-label:\n  - kafka=true\n  - node-role.kubernetes.io/worker=true\n",
        server.url(),
        server.token()
    );
    let (mut proc, _root) = agent("agent", &config, &[]);
    let (status, log) = wait_exit(&mut proc);
    assert!(!status.success(), "agent started with a role label: {log}");
    assert!(
        log.contains("node-role.kubernetes.io/worker"),
        "message must name the label: {log}"
    );
    assert_eq!(node_names(&server), ["s1"]);
}

#[test]
fn agent_with_the_right_ca_but_a_wrong_secret_is_turned_away() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let real = server.token();
    let (hash, _) = real.trim_start_matches("K10").split_once("::").unwrap();
    let token = format!("K10{hash}::server:not-the-secret");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let config = format!(
        "node-name: a1\nnode-ip: 127.0.0.2\nserver: {}\ntoken-file: {}\n",
        server.url(),
        token_file.display()
    );
    let (mut proc, _root) = agent("agent", &config, &[]);
    let (status, log) = wait_exit(&mut proc);
    assert!(!status.success(), "{log}");
    assert!(log.contains("rejected the token"), "{log}");
    assert_eq!(node_names(&server), ["s1"]);
}

#[test]
fn a_mistyped_delay_stops_the_agent_with_the_variable_named() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let (mut proc, _root) = agent(
        "agent",
        "node-name: a1\nnode-ip: 127.0.0.2\n",
        &[
            ("K3S_URL", &server.url()),
            ("K3S_TOKEN", &server.token()),
            ("K3S_STANDIN_JOIN_DELAY_MS", "2s"),
        ],
    );
    let (status, log) = wait_exit(&mut proc);
    assert!(!status.success(), "{log}");
    assert!(log.contains("K3S_STANDIN_JOIN_DELAY_MS"), "{log}");
}
