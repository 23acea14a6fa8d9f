//! A STAND-IN for the parts of the internet a K3s install reaches, for
//! `--vms`: the namespace `<prefix>-inet` on the fabric's public side, at
//! [`ADDR`] (TEST-NET-2, documentation only, routed inside the fabric and
//! never on the host), with an HTTPS server ([`server`]) that answers for
//! [`HOSTS`]:
//!
//! - `https://get.k3s.io/`: a STAND-IN of the K3s install script
//!   ([`INSTALL_SCRIPT`], not the official one);
//! - `https://github.com/k3s-io/k3s/releases/download/<version>/<asset>`:
//!   a 302 to `https://release-assets.githubusercontent.com/…`, as GitHub
//!   answers, for `k3s` (the K3s STAND-IN binary) and `sha256sum-amd64.txt`;
//!   other versions and assets are 404.
//!
//! VMs resolve those names through `/etc/hosts` and trust a per-run test CA
//! ([`pki`]) appended to their CA bundle, so real `curl` works unchanged.

pub mod pki;
pub mod server;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// The stand-in internet's address (TEST-NET-2, RFC 5737).
pub const ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// Host names the stand-in internet answers for (its certificate's SANs).
pub const HOSTS: [&str; 3] = [
    "get.k3s.io",
    "github.com",
    "release-assets.githubusercontent.com",
];
/// The K3s release served unless `--k3s-version` says otherwise.
pub const DEFAULT_K3S_VERSION: &str = "v1.34.1+k3s1";
/// The STAND-IN install script served at `https://get.k3s.io/`.
pub const INSTALL_SCRIPT: &str = include_str!("install.sh");
/// The hidden `k3strading-cloud` subcommand that runs [`server`].
pub const SUBCOMMAND: &str = "inet-serve";

/// `--vms` settings of the stand-in internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetConfig {
    /// The `k3strading-cloud` executable that runs [`SUBCOMMAND`].
    pub exe: PathBuf,
    /// The K3s STAND-IN binary served as the release asset `k3s`; `None`
    /// makes the release URLs answer 404.
    pub k3s_binary: Option<PathBuf>,
    /// Release versions served (e.g. `v1.34.1+k3s1`).
    pub k3s_versions: Vec<String>,
    /// Delays for the K3s STAND-IN in every VM (`/etc/default/k3s-standin`).
    pub k3s_delays: Option<K3sDelays>,
    /// The official schemas directory the K3s STAND-IN validates objects
    /// against (`K3S_STANDIN_SCHEMAS` in every VM); `None`: no validation
    /// beyond CRD schemas.
    pub k3s_schemas: Option<PathBuf>,
}

/// Where every VM sees the schemas directory (a read-only bind mount).
pub const SCHEMAS_IN_VM: &str = "/opt/k3s-standin-schemas";

impl InetConfig {
    /// `/etc/default/k3s-standin` for every VM, when there is anything to say.
    pub fn standin_env(&self) -> Option<String> {
        let mut text = self.k3s_delays.map(|d| d.env_file()).unwrap_or_default();
        if let Some(dir) = &self.k3s_schemas {
            text.push_str(&format!(
                "# The official schemas the K3s STAND-IN validates objects against\n\
                 # (bind-mounted read-only from {}).\nK3S_STANDIN_SCHEMAS={SCHEMAS_IN_VM}\n",
                dir.display()
            ));
        }
        (!text.is_empty()).then_some(text)
    }
}

/// How long the K3s STAND-IN takes, as `--latency realistic` models it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct K3sDelays {
    /// Server: from start until `/ping` answers.
    pub start: Duration,
    /// Agent: from start until it joins.
    pub join: Duration,
}

impl K3sDelays {
    /// The file `/etc/default/k3s-standin` the install script's units load.
    pub fn env_file(&self) -> String {
        format!(
            "# Written by the local cloud (--latency realistic): how long the K3s STAND-IN takes.\n\
             K3S_STANDIN_START_DELAY_MS={}\nK3S_STANDIN_JOIN_DELAY_MS={}\n",
            self.start.as_millis(),
            self.join.as_millis()
        )
    }
}

/// What went wrong in the stand-in internet.
#[derive(Debug, thiserror::Error)]
pub enum InetError {
    /// The test CA or certificate could not be made or loaded.
    #[error("test CA: {0}")]
    Pki(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not start.
    #[error("stand-in internet: {0}")]
    Serve(String),
}

fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> InetError {
    let path = path.into();
    move |source| InetError::Io { path, source }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_address_is_documentation_only() {
        let test_net_2: ipnet::Ipv4Net = "198.51.100.0/24".parse().unwrap();
        assert!(test_net_2.contains(&ADDR));
    }

    #[test]
    fn the_env_file_names_both_delays_in_milliseconds() {
        let d = K3sDelays {
            start: Duration::from_millis(1500),
            join: Duration::from_secs(1),
        };
        let f = d.env_file();
        assert!(f.contains("\nK3S_STANDIN_START_DELAY_MS=1500\n"), "{f}");
        assert!(f.contains("\nK3S_STANDIN_JOIN_DELAY_MS=1000\n"), "{f}");
    }
}
