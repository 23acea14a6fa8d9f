//! What both resources share once the provider is configured: the Hetzner
//! client, a per-process catalog cache, the plan registry, and the mapping
//! of cluster errors to diagnostics.

use k3strading_cluster::hcloud;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use ipnet::Ipv4Net;
use k3strading_cluster::catalog::Catalog;
use k3strading_cluster::memo::Memo;
use k3strading_cluster::{Error, Field, Hetzner};
use tfplug::{AttrPath, Ctx, Diagnostic, Diagnostics};

use crate::Client;

/// What a cluster's plan told the process, so nodes planned in the same run
/// can be checked against it before the cluster exists.
#[derive(Debug, Clone, Default)]
pub struct PlannedCluster {
    /// Network range.
    pub cidr: Option<Ipv4Net>,
    /// Control-plane address.
    pub control_plane_ip: Option<Ipv4Addr>,
    /// Logical Primary IP names.
    pub primary_ips: Vec<String>,
    /// Location.
    pub location: Option<String>,
}

/// Process-wide plan bookkeeping: duplicates across resources of one plan.
#[derive(Debug, Default)]
pub struct Registry {
    /// Cluster name -> what its plan said.
    pub clusters: BTreeMap<String, PlannedCluster>,
    /// (cluster, private IP) -> node name.
    pub ips: BTreeMap<(String, Ipv4Addr), String>,
    /// (cluster, Primary IP logical name) -> node name.
    pub primary_ips: BTreeMap<(String, String), String>,
    /// Server name -> Terraform-visible owner (cluster or node name).
    pub names: BTreeMap<String, String>,
}

/// Shared state of a configured provider.
#[derive(Debug)]
pub struct Cloud {
    /// The API client.
    pub api: hcloud::Client,
    catalog: tokio::sync::OnceCell<Catalog>,
    /// Plan bookkeeping.
    pub registry: Mutex<Registry>,
    /// Cluster lookups shared by the node operations of this process.
    pub memo: Memo,
}

impl Cloud {
    /// Wraps a client.
    pub fn new(api: hcloud::Client) -> Cloud {
        Cloud {
            api,
            catalog: tokio::sync::OnceCell::new(),
            registry: Mutex::new(Registry::default()),
            memo: Memo::default(),
        }
    }

    /// The catalog, fetched once per process.
    pub async fn catalog(&self) -> Result<&Catalog, Diagnostic> {
        self.catalog
            .get_or_try_init(|| Catalog::fetch(&self.api))
            .await
            .map_err(|e| diag(&e, |_| None))
    }

    /// The registry (poisoning is harmless here: it only holds plain data).
    pub fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cluster layer's view of a resource operation.
pub fn hetzner<'a>(ctx: &'a Ctx<'_, Client>) -> Hetzner<'a> {
    Hetzner::new(&ctx.client.cloud.api, &ctx.cancel).with_memo(&ctx.client.cloud.memo)
}

/// A cluster error as a diagnostic; `attr` names the resource's attribute
/// for the field at fault.
pub fn diag(e: &Error, attr: impl Fn(Field) -> Option<&'static str>) -> Diagnostic {
    if matches!(e, Error::Cancelled) {
        return tfplug::cancelled();
    }
    let d = Diagnostic::error(e.summary(), e.detail());
    match e.field().and_then(attr) {
        Some(a) => d.at(AttrPath::attr(a)),
        None => d,
    }
}

/// Every error of a list as diagnostics.
pub fn diags(errors: &[Error], attr: impl Fn(Field) -> Option<&'static str> + Copy) -> Diagnostics {
    Diagnostics(errors.iter().map(|e| diag(e, attr)).collect())
}

/// An error about attribute `attr`.
pub fn attr_err(attr: &str, summary: impl Into<String>, detail: impl Into<String>) -> Diagnostic {
    Diagnostic::error(summary, detail).at(AttrPath::attr(attr))
}
