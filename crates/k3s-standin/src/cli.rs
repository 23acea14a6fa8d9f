//! `k3s server|agent [flags]`, parsed by hand: the stand-in needs no more.

use std::path::PathBuf;

use crate::Error;
use crate::config::BOOL_FLAGS;

/// The help text; it says plainly that this is not K3s.
pub const HELP: &str = "\
k3s (STAND-IN) - NOT the K3s binary.

This is a small stand-in that imitates the parts of K3s v1.34.1+k3s1 that the
k3strading install code relies on: config.yaml, the CA and certificates, the
kubeconfig, the secure K10 token, /ping, /cacerts, agent join with CA pinning,
and a sliver of the Kubernetes API: nodes (get/label/delete/watch), empty pod
lists (for `kubectl drain`), and a generic store for Namespaces, Secrets,
ConfigMaps, Services, ResourceQuotas, LimitRanges, Deployments,
PriorityClasses, CRDs and custom resources, with server-side apply
(`kubectl apply --server-side`). It runs no pods, kubelet, containers,
flannel or datastore.

SIMULATION: a HelmChart (helm.cattle.io/v1) for strimzi-kafka-operator,
argo-cd, prometheus or kube-prometheus-stack makes the chart's CRDs and an
available Deployment appear; Kafka, KafkaNodePool, KafkaUser and ArgoCD
Application objects get the status their operators would report. No chart
is fetched and nothing runs.

USAGE:
    k3s server [flags]
    k3s agent  [flags]

FLAGS (any config.yaml key also works as --key value or --key=value):
    -c, --config PATH      config file (env K3S_CONFIG_FILE; default /etc/rancher/k3s/config.yaml)
    -d, --data-dir PATH    data directory (env K3S_DATA_DIR; default /var/lib/rancher/k3s)
        --standin-root DIR prefix for every fixed K3s path, for unprivileged tests (env K3S_STANDIN_ROOT)
        --standin-schemas DIR  the schemas directory (holding strimzi-0.50.1/, argocd-v3.5.1/,
                           helm-controller-v0.16.26/) the SIMULATED Helm controller reads CRDs
                           from (env K3S_STANDIN_SCHEMAS; without it, CRDs are schema-less)
    -h, --help             this text

ENVIRONMENT:
    K3S_URL, K3S_TOKEN, K3S_TOKEN_FILE, K3S_NODE_NAME, K3S_KUBECONFIG_MODE  as in K3s
    K3S_STANDIN_START_DELAY_MS  server: wait this long before serving (default 0)
    K3S_STANDIN_JOIN_DELAY_MS   agent: wait this long before joining (default 0)
    K3S_STANDIN_JOIN_TIMEOUT_S  agent: give up joining after this long (default 120)
    K3S_STANDIN_HELM_DELAY_MS   server: the SIMULATED Helm controller and operators act
                                this long after an object appears (default 200)
    K3S_STANDIN_SCHEMAS         as --standin-schemas
";

/// Which half of K3s to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The control plane.
    Server,
    /// A worker joining a server.
    Agent,
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
    /// Run a role.
    Run(Invocation),
}

/// What `k3s server` or `k3s agent` was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// Server or agent (None only before parsing finishes).
    pub role: Option<Role>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--standin-root`.
    pub root: Option<PathBuf>,
    /// `--standin-schemas`: the CRDs the simulated Helm controller registers.
    pub schemas: Option<PathBuf>,
    /// Every other `--key value`, in order.
    pub flags: Vec<(String, String)>,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, Error> {
    let mut iter = args.iter().peekable();
    let role = match iter.next().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("-v" | "--version" | "version") => return Ok(Command::Version),
        Some("server") => Role::Server,
        Some("agent") => Role::Agent,
        Some(other) => {
            return Err(Error::Usage(format!(
                "unknown command {other:?}; this stand-in knows `server` and `agent` (see --help)"
            )));
        }
    };
    let mut inv = Invocation {
        role: Some(role),
        ..Invocation::default()
    };
    while let Some(arg) = iter.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(Error::Usage(format!("unexpected argument {arg:?}")));
        };
        if matches!(flag, "h" | "help") {
            return Ok(Command::Help);
        }
        let (key, inline) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        let value = match inline {
            Some(v) => v,
            None if BOOL_FLAGS.contains(&key.as_str()) => "true".to_string(),
            None => iter
                .next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("flag --{key} needs a value")))?,
        };
        match key.as_str() {
            "c" | "config" => inv.config = Some(PathBuf::from(value)),
            "standin-root" => inv.root = Some(PathBuf::from(value)),
            "standin-schemas" => inv.schemas = Some(PathBuf::from(value)),
            "d" => inv.flags.push(("data-dir".to_string(), value)),
            // K3s spells the token flag `-t`.
            "t" => inv.flags.push(("token".to_string(), value)),
            _ => inv.flags.push((key, value)),
        }
    }
    Ok(Command::Run(inv))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_take_values_inline_or_next_and_bools_take_none() {
        let Command::Run(inv) = parse(&args(&[
            "server",
            "--config=/c.yaml",
            "--secrets-encryption",
            "--node-label",
            "a=b",
            "-d",
            "/data",
        ]))
        .unwrap() else {
            panic!("expected a run");
        };
        assert_eq!(inv.role, Some(Role::Server));
        assert_eq!(inv.config, Some(PathBuf::from("/c.yaml")));
        assert_eq!(
            inv.flags,
            [
                ("secrets-encryption".to_string(), "true".to_string()),
                ("node-label".to_string(), "a=b".to_string()),
                ("data-dir".to_string(), "/data".to_string()),
            ]
        );
    }

    #[test]
    fn unknown_commands_and_dangling_flags_are_usage_errors() {
        assert!(matches!(
            parse(&args(&["etcd-snapshot"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse(&args(&["agent", "--server"])),
            Err(Error::Usage(_))
        ));
        assert_eq!(parse(&args(&[])).unwrap(), Command::Help);
    }
}
