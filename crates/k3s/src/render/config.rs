//! `/etc/rancher/k3s/config.yaml`.

use serde::Serialize;

use super::{NodeSpec, RenderError, Role, TOKEN_PATH, validate};

/// The file K3s reads; keys are K3s flag names.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ConfigFile<'a> {
    node_name: &'a str,
    node_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    advertise_address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_san: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flannel_iface: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_label: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_taint: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write_kubeconfig_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secrets_encryption: Option<bool>,
    protect_kernel_defaults: bool,
    // The token never goes into this file: K3s reads it from a 0600 file.
    token_file: &'static str,
}

/// Renders config.yaml for `node`; with `flannel_iface: None` the interface line is left out.
pub fn config_yaml(node: &NodeSpec) -> Result<String, RenderError> {
    validate::node(node)?;
    let server = matches!(node.role, Role::Server { .. });
    let file = ConfigFile {
        node_name: &node.name,
        node_ip: node.private_ip.to_string(),
        advertise_address: server.then(|| node.private_ip.to_string()),
        tls_san: match &node.role {
            Role::Server { tls_san } => tls_san.iter().map(String::as_str).collect(),
            Role::Agent { .. } => Vec::new(),
        },
        flannel_iface: node.flannel_iface.as_deref(),
        node_label: node
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        node_taint: node.taints.iter().map(String::as_str).collect(),
        write_kubeconfig_mode: server.then_some("0600"),
        secrets_encryption: server.then_some(true),
        protect_kernel_defaults: true,
        token_file: TOKEN_PATH,
    };
    serde_yaml_ng::to_string(&file).map_err(|e| RenderError::Invalid {
        node: node.name.clone(),
        field: "config.yaml",
        value: e.to_string(),
        reason: "YAML serialisation failed",
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use std::collections::BTreeMap;

    use super::*;

    fn agent(labels: &[(&str, &str)]) -> NodeSpec {
        NodeSpec {
            name: "kafka-0".into(),
            role: Role::Agent {
                server_url: "https://10.0.1.2:6443".into(),
            },
            private_ip: "10.0.1.3".parse().unwrap(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            taints: vec![],
            flannel_iface: Some("enp7s0".into()),
        }
    }

    #[test]
    fn node_role_labels_are_refused() {
        for key in [
            "node-role.kubernetes.io/kafka",
            "node-role.kubernetes.io/worker",
            "kubernetes.io/role",
        ] {
            let err = config_yaml(&agent(&[(key, "true")])).unwrap_err();
            assert!(
                matches!(&err, RenderError::ForbiddenLabel { key: k, .. } if k == key),
                "{err}"
            );
        }
        assert!(config_yaml(&agent(&[("node.kubernetes.io/instance-type", "cx23")])).is_ok());
    }

    #[test]
    fn yaml_parses_back_with_kubeconfig_mode_as_a_string() {
        let mut node = agent(&[("kafka", "true")]);
        node.role = Role::Server {
            tls_san: vec!["203.0.113.7".into()],
        };
        let text = config_yaml(&node).unwrap();
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(parsed["write-kubeconfig-mode"].as_str(), Some("0600"));
        assert_eq!(parsed["node-label"][0].as_str(), Some("kafka=true"));
        assert_eq!(parsed["advertise-address"].as_str(), Some("10.0.1.3"));
        // The secret itself never: only the 0600 file that holds it.
        assert!(parsed.get("token").is_none());
        assert_eq!(
            parsed["token-file"].as_str(),
            Some(crate::render::TOKEN_PATH)
        );
    }

    #[test]
    fn bad_inputs_are_refused() {
        let mut node = agent(&[]);
        node.name = "Kafka_0".into();
        assert!(config_yaml(&node).is_err());
        let mut node = agent(&[]);
        node.taints = vec!["x=y:Whenever".into()];
        assert!(config_yaml(&node).is_err());
        let mut node = agent(&[]);
        node.role = Role::Agent {
            server_url: "http://10.0.1.2:6443".into(),
        };
        assert!(config_yaml(&node).is_err());
        assert!(config_yaml(&agent(&[("app", "tr ue")])).is_err());
    }
}
