//! The generic object store through real kubectl: server-side apply of a
//! cluster's objects, the SIMULATED Helm controller registering Strimzi's
//! CRDs from the schemas directory, simulated operator status, conflicts
//! between field managers, and CRD schema validation.

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};

use crate::kubectl::{Kubectl, kubectl_binary};
use crate::support::{Server, block, eventually, required_outside, workspace_root};

const BASE: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: ingestion
---
apiVersion: v1
kind: Namespace
metadata:
  name: kafka
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: ingestion-critical
value: 1000000
globalDefault: false
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: ingestion-quota
  namespace: ingestion
spec:
  hard:
    requests.cpu: \"4\"
---
apiVersion: v1
kind: LimitRange
metadata:
  name: ingestion-limits
  namespace: ingestion
spec:
  limits:
  - type: Container
    default:
      cpu: 500m
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: strimzi-kafka-operator
  namespace: kube-system
spec:
  repo: https://strimzi.io/charts/
  chart: strimzi-kafka-operator
  version: 0.50.1
  targetNamespace: kafka
";

const KAFKA: &str = "\
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaNodePool
metadata:
  name: brokers
  namespace: kafka
  labels:
    strimzi.io/cluster: trading
spec:
  replicas: 3
  roles: [controller, broker]
  storage:
    type: ephemeral
---
apiVersion: kafka.strimzi.io/v1beta2
kind: Kafka
metadata:
  name: trading
  namespace: kafka
spec:
  kafka:
    version: 4.0.0
    listeners:
    - name: plain
      port: 9092
      type: internal
      tls: false
    - name: external
      port: 9094
      type: nodeport
      tls: false
      configuration:
        brokers:
        - broker: 0
          advertisedHost: 203.0.113.10
          nodePort: 31090
";

struct Setup {
    server: Server,
    kubectl: Kubectl,
    work: tempfile::TempDir,
}

/// A server whose simulated Helm controller reads CRDs from the schemas
/// directory, and kubectl for it; None (skip) when either is missing.
fn setup() -> Option<Setup> {
    let binary = kubectl_binary()?;
    let schemas = required_outside(
        workspace_root().join("../shared/schemas/strimzi-0.50.1"),
        "the Strimzi CRDs of the schemas directory",
        "provide the schemas directory next to the workspace",
    )
    .unwrap()?;
    let dir = schemas.parent().unwrap().to_str().unwrap().to_string();
    let server = Server::start_with(
        "node-name: s1\nnode-ip: 127.0.0.1",
        &["--standin-schemas", &dir],
    );
    let work = tempfile::tempdir().unwrap();
    let kubectl = Kubectl {
        binary,
        kubeconfig: server.path("etc/rancher/k3s/k3s.yaml"),
        cache: work.path().join("cache"),
    };
    Some(Setup {
        server,
        kubectl,
        work,
    })
}

impl Setup {
    fn apply(&self, name: &str, yaml: &str, extra: &[&str]) -> anyhow::Result<String> {
        let file = self.work.path().join(name);
        std::fs::write(&file, yaml)?;
        let mut args = vec!["apply", "--server-side", "-f", file.to_str().unwrap()];
        args.extend(extra);
        self.kubectl.run(&args)
    }

    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = self
            .kubectl
            .run(&[args, &["-o", "json", "--show-managed-fields"]].concat())?;
        serde_json::from_str(&out).context("kubectl output is not JSON")
    }
}

#[test]
fn server_side_apply_brings_up_simulated_strimzi_and_a_ready_kafka() {
    let Some(s) = setup() else { return };
    let out = s.apply("base.yaml", BASE, &[]).unwrap();
    assert!(
        out.contains("helmchart.helm.cattle.io/strimzi-kafka-operator serverside-applied"),
        "{out}"
    );
    assert!(
        s.kubectl
            .run(&["get", "priorityclasses"])
            .unwrap()
            .contains("ingestion-critical")
    );
    assert!(
        s.kubectl
            .run(&["get", "resourcequota", "-n", "ingestion"])
            .unwrap()
            .contains("ingestion-quota")
    );
    assert!(s.kubectl.run(&["get", "ns"]).unwrap().contains("ingestion"));

    // The simulated chart install registers the CRDs, then kubectl finds kafkas.
    eventually("kubectl get kafkas -A", || {
        s.kubectl.run(&["get", "kafkas", "-A"])
    });
    let chart = s
        .json(&[
            "get",
            "helmchart",
            "-n",
            "kube-system",
            "strimzi-kafka-operator",
        ])
        .unwrap();
    assert_eq!(
        chart["status"]["jobName"],
        "helm-install-strimzi-kafka-operator"
    );
    assert_eq!(chart["spec"]["version"], "0.50.1");
    let deployment = s
        .json(&[
            "get",
            "deployment",
            "-n",
            "kafka",
            "strimzi-cluster-operator",
        ])
        .unwrap();
    assert!(deployment["status"]["availableReplicas"].as_u64() >= Some(1));
    let crd = s.json(&["get", "crd", "kafkas.kafka.strimzi.io"]).unwrap();
    let established = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established, "{crd}");

    s.apply("kafka.yaml", KAFKA, &[]).unwrap();
    let kafka = eventually("Kafka Ready", || {
        let kafka = s.json(&["get", "kafka", "-n", "kafka", "trading"])?;
        ensure!(
            kafka["status"]["conditions"][0]["status"] == "True",
            "{}",
            kafka["status"]
        );
        Ok(kafka)
    });
    let external = &kafka["status"]["listeners"][1];
    assert_eq!(
        external["addresses"][0],
        json!({"host": "203.0.113.10", "port": 31090})
    );
    assert_eq!(kafka["status"]["kafkaVersion"], "4.0.0");
    assert_eq!(kafka["status"]["clusterId"].as_str().unwrap().len(), 22);
    let pool = s
        .json(&["get", "kafkanodepool", "-n", "kafka", "brokers"])
        .unwrap();
    assert_eq!(pool["status"]["nodeIds"], json!([0, 1, 2]));
    assert!(
        s.kubectl
            .run(&["get", "kafkanodepools", "-n", "kafka"])
            .unwrap()
            .contains("brokers")
    );
    assert!(
        s.kubectl
            .run(&["get", "kafkas", "-A"])
            .unwrap()
            .contains("trading")
    );

    // Applying the same documents again is a no-op.
    let before = s
        .json(&[
            "get",
            "kafka,kafkanodepool,resourcequota,priorityclass,helmchart",
            "-A",
        ])
        .unwrap();
    s.apply("base.yaml", BASE, &[]).unwrap();
    s.apply("kafka.yaml", KAFKA, &[]).unwrap();
    let after = s
        .json(&[
            "get",
            "kafka,kafkanodepool,resourcequota,priorityclass,helmchart",
            "-A",
        ])
        .unwrap();
    for (a, b) in before["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["items"].as_array().unwrap())
    {
        assert_eq!(
            a["metadata"]["resourceVersion"], b["metadata"]["resourceVersion"],
            "{}",
            a["metadata"]["name"]
        );
        assert_eq!(
            a["metadata"]["managedFields"],
            b["metadata"]["managedFields"]
        );
        assert_eq!(a["metadata"]["managedFields"][0]["manager"], "kubectl");
    }
    assert_eq!(before["items"].as_array().unwrap().len(), 5);
    drop(s.server);
}

const CONFIG: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  retention: 7d
";

#[test]
fn a_field_owned_by_another_manager_conflicts_until_forced() {
    let Some(s) = setup() else { return };
    s.apply("cm.yaml", CONFIG, &[]).unwrap();
    let theirs = CONFIG.replace("7d", "30d");
    let err = s
        .apply("cm2.yaml", &theirs, &["--field-manager", "k3strading"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("conflict with \"kubectl\""), "{err}");
    assert!(err.contains(".data.retention"), "{err}");

    // The same request as kube-rs's Api::patch with PatchParams::apply.
    let client = s.server.client(true);
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps/settings",
        s.server.url()
    );
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}, "data": {"retention": "30d"}});
    let send = |query: &'static str| {
        let request = client
            .patch(format!("{url}?{query}"))
            .header("Content-Type", "application/apply-patch+yaml")
            .body(body.to_string());
        block(async move {
            let response = request.send().await.unwrap();
            let code = response.status().as_u16();
            (
                code,
                serde_json::from_str::<Value>(&response.text().await.unwrap()).unwrap(),
            )
        })
    };
    let (code, status) = send("fieldManager=k3strading&force=false");
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["details"]["causes"][0]["field"], ".data.retention");
    assert_eq!(
        status["details"]["causes"][0]["type"],
        "FieldManagerConflict"
    );
    let (code, status) = send("force=true");
    assert_eq!(
        (code, &status["reason"]),
        (400, &json!("BadRequest")),
        "fieldManager is required"
    );

    s.apply(
        "cm2.yaml",
        &theirs,
        &["--field-manager", "k3strading", "--force-conflicts"],
    )
    .unwrap();
    let cm = s
        .json(&["get", "configmap", "settings", "-n", "default"])
        .unwrap();
    assert_eq!(cm["data"]["retention"], "30d");
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["k3strading"], "kubectl lost its only field");
    let (code, _) = send("fieldManager=k3strading&force=true");
    assert_eq!(code, 200);
}

#[test]
fn a_custom_resource_violating_its_crd_schema_is_rejected_with_422() {
    let Some(s) = setup() else { return };
    s.apply("base.yaml", BASE, &[]).unwrap();
    eventually("Strimzi CRDs", || {
        s.kubectl.run(&["get", "kafkanodepools", "-A"])
    });
    let bad = KAFKA.replace("replicas: 3", "replicas: three");
    let err = s.apply("bad.yaml", &bad, &[]).unwrap_err().to_string();
    assert!(
        err.contains("is invalid") && err.contains("spec.replicas"),
        "{err}"
    );
    // The namespace must exist.
    let elsewhere = KAFKA.replace("namespace: kafka", "namespace: missing");
    let err = s
        .apply("missing.yaml", &elsewhere, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("namespaces \"missing\" not found"), "{err}");
}

const ARGO: &str = "\
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: argo-cd
  namespace: kube-system
spec:
  repo: https://argoproj.github.io/argo-helm
  chart: argo-cd
  version: 9.1.0
  targetNamespace: argocd
  createNamespace: true
";

const USER_AND_APP: &str = "\
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaUser
metadata:
  name: ingest
  namespace: kafka
  labels:
    strimzi.io/cluster: trading
spec:
  authentication:
    type: scram-sha-512
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: trading
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://example.invalid/trading.git
    path: deploy
    targetRevision: main
  destination:
    server: https://kubernetes.default.svc
    namespace: ingestion
";

#[test]
fn simulated_argocd_and_user_operator_report_what_waits_look_for() {
    let Some(s) = setup() else { return };
    s.apply("base.yaml", BASE, &[]).unwrap();
    s.apply("argo.yaml", ARGO, &[]).unwrap();
    eventually("KafkaUser and Application CRDs", || {
        s.kubectl.run(&["get", "kafkausers", "-A"])?;
        s.kubectl.run(&["get", "applications", "-n", "argocd"])
    });
    let server = s
        .json(&["get", "deployment", "-n", "argocd", "argocd-server"])
        .unwrap();
    let available = server["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Available" && c["status"] == "True");
    assert!(available, "{server}");
    let admin = s
        .json(&[
            "get",
            "secret",
            "-n",
            "argocd",
            "argocd-initial-admin-secret",
        ])
        .unwrap();
    assert!(!admin["data"]["password"].as_str().unwrap().is_empty());

    s.apply("user.yaml", USER_AND_APP, &[]).unwrap();
    eventually(
        "KafkaUser Ready with its Secret, Application Synced",
        || {
            let user = s.json(&["get", "kafkauser", "-n", "kafka", "ingest"])?;
            ensure!(
                user["status"]["conditions"][0]["status"] == "True",
                "{}",
                user["status"]
            );
            let secret = s.json(&["get", "secret", "-n", "kafka", "ingest"])?;
            ensure!(
                secret["data"]["sasl.jaas.config"].is_string()
                    && secret["data"]["password"].is_string()
            );
            let app = s.json(&["get", "application", "-n", "argocd", "trading"])?;
            ensure!(
                app["status"]["sync"]["status"] == "Synced"
                    && app["status"]["health"]["status"] == "Healthy"
            );
            Ok(())
        },
    );
}
