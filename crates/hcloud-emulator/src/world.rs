//! The emulated project: resources, actions with simulated durations and
//! effects, address pools, and the clock.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hcloud::models::*;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::catalog;

/// How long simulated work takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Latency {
    /// Actions finish by the next request.
    Instant,
    /// Hetzner-like durations (e.g. ~10 s to create a server), multiplied by
    /// the time scale.
    Realistic {
        /// 1.0 = real time; 0.1 = ten times faster.
        scale: f64,
    },
}

impl Latency {
    /// Simulated duration of an action `command`.
    pub fn duration(&self, command: &str) -> Duration {
        let Latency::Realistic { scale } = self else {
            return Duration::ZERO;
        };
        let secs = match command {
            "create_server" => 9.0,
            "start_server" => 4.0,
            "stop_server" => 2.0,
            "shutdown_server" => 6.0,
            "delete_server" => 3.0,
            "attach_to_network" | "detach_from_network" => 2.0,
            "assign_primary_ip" | "unassign_primary_ip" => 1.5,
            _ => 0.5,
        };
        Duration::from_secs_f64(secs * scale.max(0.0))
    }
}

impl Latency {
    /// How long the K3s STAND-IN takes in VMs: a server from start until
    /// `/ping` answers (~15 s for K3s on a small cloud server), an agent from
    /// start until it has joined (~10 s); none with instant latency.
    pub fn k3s_standin_delays(&self) -> Option<crate::inet::K3sDelays> {
        let Latency::Realistic { scale } = self else {
            return None;
        };
        let scaled = |secs: f64| Duration::from_secs_f64(secs * scale.max(0.0));
        Some(crate::inet::K3sDelays {
            start: scaled(15.0),
            join: scaled(10.0),
        })
    }
}

/// What an action does to the world when it finishes successfully.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Effect {
    /// Nothing beyond the action itself.
    None,
    /// Sets a server's status.
    ServerStatus(Id, ServerStatus),
    /// Removes a server and releases what it held.
    DeleteServer(Id),
}

/// A simulated action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionRec {
    /// What clients see.
    pub action: Action,
    /// When it finishes (ms since the epoch); None = stuck running.
    pub done_at: Option<u64>,
    /// Applied at success.
    pub effect: Effect,
    /// Set when it is scripted to fail.
    pub fail: Option<ActionError>,
    /// Applied right after `effect` (another action started by this one).
    pub then: Option<Id>,
}

/// A server and what only the emulator knows about it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRec {
    /// What clients see.
    pub server: Server,
    /// Cloud-init user data (served to the simulated machine, never logged).
    pub user_data: Option<String>,
    /// SSH keys given at creation.
    pub ssh_keys: Vec<Id>,
}

/// A scripted action outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionFault {
    /// Applies to actions with this command.
    pub command: String,
    /// `fail` or `stuck`.
    pub mode: String,
    /// Error code for `fail`.
    #[serde(default)]
    pub code: Option<String>,
    /// Error message for `fail`.
    #[serde(default)]
    pub message: Option<String>,
    /// How many actions it applies to.
    #[serde(default = "one")]
    pub times: u32,
    /// For `stuck`: finish after this long instead of never.
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

/// Everything in the project. Serialised for `--state` and snapshots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    /// Next id to hand out.
    pub next_id: Id,
    /// Servers.
    pub servers: BTreeMap<Id, ServerRec>,
    /// Primary IPs.
    pub primary_ips: BTreeMap<Id, PrimaryIp>,
    /// Networks.
    pub networks: BTreeMap<Id, Network>,
    /// Firewalls.
    pub firewalls: BTreeMap<Id, Firewall>,
    /// SSH keys.
    pub ssh_keys: BTreeMap<Id, SshKey>,
    /// Placement groups.
    pub placement_groups: BTreeMap<Id, PlacementGroup>,
    /// Actions.
    pub actions: BTreeMap<Id, ActionRec>,
    /// Public IPv4 pool.
    pub ipv4_pool: Ipv4Net,
    /// Scripted action outcomes.
    #[serde(default)]
    pub action_faults: Vec<ActionFault>,
    /// Primary IPs keep pointing at a deleted server this long.
    #[serde(default)]
    pub ip_release_lag_ms: u64,
    /// Primary IPs whose release is pending: id -> release time.
    #[serde(default)]
    pub pending_release: BTreeMap<Id, u64>,
    /// Simulated durations.
    pub latency: Latency,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// RFC 3339 time, second precision, UTC.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

impl World {
    /// An empty project.
    pub fn new(ipv4_pool: Ipv4Net, latency: Latency) -> World {
        World {
            next_id: 1000,
            servers: BTreeMap::new(),
            primary_ips: BTreeMap::new(),
            networks: BTreeMap::new(),
            firewalls: BTreeMap::new(),
            ssh_keys: BTreeMap::new(),
            placement_groups: BTreeMap::new(),
            actions: BTreeMap::new(),
            ipv4_pool,
            action_faults: Vec::new(),
            ip_release_lag_ms: 0,
            pending_release: BTreeMap::new(),
            latency,
        }
    }

    /// A fresh id.
    pub fn id(&mut self) -> Id {
        self.next_id += 1;
        self.next_id
    }

    /// Location by name or id text.
    pub fn location(&self, key: &str) -> Option<Location> {
        catalog::locations()
            .into_iter()
            .find(|l| l.name == key || l.id.to_string() == key)
    }

    /// Starts an action touching `resources`; `effect` applies when it succeeds.
    pub fn start_action(
        &mut self,
        command: &str,
        resources: &[(Id, &str)],
        effect: Effect,
    ) -> Action {
        let id = self.id();
        let now = now_ms();
        let mut done_at = Some(now + self.latency.duration(command).as_millis() as u64);
        let mut fail = None;
        if let Some(f) = self
            .action_faults
            .iter_mut()
            .find(|f| f.command == command && f.times > 0)
        {
            f.times -= 1;
            if f.mode == "stuck" {
                done_at = f.duration_ms.map(|d| now + d);
            } else {
                fail = Some(ActionError {
                    code: f.code.clone().unwrap_or_else(|| "action_failed".into()),
                    message: f
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("{command} failed (injected)")),
                });
            }
            self.action_faults.retain(|f| f.times > 0);
        }
        let action = Action {
            id,
            command: command.into(),
            status: ActionStatus::Running,
            progress: 0,
            started: rfc3339(now),
            finished: None,
            resources: resources
                .iter()
                .map(|(id, kind)| ResourceRef {
                    id: *id,
                    kind: (*kind).into(),
                })
                .collect(),
            error: None,
        };
        self.actions.insert(
            id,
            ActionRec {
                action: action.clone(),
                done_at,
                effect,
                fail,
                then: None,
            },
        );
        action
    }

    /// True when a running action touches `(id, kind)`.
    pub fn busy(&self, id: Id, kind: &str) -> bool {
        self.actions.values().any(|a| {
            a.action.status == ActionStatus::Running
                && a.action
                    .resources
                    .iter()
                    .any(|r| r.id == id && r.kind == kind)
        })
    }

    /// Finishes due actions (in id order) and applies their effects; releases
    /// lagging Primary IPs.
    pub fn tick(&mut self) {
        let now = now_ms();
        let due: Vec<Id> = self
            .actions
            .iter()
            .filter(|(_, a)| {
                a.action.status == ActionStatus::Running && a.done_at.is_some_and(|t| t <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(rec) = self.actions.get_mut(&id) else {
                continue;
            };
            rec.action.progress = 100;
            rec.action.finished = Some(rfc3339(now));
            if let Some(err) = rec.fail.clone() {
                rec.action.status = ActionStatus::Error;
                rec.action.error = Some(err);
                continue;
            }
            rec.action.status = ActionStatus::Success;
            let effect = rec.effect.clone();
            self.apply(effect);
        }
        let released: Vec<Id> = self
            .pending_release
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in released {
            self.pending_release.remove(&id);
            if let Some(ip) = self.primary_ips.get_mut(&id) {
                ip.assignee_id = None;
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::ServerStatus(id, status) => {
                if let Some(s) = self.servers.get_mut(&id) {
                    s.server.status = status;
                }
            }
            Effect::DeleteServer(id) => self.remove_server(id),
        }
    }

    fn remove_server(&mut self, id: Id) {
        if self.servers.remove(&id).is_none() {
            return;
        }
        let lag = self.ip_release_lag_ms;
        let now = now_ms();
        let mut doomed = Vec::new();
        for ip in self.primary_ips.values_mut() {
            if ip.assignee_id == Some(id) {
                if ip.auto_delete {
                    doomed.push(ip.id);
                } else if lag > 0 {
                    self.pending_release.insert(ip.id, now + lag);
                } else {
                    ip.assignee_id = None;
                }
            }
        }
        for d in doomed {
            self.primary_ips.remove(&d);
        }
        for n in self.networks.values_mut() {
            n.servers.retain(|s| *s != id);
        }
        for pg in self.placement_groups.values_mut() {
            pg.servers.retain(|s| *s != id);
        }
        for fw in self.firewalls.values_mut() {
            fw.applied_to
                .retain(|t| t.server.as_ref().is_none_or(|s| s.id != id));
        }
    }

    /// Marks every server `off`: their machines did not survive a restart
    /// (with `--vms`).
    pub fn power_off_all(&mut self) {
        for s in self.servers.values_mut() {
            if matches!(
                s.server.status,
                ServerStatus::Running | ServerStatus::Starting | ServerStatus::Stopping
            ) {
                s.server.status = ServerStatus::Off;
            }
        }
    }

    /// The next free public IPv4 from the pool.
    pub fn allocate_ipv4(&self) -> Option<Ipv4Addr> {
        let used: Vec<&str> = self.primary_ips.values().map(|p| p.ip.as_str()).collect();
        self.ipv4_pool
            .hosts()
            .find(|a| !used.contains(&a.to_string().as_str()))
    }

    /// A Primary IP reference for a server's `public_net.ipv4`.
    pub fn public_ipv4(&self, server: Id) -> Option<PublicIpv4> {
        self.primary_ips
            .values()
            .find(|p| {
                p.kind == "ipv4"
                    && p.assignee_id == Some(server)
                    && !self.pending_release.contains_key(&p.id)
            })
            .map(|p| PublicIpv4 {
                id: p.id,
                ip: p.ip.clone(),
                blocked: false,
                dns_ptr: format!("static.{}.clients.local", p.ip),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::new("100.64.0.0/29".parse().unwrap(), Latency::Instant)
    }

    #[test]
    fn instant_actions_finish_on_the_next_tick_with_their_effect() {
        let mut w = world();
        let a = w.start_action("start_server", &[(1, "server")], Effect::None);
        assert!(w.busy(1, "server"));
        w.tick();
        assert_eq!(w.actions[&a.id].action.status, ActionStatus::Success);
        assert!(w.actions[&a.id].action.finished.is_some());
        assert!(!w.busy(1, "server"));
    }

    #[test]
    fn scripted_failures_and_stuck_actions_apply_once() {
        let mut w = world();
        w.action_faults.push(ActionFault {
            command: "x".into(),
            mode: "fail".into(),
            code: Some("boom".into()),
            message: None,
            times: 1,
            duration_ms: None,
        });
        w.action_faults.push(ActionFault {
            command: "y".into(),
            mode: "stuck".into(),
            code: None,
            message: None,
            times: 1,
            duration_ms: None,
        });
        let a = w.start_action("x", &[], Effect::None);
        let b = w.start_action("y", &[], Effect::None);
        let c = w.start_action("x", &[], Effect::None);
        w.tick();
        assert_eq!(w.actions[&a.id].action.error.as_ref().unwrap().code, "boom");
        assert_eq!(w.actions[&b.id].action.status, ActionStatus::Running);
        assert_eq!(w.actions[&c.id].action.status, ActionStatus::Success);
    }

    #[test]
    fn k3s_standin_delays_follow_the_time_scale_and_are_absent_when_instant() {
        assert_eq!(Latency::Instant.k3s_standin_delays(), None);
        let d = Latency::Realistic { scale: 0.1 }
            .k3s_standin_delays()
            .unwrap();
        assert_eq!(d.start, Duration::from_millis(1500));
        assert_eq!(d.join, Duration::from_millis(1000));
    }

    #[test]
    fn realistic_latency_scales() {
        let l = Latency::Realistic { scale: 0.5 };
        assert_eq!(l.duration("create_server"), Duration::from_secs_f64(4.5));
        assert_eq!(Latency::Instant.duration("create_server"), Duration::ZERO);
    }

    #[test]
    fn pool_addresses_are_not_reused() {
        let mut w = world();
        let first = w.allocate_ipv4().unwrap();
        w.primary_ips.insert(
            1,
            PrimaryIp {
                id: 1,
                ip: first.to_string(),
                ..PrimaryIp::default()
            },
        );
        assert_ne!(w.allocate_ipv4().unwrap(), first);
    }
}
