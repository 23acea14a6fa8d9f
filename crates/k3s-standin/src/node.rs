//! Node objects as a K3s kubelet would register them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Error;
use crate::clock;
use crate::doc;

/// The version every node reports.
pub const KUBELET_VERSION: &str = "v1.34.1+k3s1";
/// The label prefix a kubelet may not set on itself.
pub const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";

/// What a node tells the server when it registers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The Node name.
    pub name: String,
    /// Its InternalIP.
    pub internal_ip: String,
    /// Labels from node-label.
    pub labels: BTreeMap<String, String>,
    /// Taints from node-taint, as Kubernetes taint objects.
    pub taints: Vec<Value>,
    /// CPU count.
    pub cpu: u32,
    /// Memory in KiB.
    pub memory_kib: u64,
    /// The kernel release (uname -r).
    pub kernel_version: String,
}

/// Parses `key=value` labels; a role label is refused when `kubelet` is true,
/// as the NodeRestriction admission refuses it for a real kubelet.
pub fn parse_labels(items: &[String], kubelet: bool) -> Result<BTreeMap<String, String>, Error> {
    let mut labels = BTreeMap::new();
    for item in items {
        let (key, value) = item.split_once('=').unwrap_or((item.as_str(), ""));
        if key.is_empty() {
            return Err(Error::Setting {
                key: "node-label",
                message: format!("{item:?} is not key=value"),
            });
        }
        if kubelet && key.starts_with(NODE_ROLE_PREFIX) {
            return Err(Error::ForbiddenLabel {
                label: key.to_string(),
            });
        }
        labels.insert(key.to_string(), value.to_string());
    }
    Ok(labels)
}

/// Parses `key[=value]:Effect` taints.
pub fn parse_taints(items: &[String]) -> Result<Vec<Value>, Error> {
    items
        .iter()
        .map(|item| {
            let bad = || Error::Setting {
                key: "node-taint",
                message: format!(
                    "{item:?} is not key[=value]:NoSchedule|PreferNoSchedule|NoExecute"
                ),
            };
            let (kv, effect) = item.rsplit_once(':').ok_or_else(bad)?;
            if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
                return Err(bad());
            }
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            if key.is_empty() {
                return Err(bad());
            }
            let mut taint = json!({ "key": key, "effect": effect });
            if !value.is_empty() {
                doc::set(&mut taint, &["value"], json!(value));
            }
            Ok(taint)
        })
        .collect()
}

/// CPU count and memory (KiB) of this machine, from /proc.
pub fn machine_resources() -> (u32, u64) {
    let cpu = std::thread::available_parallelism()
        .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(2 * 1024 * 1024);
    (cpu, memory)
}

/// The kernel release, for nodeInfo.
pub fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// A complete Node object for a registration at Unix time `now`.
pub fn build(reg: &Registration, now: i64, pod_cidr_index: u8) -> Value {
    let mut labels = BTreeMap::from([
        ("beta.kubernetes.io/arch".to_string(), arch().to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch().to_string()),
        ("kubernetes.io/hostname".to_string(), reg.name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        (
            "node.kubernetes.io/instance-type".to_string(),
            "k3s".to_string(),
        ),
    ]);
    labels.extend(reg.labels.clone());
    let resources = json!({
        "cpu": reg.cpu.to_string(),
        "memory": format!("{}Ki", reg.memory_kib),
        "pods": "110",
        "ephemeral-storage": "20Gi",
    });
    let stamp = clock::rfc3339(now);
    let cidr = format!("10.42.{pod_cidr_index}.0/24");
    let mut spec =
        json!({ "podCIDR": cidr, "podCIDRs": [cidr], "providerID": format!("k3s://{}", reg.name) });
    if !reg.taints.is_empty() {
        doc::set(&mut spec, &["taints"], Value::Array(reg.taints.clone()));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": reg.name,
            "uid": new_uid(),
            "creationTimestamp": stamp,
            "labels": labels,
            "annotations": {
                "k3s.io/internal-ip": reg.internal_ip,
                "k3s.io/hostname": reg.name,
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": spec,
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [ready_condition(true, &stamp, &stamp)],
            "addresses": [
                { "type": "InternalIP", "address": reg.internal_ip },
                { "type": "Hostname", "address": reg.name },
            ],
            "daemonEndpoints": { "kubeletEndpoint": { "Port": 10250 } },
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": reg.kernel_version,
                "osImage": "k3s stand-in",
                "containerRuntimeVersion": "none://stand-in",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": arch(),
            },
        },
    })
}

/// The Ready condition: True while heartbeats arrive, Unknown once they stop
/// (as the node lifecycle controller reports a silent kubelet).
pub fn ready_condition(ready: bool, heartbeat: &str, transition: &str) -> Value {
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        (
            "Unknown",
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        )
    };
    json!({
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": heartbeat,
        "lastTransitionTime": transition,
    })
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A random version-4 UID.
pub fn new_uid() -> String {
    let hex: String = (0..32)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect();
    let part = |a: usize, b: usize| hex.get(a..b).unwrap_or("0");
    format!(
        "{}-{}-4{}-a{}-{}",
        part(0, 8),
        part(8, 12),
        part(13, 16),
        part(17, 20),
        part(20, 32)
    )
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

    #[test]
    fn role_labels_are_refused_only_for_a_kubelet() {
        let items = vec!["node-role.kubernetes.io/worker=true".to_string()];
        assert!(matches!(
            parse_labels(&items, true),
            Err(Error::ForbiddenLabel { .. })
        ));
        assert_eq!(parse_labels(&items, false).unwrap().len(), 1);
        let ok = parse_labels(&["kafka=true".to_string()], true).unwrap();
        assert_eq!(ok.get("kafka").map(String::as_str), Some("true"));
    }

    #[test]
    fn taints_need_a_known_effect() {
        let taints =
            parse_taints(&["dedicated=kafka:NoSchedule".into(), "gpu:NoExecute".into()]).unwrap();
        assert_eq!(
            taints[0],
            json!({"key": "dedicated", "value": "kafka", "effect": "NoSchedule"})
        );
        assert_eq!(taints[1], json!({"key": "gpu", "effect": "NoExecute"}));
        assert!(parse_taints(&["dedicated=kafka".into()]).is_err());
        assert!(parse_taints(&["x:Sometimes".into()]).is_err());
    }
}
