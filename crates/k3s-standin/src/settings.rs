//! Turns the command line, the K3S_* environment and config.yaml into one
//! [`Config`] plus the file locations.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::cli::Invocation;
use crate::config::Config;
use crate::paths::{Paths, read_file};
use crate::token::Token;

/// Environment variables K3s maps onto settings.
const ENV_FLAGS: &[(&str, &str)] = &[
    ("K3S_URL", "server"),
    ("K3S_TOKEN", "token"),
    ("K3S_TOKEN_FILE", "token-file"),
    ("K3S_NODE_NAME", "node-name"),
    ("K3S_KUBECONFIG_MODE", "write-kubeconfig-mode"),
    ("K3S_DATA_DIR", "data-dir"),
];

/// Everything a role needs to start.
#[derive(Debug)]
pub struct Settings {
    /// The merged settings.
    pub config: Config,
    /// Where files go.
    pub paths: Paths,
}

/// Reads config.yaml (from --config, K3S_CONFIG_FILE or the default place)
/// and layers the environment and then the command line over it.
pub fn resolve(inv: &Invocation) -> Result<Settings, Error> {
    let root = inv
        .root
        .clone()
        .or_else(|| std::env::var_os("K3S_STANDIN_ROOT").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/"));
    let default_paths = Paths::new(root.clone(), None);
    let explicit = inv
        .config
        .clone()
        .or_else(|| std::env::var_os("K3S_CONFIG_FILE").map(PathBuf::from));
    let config_path = explicit
        .clone()
        .unwrap_or_else(|| default_paths.config_file());
    let mut flags: Vec<(String, String)> = ENV_FLAGS
        .iter()
        .filter_map(|(env, key)| {
            std::env::var(env)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| ((*key).to_string(), v))
        })
        .collect();
    flags.extend(inv.flags.iter().cloned());
    let config = Config::load(&config_path, explicit.is_some(), &flags)?;
    for key in config.unknown.keys() {
        eprintln!("level=warning msg=\"Unknown flag --{key} found in config, skipping\"");
    }
    let paths = Paths::new(root, config.data_dir.clone());
    Ok(Settings { config, paths })
}

impl Settings {
    /// The token given by token-file or token, if any.
    pub fn token(&self) -> Result<Option<Token>, Error> {
        if let Some(file) = &self.config.token_file {
            return Token::parse(&read_file(file)?).map(Some);
        }
        self.config.token.as_deref().map(Token::parse).transpose()
    }

    /// The Node name: node-name, else the host name.
    pub fn node_name(&self) -> String {
        self.config.node_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "localhost".to_string())
        })
    }

    /// node-ip, else the source address of the default route (found by
    /// connecting a UDP socket, which sends nothing), else 127.0.0.1.
    pub fn node_ip(&self) -> String {
        self.config.node_ip.clone().unwrap_or_else(|| {
            std::net::UdpSocket::bind("0.0.0.0:0")
                .and_then(|s| s.connect("10.255.255.255:9").map(|()| s))
                .and_then(|s| s.local_addr())
                .map_or_else(|_| "127.0.0.1".to_string(), |a| a.ip().to_string())
        })
    }
}

/// A millisecond delay from the environment: 0 when unset, an error when
/// set to anything but a whole number (a typo must not pass silently).
pub fn delay_from_env(name: &'static str) -> Result<Duration, Error> {
    parse_delay(name, std::env::var(name).ok().as_deref())
}

fn parse_delay(name: &'static str, value: Option<&str>) -> Result<Duration, Error> {
    match value.map(str::trim) {
        None | Some("") => Ok(Duration::ZERO),
        Some(text) => text
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| Error::Setting {
                key: name,
                message: format!("{text:?} is not a number of milliseconds"),
            }),
    }
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
    fn delays_are_whole_milliseconds_defaulting_to_zero() {
        assert_eq!(parse_delay("X", None).unwrap(), Duration::ZERO);
        assert_eq!(
            parse_delay("X", Some("1500")).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_delay("X", Some("1.5s")).is_err());
    }
}
