//! A STAND-IN for the `k3s` binary — not K3s.
//!
//! The real K3s binary cannot be obtained where k3strading's local cloud
//! runs, so its VMs get this instead, installed at `/usr/local/bin/k3s`. It
//! reproduces what the install code and its checks observe:
//!
//! - `k3s server` reads `/etc/rancher/k3s/config.yaml`, creates the cluster
//!   CAs and certificates under `/var/lib/rancher/k3s/server/tls`, writes the
//!   secure token `K10<ca-sha256>::server:<secret>` to
//!   `/var/lib/rancher/k3s/server/token` and the admin kubeconfig to
//!   `/etc/rancher/k3s/k3s.yaml`, registers its own Node and serves `/ping`,
//!   `/cacerts` and enough of the Kubernetes API for `kubectl get`, `label`
//!   and `delete` on nodes, plus a generic object store ([`objects`]) with
//!   server-side apply, CRDs and a validation hook;
//! - a SIMULATION of K3s's Helm controller and of the Strimzi, ArgoCD and
//!   Prometheus operators ([`simulation`]): objects appear with the status
//!   those would report, and nothing is installed or run;
//! - `k3s agent` pins the CA through the token's hash, joins, and keeps its
//!   Node Ready with heartbeats.
//!
//! ```no_run
//! # async fn demo() -> Result<(), k3strading_k3s_standin::Error> {
//! use k3strading_k3s_standin::cli::{self, Command};
//! let args = vec!["server".to_string(), "--standin-root".into(), "/tmp/vm1".into()];
//! if let Command::Run(inv) = cli::parse(&args)? {
//!     k3strading_k3s_standin::run(&inv).await?;
//! }
//! # Ok(()) }
//! ```

pub mod agent;
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod doc;
mod error;
pub mod join;
pub mod listener;
pub mod node;
pub mod objects;
pub mod openapi;
pub mod paths;
pub mod pki;
pub mod rest;
pub mod select;
pub mod server;
pub mod settings;
pub mod simulation;
pub mod store;
pub mod table;
pub mod token;
mod trust;
pub mod watch;

pub use error::Error;

/// Runs the role the invocation names.
pub async fn run(inv: &cli::Invocation) -> Result<(), Error> {
    match inv.role {
        Some(cli::Role::Agent) => agent::run(inv).await,
        Some(cli::Role::Server) | None => server::run(inv).await,
    }
}

/// Resolves on SIGTERM (what `systemctl stop` sends) or SIGINT.
pub(crate) async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
