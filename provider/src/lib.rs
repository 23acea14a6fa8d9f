//! `terraform-provider-k3strading`: ephemeral K3s trading clusters on Hetzner
//! Cloud, as the Terraform resources `k3strading_cluster` and
//! `k3strading_node`.
//!
//! This crate maps Terraform's view (schemas, plans, state) onto the Hetzner
//! client and the K3s bootstrap; the protocol itself lives in `tfplug`.

pub mod config;

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
}

#[tfplug::async_trait]
impl tfplug::Provider for K3sTrading {
    type Client = Client;

    fn schema(&self) -> Schema {
        config::schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<Client>>> {
        Vec::new()
    }

    async fn configure(
        &self,
        config: &Value,
        terraform_version: &str,
    ) -> Result<Client, Diagnostics> {
        let settings = config::resolve(config, |k| std::env::var(k).ok())?;
        tracing::info!(endpoint = %settings.endpoint, %terraform_version, "provider configured");
        Ok(Client { settings })
    }
}
