//! The Kubernetes API of a K3s server, reached through an SSH tunnel to the control plane's
//! `127.0.0.1:6443` with the server's own kubeconfig (read over SSH, never written to disk or
//! state). Node readiness, role labels, drain and removal.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::time::Instant;

use crate::install::{InstallError, read_secret_file};
use crate::session::{Forward, Session, SessionError};

/// Where K3s writes the admin kubeconfig (mode 0600).
pub const KUBECONFIG_PATH: &str = "/etc/rancher/k3s/k3s.yaml";
/// The API as seen from the control plane itself.
const API_HOST: &str = "127.0.0.1";
const API_PORT: u16 = 6443;
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);
/// Failed polls in a row after which a wait gives up on its tunnel.
pub const ERROR_STREAK: u32 = 20;

/// Errors from the Kubernetes API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Reading the kubeconfig or opening the tunnel failed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The tunnel could not be opened.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The kubeconfig K3s wrote could not be used (its text is never shown).
    #[error("{host}: the kubeconfig at {path} is unusable: {reason}")]
    Kubeconfig {
        /// The control plane.
        host: String,
        /// Where it was read.
        path: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A request failed.
    #[error("Kubernetes API: {action} {node}: {source}")]
    Request {
        /// What was being done.
        action: &'static str,
        /// The node concerned.
        node: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A wait ran past its deadline.
    #[error("Kubernetes API: node {node} {what} within {waited:?}{last}")]
    Timeout {
        /// The node.
        node: String,
        /// What was awaited, e.g. "did not become Ready".
        what: &'static str,
        /// How long.
        waited: Duration,
        /// The last state seen, as `; last seen: …`.
        last: String,
    },
}

/// A Kubernetes client for one cluster, alive as long as its tunnel.
pub struct ClusterApi {
    client: kube::Client,
    host: String,
    _forward: Forward,
}

impl std::fmt::Debug for ClusterApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterApi")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

fn request(action: &'static str, node: &str) -> impl FnOnce(kube::Error) -> ApiError {
    let node = node.to_owned();
    move |source| ApiError::Request {
        action,
        node,
        source,
    }
}

/// Whether a Node reports the Ready condition as True.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl ClusterApi {
    /// Opens a tunnel from 127.0.0.1 (a free port) through `control_plane` to its API and a
    /// client using the server's kubeconfig, with only the server address rewritten. The API
    /// certificate is verified against the cluster CA (it names 127.0.0.1).
    pub async fn open(control_plane: &Session) -> Result<Self, ApiError> {
        let host = control_plane.host().to_owned();
        let unusable = |reason: String| ApiError::Kubeconfig {
            host: host.clone(),
            path: KUBECONFIG_PATH,
            reason,
        };
        let text = read_secret_file(control_plane, KUBECONFIG_PATH, READ_TIMEOUT).await?;
        let kubeconfig = Kubeconfig::from_yaml(text.expose())
            .map_err(|e| unusable(format!("not a kubeconfig ({})", redact_kube(&e))))?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| unusable(redact_kube(&e)))?;
        let forward = control_plane.forward(API_HOST, API_PORT).await?;
        config.cluster_url = format!("https://{}", forward.local_addr())
            .parse()
            .map_err(|e| unusable(format!("tunnel address: {e}")))?;
        config.connect_timeout = Some(Duration::from_secs(20));
        config.read_timeout = Some(Duration::from_secs(60));
        let client = kube::Client::try_from(config).map_err(|e| unusable(redact_kube(&e)))?;
        Ok(Self {
            client,
            host,
            _forward: forward,
        })
    }

    /// The client, for callers that need other kinds.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    fn nodes(&self) -> kube::Api<Node> {
        kube::Api::all(self.client.clone())
    }

    /// Waits until Node `name` exists and is Ready.
    ///
    /// Request errors are waited out (the API may restart while the server settles), unless
    /// they persist for [`ERROR_STREAK`] polls in a row: then the tunnel is likely dead and the
    /// last error is returned, so the caller can reconnect.
    pub async fn wait_node_ready(&self, name: &str, deadline: Instant) -> Result<(), ApiError> {
        let started = Instant::now();
        let mut last = String::from("; last seen: no Node object");
        let mut errors = 0;
        loop {
            match self.nodes().get_opt(name).await {
                Ok(Some(node)) if is_ready(&node) => return Ok(()),
                Ok(Some(_)) => {
                    errors = 0;
                    last = "; last seen: registered, not Ready".to_owned();
                }
                Ok(None) => errors = 0,
                Err(e) if errors + 1 >= ERROR_STREAK => {
                    return Err(request("wait for", name)(e));
                }
                Err(e) => {
                    errors += 1;
                    last = format!("; last error: {e}");
                }
            }
            if Instant::now() + POLL >= deadline {
                return Err(ApiError::Timeout {
                    node: name.to_owned(),
                    what: "did not become Ready",
                    waited: started.elapsed(),
                    last,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sets `labels` on Node `name` with a merge patch (other labels are kept).
    pub async fn label_node(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let patch = serde_json::json!({ "metadata": { "labels": labels } });
        self.nodes()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(request("label", name))?;
        Ok(())
    }

    /// Makes Node `name`'s taints with keys in `managed` exactly `wanted` (`key[=value]:Effect`
    /// each), keeping every other taint (e.g. the ones Kubernetes sets itself). The kubelet
    /// applies its configured taints only when it first registers, so later changes go here.
    pub async fn set_taints(
        &self,
        name: &str,
        managed: &[String],
        wanted: &[String],
    ) -> Result<(), ApiError> {
        let wanted: Vec<Taint> = wanted.iter().filter_map(|t| parse_taint(t)).collect();
        let managed_keys: Vec<String> = managed
            .iter()
            .filter_map(|t| parse_taint(t).map(|t| t.key))
            .chain(wanted.iter().map(|t| t.key.clone()))
            .collect();
        let node = self
            .nodes()
            .get(name)
            .await
            .map_err(request("read", name))?;
        let current = node.spec.and_then(|s| s.taints).unwrap_or_default();
        let mut next: Vec<Taint> = current
            .iter()
            .filter(|t| !managed_keys.contains(&t.key))
            .cloned()
            .collect();
        next.extend(wanted);
        let same = |a: &[Taint], b: &[Taint]| {
            a.len() == b.len()
                && a.iter().all(|t| {
                    b.iter()
                        .any(|u| u.key == t.key && u.value == t.value && u.effect == t.effect)
                })
        };
        if same(&current, &next) {
            return Ok(());
        }
        let patch = serde_json::json!({ "spec": { "taints": next } });
        self.nodes()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(request("taint", name))?;
        Ok(())
    }

    /// The labels Node `name` has now, or `None` when it does not exist.
    pub async fn node_labels(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let node = self
            .nodes()
            .get_opt(name)
            .await
            .map_err(request("read", name))?;
        Ok(node.map(|n| n.metadata.labels.unwrap_or_default()))
    }

    /// Cordons Node `name`, evicts its pods (DaemonSet pods stay, as with `kubectl drain
    /// --ignore-daemonsets`) and waits until they are gone, then deletes the Node object.
    /// Returns false when there was no such Node.
    pub async fn drain_and_delete(&self, name: &str, deadline: Instant) -> Result<bool, ApiError> {
        let cordon = serde_json::json!({ "spec": { "unschedulable": true } });
        match self
            .nodes()
            .patch(name, &PatchParams::default(), &Patch::Merge(&cordon))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(false),
            Err(e) => return Err(request("cordon", name)(e)),
        }
        tracing::info!(node = name, "cordoned; evicting pods");
        let started = Instant::now();
        loop {
            let pods = self.evictable_pods(name).await?;
            if pods.is_empty() {
                break;
            }
            for (ns, pod) in &pods {
                let api: kube::Api<Pod> = kube::Api::namespaced(self.client.clone(), ns);
                match api.evict(pod, &EvictParams::default()).await {
                    Ok(_) => {}
                    // Gone already, or a disruption budget says not yet: look again later.
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 429 => {}
                    Err(e) => return Err(request("evict a pod from", name)(e)),
                }
            }
            if Instant::now() + POLL * 2 >= deadline {
                return Err(ApiError::Timeout {
                    node: name.to_owned(),
                    what: "could not be drained",
                    waited: started.elapsed(),
                    last: format!("; pods left: {}", pods.len()),
                });
            }
            tokio::time::sleep(POLL * 2).await;
        }
        match self.nodes().delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(true),
            Err(e) => Err(request("delete", name)(e)),
        }
    }

    async fn evictable_pods(&self, node: &str) -> Result<Vec<(String, String)>, ApiError> {
        let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let pods: kube::Api<Pod> = kube::Api::all(self.client.clone());
        let list = pods
            .list(&params)
            .await
            .map_err(request("list the pods of", node))?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| {
                let daemon = p
                    .metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|r| r.kind == "DaemonSet"));
                let done = p
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|ph| ph == "Succeeded" || ph == "Failed");
                !daemon && !done
            })
            .filter_map(|p| Some((p.metadata.namespace?, p.metadata.name?)))
            .collect())
    }
}

/// `key[=value]:Effect` as a taint; `None` when it has no effect.
pub fn parse_taint(text: &str) -> Option<Taint> {
    let (kv, effect) = text.rsplit_once(':')?;
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_owned())),
        None => (kv, None),
    };
    Some(Taint {
        key: key.to_owned(),
        value: value.filter(|v| !v.is_empty()),
        effect: effect.to_owned(),
        time_added: None,
    })
}

/// A kubeconfig error, without echoing the file's text (it holds the client key).
fn redact_kube(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    if text.contains("BEGIN") || text.len() > 300 {
        "the kubeconfig could not be parsed".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse_with_and_without_values() {
        let t = parse_taint("dedicated=trading:NoSchedule");
        assert_eq!(
            t.map(|t| (t.key, t.value, t.effect)),
            Some((
                "dedicated".to_owned(),
                Some("trading".to_owned()),
                "NoSchedule".to_owned()
            ))
        );
        let t = parse_taint("spot:PreferNoSchedule");
        assert_eq!(t.map(|t| (t.key, t.value)), Some(("spot".to_owned(), None)));
        assert!(parse_taint("no-effect").is_none());
    }
}
