//! `--vms`: the local cloud's servers become sandboxes you can SSH into.
//!
//! Each running server is a network namespace plus `unshare`d mount, UTS,
//! IPC and PID namespaces with a copy-on-write view of the host's system
//! folders and a real OpenSSH `sshd` as PID 1 ([`sandbox`]), seeded from its
//! cloud-init user data at first boot ([`cloud_init`]). A fabric namespace
//! connects them ([`net`]) and applies Hetzner firewalls ([`firewall`]).
//! With [`VmsConfig::inet`], a stand-in internet ([`crate::inet`]) sits on
//! the fabric's public side, and every VM resolves and trusts it.
//!
//! The VMs follow the API state: a reconcile loop compares what the API says
//! ([`desired`]) with what runs. `running` → VM up; `off` (poweroff,
//! shutdown) → VM down, disk kept; deleted → VM and disk removed. Needs root.
//!
//! With `--state`, the API state persists but VMs do not survive a restart:
//! servers that were running come back `off`, and their next power-on is a
//! first boot on a fresh disk (cloud-init runs again).

pub mod cleanup;
pub mod cloud_init;
pub mod cmd;
pub mod desired;
pub mod firewall;
pub mod net;
pub mod sandbox;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use hcloud::models::Id;
use ipnet::Ipv4Net;
use tokio::io::AsyncBufReadExt as _;
use tokio::process::Child;
use tokio::sync::{Mutex, Notify};

use crate::inet::InetConfig;

pub use cmd::VmError;
use desired::Desired;
use net::{Names, NetSpec};

/// How often the VMs are brought in line with the API state.
const PERIOD: Duration = Duration::from_millis(200);
/// VMs booting at the same time, at most.
const BOOTS_AT_ONCE: usize = 8;

/// `--vms` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmsConfig {
    /// Prefix of every namespace and host link (at most 5 characters:
    /// interface names are short).
    pub prefix: String,
    /// The stand-in internet (`<prefix>-inet`); none without it.
    pub inet: Option<InetConfig>,
}

impl Default for VmsConfig {
    fn default() -> Self {
        VmsConfig {
            prefix: "k3c".into(),
            inet: None,
        }
    }
}

/// Checks that this process can run VMs; names everything missing.
pub fn preflight(cfg: &VmsConfig) -> Result<(), VmError> {
    let mut missing = Vec::new();
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(str::to_owned))
        });
    if euid.as_deref() != Some("0") {
        missing.push("root (namespaces, mounts and sshd need it)".to_owned());
    }
    for (path, package) in [
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/sbin/iptables", "iptables"),
        ("/usr/sbin/ip", "iproute2"),
        ("/usr/bin/unshare", "util-linux"),
        ("/usr/bin/ssh-keygen", "openssh-client"),
    ] {
        if !Path::new(path).exists() {
            missing.push(format!("{path} (Debian package {package})"));
        }
    }
    let p = &cfg.prefix;
    if p.is_empty()
        || p.len() > 5
        || !p
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        missing.push(format!(
            "a prefix of 1-5 lowercase letters or digits, not {p:?}"
        ));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(VmError::Unavailable {
            missing: missing.join(", "),
        })
    }
}

#[derive(Debug)]
struct Vm {
    child: Child,
    links: Links,
}

/// A VM's NICs and firewall as applied.
#[derive(Debug, Default)]
struct Links {
    nics: BTreeMap<Id, (Ipv4Addr, String)>,
    firewall: Vec<Vec<String>>,
    has_public: bool,
}

#[derive(Debug, Default)]
struct Actual {
    nets: BTreeMap<Id, NetSpec>,
    vms: BTreeMap<Id, Vm>,
    disks: BTreeSet<Id>,
    failed: BTreeSet<Id>,
}

/// The running machinery of `--vms`.
#[derive(Debug)]
pub struct Vms {
    names: Names,
    dir: PathBuf,
    actual: Mutex<Actual>,
    stop: Notify,
    around: sandbox::Surroundings,
    inet: Mutex<Option<Child>>,
}

impl Vms {
    /// Checks the machine, removes what an earlier run of the same prefix
    /// left, checks the pool, and builds the fabric.
    pub async fn start(cfg: &VmsConfig, pool: &Ipv4Net) -> Result<Arc<Vms>, VmError> {
        preflight(cfg)?;
        if pool.prefix_len() > 30 {
            return Err(VmError::Unavailable {
                missing: format!("an --ipv4-pool of /30 or larger, not {pool}"),
            });
        }
        let names = Names {
            prefix: cfg.prefix.clone(),
        };
        let dir = disk_root(cfg);
        let found = cleanup::everything(&names, &dir).await?;
        if found > 0 {
            tracing::warn!(found, prefix = %cfg.prefix, "removed namespaces an earlier run left");
        }
        crate::pool::check_against_host(pool).map_err(|e| VmError::Unavailable {
            missing: format!("a free --ipv4-pool: {e}"),
        })?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(cmd::io(&dir))?;
        let mut vms = Vms {
            names,
            dir,
            actual: Mutex::new(Actual::default()),
            stop: Notify::new(),
            around: sandbox::Surroundings::default(),
            inet: Mutex::new(None),
        };
        if let Err(e) = net::up_fabric(&vms.names, pool).await {
            vms.shutdown().await;
            return Err(e);
        }
        if let Some(inet) = &cfg.inet {
            match vms.up_inet(inet).await {
                Ok((child, around)) => {
                    vms.around = around;
                    vms.inet = Mutex::new(Some(child));
                }
                Err(e) => {
                    vms.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(Arc::new(vms))
    }

    /// The stand-in internet's folder (certificate, key, request log).
    pub fn inet_dir(&self) -> PathBuf {
        self.dir.join("inet")
    }

    /// Starts the stand-in internet: its namespace, test CA and server.
    async fn up_inet(&self, cfg: &InetConfig) -> Result<(Child, sandbox::Surroundings), VmError> {
        let addr = crate::inet::ADDR;
        net::up_inet(&self.names, addr).await?;
        let dir = self.inet_dir();
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(cmd::io(&dir))?;
        let ca = crate::inet::pki::issue(&dir)?;
        let mut c = tokio::process::Command::new("ip");
        c.args(["netns", "exec", &self.names.inet()])
            .arg(&cfg.exe)
            .arg(crate::inet::SUBCOMMAND)
            .arg("--dir")
            .arg(&dir)
            .args(["--listen", &format!("{addr}:443")]);
        for v in &cfg.k3s_versions {
            c.args(["--k3s-version", v]);
        }
        if let Some(bin) = &cfg.k3s_binary {
            c.arg("--k3s-binary").arg(bin);
        }
        // Its stdin is a pipe held by this process: when the cloud ends, in
        // any way, the server reads end-of-file and exits.
        let mut child = c
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| VmError::Spawn {
                program: "ip netns exec … inet-serve".into(),
                source,
            })?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let mut out = tokio::io::BufReader::new(out);
            let _ = tokio::time::timeout(cmd::DEADLINE, out.read_line(&mut line)).await;
        }
        if line.trim() != "ready" {
            let _ = child.start_kill();
            return Err(VmError::Failed {
                program: "inet-serve".into(),
                args: String::new(),
                status: "not ready".into(),
                stderr: "the stand-in internet's server did not start (see stderr)".into(),
            });
        }
        let around = sandbox::Surroundings {
            inet: Some((addr, ca)),
            k3s_standin_env: cfg.standin_env(),
            schemas: cfg
                .k3s_schemas
                .as_ref()
                .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())),
        };
        Ok((child, around))
    }

    /// Names of this run's namespaces and links.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Follows the API state until [`Vms::shutdown`].
    pub fn spawn(self: &Arc<Self>, emu: crate::Emu) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let want = desired::from_world(&emu.world());
                me.reconcile(&want).await;
                tokio::select! {
                    _ = me.stop.notified() => break,
                    _ = tokio::time::sleep(PERIOD) => {}
                }
            }
        })
    }

    /// Stops every VM and removes every namespace, link and disk of this run.
    pub async fn shutdown(&self) {
        self.stop.notify_one();
        let mut a = self.actual.lock().await;
        for (_, mut vm) in std::mem::take(&mut a.vms) {
            sandbox::stop(&mut vm.child).await;
        }
        if let Some(mut inet) = self.inet.lock().await.take() {
            sandbox::stop(&mut inet).await;
        }
        if let Err(e) = cleanup::everything(&self.names, &self.dir).await {
            tracing::warn!(error = %e, "cleanup was incomplete");
        }
    }

    fn disk(&self, id: Id) -> PathBuf {
        self.dir.join(format!("vm{id}"))
    }

    async fn reconcile(&self, want: &Desired) {
        let mut a = self.actual.lock().await;
        let fabric = self.names.fabric();
        for (id, spec) in &want.networks {
            let result = match a.nets.get(id) {
                None => net::add_network(&self.names, *id, spec).await,
                Some(old) if old != spec => net::set_routes(&self.names, *id, spec).await,
                Some(_) => continue,
            };
            match result {
                Ok(()) => {
                    a.nets.insert(*id, spec.clone());
                }
                Err(e) => tracing::warn!(network = id, error = %e, "network setup failed"),
            }
        }
        let ids: Vec<Id> = a.vms.keys().copied().collect();
        for id in ids {
            let w = want.servers.get(&id);
            let exited = a
                .vms
                .get_mut(&id)
                .is_some_and(|vm| vm.child.try_wait().ok().flatten().is_some());
            if exited {
                tracing::warn!(
                    server = id,
                    "VM stopped by itself; see console.log on its disk"
                );
                a.failed.insert(id);
            }
            if (exited || !w.is_some_and(|w| w.running))
                && let Some(mut vm) = a.vms.remove(&id)
            {
                sandbox::stop(&mut vm.child).await;
                firewall::unhook(&fabric, id).await;
                net::remove_vm(&self.names, id).await;
            }
        }
        let gone: Vec<Id> = a
            .disks
            .iter()
            .filter(|id| !want.servers.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            let disk = self.disk(id);
            if let Err(e) = std::fs::remove_dir_all(&disk) {
                tracing::warn!(server = id, error = %e, "could not remove a disk");
            }
            a.disks.remove(&id);
            a.failed.remove(&id);
        }
        // VMs boot side by side, as Hetzner's servers do on their own hosts
        // (one after the other, fifty VMs took seconds to come up here); at
        // most BOOTS_AT_ONCE at a time, so two cores keep up.
        let mut booting = Vec::new();
        for (id, w) in &want.servers {
            if !w.running {
                a.failed.remove(id);
                continue;
            }
            if a.failed.contains(id) {
                continue;
            }
            if !a.vms.contains_key(id) {
                let first = a.disks.insert(*id);
                booting.push((*id, w, first));
                continue;
            }
            if let Err(e) = self.update(&mut a, *id, w).await {
                tracing::warn!(server = id, error = %e, "VM update failed");
            }
        }
        let nets = &a.nets;
        let boots: Vec<_> = booting
            .into_iter()
            .map(|(id, w, first)| self.boot(nets, id, w, first))
            .collect();
        let booted: Vec<(Id, Result<Vm, VmError>)> = futures_util::stream::iter(boots)
            .buffer_unordered(BOOTS_AT_ONCE)
            .collect()
            .await;
        for (id, result) in booted {
            match result {
                Ok(vm) => {
                    a.vms.insert(id, vm);
                }
                Err(e) => {
                    tracing::warn!(server = id, error = %e, "VM did not start");
                    firewall::unhook(&fabric, id).await;
                    net::remove_vm(&self.names, id).await;
                    a.failed.insert(id);
                }
            }
        }
        let stale: Vec<Id> = a
            .nets
            .keys()
            .filter(|id| !want.networks.contains_key(id))
            .copied()
            .collect();
        for id in stale {
            if let Err(e) = net::remove_network(&self.names, id).await {
                tracing::warn!(network = id, error = %e, "network removal failed");
            }
            a.nets.remove(&id);
        }
    }

    /// Boots VM `id` (`first`: from a fresh disk, running first-boot setup)
    /// with its NICs on `nets`.
    async fn boot(
        &self,
        nets: &BTreeMap<Id, NetSpec>,
        id: Id,
        w: &desired::Want,
        first: bool,
    ) -> (Id, Result<Vm, VmError>) {
        (id, self.boot_now(nets, id, w, first).await)
    }

    async fn boot_now(
        &self,
        nets: &BTreeMap<Id, NetSpec>,
        id: Id,
        w: &desired::Want,
        first: bool,
    ) -> Result<Vm, VmError> {
        let disk = self.disk(id);
        let hostname = if first {
            let _ = std::fs::remove_dir_all(&disk);
            sandbox::first_boot(&disk, &w.boot, &self.around).await?
        } else {
            sandbox::hostname(&disk)?
        };
        // Links first: first-boot commands see the VM's addresses.
        net::add_vm(&self.names, id, w.public).await?;
        let mut links = Links {
            has_public: w.public.is_some(),
            ..Links::default()
        };
        if links.has_public {
            firewall::hook(&self.names.fabric(), id).await?;
        }
        self.apply_links(nets, id, w, &mut links).await?;
        let child = sandbox::launch(&disk, &self.names.vm(id), &hostname)?;
        Ok(Vm { child, links })
    }

    async fn update(&self, a: &mut Actual, id: Id, w: &desired::Want) -> Result<(), VmError> {
        let Some(mut vm) = a.vms.remove(&id) else {
            return Ok(());
        };
        let r = self.apply_links(&a.nets, id, w, &mut vm.links).await;
        a.vms.insert(id, vm);
        r
    }

    async fn apply_links(
        &self,
        nets: &BTreeMap<Id, NetSpec>,
        id: Id,
        w: &desired::Want,
        vm: &mut Links,
    ) -> Result<(), VmError> {
        let removed: Vec<Id> = vm
            .nics
            .iter()
            .filter(|(n, (ip, _))| w.nics.get(n) != Some(ip))
            .map(|(n, _)| *n)
            .collect();
        for n in removed {
            net::remove_nic(&self.names, id, n).await?;
            vm.nics.remove(&n);
        }
        for (n, ip) in &w.nics {
            if vm.nics.contains_key(n) {
                continue;
            }
            let Some(spec) = nets.get(n) else { continue };
            let nic = (7..)
                .map(|k| format!("enp{k}s0"))
                .find(|name| !vm.nics.values().any(|(_, used)| used == name))
                .unwrap_or_default();
            let default_route = !vm.has_public && vm.nics.is_empty();
            net::add_nic(&self.names, id, *n, &nic, *ip, spec, default_route).await?;
            vm.nics.insert(*n, (*ip, nic));
        }
        if vm.has_public && vm.firewall != w.firewall {
            firewall::apply(&self.names.fabric(), id, &w.firewall).await?;
            vm.firewall = w.firewall.clone();
        }
        Ok(())
    }
}

/// The folder holding this run's VM disks (below the host's `/run`, out of
/// the VMs' sight).
pub fn disk_root(cfg: &VmsConfig) -> PathBuf {
    PathBuf::from(format!("/run/{}-vms", cfg.prefix))
}
