//! Served Node and NodeList JSON against the Kubernetes 1.34 OpenAPI
//! (swagger 2.0) definitions, made strict: an object with listed
//! properties may carry no others, so a misspelt field fails too.

use serde_json::{Value, json};

use crate::support::{Server, agent, block, eventually, get, required_outside, workspace_root};

fn swagger() -> Option<Value> {
    let path = workspace_root().join("../shared/schemas/k8s-v1.34.1/swagger.json");
    let path = required_outside(
        path,
        "the Kubernetes 1.34 swagger",
        "served JSON is NOT schema-checked",
    )
    .unwrap()?;
    Some(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn strict(value: &mut Value) {
    if let Value::Object(map) = value {
        if map.contains_key("properties") && !map.contains_key("additionalProperties") {
            map.insert("additionalProperties".into(), Value::Bool(false));
        }
        map.values_mut().for_each(strict);
    } else if let Value::Array(items) = value {
        items.iter_mut().for_each(strict);
    }
}

fn validator(swagger: &Value, definition: &str) -> jsonschema::Validator {
    let mut definitions = swagger["definitions"].clone();
    strict(&mut definitions);
    let schema = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "definitions": definitions,
        "$ref": format!("#/definitions/{definition}"),
    });
    jsonschema::validator_for(&schema).unwrap()
}

fn problems(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn served_node_and_node_list_validate_against_the_1_34_swagger() {
    let Some(swagger) = swagger() else { return };
    let node_schema = validator(&swagger, "io.k8s.api.core.v1.Node");
    let list_schema = validator(&swagger, "io.k8s.api.core.v1.NodeList");

    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1\nnode-label: [kafka=true]");
    let (_agent, _root) = agent(
        "agent",
        "node-name: a1\nnode-ip: 127.0.0.2\nnode-taint: [\"dedicated=kafka:NoSchedule\"]\n",
        &[("K3S_URL", &server.url()), ("K3S_TOKEN", &server.token())],
    );
    let admin = server.client(true);
    let url = server.url();
    let list: Value = eventually("the agent's node is listed", || {
        let (status, body) = block(get(&admin, &format!("{url}/api/v1/nodes")))?;
        anyhow::ensure!(status == 200, "{status} {body}");
        let list: Value = serde_json::from_str(&body)?;
        anyhow::ensure!(list["items"].as_array().map(Vec::len) == Some(2), "{body}");
        Ok(list)
    });
    assert_eq!(problems(&list_schema, &list), Vec::<String>::new());
    for name in ["s1", "a1"] {
        let (status, body) = block(get(&admin, &format!("{url}/api/v1/nodes/{name}"))).unwrap();
        assert_eq!(status, 200);
        let node: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            problems(&node_schema, &node),
            Vec::<String>::new(),
            "{name}"
        );
    }

    // The check has teeth: a misspelt field and a wrongly typed one fail.
    let mut broken: Value = list["items"][0].clone();
    broken["status"]["nodeInfo"]["kubeletVersoin"] = json!("x");
    broken["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = json!("10250");
    assert_eq!(
        problems(&node_schema, &broken).len(),
        2,
        "{:?}",
        problems(&node_schema, &broken)
    );
}

#[test]
fn discovery_version_and_error_documents_validate_against_the_1_34_swagger() {
    let Some(swagger) = swagger() else { return };
    let server = Server::start("node-name: s1\nnode-ip: 127.0.0.1");
    let admin = server.client(true);
    let anonymous = server.client(false);
    let url = server.url();
    let meta = "io.k8s.apimachinery.pkg.apis.meta.v1";
    let cases = [
        (
            &admin,
            "/version",
            "io.k8s.apimachinery.pkg.version.Info".to_string(),
            200,
        ),
        (&admin, "/api", format!("{meta}.APIVersions"), 200),
        (&admin, "/apis", format!("{meta}.APIGroupList"), 200),
        (&admin, "/api/v1", format!("{meta}.APIResourceList"), 200),
        (&admin, "/api/v1/nodes/nope", format!("{meta}.Status"), 404),
        (&anonymous, "/api/v1/nodes", format!("{meta}.Status"), 401),
    ];
    for (client, path, definition, code) in cases {
        let (status, body) = block(get(client, &format!("{url}{path}"))).unwrap();
        assert_eq!(status, code, "{path}: {body}");
        let document: Value = serde_json::from_str(&body).unwrap();
        let found = problems(&validator(&swagger, &definition), &document);
        assert_eq!(found, Vec::<String>::new(), "{path} as {definition}");
    }
}
