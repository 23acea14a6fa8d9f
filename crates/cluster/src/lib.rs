//! The k3strading cluster as a domain, free of Terraform types: what a
//! cluster and its nodes are ([`spec`]), how they are named and labelled
//! ([`names`]), and how they are made to exist on Hetzner Cloud
//! ([`converge`]), read back ([`inventory`]) and removed ([`teardown`]).
//!
//! Front ends (the Terraform provider, the `k3strading` CLI) build a
//! [`spec::ClusterSpec`] or [`spec::NodeSpec`], hand it to this crate with an
//! [`hcloud::Client`] and a cancellation token, and map [`Error`] to their own
//! way of reporting.
//!
//! ```no_run
//! # async fn demo(api: &hcloud::Client, spec: &k3strading_cluster::spec::ClusterSpec)
//! # -> Result<(), k3strading_cluster::Error> {
//! use k3strading_cluster::{Hetzner, catalog::Catalog, converge, names, secrets};
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let hz = Hetzner::new(api, &cancel);
//! let catalog = Catalog::fetch(api).await?;
//! let login = secrets::key_pair(&names::ssh_key(&spec.name))?;
//! let host = secrets::key_pair(&names::control_plane(&spec.name))?;
//! let mut built = converge::ClusterBuilt::default();
//! let deadline = std::time::Duration::from_secs(1200);
//! converge::cluster(&hz, spec, &catalog, login.public_openssh(), &host, None, deadline, &mut built).await?;
//! # Ok(()) }
//! ```

pub mod catalog;
pub mod cloud_init;
pub mod converge;
pub mod defaults;
mod error;
pub mod firewall;
pub mod inventory;
pub mod k3s_node;
pub mod memo;
pub mod names;
pub mod network;
pub mod placement;
pub mod primary_ip;
pub mod secrets;
pub mod server;
pub mod spec;
pub mod ssh_key;
pub mod teardown;

pub use error::{Error, Field};
/// The Hetzner client this crate speaks through, for front ends that build it.
pub use hcloud;
/// SSH, K3s rendering and the Kubernetes API, for front ends that log in to the servers.
pub use k3s;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// What every operation needs: the API client and the caller's cancellation.
#[derive(Debug, Clone, Copy)]
pub struct Hetzner<'a> {
    /// The Hetzner Cloud client.
    pub api: &'a hcloud::Client,
    /// Fires when the caller wants the work stopped (e.g. Ctrl-C).
    pub cancel: &'a CancellationToken,
    /// Lookups shared with the caller's other operations, if it keeps them.
    pub memo: Option<&'a memo::Memo>,
}

impl<'a> Hetzner<'a> {
    /// Bundles a client and a cancellation token.
    pub fn new(api: &'a hcloud::Client, cancel: &'a CancellationToken) -> Hetzner<'a> {
        Hetzner {
            api,
            cancel,
            memo: None,
        }
    }

    /// The same, sharing the cluster lookups of every operation given `memo`.
    pub fn with_memo(self, memo: &'a memo::Memo) -> Hetzner<'a> {
        Hetzner {
            memo: Some(memo),
            ..self
        }
    }

    /// Waits for `action` within `deadline`.
    pub async fn wait(
        &self,
        action: &hcloud::Action,
        deadline: Duration,
        doing: &str,
    ) -> Result<(), Error> {
        self.wait_all(std::slice::from_ref(action), deadline, doing)
            .await
    }

    /// Waits for every action within `deadline` (polled together).
    pub async fn wait_all(
        &self,
        actions: &[hcloud::Action],
        deadline: Duration,
        doing: &str,
    ) -> Result<(), Error> {
        if actions.is_empty() {
            return Ok(());
        }
        self.api
            .wait_actions(actions, deadline, self.cancel)
            .await
            .map(|_| ())
            .map_err(|e| Error::api(doing, e))
    }

    /// Sleeps for `d` unless cancelled first.
    pub(crate) async fn pause(&self, d: Duration) -> Result<(), Error> {
        tokio::select! {
            () = self.cancel.cancelled() => Err(Error::Cancelled),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }
}
