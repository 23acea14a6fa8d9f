//! `terraform-provider-k3strading`: ephemeral K3s trading clusters on Hetzner
//! Cloud, as the Terraform resources `k3strading_cluster` and
//! `k3strading_node`.
//!
//! This crate is Terraform glue only: it maps Terraform's view (schemas, plans,
//! state, diagnostics, import) onto the cluster domain in `k3strading-cluster`;
//! the protocol itself lives in `tfplug`.

use k3strading_cluster::hcloud;

pub mod cloud;
pub mod config;
pub mod docs;
pub mod resources;

use std::sync::Arc;

use tfplug::{Diagnostics, Resource, Schema, Value};

/// Terraform source address of this provider.
pub const SOURCE_ADDRESS: &str = "registry.terraform.io/k3strading/k3strading";

/// The provider.
#[derive(Debug, Default)]
pub struct K3sTrading;

/// What resources receive once the provider is configured.
#[derive(Debug)]
pub struct Client {
    /// Resolved settings.
    pub settings: config::Settings,
    /// Hetzner access and per-process caches.
    pub cloud: cloud::Cloud,
}

#[tfplug::async_trait]
impl tfplug::Provider for K3sTrading {
    type Client = Client;

    fn schema(&self) -> Schema {
        config::schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<Client>>> {
        vec![
            Arc::new(resources::cluster::ClusterResource),
            Arc::new(resources::node::NodeResource),
        ]
    }

    async fn configure(
        &self,
        config: &Value,
        terraform_version: &str,
    ) -> Result<Client, Diagnostics> {
        // resolve() refuses an endpoint that is not https (http only on
        // loopback), so no client exists and nothing is sent for it.
        let settings = config::resolve(config, |k| std::env::var(k).ok())?;
        let mut cfg = hcloud::Config::new(settings.endpoint.as_str(), settings.token.clone());
        cfg.retry.max_tries = settings.max_retries + 1;
        cfg.poll.initial = settings.poll_interval;
        cfg.poll.cap = cfg.poll.cap.max(settings.poll_interval);
        let api = hcloud::Client::new(cfg).map_err(|e| {
            let d = tfplug::Diagnostic::error("Could not set up the Hetzner client", e.to_string());
            match e {
                hcloud::Error::Endpoint(_) => d.at_attr("endpoint"),
                _ => d,
            }
        })?;
        // Scheme, host and port only: no path, query or credentials in logs.
        tracing::info!(endpoint = %settings.endpoint.origin(), %terraform_version, "provider configured");
        Ok(Client {
            settings,
            cloud: cloud::Cloud::new(api),
        })
    }
}
