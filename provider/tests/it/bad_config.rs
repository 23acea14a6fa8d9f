//! Bad configurations are rejected at validate or plan time, with the
//! attribute named, and nothing is created.

use k3strading_e2e::Terraform;

use crate::common::*;

const HEADER: &str = r#"terraform {
  required_providers {
    k3strading = { source = "k3strading/k3strading" }
  }
}
provider "k3strading" {}
"#;

/// A cluster and two nodes; `cluster_extra` and the node lines are spliced in.
fn config(cluster_extra: &str, node_a: &str, node_b: &str) -> String {
    format!(
        r#"{HEADER}
resource "k3strading_cluster" "c" {{
  name = "k3s-trading-bad"
{cluster_extra}
}}
resource "k3strading_node" "a" {{
  cluster = k3strading_cluster.c.name
  role    = "kafka"
{node_a}
}}
resource "k3strading_node" "b" {{
  cluster = k3strading_cluster.c.name
  role    = "app"
{node_b}
}}
"#
    )
}

const A: &str = "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.20\"\n";
const B: &str = "  name = \"k3s-trading-bad-app-0\"\n  private_ip = \"10.0.1.30\"\n";

struct Case {
    what: &'static str,
    config: String,
    attribute: &'static str,
    message: &'static str,
    env: &'static [(&'static str, &'static str)],
}

fn case(
    what: &'static str,
    config: String,
    attribute: &'static str,
    message: &'static str,
) -> Case {
    Case {
        what,
        config,
        attribute,
        message,
        env: &[],
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "malformed CIDR",
            config("  network_cidr = \"10.0.1.0/33\"", A, B),
            "network_cidr",
            "is not an IPv4 CIDR",
        ),
        case(
            "public CIDR",
            config("  network_cidr = \"8.8.8.0/24\"", A, B),
            "network_cidr",
            "RFC 1918",
        ),
        case(
            "control plane outside the network",
            config("  control_plane_ip = \"10.0.2.10\"", A, B),
            "control_plane_ip",
            "outside the cluster network",
        ),
        case(
            "node outside the network",
            config(
                "",
                "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.2.20\"\n",
                B,
            ),
            "private_ip",
            "outside the cluster network",
        ),
        case(
            "duplicate private IP",
            config(
                "",
                A,
                "  name = \"k3s-trading-bad-app-0\"\n  private_ip = \"10.0.1.20\"\n",
            ),
            "private_ip",
            "Duplicate private_ip",
        ),
        case(
            "node on the control plane's IP",
            config(
                "",
                "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.10\"\n",
                B,
            ),
            "private_ip",
            "control plane's address",
        ),
        case(
            "gateway address",
            config(
                "",
                "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.1\"\n",
                B,
            ),
            "private_ip",
            "reserved",
        ),
        case(
            "deprecated server type",
            config("  control_plane_type = \"cpx21\"", A, B),
            "control_plane_type",
            "deprecated there",
        ),
        case(
            "deprecated node type",
            config("", &format!("{A}  server_type = \"cpx11\"\n"), B),
            "server_type",
            "deprecated there",
        ),
        case(
            "unknown location",
            config("  location = \"mars1\"", A, B),
            "location",
            "Unknown location",
        ),
        case(
            "non-RFC1123 cluster name",
            config("", A, B).replace("k3s-trading-bad\"\n", "K3s_Trading\"\n"),
            "name",
            "RFC 1123",
        ),
        case(
            "unknown role",
            config("", A, B).replace("role    = \"app\"", "role    = \"db\""),
            "role",
            "is not one of",
        ),
        case(
            "unknown Primary IP",
            config("", &format!("{A}  primary_ip = \"nope\"\n"), B),
            "primary_ip",
            "has no Primary IP",
        ),
        case(
            "bad SSH source",
            config("  ssh_allowed_cidrs = [\"everyone\"]", A, B),
            "ssh_allowed_cidrs",
            "is not a CIDR",
        ),
        case(
            "duplicate server name",
            config(
                "",
                A,
                "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.30\"\n",
            ),
            "name",
            "Duplicate server name",
        ),
        case(
            "reserved label",
            config("  labels = { \"k3strading.io/role\" = \"x\" }", A, B),
            "labels",
            "uses the prefix",
        ),
        case(
            "bad timeout",
            config("  timeouts {\n    create = \"soon\"\n  }", A, B),
            "create",
            "not a duration",
        ),
        Case {
            what: "missing token",
            config: config("", A, B),
            attribute: "token",
            message: "Missing Hetzner Cloud API token",
            env: &[("HCLOUD_TOKEN", "")],
        },
    ]
}

fn rejected(tf: &Terraform) {
    let cloud = Cloud::start(|_| {});
    let before = cloud.inventory();
    let cases = cases();
    assert!(cases.len() >= 12);
    for c in cases {
        let wd = workdir(tf, &cloud, Some(&c.config));
        let validate = wd.run_env(&["validate", "-no-color"], c.env).unwrap();
        let run = if validate.code != 0 {
            validate
        } else {
            wd.run_env(&["plan", "-no-color"], c.env).unwrap()
        };
        let out = run.all();
        assert_eq!(run.code, 1, "{}: not rejected\n{out}", c.what);
        assert!(
            out.contains(c.message),
            "{}: message {:?} missing\n{out}",
            c.what,
            c.message
        );
        assert!(
            out.contains(c.attribute),
            "{}: attribute {:?} not named\n{out}",
            c.what,
            c.attribute
        );
        assert!(!out.contains(TOKEN), "{}: token in output", c.what);
        assert_eq!(
            cloud.inventory(),
            before,
            "{}: something was created",
            c.what
        );
    }
    cloud.assert_spec_clean();
}

#[test]
fn bad_configurations_are_rejected_on_terraform_1_15_5() {
    rejected(&terraforms()[0]);
}

#[test]
fn bad_configurations_are_rejected_on_terraform_1_13_5() {
    rejected(&terraforms()[1]);
}
