//! `k3strading teardown` against the local cloud (API only, in process): it
//! removes exactly one cluster's objects, keeps its Primary IPs, and leaves
//! every other cluster alone. The real binary runs; the cloud is checked
//! from its own records.

// Test code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use hcloud_emulator::{Emu, Options, Shared, app};
use k3strading_cluster::Hetzner;
use k3strading_cluster::catalog::Catalog;
use k3strading_cluster::converge::{self, ClusterBuilt, NodeBuilt};
use k3strading_cluster::hcloud::{Client, Config, PollPolicy, Token};
use k3strading_cluster::secrets::key_pair;
use k3strading_cluster::spec::{ClusterSpec, NodeSpec, Role};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "teardown-test-token";
const DEADLINE: Duration = Duration::from_secs(60);

async fn cloud() -> (Emu, Client, String) {
    let emu = Shared::new(Options::new(TOKEN)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let router = app(emu.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut cfg = Config::new(url.clone(), Token::new(TOKEN));
    cfg.poll = PollPolicy {
        initial: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    };
    (emu, Client::new(cfg).unwrap(), url)
}

async fn build(api: &Client, name: &str) {
    let cancel = CancellationToken::new();
    let hz = Hetzner::new(api, &cancel);
    let catalog = Catalog::fetch(api).await.unwrap();
    let mut spec = ClusterSpec::new(name);
    spec.install_k3s = false;
    let login = key_pair(name).unwrap();
    let host = key_pair("host").unwrap();
    let mut built = ClusterBuilt::default();
    converge::cluster(
        &hz,
        &spec,
        &catalog,
        login.public_openssh(),
        &host,
        None,
        DEADLINE,
        &mut built,
    )
    .await
    .unwrap();
    let node = NodeSpec {
        cluster: name.into(),
        name: format!("{name}-app-0"),
        role: Role::App,
        private_ip: "10.0.1.30".parse().unwrap(),
        primary_ip: None,
        server_type: "cpx22".into(),
        location: "fsn1".into(),
        image: "ubuntu-24.04".into(),
        labels: Default::default(),
        ssh_authorized_keys: Vec::new(),
        install_k3s: false,
    };
    let node_host = key_pair("node-host").unwrap();
    converge::node(&hz, &node, &node_host, DEADLINE, &mut NodeBuilt::default())
        .await
        .unwrap();
}

/// `(servers, networks, firewalls, placement groups, ssh keys, primary ips)` named for `cluster`.
fn count(emu: &Emu, cluster: &str) -> (usize, usize, usize, usize, usize, usize) {
    let w = emu.world();
    let mine = |n: &str| n == cluster || n.starts_with(&format!("{cluster}-"));
    (
        w.servers.values().filter(|s| mine(&s.server.name)).count(),
        w.networks.values().filter(|n| mine(&n.name)).count(),
        w.firewalls.values().filter(|f| mine(&f.name)).count(),
        w.placement_groups
            .values()
            .filter(|p| mine(&p.name))
            .count(),
        w.ssh_keys.values().filter(|k| mine(&k.name)).count(),
        w.primary_ips.values().filter(|p| mine(&p.name)).count(),
    )
}

async fn k3strading(url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_k3strading"))
        .args(args)
        .env("HCLOUD_ENDPOINT", url)
        .env("HCLOUD_TOKEN", TOKEN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("k3strading did not finish")
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_removes_one_cluster_keeps_its_primary_ips_and_spares_the_others() {
    let (emu, api, url) = cloud().await;
    build(&api, "k3s-trading-a").await;
    build(&api, "k3s-trading-b").await;
    let full = (2, 1, 1, 2, 1, 2);
    assert_eq!(count(&emu, "k3s-trading-a"), full);
    assert_eq!(count(&emu, "k3s-trading-b"), full);

    // A dry run lists and changes nothing.
    let dry = k3strading(
        &url,
        &["teardown", "--cluster", "k3s-trading-a", "--dry-run"],
        "",
    )
    .await;
    assert!(dry.status.success(), "{}", text(&dry));
    let listed = text(&dry);
    for name in [
        "k3s-trading-a-control",
        "k3s-trading-a-app-0",
        "k3s-trading-a-spread-1",
    ] {
        assert!(listed.contains(name), "{name} not listed:\n{listed}");
    }
    assert!(listed.contains("keep"), "{listed}");
    assert!(!listed.contains("k3s-trading-b"), "{listed}");
    assert_eq!(count(&emu, "k3s-trading-a"), full);

    // Without --yes it asks for the name; a wrong answer removes nothing.
    let refused = k3strading(
        &url,
        &["teardown", "--cluster", "k3s-trading-a"],
        "k3s-trading-b\n",
    )
    .await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("not confirmed"),
        "{}",
        text(&refused)
    );
    assert_eq!(count(&emu, "k3s-trading-a"), full);

    // The typed name removes it: only the two Primary IPs stay, unassigned
    // and delete-protected; cluster b is untouched.
    let done = k3strading(
        &url,
        &["teardown", "--cluster", "k3s-trading-a"],
        "k3s-trading-a\n",
    )
    .await;
    assert!(done.status.success(), "{}", text(&done));
    assert_eq!(count(&emu, "k3s-trading-a"), (0, 0, 0, 0, 0, 2));
    assert_eq!(count(&emu, "k3s-trading-b"), full);
    {
        let w = emu.world();
        for ip in w
            .primary_ips
            .values()
            .filter(|p| p.name.starts_with("k3s-trading-a-"))
        {
            assert!(ip.assignee_id.is_none(), "{ip:?}");
            assert!(ip.protection.delete, "{ip:?}");
        }
    }

    // Again: nothing to do, and it says so.
    let again = k3strading(
        &url,
        &["teardown", "--cluster", "k3s-trading-a", "--yes"],
        "",
    )
    .await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to remove"),
        "{}",
        text(&again)
    );
}

#[tokio::test]
async fn commands_that_need_the_api_say_what_is_missing() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_k3strading"))
        .args(["teardown", "--cluster", "x", "--dry-run"])
        .env_remove("HCLOUD_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("HCLOUD_TOKEN is not set"),
        "{}",
        text(&out)
    );
}
