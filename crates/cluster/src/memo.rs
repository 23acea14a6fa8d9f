//! Lookups that every node of a cluster repeats, made once per process.
//!
//! A front end that runs many node operations at once (the provider during
//! one `terraform apply`) keeps one [`Memo`] and hands it to [`Hetzner`]:
//! the cluster's network, SSH key, Primary IPs, placement groups and
//! control plane are then read once for all nodes, and concurrent callers
//! wait for the first one's answer instead of asking again. Failures are not
//! remembered. Anything that changes those objects (creating, updating or
//! deleting the cluster) calls [`Memo::forget`] for the cluster.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use hcloud::models::{Id, Network, PlacementGroup, Server, SshKey};
use ipnet::Ipv4Net;
use tokio::sync::OnceCell;

use crate::Error;
use crate::k3s_node::ControlPlane;

type Cell<T> = Arc<OnceCell<T>>;
type Map<K, T> = HashMap<K, Cell<T>>;

/// Per-process answers, by cluster name.
#[derive(Debug, Default)]
pub struct Memo {
    maps: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    networks: Map<String, (Network, Ipv4Net)>,
    ssh_keys: Map<String, SshKey>,
    primary_ips: Map<(String, String), Id>,
    /// By (cluster, group name).
    placement_groups: Map<(String, String), PlacementGroup>,
    control_planes: Map<String, ControlPlane>,
    /// The cluster's servers as one list, for refreshes: (when listed, list).
    servers: Map<String, (std::time::Instant, Arc<Vec<Server>>)>,
}

/// How long a list of a cluster's servers answers refreshes.
const SERVERS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// A cell that already holds `value`.
fn known<T>(value: T) -> Cell<T> {
    Arc::new(OnceCell::new_with(Some(value)))
}

fn cell<K: Eq + Hash, T>(map: &mut Map<K, T>, key: K) -> Cell<T> {
    map.entry(key).or_default().clone()
}

impl Memo {
    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops everything known about `cluster`.
    pub fn forget(&self, cluster: &str) {
        let mut m = self.maps();
        m.networks.remove(cluster);
        m.ssh_keys.remove(cluster);
        m.control_planes.remove(cluster);
        m.servers.remove(cluster);
        m.primary_ips.retain(|(c, _), _| c != cluster);
        m.placement_groups.retain(|(c, _), _| c != cluster);
    }

    /// Remembers what creating `cluster` just made or adopted: its network
    /// (with its range), SSH key, Primary IPs by logical name and the control
    /// plane's placement group, so the cluster's nodes in this process find
    /// them without asking again.
    pub fn remember_cluster(
        &self,
        cluster: &str,
        network: (Network, Ipv4Net),
        ssh_key: SshKey,
        primary_ips: impl IntoIterator<Item = (String, Id)>,
        placement_group: PlacementGroup,
    ) {
        let mut m = self.maps();
        m.networks.insert(cluster.to_owned(), known(network));
        m.ssh_keys.insert(cluster.to_owned(), known(ssh_key));
        for (logical, id) in primary_ips {
            m.primary_ips
                .insert((cluster.to_owned(), logical), known(id));
        }
        m.placement_groups.insert(
            (cluster.to_owned(), placement_group.name.clone()),
            known(placement_group),
        );
    }

    /// Drops the list of `cluster`'s servers: a node was created, changed or deleted.
    pub fn forget_servers(&self, cluster: &str) {
        self.maps().servers.remove(cluster);
    }

    pub(crate) async fn cluster_servers<F, Fut>(
        &self,
        cluster: &str,
        load: F,
    ) -> Result<Arc<Vec<Server>>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Server>, Error>>,
    {
        let c = {
            let mut m = self.maps();
            let stale = m
                .servers
                .get(cluster)
                .and_then(|c| c.get())
                .is_some_and(|(at, _)| at.elapsed() > SERVERS_FRESH_FOR);
            if stale {
                m.servers.remove(cluster);
            }
            cell(&mut m.servers, cluster.to_owned())
        };
        let (_, list) = c
            .get_or_try_init(|| async {
                let at = std::time::Instant::now();
                load().await.map(|l| (at, Arc::new(l)))
            })
            .await?;
        Ok(list.clone())
    }

    pub(crate) async fn network<F, Fut>(
        &self,
        cluster: &str,
        load: F,
    ) -> Result<(Network, Ipv4Net), Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Network, Ipv4Net), Error>>,
    {
        let c = cell(&mut self.maps().networks, cluster.to_owned());
        c.get_or_try_init(load).await.cloned()
    }

    pub(crate) async fn ssh_key<F, Fut>(&self, cluster: &str, load: F) -> Result<SshKey, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SshKey, Error>>,
    {
        let c = cell(&mut self.maps().ssh_keys, cluster.to_owned());
        c.get_or_try_init(load).await.cloned()
    }

    pub(crate) async fn primary_ip<F, Fut>(
        &self,
        cluster: &str,
        logical: &str,
        load: F,
    ) -> Result<Id, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Id, Error>>,
    {
        let c = cell(
            &mut self.maps().primary_ips,
            (cluster.to_owned(), logical.to_owned()),
        );
        c.get_or_try_init(load).await.copied()
    }

    pub(crate) async fn placement_group<F, Fut>(
        &self,
        cluster: &str,
        name: &str,
        load: F,
    ) -> Result<PlacementGroup, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<PlacementGroup, Error>>,
    {
        let c = cell(
            &mut self.maps().placement_groups,
            (cluster.to_owned(), name.to_owned()),
        );
        c.get_or_try_init(load).await.cloned()
    }

    /// The control plane once found; a missing one is asked for again next time.
    pub(crate) async fn control_plane<F, Fut>(
        &self,
        cluster: &str,
        load: F,
    ) -> Result<Option<ControlPlane>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<ControlPlane>, Error>>,
    {
        let c = cell(&mut self.maps().control_planes, cluster.to_owned());
        // `None` is not an answer to keep: the control plane may be created yet.
        let mut missing = false;
        let got = c
            .get_or_try_init(|| async {
                match load().await? {
                    Some(cp) => Ok(cp),
                    None => {
                        missing = true;
                        Err(Error::Cancelled)
                    }
                }
            })
            .await;
        match got {
            Ok(cp) => Ok(Some(cp.clone())),
            Err(_) if missing => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn key(id: Id) -> SshKey {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": "k", "fingerprint": "f", "public_key": "ssh-ed25519 AAAA",
            "labels": {}, "created": "2024-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_load_and_forget_starts_over() {
        let memo = Memo::default();
        let loads = AtomicU32::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(key(7))
        };
        let (a, b, c) = tokio::join!(
            memo.ssh_key("c1", load),
            memo.ssh_key("c1", load),
            memo.ssh_key("c1", load)
        );
        assert_eq!([a.unwrap().id, b.unwrap().id, c.unwrap().id], [7, 7, 7]);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        memo.ssh_key("c2", load).await.unwrap();
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "another cluster is another lookup"
        );
        memo.forget("c1");
        memo.ssh_key("c1", load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn failures_and_missing_control_planes_are_not_remembered() {
        let memo = Memo::default();
        let failed = memo.ssh_key("c1", || async { Err(Error::Cancelled) }).await;
        assert!(failed.is_err());
        assert_eq!(
            memo.ssh_key("c1", || async { Ok(key(8)) })
                .await
                .unwrap()
                .id,
            8
        );
        let none = memo
            .control_plane("c1", || async { Ok(None) })
            .await
            .unwrap();
        assert!(none.is_none());
        let cp = ControlPlane {
            name: "c1-control".into(),
            public_ipv4: "203.0.113.1".into(),
            private_ip: "10.0.1.10".parse().unwrap(),
            host_key_pin: "SHA256:x".into(),
            k3s_version: "v1.34.1+k3s1".into(),
        };
        let found = cp.clone();
        let got = memo
            .control_plane("c1", || async move { Ok(Some(found)) })
            .await
            .unwrap();
        assert_eq!(got, Some(cp));
    }
}
