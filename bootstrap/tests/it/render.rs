//! Rendered objects: golden files, the official schemas, and their promises.

use std::path::Path;
use std::sync::OnceLock;

use bootstrap::facts::{Facts, NodeCapacity};
use bootstrap::files::{file_name, to_yaml};
use bootstrap::{Options, render};
use kube_schemas::Schemas;
use serde_json::{Value, json};

use crate::golden;

/// Two cpx22 app nodes as K3s reports them (allocatable 2 CPUs, 3.84 GiB).
pub fn facts() -> Facts {
    let node = |name: &str| NodeCapacity {
        name: name.into(),
        cpu_millis: 2000,
        memory_bytes: 4_028_748 * 1024,
    };
    Facts {
        cluster: "dev".into(),
        kafka_advertised_host: "203.0.113.20".into(),
        app_nodes: vec![node("dev-app-0"), node("dev-app-1")],
        kafka_nodes: vec![
            "dev-kafka-0".into(),
            "dev-kafka-1".into(),
            "dev-kafka-2".into(),
        ],
    }
}

fn objects() -> Vec<Value> {
    render(&facts(), &Options::default()).unwrap()
}

fn schemas() -> Option<&'static Schemas> {
    static SCHEMAS: OnceLock<Option<Schemas>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            let dir = Schemas::find_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()?;
            Some(Schemas::load(&dir).unwrap())
        })
        .as_ref()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn rendered_objects_match_their_golden_file() {
    let text: String = objects()
        .iter()
        .map(|o| format!("---\n{}", to_yaml(o).unwrap()))
        .collect();
    golden("manifests.yaml", &text);
}

#[test]
fn every_object_is_valid_against_the_official_schemas_except_the_kafka_user_which_has_no_crd_there()
{
    let Some(schemas) = schemas() else { return };
    for object in objects() {
        if object["kind"] == "KafkaUser" {
            // Strimzi's KafkaUser CRD is not in the schemas directory: its shape is checked
            // by hand in the_kafka_user_has_scram_and_acls.
            continue;
        }
        schemas.validate(&object).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_kafka_user_has_scram_and_acls() {
    let objects = objects();
    let user = find(&objects, "KafkaUser", "trading-apps");
    assert_eq!(user["apiVersion"], "kafka.strimzi.io/v1beta2");
    assert_eq!(user["metadata"]["namespace"], "kafka");
    assert_eq!(user["metadata"]["labels"]["strimzi.io/cluster"], "trading");
    assert_eq!(
        user["spec"]["authentication"],
        json!({"type": "scram-sha-512"})
    );
    assert_eq!(user["spec"]["authorization"]["type"], "simple");
    let acls = user["spec"]["authorization"]["acls"].as_array().unwrap();
    assert!(acls.iter().any(|a| {
        a["resource"]["type"] == "topic"
            && a["operations"]
                .as_array()
                .unwrap()
                .contains(&json!("Write"))
    }));
    assert_eq!(
        user.as_object().unwrap().len(),
        4,
        "apiVersion, kind, metadata, spec only"
    );
}

#[test]
fn every_object_is_complete_and_labelled() {
    for o in objects() {
        assert!(
            o["apiVersion"].is_string()
                && o["kind"].is_string()
                && o["metadata"]["name"].is_string(),
            "{o}"
        );
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "k3strading",
            "{o}"
        );
        assert_eq!(
            o["metadata"]["labels"]["k3strading.io/cluster"], "dev",
            "{o}"
        );
        let cluster_scoped = [
            "Namespace",
            "PriorityClass",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ];
        assert_eq!(
            o["metadata"]["namespace"].is_string(),
            !cluster_scoped.contains(&o["kind"].as_str().unwrap()),
            "{o}"
        );
    }
}

#[test]
fn namespaces_come_first_and_the_application_last() {
    let objects = objects();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(&kinds[..5], ["Namespace"; 5]);
    assert_eq!(kinds.last(), Some(&"Application"));
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(pos("ResourceQuota") < pos("HelmChart") && pos("HelmChart") < pos("Kafka"));
}

#[test]
fn quotas_are_50_40_10_percent_of_the_app_nodes_rounded_down() {
    let objects = objects();
    // 2 × 2000m and 2 × 4028748Ki = 8057496Ki = 7868.6 MiB.
    for (ns, cpu, mem) in [
        ("ingestion", "2000m", "3934Mi"),
        ("strategies", "1600m", "3147Mi"),
        ("monitoring", "400m", "786Mi"),
    ] {
        let q = objects
            .iter()
            .find(|o| o["kind"] == "ResourceQuota" && o["metadata"]["namespace"] == ns)
            .unwrap();
        assert_eq!(
            q["spec"]["hard"],
            json!({"requests.cpu": cpu, "requests.memory": mem}),
            "{ns}"
        );
    }
}

#[test]
fn without_app_nodes_quotas_are_zero() {
    let mut facts = facts();
    facts.app_nodes.clear();
    for q in render(&facts, &Options::default())
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "ResourceQuota")
    {
        assert_eq!(
            q["spec"]["hard"],
            json!({"requests.cpu": "0m", "requests.memory": "0Mi"})
        );
    }
}

#[test]
fn the_admission_policy_requires_each_namespace_class() {
    let objects = objects();
    let policy = find(
        &objects,
        "ValidatingAdmissionPolicy",
        "k3strading-namespace-priority",
    );
    assert_eq!(
        policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"],
        json!(["pods"])
    );
    let binding = find(
        &objects,
        "ValidatingAdmissionPolicyBinding",
        "k3strading-namespace-priority",
    );
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    for (ns, class) in [
        ("ingestion", "trading-high"),
        ("strategies", "trading-medium"),
        ("monitoring", "trading-low"),
    ] {
        assert_eq!(
            find(&objects, "Namespace", ns)["metadata"]["labels"]["k3strading.io/priority-class"],
            class
        );
    }
    let value = |n: &str| {
        find(&objects, "PriorityClass", n)["value"]
            .as_i64()
            .unwrap()
    };
    assert!(
        value("trading-high") > value("trading-medium")
            && value("trading-medium") > value("trading-low")
    );
    assert_eq!(
        find(&objects, "PriorityClass", "trading-low")["preemptionPolicy"],
        "Never"
    );
}

#[test]
fn kafka_advertises_primary_ip_2_on_fixed_node_ports_with_tls_and_scram() {
    let objects = objects();
    let kafka = find(&objects, "Kafka", "trading");
    let external = &kafka["spec"]["kafka"]["listeners"][1];
    assert_eq!(
        (external["type"].as_str(), external["tls"].as_bool()),
        (Some("nodeport"), Some(true))
    );
    assert_eq!(external["authentication"]["type"], "scram-sha-512");
    for (id, broker) in external["configuration"]["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(broker["broker"], id);
        assert_eq!(broker["advertisedHost"], "203.0.113.20");
        assert!((31090..=31095).contains(&broker["nodePort"].as_u64().unwrap()));
    }
    let pool = find(&objects, "KafkaNodePool", "kafka");
    assert_eq!(pool["spec"]["replicas"], 3);
    assert_eq!(
        pool["metadata"]["annotations"]["strimzi.io/next-node-ids"],
        "[0-2]"
    );
}

#[test]
fn the_metadata_version_is_the_one_strimzi_lists_for_kafka_4_0_0() {
    let Some(_) = schemas() else { return };
    let dir = Schemas::find_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .unwrap();
    let text = std::fs::read_to_string(dir.join("strimzi-0.50.1/kafka-versions.yaml")).unwrap();
    let versions: Vec<Value> = serde_yaml_ng::from_str(&text).unwrap();
    let v = versions.iter().find(|v| v["version"] == "4.0.0").unwrap();
    assert_eq!(
        v["metadata"].as_f64(),
        bootstrap::render::METADATA_VERSION.parse::<f64>().ok(),
        "YAML reads `metadata: 4.0` as a number"
    );
    assert_eq!(v["supported"], true);
}

#[test]
fn a_bad_advertised_host_is_refused() {
    let mut facts = facts();
    facts.kafka_advertised_host = "kafka.example.com".into();
    assert!(render(&facts, &Options::default()).is_err());
}

#[test]
fn files_are_numbered_in_apply_order_and_named_by_object() {
    let dir = tempfile::tempdir().unwrap();
    let objects = objects();
    let paths = bootstrap::write_dir(dir.path(), &objects).unwrap();
    assert_eq!(paths.len(), objects.len());
    assert_eq!(
        file_name(0, &objects[0]).unwrap(),
        "00-namespace-kafka.yaml"
    );
    let last = paths.last().unwrap();
    assert_eq!(
        last.file_name().unwrap().to_str().unwrap(),
        format!("{:02}-application-argocd-root.yaml", objects.len() - 1)
    );
    let back: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(last).unwrap()).unwrap();
    assert_eq!(back, objects[objects.len() - 1]);
}

#[test]
fn a_private_repository_gets_a_labelled_credentials_secret_before_the_application() {
    let mut opts = Options::default();
    assert!(
        !render(&facts(), &opts)
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "Secret"),
        "a public repository needs no Secret"
    );
    opts.repo_url = "https://github.com/acme/private-gitops.git".into();
    opts.repo_credentials = Some(bootstrap::options::RepoCredentials {
        username: "deploy-bot".into(),
        password: k3strading_cluster::k3s::Secret::new("ghp_example_token_value"),
    });
    let objects = render(&facts(), &opts).unwrap();
    let at = |kind: &str| objects.iter().position(|o| o["kind"] == kind).unwrap();
    let secret = &objects[at("Secret")];
    assert_eq!(secret["metadata"]["namespace"], "argocd");
    assert_eq!(
        secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
        "repository"
    );
    assert_eq!(secret["stringData"]["url"], opts.repo_url.as_str());
    assert_eq!(secret["stringData"]["username"], "deploy-bot");
    assert_eq!(secret["stringData"]["password"], "ghp_example_token_value");
    assert!(at("Namespace") < at("Secret") && at("Secret") < at("Application"));
    if let Some(schemas) = schemas() {
        schemas.validate(secret).unwrap_or_else(|e| panic!("{e}"));
    }
    // The Options' Debug (e.g. in a log line) never shows the token.
    assert!(!format!("{opts:?}").contains("ghp_example"));
}
