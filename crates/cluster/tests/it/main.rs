//! The cluster layer against the local cloud, in process: placement sharding
//! at scale, adoption only of servers made with the key we hold, the server
//! quota, and teardown by label.

// Test code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use hcloud::{Client, Config, PollPolicy, Token};
use hcloud_emulator::{Emu, Options, Shared, app};
use k3strading_cluster::catalog::Catalog;
use k3strading_cluster::converge::{self, ClusterBuilt, NodeBuilt};
use k3strading_cluster::secrets::{KeyPair, key_pair};
use k3strading_cluster::spec::{ClusterSpec, NodeSpec, Role};
use k3strading_cluster::teardown::{Scope, teardown};
use k3strading_cluster::{Error, Hetzner, names, placement};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "cluster-test-token";
const DEADLINE: Duration = Duration::from_secs(60);

struct Cloud {
    emu: Emu,
    api: Client,
}

impl Drop for Cloud {
    /// Every response of every test is checked against Hetzner's OpenAPI
    /// document (when present).
    fn drop(&mut self) {
        let v = self.emu.violations.lock().unwrap();
        if !std::thread::panicking() {
            assert!(
                v.is_empty(),
                "responses that break the OpenAPI document: {v:?}"
            );
        }
    }
}

async fn cloud(tweak: impl FnOnce(&mut Options)) -> Cloud {
    static SPEC: std::sync::OnceLock<Option<std::sync::Arc<hcloud_emulator::spec::SpecChecker>>> =
        std::sync::OnceLock::new();
    let mut opts = Options::new(TOKEN);
    opts.spec = SPEC
        .get_or_init(|| {
            hcloud_emulator::spec::find_hetzner_spec(env!("CARGO_MANIFEST_DIR"))
                .unwrap()
                .map(std::sync::Arc::new)
        })
        .clone();
    tweak(&mut opts);
    let emu = Shared::new(opts).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(emu.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut cfg = Config::new(format!("http://{addr}/v1"), Token::new(TOKEN));
    cfg.poll = PollPolicy {
        initial: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    };
    Cloud {
        emu,
        api: Client::new(cfg).unwrap(),
    }
}

fn node(cluster: &str, name: &str, role: Role, last_octet: u8) -> NodeSpec {
    NodeSpec {
        cluster: cluster.into(),
        name: format!("{cluster}-{name}"),
        role,
        private_ip: Ipv4Addr::new(10, 0, 1, last_octet),
        primary_ip: (name == "kafka-0").then(|| "kafka".to_owned()),
        server_type: "cpx22".into(),
        location: "fsn1".into(),
        image: "ubuntu-24.04".into(),
        labels: Default::default(),
        ssh_authorized_keys: Vec::new(),
        install_k3s: false,
    }
}

/// The seed layout with `apps` app nodes.
fn layout(cluster: &str, apps: u8) -> Vec<NodeSpec> {
    let mut v: Vec<NodeSpec> = (0..3)
        .map(|i| node(cluster, &format!("kafka-{i}"), Role::Kafka, 20 + i))
        .collect();
    v.extend((0..apps).map(|i| node(cluster, &format!("app-{i}"), Role::App, 30 + i)));
    v
}

/// A login key and a host key, as the provider holds them.
struct Keys {
    login: KeyPair,
    host: KeyPair,
}

fn keys(comment: &str) -> Keys {
    Keys {
        login: key_pair(comment).unwrap(),
        host: key_pair("host").unwrap(),
    }
}

async fn build_cluster(c: &Cloud, spec: &ClusterSpec, key: &Keys) -> ClusterBuilt {
    let cancel = CancellationToken::new();
    let hz = Hetzner::new(&c.api, &cancel);
    let catalog = Catalog::fetch(&c.api).await.unwrap();
    let mut built = ClusterBuilt::default();
    converge::cluster(
        &hz,
        spec,
        &catalog,
        key.login.public_openssh(),
        &key.host,
        None,
        DEADLINE,
        &mut built,
    )
    .await
    .unwrap();
    built
}

/// Servers by name → (placement group name, labels).
fn servers(c: &Cloud) -> BTreeMap<String, (Option<String>, hcloud::models::Labels)> {
    let w = c.emu.world();
    w.servers
        .keys()
        .filter_map(|id| hcloud_emulator::servers::render(&w, *id))
        .map(|s| {
            let pg = s.placement_group.as_ref().map(|g| g.name.clone());
            (s.name, (pg, s.labels))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_four_servers_created_in_parallel_fill_no_group_beyond_ten() {
    let c = cloud(|_| {}).await;
    let spec = ClusterSpec::new("big");
    let key = keys("k");
    build_cluster(&c, &spec, &key).await;
    let cancel = CancellationToken::new();
    let hz = Hetzner::new(&c.api, &cancel);
    let nodes = layout("big", 20);
    let results = futures_util::future::join_all(nodes.iter().map(|n| async {
        let mut built = NodeBuilt::default();
        let host = key_pair("host").unwrap();
        converge::node(&hz, n, &host, DEADLINE, &mut built).await
    }))
    .await;
    for (n, r) in nodes.iter().zip(&results) {
        assert!(r.is_ok(), "{}: {:?}", n.name, r.as_ref().err());
    }
    let all = servers(&c);
    assert_eq!(all.len(), 24);
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    for (name, (pg, _)) in &all {
        let pg = pg
            .clone()
            .unwrap_or_else(|| panic!("{name} has no placement group"));
        *per_group.entry(pg).or_default() += 1;
    }
    assert_eq!(
        per_group,
        BTreeMap::from([
            ("big-spread-1".to_owned(), 1),
            ("big-spread-2".to_owned(), 3),
            ("big-spread-3".to_owned(), 10),
            ("big-spread-4".to_owned(), 10),
        ])
    );
    // Every server sits in the group its own address names.
    let net: ipnet::Ipv4Net = "10.0.1.0/24".parse().unwrap();
    for n in &nodes {
        assert_eq!(
            all[&n.name].0.as_deref(),
            Some(placement::group_name("big", &net, n.private_ip).as_str())
        );
    }
    assert_eq!(c.emu.world().placement_groups.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_server_is_adopted_only_when_made_with_the_key_we_hold() {
    let c = cloud(|_| {}).await;
    let spec = ClusterSpec::new("keys");
    let first = keys("a");
    let a = build_cluster(&c, &spec, &first).await;
    let fp = |k: &Keys| k3strading_cluster::ssh_key::fingerprint(k.login.public_openssh()).unwrap();
    let cp = names::control_plane("keys");
    assert_eq!(servers(&c)[&cp].1[names::SSH_KEY], fp(&first));

    // Same keys (a re-run that still holds them): adopted, same server.
    let again = build_cluster(&c, &spec, &first).await;
    assert_eq!(again.control_plane, a.control_plane);

    // Same login key, another host key (one we cannot pin): replaced.
    let rekeyed = Keys {
        login: first.login.clone(),
        host: key_pair("host-2").unwrap(),
    };
    let r = build_cluster(&c, &spec, &rekeyed).await;
    assert_ne!(r.control_plane, a.control_plane);
    let host_fp = k3strading_cluster::ssh_key::fingerprint(rekeyed.host.public_openssh()).unwrap();
    assert_eq!(servers(&c)[&cp].1[names::HOST_KEY], host_fp);
    let a = r;

    // A new key (the previous private half is gone): replaced.
    let second = keys("b");
    let b = build_cluster(&c, &spec, &second).await;
    assert_ne!(b.control_plane, a.control_plane);
    assert_eq!(servers(&c)[&cp].1[names::SSH_KEY], fp(&second));
    assert_eq!(servers(&c).len(), 1, "never a duplicate");
    assert_eq!(c.emu.world().ssh_keys.len(), 1, "the old key is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_leaves_only_the_primary_ips() {
    let c = cloud(|_| {}).await;
    let spec = ClusterSpec::new("gone");
    let key = keys("k");
    build_cluster(&c, &spec, &key).await;
    let cancel = CancellationToken::new();
    let hz = Hetzner::new(&c.api, &cancel);
    for n in layout("gone", 11) {
        converge::node(
            &hz,
            &n,
            &key_pair("host").unwrap(),
            DEADLINE,
            &mut NodeBuilt::default(),
        )
        .await
        .unwrap();
    }
    let refused = teardown(&hz, "gone", Scope::ControlPlaneOnly, DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Refused { .. }), "{refused}");
    assert_eq!(servers(&c).len(), 15, "a refused teardown deletes nothing");
    teardown(&hz, "gone", Scope::Everything, DEADLINE)
        .await
        .unwrap();
    let inv = k3strading_cluster::inventory::Inventory::read(&hz, "gone")
        .await
        .unwrap();
    assert!(inv.only_primary_ips(), "{inv:?}");
    assert_eq!(inv.primary_ips.len(), 2);
    assert!(
        inv.primary_ips
            .iter()
            .all(|p| p.assignee_id.is_none() && p.protection.delete)
    );
    {
        let w = c.emu.world();
        assert!(w.servers.is_empty() && w.networks.is_empty() && w.placement_groups.is_empty());
    }
    // Safe to repeat.
    teardown(&hz, "gone", Scope::Everything, DEADLINE)
        .await
        .unwrap();
}
