//! config.yaml as K3s reads it: kebab-case keys, list flags as a list or a
//! single string, command-line flags layered on top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::Error;

/// The settings the stand-in understands. Keys it does not know are kept in
/// `unknown` and reported with a warning, as K3s skips unknown flags.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    /// The node's address on the private network.
    pub node_ip: Option<String>,
    /// The Node object's name; defaults to the host name.
    pub node_name: Option<String>,
    /// The address the API server advertises.
    pub advertise_address: Option<String>,
    /// Extra subject alternative names of the serving certificate.
    #[serde(default, deserialize_with = "one_or_many")]
    pub tls_san: Vec<String>,
    /// `key=value` labels the node registers with.
    #[serde(default, deserialize_with = "one_or_many")]
    pub node_label: Vec<String>,
    /// `key[=value]:Effect` taints the node registers with.
    #[serde(default, deserialize_with = "one_or_many")]
    pub node_taint: Vec<String>,
    /// Octal mode of k3s.yaml ("0644"; an unquoted 644 means the same).
    pub write_kubeconfig_mode: Option<Value>,
    /// A file holding the token (full K10 token or the bare secret).
    pub token_file: Option<PathBuf>,
    /// The token itself.
    pub token: Option<String>,
    /// The server an agent joins (`https://host:6443`).
    pub server: Option<String>,
    /// Accepted; the stand-in stores no secrets to encrypt.
    pub secrets_encryption: Option<bool>,
    /// Accepted; the stand-in touches no kernel settings.
    pub protect_kernel_defaults: Option<bool>,
    /// Accepted; the stand-in runs no flannel.
    pub flannel_iface: Option<String>,
    /// The API server port (6443).
    pub https_listen_port: Option<u16>,
    /// The address the API server binds (all addresses by default).
    pub bind_address: Option<String>,
    /// The data directory (/var/lib/rancher/k3s).
    pub data_dir: Option<PathBuf>,
    /// Everything else.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// Settings that take no value on the command line.
pub const BOOL_FLAGS: &[&str] = &["secrets-encryption", "protect-kernel-defaults"];
/// Settings that may repeat.
const LIST_FLAGS: &[&str] = &["tls-san", "node-label", "node-taint"];

impl Config {
    /// Reads `path` (absent is fine when `required` is false), then applies
    /// the command-line `flags` over it: scalars replace, lists append.
    pub fn load(path: &Path, required: bool, flags: &[(String, String)]) -> Result<Self, Error> {
        let mut map = match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Mapping::new(),
            Ok(text) => serde_yaml_ng::from_str::<Mapping>(&text).map_err(|e| Error::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Mapping::new(),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        for (key, value) in flags {
            let value = if BOOL_FLAGS.contains(&key.as_str()) {
                Value::Bool(value != "false")
            } else {
                Value::String(value.clone())
            };
            let key_value = Value::String(key.clone());
            if LIST_FLAGS.contains(&key.as_str()) {
                let mut list = match map.remove(&key_value) {
                    Some(Value::Sequence(items)) => items,
                    Some(other) => vec![other],
                    None => Vec::new(),
                };
                list.push(value);
                map.insert(key_value, Value::Sequence(list));
            } else {
                map.insert(key_value, value);
            }
        }
        serde_yaml_ng::from_value(Value::Mapping(map)).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The mode for k3s.yaml; K3s's default is 0600.
    pub fn kubeconfig_mode(&self) -> Result<u32, Error> {
        let text = match &self.write_kubeconfig_mode {
            None => return Ok(0o600),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => String::new(),
        };
        u32::from_str_radix(&text, 8)
            .ok()
            .filter(|mode| *mode <= 0o777)
            .ok_or_else(|| Error::Setting {
                key: "write-kubeconfig-mode",
                message: format!("{text:?} is not an octal file mode"),
            })
    }

    /// The API server port.
    pub fn port(&self) -> u16 {
        self.https_listen_port.unwrap_or(6443)
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
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
    use super::*;

    #[test]
    fn lists_accept_a_single_string_and_flags_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            "node-label: kafka=true\ntls-san:\n  - a.example\nwrite-kubeconfig-mode: \"0644\"\nsome-future-flag: 1\n",
        )
        .unwrap();
        let flags = [("tls-san".to_string(), "b.example".to_string())];
        let config = Config::load(&path, true, &flags).unwrap();
        assert_eq!(config.node_label, ["kafka=true"]);
        assert_eq!(config.tls_san, ["a.example", "b.example"]);
        assert_eq!(config.kubeconfig_mode().unwrap(), 0o644);
        assert!(config.unknown.contains_key("some-future-flag"));
    }

    #[test]
    fn unquoted_mode_reads_as_octal_digits_and_garbage_is_rejected() {
        let config: Config = serde_yaml_ng::from_str("write-kubeconfig-mode: 640").unwrap();
        assert_eq!(config.kubeconfig_mode().unwrap(), 0o640);
        let config: Config = serde_yaml_ng::from_str("write-kubeconfig-mode: \"rw\"").unwrap();
        assert!(config.kubeconfig_mode().is_err());
        assert_eq!(Config::default().kubeconfig_mode().unwrap(), 0o600);
    }
}
