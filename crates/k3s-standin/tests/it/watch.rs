//! `?watch=true`: ADDED for what exists, MODIFIED on a change, DELETED.

use serde_json::{Value, json};

use crate::support::{DEADLINE, Server, agent, block, eventually, get};

/// Reads watch lines until one satisfies `want`, within the deadline.
async fn next_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    // Shorter than the client's own timeout, so a missing event is named.
    let wait = tokio::time::timeout(DEADLINE / 2, async {
        loop {
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                let event: Value = serde_json::from_str(&line).unwrap();
                if want(&event) {
                    return event;
                }
            }
            let chunk = response.chunk().await.unwrap().expect("watch ended early");
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    });
    wait.await
        .expect("no matching watch event before the deadline")
}

fn is(kind: &'static str, name: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == kind && e["object"]["metadata"]["name"] == name
}

#[test]
fn watch_reports_existing_nodes_then_changes_and_deletions() {
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let (_agent, _root) = agent(
        "agent",
        "node-name: a1\nnode-ip: 127.0.0.2\n",
        &[("K3S_URL", &server.url()), ("K3S_TOKEN", &server.token())],
    );
    let admin = server.client(true);
    let url = server.url();
    eventually("a1 registered", || {
        let (status, _) = block(get(&admin, &format!("{url}/api/v1/nodes/a1")))?;
        anyhow::ensure!(status == 200);
        Ok(())
    });
    block(async {
        let mut response = admin
            .get(format!("{url}/api/v1/nodes?watch=true&timeoutSeconds=120"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut buffer = String::new();
        // Existing nodes arrive in name order.
        next_event(&mut response, &mut buffer, is("ADDED", "a1")).await;
        next_event(&mut response, &mut buffer, is("ADDED", "s1")).await;

        let patch = json!({"metadata": {"labels": {"kafka": "true"}}}).to_string();
        let patched = admin
            .patch(format!("{url}/api/v1/nodes/a1"))
            .header("content-type", "application/strategic-merge-patch+json")
            .body(patch)
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200);
        let event = next_event(&mut response, &mut buffer, is("MODIFIED", "a1")).await;
        assert_eq!(event["object"]["metadata"]["labels"]["kafka"], "true");

        let deleted = admin
            .delete(format!("{url}/api/v1/nodes/a1"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
        next_event(&mut response, &mut buffer, is("DELETED", "a1")).await;
    });
}
