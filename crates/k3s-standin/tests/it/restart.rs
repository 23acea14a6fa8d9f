//! A restarted server (config changed, unit restarted) keeps its CA, token,
//! agents and the labels applied through the API.

use serde_json::{Value, json};

use crate::support::{Server, agent, block, eventually, get};

fn node(server: &Server, name: &str) -> anyhow::Result<Value> {
    let (status, body) = block(get(
        &server.client(true),
        &format!("{}/api/v1/nodes/{name}", server.url()),
    ))?;
    anyhow::ensure!(status == 200, "{status} {body}");
    Ok(serde_json::from_str(&body)?)
}

#[test]
fn restarted_server_keeps_ca_token_agents_and_api_labels() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1\nnode-label: [kafka=true]");
    let token = server.token();
    let (_agent, _root) = agent(
        "agent",
        "node-name: a1\nnode-ip: 127.0.0.2\n",
        &[("K3S_URL", &server.url()), ("K3S_TOKEN", &token)],
    );
    let before = eventually("a1 registered", || node(&server, "a1"));
    let label = |name: &str, key: &str| {
        block(async {
            server
                .client(true)
                .patch(format!("{}/api/v1/nodes/{name}", server.url()))
                .header("content-type", "application/merge-patch+json")
                .body(json!({"metadata": {"labels": {key: "true"}}}).to_string())
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    assert_eq!(label("a1", "node-role.kubernetes.io/worker"), 200);
    // The server's own node registers again on restart: the label must stay.
    assert_eq!(label("s1", "node-role.kubernetes.io/control-plane"), 200);

    let server = server.restart();
    // Compared without printing: the token is a secret even in a test.
    assert!(
        server.token() == token,
        "token (CA hash and secret) must survive a restart"
    );
    let after = node(&server, "a1").unwrap();
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        after["metadata"]["labels"]["node-role.kubernetes.io/worker"],
        "true"
    );
    assert_eq!(after["status"]["conditions"][0]["status"], "True");
    let own = node(&server, "s1").unwrap();
    assert_eq!(own["metadata"]["labels"]["kafka"], "true");
    assert_eq!(
        own["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        "true"
    );
}
