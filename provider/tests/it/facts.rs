//! The full facts of the cloud, read from the local cloud's world, against
//! what `terraform/` should have made: every server's status, network
//! address, Primary IP, labels, firewall, placement group and SSH key, and
//! every object of every kind by name (so orphans and duplicates show).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use hcloud::models::Id;
use hcloud_emulator::world::World;

use crate::common::{Cloud, Planned, expected_placement_group, layout};

/// One server as the cloud holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    pub name: String,
    pub status: String,
    /// (network name, private address) of every attachment.
    pub networks: Vec<(String, String)>,
    /// Names of the Primary IPs assigned to it, IPv6 included.
    pub primary_ips: Vec<String>,
    /// Its public IPv4 as the API shows it (the address of its Primary IP).
    pub public_ipv4: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Names of the firewalls that apply to it.
    pub firewalls: Vec<String>,
    pub placement_group: Option<String>,
    /// Names of the SSH keys it was created with; a key deleted since shows
    /// as `(deleted key <id>)`.
    pub ssh_keys: Vec<String>,
}

/// A Primary IP as the cloud holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryIpFacts {
    pub name: String,
    pub kind: String,
    pub delete_protected: bool,
    pub auto_delete: bool,
    /// Name of the server it is assigned to (`(gone <id>)` for a server that
    /// no longer exists).
    pub assignee: Option<String>,
}

/// A network as the cloud holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFacts {
    pub name: String,
    pub ip_range: String,
    /// (destination, gateway)
    pub routes: Vec<(String, String)>,
}

/// Everything in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Sorted by name; a duplicate name shows twice.
    pub servers: Vec<ServerFacts>,
    pub networks: Vec<NetworkFacts>,
    pub firewalls: Vec<String>,
    pub placement_groups: Vec<String>,
    pub ssh_keys: Vec<String>,
    pub primary_ips: Vec<PrimaryIpFacts>,
}

/// How many objects of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub servers: usize,
    pub networks: usize,
    pub firewalls: usize,
    pub placement_groups: usize,
    pub ssh_keys: usize,
    pub primary_ips: usize,
}

impl Facts {
    /// The counts of every kind.
    pub fn counts(&self) -> Counts {
        Counts {
            servers: self.servers.len(),
            networks: self.networks.len(),
            firewalls: self.firewalls.len(),
            placement_groups: self.placement_groups.len(),
            ssh_keys: self.ssh_keys.len(),
            primary_ips: self.primary_ips.len(),
        }
    }

    /// What `terraform/` makes for `cluster` with `app_count` app VMs and
    /// `env` as the user label.
    pub fn converged(cluster: &str, env: &str, app_count: u8) -> Facts {
        let planned = layout(cluster, app_count);
        let mut servers: Vec<ServerFacts> = planned
            .iter()
            .map(|p| expected_server(cluster, env, p))
            .collect();
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        let placement_groups: BTreeSet<String> = planned
            .iter()
            .map(|p| expected_placement_group(cluster, p.private_ip))
            .collect();
        Facts {
            servers,
            networks: vec![NetworkFacts {
                name: cluster.to_owned(),
                ip_range: "10.0.1.0/24".into(),
                routes: vec![("0.0.0.0/0".into(), "10.0.1.10".into())],
            }],
            firewalls: vec![cluster.to_owned()],
            placement_groups: placement_groups.into_iter().collect(),
            ssh_keys: vec![format!("{cluster}-provider")],
            primary_ips: kept_ips(cluster, &planned, true),
        }
    }

    /// The same, for servers with K3s installed (`install_k3s = true`).
    pub fn with_k3s(mut self) -> Facts {
        for s in &mut self.servers {
            s.labels.insert("k3strading.io/k3s".into(), "true".into());
        }
        self
    }

    /// What is left after `terraform destroy`: only the Primary IPs,
    /// unassigned and still protected.
    pub fn destroyed(cluster: &str) -> Facts {
        Facts {
            servers: Vec::new(),
            networks: Vec::new(),
            firewalls: Vec::new(),
            placement_groups: Vec::new(),
            ssh_keys: Vec::new(),
            primary_ips: kept_ips(cluster, &layout(cluster, 0), false),
        }
    }
}

/// The Primary IPs the module keeps, assigned per `planned` or not at all.
fn kept_ips(cluster: &str, planned: &[Planned], assigned: bool) -> Vec<PrimaryIpFacts> {
    let mut ips: Vec<PrimaryIpFacts> = planned
        .iter()
        .filter_map(|p| {
            p.primary_ip.map(|logical| PrimaryIpFacts {
                name: format!("{cluster}-{logical}"),
                kind: "ipv4".into(),
                delete_protected: true,
                auto_delete: false,
                assignee: assigned.then(|| p.name.clone()),
            })
        })
        .collect();
    ips.sort_by(|a, b| a.name.cmp(&b.name));
    ips
}

fn expected_server(cluster: &str, env: &str, p: &Planned) -> ServerFacts {
    let mut labels: BTreeMap<String, String> = [
        ("env", env),
        ("k3strading.io/cluster", cluster),
        ("k3strading.io/managed-by", "terraform-provider-k3strading"),
        ("k3strading.io/role", p.role),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // Without VMs, terraform/ is applied with install_k3s = false.
    labels.insert("k3strading.io/k3s".into(), "false".into());
    match p.role {
        "control-plane" => {
            labels.insert("k3strading.io/k3s-version".into(), "v1.34.1-k3s1".into());
        }
        role => {
            labels.insert(format!("k3strading.io/{role}"), "true".into());
        }
    }
    ServerFacts {
        name: p.name.clone(),
        status: "running".into(),
        networks: vec![(cluster.to_owned(), p.private_ip.to_string())],
        primary_ips: p
            .primary_ip
            .map(|l| vec![format!("{cluster}-{l}")])
            .unwrap_or_default(),
        // Filled from the observed Primary IP: the address is the pool's choice.
        public_ipv4: None,
        labels,
        firewalls: vec![cluster.to_owned()],
        placement_group: Some(expected_placement_group(cluster, p.private_ip)),
        ssh_keys: vec![format!("{cluster}-provider")],
    }
}

fn observe(w: &World) -> Facts {
    let server_name = |id: Id| {
        w.servers
            .get(&id)
            .map(|s| s.server.name.clone())
            .unwrap_or_else(|| format!("(gone {id})"))
    };
    let mut servers: Vec<ServerFacts> = w
        .servers
        .iter()
        .filter_map(|(id, rec)| {
            let shown = hcloud_emulator::servers::render(w, *id)?;
            let mut primary_ips: Vec<String> = w
                .primary_ips
                .values()
                .filter(|p| p.assignee_id == Some(*id))
                .map(|p| p.name.clone())
                .collect();
            primary_ips.sort();
            let mut firewalls: Vec<String> = shown
                .public_net
                .firewalls
                .iter()
                .map(|f| {
                    w.firewalls
                        .get(&f.id)
                        .map(|fw| fw.name.clone())
                        .unwrap_or_else(|| format!("(gone {})", f.id))
                })
                .collect();
            firewalls.sort();
            Some(ServerFacts {
                name: shown.name.clone(),
                status: shown.status.as_str().to_owned(),
                networks: shown
                    .private_net
                    .iter()
                    .map(|n| {
                        let net = w
                            .networks
                            .get(&n.network)
                            .map(|x| x.name.clone())
                            .unwrap_or_else(|| format!("(gone {})", n.network));
                        (net, n.ip.clone())
                    })
                    .collect(),
                primary_ips,
                public_ipv4: shown.public_net.ipv4.as_ref().map(|i| i.ip.clone()),
                labels: shown.labels.clone().into_iter().collect(),
                firewalls,
                placement_group: shown.placement_group.as_ref().map(|g| g.name.clone()),
                ssh_keys: rec
                    .ssh_keys
                    .iter()
                    .map(|k| {
                        w.ssh_keys
                            .get(k)
                            .map(|key| key.name.clone())
                            .unwrap_or_else(|| format!("(deleted key {k})"))
                    })
                    .collect(),
            })
        })
        .collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let mut networks: Vec<NetworkFacts> = w
        .networks
        .values()
        .map(|n| NetworkFacts {
            name: n.name.clone(),
            ip_range: n.ip_range.clone(),
            routes: n
                .routes
                .iter()
                .map(|r| (r.destination.clone(), r.gateway.clone()))
                .collect(),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let mut primary_ips: Vec<PrimaryIpFacts> = w
        .primary_ips
        .values()
        .map(|p| PrimaryIpFacts {
            name: p.name.clone(),
            kind: p.kind.clone(),
            delete_protected: p.protection.delete,
            auto_delete: p.auto_delete,
            assignee: p.assignee_id.map(server_name),
        })
        .collect();
    primary_ips.sort_by(|a, b| a.name.cmp(&b.name));
    Facts {
        servers,
        networks,
        firewalls: sorted(w.firewalls.values().map(|f| f.name.clone()).collect()),
        placement_groups: sorted(
            w.placement_groups
                .values()
                .map(|g| g.name.clone())
                .collect(),
        ),
        ssh_keys: sorted(w.ssh_keys.values().map(|k| k.name.clone()).collect()),
        primary_ips,
    }
}

/// The SHA256 fingerprint `ssh-keygen -lf` prints for `public_key`, in the
/// base64url alphabet a Hetzner label value allows.
pub fn openssh_fingerprint(public_key: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ssh-keygen (Debian's openssh-client) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{public_key}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let b64 = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("SHA256:"))
        .unwrap_or_else(|| panic!("ssh-keygen printed no SHA256 fingerprint: {text}"));
    b64.replace('+', "-").replace('/', "_")
}

/// Panics with every difference between `expected` and what `cloud` holds.
pub fn assert_facts(cloud: &Cloud, expected: &Facts, what: &str) {
    let diff = facts_diff(cloud, expected);
    assert!(
        diff.is_empty(),
        "{what}: the cloud does not hold what terraform/ describes\n{diff}"
    );
}

/// Every difference between `expected` and what `cloud` holds, one per line
/// (empty when they agree). Public addresses are the pool's choice: each
/// server's public IPv4 must be the address of the Primary IP assigned to it.
pub fn facts_diff(cloud: &Cloud, expected: &Facts) -> String {
    let w = cloud.emu.world();
    let observed = observe(&w);
    let address_of = |name: &str| {
        w.primary_ips
            .values()
            .find(|p| p.name == name && p.kind == "ipv4")
            .map(|p| p.ip.clone())
    };
    // Every server carries the fingerprint of the key it was made with: the
    // cluster's key as the cloud holds it, fingerprinted by OpenSSH itself.
    let fingerprint = expected.ssh_keys.first().and_then(|name| {
        w.ssh_keys
            .values()
            .find(|k| &k.name == name)
            .map(|k| openssh_fingerprint(&k.public_key))
    });
    // And the fingerprint of the host key its cloud-init user data delivered.
    let host_key_of = |name: &str| {
        let rec = w.servers.values().find(|r| r.server.name == name)?;
        let public = rec
            .user_data
            .as_deref()?
            .lines()
            .find_map(|l| l.trim().strip_prefix("ed25519_public: "))?;
        Some(openssh_fingerprint(public))
    };
    let mut expected = expected.clone();
    for s in &mut expected.servers {
        s.public_ipv4 = s.primary_ips.first().and_then(|n| address_of(n));
        if let Some(fp) = &fingerprint {
            s.labels.insert("k3strading.io/ssh-key".into(), fp.clone());
        }
        if let Some(fp) = host_key_of(&s.name) {
            s.labels.insert("k3strading.io/host-key".into(), fp);
        }
    }
    drop(w);
    let mut diff = String::new();
    if observed.counts() != expected.counts() {
        let _ = writeln!(
            diff,
            "counts: expected {:?}\n        observed {:?}",
            expected.counts(),
            observed.counts()
        );
    }
    let names: BTreeSet<&str> = expected
        .servers
        .iter()
        .chain(&observed.servers)
        .map(|s| s.name.as_str())
        .collect();
    for name in names {
        let e: Vec<&ServerFacts> = expected.servers.iter().filter(|s| s.name == name).collect();
        let o: Vec<&ServerFacts> = observed.servers.iter().filter(|s| s.name == name).collect();
        match (e.as_slice(), o.as_slice()) {
            ([e], [o]) => server_diff(&mut diff, e, o),
            _ if e == o => {}
            _ => {
                let _ = writeln!(
                    diff,
                    "server {name}: expected {} of it, observed {}: {o:?}",
                    e.len(),
                    o.len()
                );
            }
        }
    }
    let (e, o) = (&expected, &observed);
    differ(&mut diff, "networks", &e.networks, &o.networks);
    differ(&mut diff, "firewalls", &e.firewalls, &o.firewalls);
    differ(
        &mut diff,
        "placement groups",
        &e.placement_groups,
        &o.placement_groups,
    );
    differ(&mut diff, "SSH keys", &e.ssh_keys, &o.ssh_keys);
    differ(&mut diff, "Primary IPs", &e.primary_ips, &o.primary_ips);
    if diff.is_empty() && observed != expected {
        diff = format!("expected {expected:#?}\nobserved {observed:#?}");
    }
    diff
}

/// Objects `cloud` holds beyond `expected`, by kind and name: those whose
/// name is not expected at all (orphans), and the extra copies of an
/// expected name (duplicates).
pub fn strays(cloud: &Cloud, expected: &Facts) -> (Vec<String>, Vec<String>) {
    strays_of(expected, &observe(&cloud.emu.world()))
}

/// [`strays`] between two sets of facts.
pub fn strays_of(expected: &Facts, observed: &Facts) -> (Vec<String>, Vec<String>) {
    let mut orphans = Vec::new();
    let mut duplicates = Vec::new();
    let kinds: [(&str, Vec<&str>, Vec<&str>); 6] = [
        (
            "server",
            expected.servers.iter().map(|s| s.name.as_str()).collect(),
            observed.servers.iter().map(|s| s.name.as_str()).collect(),
        ),
        (
            "network",
            expected.networks.iter().map(|n| n.name.as_str()).collect(),
            observed.networks.iter().map(|n| n.name.as_str()).collect(),
        ),
        (
            "firewall",
            expected.firewalls.iter().map(String::as_str).collect(),
            observed.firewalls.iter().map(String::as_str).collect(),
        ),
        (
            "placement group",
            expected
                .placement_groups
                .iter()
                .map(String::as_str)
                .collect(),
            observed
                .placement_groups
                .iter()
                .map(String::as_str)
                .collect(),
        ),
        (
            "SSH key",
            expected.ssh_keys.iter().map(String::as_str).collect(),
            observed.ssh_keys.iter().map(String::as_str).collect(),
        ),
        (
            "Primary IP",
            expected
                .primary_ips
                .iter()
                .map(|p| p.name.as_str())
                .collect(),
            observed
                .primary_ips
                .iter()
                .map(|p| p.name.as_str())
                .collect(),
        ),
    ];
    for (kind, want, have) in kinds {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for name in have {
            *counts.entry(name).or_default() += 1;
        }
        for (name, n) in counts {
            let allowed = want.iter().filter(|w| **w == name).count();
            if allowed == 0 {
                orphans.extend((0..n).map(|_| format!("{kind} {name}")));
            } else if n > allowed {
                duplicates.extend((allowed..n).map(|_| format!("{kind} {name}")));
            }
        }
    }
    (orphans, duplicates)
}

/// Notes `what` in `diff` when `e` and `o` differ.
fn differ<T: PartialEq + std::fmt::Debug>(diff: &mut String, what: &str, e: &T, o: &T) {
    if e != o {
        let _ = writeln!(diff, "{what}: expected {e:?}\n  observed {o:?}");
    }
}

fn server_diff(diff: &mut String, e: &ServerFacts, o: &ServerFacts) {
    let name = |what: &str| format!("server {} {what}", e.name);
    differ(diff, &name("status"), &e.status, &o.status);
    differ(diff, &name("networks"), &e.networks, &o.networks);
    differ(diff, &name("Primary IPs"), &e.primary_ips, &o.primary_ips);
    differ(diff, &name("public IPv4"), &e.public_ipv4, &o.public_ipv4);
    differ(diff, &name("labels"), &e.labels, &o.labels);
    differ(diff, &name("firewalls"), &e.firewalls, &o.firewalls);
    differ(
        diff,
        &name("placement group"),
        &e.placement_group,
        &o.placement_group,
    );
    differ(diff, &name("SSH keys"), &e.ssh_keys, &o.ssh_keys);
}

/// The cloud holds exactly the converged `terraform/` for `env` with one
/// app VM.
pub fn assert_converged(cloud: &Cloud, env: &str, what: &str) {
    let cluster = crate::common::cluster_name(env);
    assert_facts(cloud, &Facts::converged(&cluster, env, 1), what);
}

/// Only the kept Primary IPs are left of `env`'s cluster.
pub fn assert_destroyed(cloud: &Cloud, env: &str, what: &str) {
    let cluster = crate::common::cluster_name(env);
    assert_facts(cloud, &Facts::destroyed(&cluster), what);
}
