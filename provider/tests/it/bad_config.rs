//! Bad configurations are rejected at validate or plan time, with a
//! diagnostic that points at the offending attribute in the configuration
//! (read from Terraform's `-json` output: the source range it highlights),
//! and nothing is created.

use k3strading_e2e::{Terraform, Workdir};
use serde_json::Value;

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
  install_k3s = false
{cluster_extra}
}}
resource "k3strading_node" "a" {{
  cluster = k3strading_cluster.c.name
  role    = "kafka"
  install_k3s = false
{node_a}
}}
resource "k3strading_node" "b" {{
  cluster = k3strading_cluster.c.name
  role    = "app"
  install_k3s = false
{node_b}
}}
"#
    )
}

const A: &str = "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.20\"\n";
const B: &str = "  name = \"k3s-trading-bad-app-0\"\n  private_ip = \"10.0.1.30\"\n";

/// Where a diagnostic must point: an attribute of a block, given by the
/// block's header line (e.g. `resource "k3strading_node" "b"`).
#[derive(Debug, Clone, Copy)]
struct Target {
    block: &'static str,
    attribute: &'static str,
}

const CLUSTER: &str = "resource \"k3strading_cluster\" \"c\"";
const NODE_A: &str = "resource \"k3strading_node\" \"a\"";
const NODE_B: &str = "resource \"k3strading_node\" \"b\"";
const PROVIDER: &str = "provider \"k3strading\"";

struct Case {
    what: &'static str,
    config: String,
    /// Where the diagnostic may point (either node, for a clash between
    /// two of them).
    targets: Vec<Target>,
    message: &'static str,
    env: &'static [(&'static str, &'static str)],
}

fn at(block: &'static str, attribute: &'static str) -> Target {
    Target { block, attribute }
}

fn case(what: &'static str, config: String, target: Target, message: &'static str) -> Case {
    Case {
        what,
        config,
        targets: vec![target],
        message,
        env: &[],
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "malformed CIDR",
            config("  network_cidr = \"10.0.1.0/33\"", A, B),
            at(CLUSTER, "network_cidr"),
            "is not an IPv4 CIDR",
        ),
        case(
            "public CIDR",
            config("  network_cidr = \"8.8.8.0/24\"", A, B),
            at(CLUSTER, "network_cidr"),
            "RFC 1918",
        ),
        case(
            "control plane outside the network",
            config("  control_plane_ip = \"10.0.2.10\"", A, B),
            at(CLUSTER, "control_plane_ip"),
            "outside the cluster network",
        ),
        case(
            "node outside the network",
            config(
                "",
                "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.2.20\"\n",
                B,
            ),
            at(NODE_A, "private_ip"),
            "outside the cluster network",
        ),
        Case {
            targets: vec![at(NODE_A, "private_ip"), at(NODE_B, "private_ip")],
            ..case(
                "duplicate private IP",
                config(
                    "",
                    A,
                    "  name = \"k3s-trading-bad-app-0\"\n  private_ip = \"10.0.1.20\"\n",
                ),
                at(NODE_B, "private_ip"),
                "Duplicate private_ip",
            )
        },
        case(
            "node on the control plane's IP",
            config(
                "",
                "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.10\"\n",
                B,
            ),
            at(NODE_A, "private_ip"),
            "control plane's address",
        ),
        case(
            "gateway address",
            config(
                "",
                "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.1\"\n",
                B,
            ),
            at(NODE_A, "private_ip"),
            "reserved",
        ),
        case(
            "deprecated server type",
            config("  control_plane_type = \"cpx21\"", A, B),
            at(CLUSTER, "control_plane_type"),
            "deprecated there",
        ),
        case(
            "deprecated node type",
            config("", &format!("{A}  server_type = \"cpx11\"\n"), B),
            at(NODE_A, "server_type"),
            "deprecated there",
        ),
        case(
            "unknown location",
            config("  location = \"mars1\"", A, B),
            at(CLUSTER, "location"),
            "Unknown location",
        ),
        case(
            "non-RFC1123 cluster name",
            config("", A, B).replace("k3s-trading-bad\"\n", "K3s_Trading\"\n"),
            at(CLUSTER, "name"),
            "RFC 1123",
        ),
        case(
            "unknown role",
            config("", A, B).replace("role    = \"app\"", "role    = \"db\""),
            at(NODE_B, "role"),
            "is not one of",
        ),
        case(
            "unknown Primary IP",
            config("", &format!("{A}  primary_ip = \"nope\"\n"), B),
            at(NODE_A, "primary_ip"),
            "has no Primary IP",
        ),
        case(
            "bad SSH source",
            config("  ssh_allowed_cidrs = [\"everyone\"]", A, B),
            at(CLUSTER, "ssh_allowed_cidrs"),
            "is not a CIDR",
        ),
        Case {
            targets: vec![at(NODE_A, "name"), at(NODE_B, "name")],
            ..case(
                "duplicate server name",
                config(
                    "",
                    A,
                    "  name = \"k3s-trading-bad-kafka-0\"\n  private_ip = \"10.0.1.30\"\n",
                ),
                at(NODE_B, "name"),
                "Duplicate server name",
            )
        },
        case(
            "reserved label",
            config("  labels = { \"k3strading.io/role\" = \"x\" }", A, B),
            at(CLUSTER, "labels"),
            "uses the prefix",
        ),
        case(
            "bad timeout",
            config("  timeouts {\n    create = \"soon\"\n  }", A, B),
            at(CLUSTER, "create"),
            "not a duration",
        ),
        // The attribute is absent, so Terraform can only point at the
        // provider block's body; the message names the attribute.
        Case {
            env: &[("HCLOUD_TOKEN", "")],
            ..case(
                "missing token",
                config("", A, B),
                at(PROVIDER, "{"),
                "Missing Hetzner Cloud API token",
            )
        },
    ]
}

/// How many bad configurations there are; a case lost by an edit shows.
const CASES: usize = 18;

/// A diagnostic from `validate -json` or `plan -json`.
#[derive(Debug)]
struct Diag {
    summary: String,
    detail: String,
    address: Option<String>,
    /// (filename, start line, start byte, end byte)
    range: Option<(String, u64, usize, usize)>,
}

fn diag(v: &Value) -> Diag {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let r = &v["range"];
    Diag {
        summary: s("summary"),
        detail: s("detail"),
        address: v["address"].as_str().map(str::to_owned),
        range: r["filename"].as_str().map(|f| {
            let n = |p: &str, k: &str| r[p][k].as_u64().unwrap();
            (
                f.to_owned(),
                n("start", "line"),
                n("start", "byte") as usize,
                n("end", "byte") as usize,
            )
        }),
    }
}

/// The error diagnostics of `validate -json`, or of `plan -json` when
/// validation passed, with the exit code.
fn errors(wd: &Workdir, env: &[(&str, &str)]) -> (i32, Vec<Diag>, String) {
    let validate = wd.run_env(&["validate", "-json"], env).unwrap();
    let v: Value = serde_json::from_str(&validate.stdout)
        .unwrap_or_else(|e| panic!("validate -json: {e}\n{}", validate.all()));
    let found: Vec<Diag> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(diag)
        .collect();
    if !found.is_empty() || validate.code != 0 {
        return (validate.code, found, validate.all());
    }
    let plan = wd.run_env(&["plan", "-json", "-input=false"], env).unwrap();
    let found = plan
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["type"] == "diagnostic" && m["diagnostic"]["severity"] == "error")
        .map(|m| diag(&m["diagnostic"]))
        .collect();
    (plan.code, found, plan.all())
}

/// Line number (1-based) and byte span of `target`'s value in `config`:
/// the text after `attribute =` on its line inside the block (or, for `{`,
/// the brace that opens the block).
fn locate(config: &str, target: Target) -> (u64, usize, usize) {
    let mut offset = 0;
    let mut inside = false;
    for (i, line) in config.split_inclusive('\n').enumerate() {
        let text = line.trim_end_matches('\n');
        if text.starts_with(target.block) {
            inside = true;
            if target.attribute == "{" {
                let b = offset + text.find('{').unwrap();
                return (i as u64 + 1, b, b + 1);
            }
        } else if inside && text == "}" {
            break;
        } else if inside {
            let trimmed = text.trim_start();
            if let Some(rest) = trimmed.strip_prefix(target.attribute)
                && rest.trim_start().starts_with('=')
            {
                let eq = text.find('=').unwrap();
                let value_start =
                    eq + 1 + (text.len() - eq - 1 - text[eq + 1..].trim_start().len());
                return (
                    i as u64 + 1,
                    offset + value_start,
                    offset + text.trim_end().len(),
                );
            }
        }
        offset += line.len();
    }
    panic!("{target:?} is not in the configuration:\n{config}");
}

/// True when `d` highlights (part of) `target`'s value in `config`.
fn points_at(d: &Diag, config: &str, target: Target) -> bool {
    let (line, start, end) = locate(config, target);
    let address_ok = match (&d.address, target.block) {
        (Some(a), PROVIDER) => a.contains("k3strading/k3strading"),
        (Some(a), block) => {
            let mut words = block.split('"').filter(|w| !w.trim().is_empty()).skip(1);
            let (kind, name) = (words.next().unwrap(), words.next().unwrap());
            a == &format!("{kind}.{name}")
        }
        (None, _) => true,
    };
    address_ok
        && d.range.as_ref().is_some_and(|(file, l, s, e)| {
            file == "main.tf" && *l == line && *s >= start && *e <= end && s < e
        })
}

fn rejected(tf: &Terraform) {
    let cloud = Cloud::start(|_| {});
    let before = cloud.inventory();
    let cases = cases();
    assert_eq!(cases.len(), CASES, "a case was added or lost: update CASES");
    let mut names: Vec<&str> = cases.iter().map(|c| c.what).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES, "two cases share a name");
    let mut rejected = 0;
    for c in &cases {
        let wd = workdir(tf, &cloud, Some(&c.config));
        let (code, diags, out) = errors(&wd, c.env);
        assert_eq!(code, 1, "{}: not rejected\n{out}", c.what);
        let about: Vec<&Diag> = diags
            .iter()
            .filter(|d| format!("{}\n{}", d.summary, d.detail).contains(c.message))
            .collect();
        assert!(
            !about.is_empty(),
            "{}: no error says {:?}: {diags:#?}",
            c.what,
            c.message
        );
        // Other errors may follow from the same mistake (a default that no
        // longer fits); the one about it must point at the attribute.
        for d in &about {
            assert!(
                c.targets.iter().any(|t| points_at(d, &c.config, *t)),
                "{}: {d:#?} does not point at {:?}\n{}",
                c.what,
                c.targets,
                c.config
            );
        }
        assert!(!out.contains(TOKEN), "{}: token in output", c.what);
        assert_eq!(
            cloud.inventory(),
            before,
            "{}: something was created",
            c.what
        );
        rejected += 1;
    }
    assert_eq!(rejected, CASES);
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
