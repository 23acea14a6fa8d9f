//! The randomized fault campaign: each run draws faults from the whole set
//! (Hetzner API faults and failed or slow actions, the provider killed,
//! every SSH session dropped, a server's sshd down, a node's K3s join
//! refused), applies `terraform/` on the local cloud with VMs under them,
//! re-applies without faults until it converges (at most
//! [`MAX_REAPPLIES`] times), checks the result, then destroys (sometimes
//! with a fault too) and checks that only the two Primary IPs are left.
//!
//! Counted per run, and all must be 0: orphans (objects no run should
//! have), duplicates (a second copy of an object), non-converged runs
//! (no empty plan within the bound, the cloud not as `terraform/`
//! describes, or not five Nodes Ready with their role labels) and leaked
//! secrets (the Hetzner token, the K3s token, the provider's private key or
//! the kubeconfig's client key in Terraform's output, the provider's log or
//! a non-sensitive part of the state).
//!
//! The timed faults act from outside the VMs as their failures would look
//! from inside: SIGKILL for the provider, killed `sshd` session processes for
//! dropped connections, and iptables rules in a VM's network namespace that
//! reset connections to port 22 (sshd down) or to the K3s server's port 6443
//! (join refused).
//!
//! Settings, from the environment:
//! - `CAMPAIGN_SEED` (default 20261130): every draw follows from it and the
//!   run number, so a run is replayed with the same seed and
//!   `CAMPAIGN_RUN=<n>` (`make campaign SEED=… RUN=n`). The timed faults
//!   fire at the same moments of the apply, though what is in flight then
//!   can differ from the first time.
//! - `CAMPAIGN_RUNS` (default 2, the slice `make test` runs): runs 0..N.
//! - `CAMPAIGN_RECORD`: a JSON-lines file; each finished run is appended,
//!   and runs already in it (for the same seed) are skipped, so a campaign
//!   resumes where it stopped. The summary covers every run in the file.
//!
//! `make campaign` runs the full one (100 runs, recorded beside the
//! Makefile); see the README's "Faults" section.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hcloud_emulator::world::Latency;
use k3strading_e2e::{Terraform, Workdir, process};
use serde_json::{Value, json};

use crate::common::*;
use crate::facts::{Facts, facts_diff, strays, strays_of};
use crate::vms::{Reach, cluster_attr, drop_ssh_sessions, kubectl_nodes, probe, reach};

/// The VMs' namespace prefix and public pool; `CAMPAIGN_PREFIX` and
/// `CAMPAIGN_POOL` set others, so two campaigns on one machine (which would
/// otherwise remove each other's VMs as a crashed run's leftovers) keep apart.
const PREFIX: &str = "pfc";
const POOL: &str = "100.64.218.0/24";

fn prefix() -> String {
    std::env::var("CAMPAIGN_PREFIX").unwrap_or_else(|_| PREFIX.to_owned())
}

fn pool() -> String {
    std::env::var("CAMPAIGN_POOL").unwrap_or_else(|_| POOL.to_owned())
}
const PROVIDER: &str = "terraform-provider-k3strading";
/// Applies after the faulted one, without faults, before a run counts as
/// not converged.
const MAX_REAPPLIES: usize = 3;
/// Destroys after a faulted one before leftovers count as orphans.
const MAX_REDESTROYS: usize = 2;
/// Hetzner-like durations at a quarter of real time: a server create takes
/// about 2 s, so timed faults land while things are in flight.
const TIME_SCALE: f64 = 0.25;
/// Timed faults fire within this much of the start of the apply.
const WINDOW_MS: u64 = 12_000;

/// One fault of the campaign.
#[derive(Debug, Clone, PartialEq)]
enum Fault {
    /// An API request answered with an error, cut off after it took effect,
    /// or delayed (the local cloud's scripted faults).
    Api {
        method: &'static str,
        path: &'static str,
        mode: &'static str,
        status: u16,
        code: Option<&'static str>,
        delay_ms: u64,
        times: u32,
    },
    /// An action that fails, or runs long.
    Action {
        command: &'static str,
        mode: &'static str,
        duration_ms: u64,
    },
    /// Every provider process below Terraform killed (SIGKILL).
    KillProvider { at_ms: u64 },
    /// Every SSH session into the cluster's VMs killed, as a dropped
    /// connection ends them; the listeners stay.
    SshDrop { at_ms: u64 },
    /// A server's port 22 refuses connections (TCP reset), as when its sshd
    /// is not running, for a while.
    SshdDown {
        server: String,
        at_ms: u64,
        for_ms: u64,
    },
    /// A node's K3s join refused: its connections to the server's
    /// supervisor port 6443 are reset, for a while.
    JoinRefused {
        node: String,
        at_ms: u64,
        for_ms: u64,
    },
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::Api { .. } => "api",
            Fault::Action { .. } => "action",
            Fault::KillProvider { .. } => "provider kill",
            Fault::SshDrop { .. } => "ssh drop",
            Fault::SshdDown { .. } => "sshd down",
            Fault::JoinRefused { .. } => "join refused",
        }
    }

    fn describe(&self) -> String {
        match self {
            Fault::Api {
                method,
                path,
                mode,
                status,
                code,
                delay_ms,
                times,
            } => match *mode {
                "respond" => format!(
                    "api: {method} {path} answers {status} {} ×{times}",
                    code.unwrap_or("(no body)")
                ),
                "delay" => format!("api: {method} {path} delayed {delay_ms} ms ×{times}"),
                _ => format!("api: {method} {path} done, then the connection dropped ×{times}"),
            },
            Fault::Action {
                command,
                mode,
                duration_ms,
            } => match *mode {
                "fail" => format!("action: {command} fails"),
                _ => format!("action: {command} takes {duration_ms} ms"),
            },
            Fault::KillProvider { at_ms } => format!("provider killed at {at_ms} ms"),
            Fault::SshDrop { at_ms } => format!("SSH sessions dropped at {at_ms} ms"),
            Fault::SshdDown {
                server,
                at_ms,
                for_ms,
            } => format!("sshd of {server} down at {at_ms} ms for {for_ms} ms"),
            Fault::JoinRefused {
                node,
                at_ms,
                for_ms,
            } => format!("K3s join of {node} refused at {at_ms} ms for {for_ms} ms"),
        }
    }

    /// When a timed fault starts, in ms from the start of the command.
    fn at_ms(&self) -> Option<u64> {
        match self {
            Fault::KillProvider { at_ms }
            | Fault::SshDrop { at_ms }
            | Fault::SshdDown { at_ms, .. }
            | Fault::JoinRefused { at_ms, .. } => Some(*at_ms),
            Fault::Api { .. } | Fault::Action { .. } => None,
        }
    }
}

/// The requests the provider makes, as the local cloud folds their paths.
const API_TARGETS: [(&str, &str); 14] = [
    ("POST", "/servers"),
    ("GET", "/servers"),
    ("GET", "/servers/{id}"),
    ("POST", "/servers/{id}/actions/poweron"),
    ("POST", "/networks"),
    ("GET", "/networks"),
    ("POST", "/firewalls"),
    ("POST", "/placement_groups"),
    ("POST", "/ssh_keys"),
    ("GET", "/ssh_keys"),
    ("GET", "/primary_ips"),
    ("POST", "/primary_ips"),
    ("POST", "/primary_ips/{id}/actions/change_protection"),
    ("GET", "/actions"),
];

/// Error answers Hetzner gives: (status, error code or none for a bare
/// status from a proxy).
const ANSWERS: [(u16, Option<&str>); 8] = [
    (500, Some("server_error")),
    (502, None),
    (503, Some("unavailable")),
    (504, None),
    (504, Some("timeout")),
    (429, Some("rate_limit_exceeded")),
    (409, Some("conflict")),
    (423, Some("locked")),
];

const ACTIONS: [&str; 4] = [
    "create_server",
    "start_server",
    "attach_to_network",
    "change_protection",
];

/// The servers of the seed layout, by the name `terraform/` gives them.
fn servers() -> Vec<String> {
    layout(&cluster_name("dev"), 1)
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// One fault drawn from the whole set.
fn draw_fault(rng: &mut fastrand::Rng, destroying: bool) -> Fault {
    let names = servers();
    let at_ms = rng.u64(300..WINDOW_MS);
    // While destroying, only API faults and a killed provider make sense:
    // nothing is installed or joined.
    let kind = if destroying {
        rng.choice([0, 2]).unwrap_or(0)
    } else {
        rng.usize(0..6)
    };
    match kind {
        0 => {
            let (method, path) = if destroying {
                rng.choice([
                    ("DELETE", "/servers/{id}"),
                    ("DELETE", "/networks/{id}"),
                    ("DELETE", "/firewalls/{id}"),
                    ("GET", "/servers"),
                ])
                .unwrap_or(("DELETE", "/servers/{id}"))
            } else {
                rng.choice(API_TARGETS).unwrap_or(API_TARGETS[0])
            };
            let times = rng.u32(1..=3);
            match rng.usize(0..5) {
                0 if method == "POST" || method == "DELETE" => Fault::Api {
                    method,
                    path,
                    mode: "commit_then_drop",
                    status: 0,
                    code: None,
                    delay_ms: 0,
                    times: 1,
                },
                1 => Fault::Api {
                    method,
                    path,
                    mode: "delay",
                    status: 0,
                    code: None,
                    delay_ms: rng.u64(500..6_000),
                    times,
                },
                _ => {
                    let (status, code) = rng.choice(ANSWERS).unwrap_or(ANSWERS[1]);
                    Fault::Api {
                        method,
                        path,
                        mode: "respond",
                        status,
                        code,
                        delay_ms: 0,
                        times,
                    }
                }
            }
        }
        1 => {
            let command = rng.choice(ACTIONS).unwrap_or(ACTIONS[0]);
            if rng.bool() {
                Fault::Action {
                    command,
                    mode: "fail",
                    duration_ms: 0,
                }
            } else {
                Fault::Action {
                    command,
                    mode: "stuck",
                    duration_ms: rng.u64(1_000..10_000),
                }
            }
        }
        2 => Fault::KillProvider {
            at_ms: if destroying {
                rng.u64(300..6_000)
            } else {
                at_ms
            },
        },
        3 => Fault::SshDrop { at_ms },
        4 => Fault::SshdDown {
            server: rng.choice(&names).cloned().unwrap_or_default(),
            at_ms,
            for_ms: rng.u64(1_000..15_000),
        },
        _ => Fault::JoinRefused {
            // Every server but the control plane joins as an agent.
            node: rng.choice(&names[1..]).cloned().unwrap_or_default(),
            at_ms,
            for_ms: rng.u64(1_000..15_000),
        },
    }
}

/// What a run faces: faults during the apply, and perhaps one during the
/// destroy.
#[derive(Debug, PartialEq)]
struct Draw {
    apply: Vec<Fault>,
    destroy: Vec<Fault>,
}

/// The run's own seed: the campaign seed and the run number, mixed
/// (SplitMix64's finaliser) so neighbouring runs draw unrelated faults.
fn run_seed(seed: u64, run: u64) -> u64 {
    let mut z = seed ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw(seed: u64, run: u64) -> Draw {
    let mut rng = fastrand::Rng::with_seed(run_seed(seed, run));
    let n = rng.usize(1..=3);
    let apply = (0..n).map(|_| draw_fault(&mut rng, false)).collect();
    let destroy = if rng.u8(0..4) == 0 {
        vec![draw_fault(&mut rng, true)]
    } else {
        Vec::new()
    };
    Draw { apply, destroy }
}

/// The VM namespace of the server called `name`, once it exists.
fn namespace_of(cloud: &Cloud, name: &str) -> Option<String> {
    let w = cloud.emu.world();
    let (id, _) = w.servers.iter().find(|(_, s)| s.server.name == name)?;
    let ns = format!("{}-vm{id}", prefix());
    // The namespace appears when the VM boots, a moment after the server.
    Path::new("/run/netns").join(&ns).exists().then_some(ns)
}

/// The iptables rule that stands for a timed fault's outage.
fn outage_rule(fault: &Fault) -> Option<(&str, Vec<&'static str>)> {
    match fault {
        Fault::SshdDown { server, .. } => {
            Some((server.as_str(), vec!["INPUT", "-p", "tcp", "--dport", "22"]))
        }
        Fault::JoinRefused { node, .. } => Some((
            node.as_str(),
            vec!["OUTPUT", "-p", "tcp", "-d", "10.0.1.10", "--dport", "6443"],
        )),
        _ => None,
    }
}

/// Adds (`-I`) or removes (`-D`) `rule` in the VM namespace `ns`.
fn iptables(ns: &str, op: &str, rule: &[&str]) -> bool {
    let (chain, rest) = rule.split_first().unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns, "iptables", "-w", op, chain])
        .args(rest)
        .args(["-j", "REJECT", "--reject-with", "tcp-reset"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An outage in force: its namespace and rule, and when it ends.
struct Outage {
    ns: String,
    rule: Vec<&'static str>,
    until: Instant,
}

/// Scripts the API and action faults of `faults`.
fn arm(cloud: &Cloud, faults: &[Fault]) {
    for f in faults {
        match f {
            Fault::Api {
                method,
                path,
                mode,
                status,
                code,
                delay_ms,
                times,
            } => cloud.fault(json!({
                "method": method, "path": path, "mode": mode,
                "status": if *status == 0 { 502 } else { *status },
                "code": code, "delay_ms": delay_ms, "times": times,
            })),
            Fault::Action {
                command,
                mode,
                duration_ms,
            } => cloud.action_fault(json!({
                "command": command, "mode": mode, "code": "server_error",
                "message": "scripted by the fault campaign",
                "duration_ms": duration_ms,
            })),
            _ => {}
        }
    }
}

/// Which scripted faults were used (fully or in part) by now.
fn scripted_fired(cloud: &Cloud, faults: &[Fault]) -> Vec<String> {
    let left_api: Vec<(String, String, u32)> = cloud
        .emu
        .pending_faults()
        .iter()
        .map(|f| (f.path.clone(), f.mode.clone(), f.times))
        .collect();
    let left_actions: Vec<String> = cloud
        .emu
        .world()
        .action_faults
        .iter()
        .map(|f| f.command.clone())
        .collect();
    faults
        .iter()
        .filter(|f| match f {
            Fault::Api {
                path, mode, times, ..
            } => !left_api
                .iter()
                .any(|(p, m, t)| p == path && m == mode && t == times),
            Fault::Action { command, .. } => !left_actions.contains(&command.to_string()),
            _ => false,
        })
        .map(Fault::describe)
        .collect()
}

/// Runs `args` with `faults` in force: the scripted ones armed before it
/// starts, the timed ones fired at their moment while it runs. Every fault
/// is lifted when it ends. Returns what it printed, which faults fired, and
/// the timed faults whose moment had not come.
fn run_with_faults(
    cloud: &Cloud,
    wd: &Workdir,
    args: &[&str],
    faults: &[Fault],
    log: &Path,
) -> (k3strading_e2e::Run, Vec<String>, Vec<Fault>) {
    arm(cloud, faults);
    let log_path = log.display().to_string();
    let mut running = wd
        .start(
            args,
            &[("TF_LOG_PROVIDER", "DEBUG"), ("TF_LOG_PATH", &log_path)],
        )
        .unwrap();
    let started = Instant::now();
    let mut pending: Vec<&Fault> = faults.iter().filter(|f| f.at_ms().is_some()).collect();
    let mut outages: Vec<Outage> = Vec::new();
    let mut fired = Vec::new();
    while !running.finished().unwrap() {
        let now = started.elapsed().as_millis() as u64;
        let mut still = Vec::new();
        for f in pending {
            if f.at_ms().is_some_and(|at| at > now) {
                still.push(f);
                continue;
            }
            let done = match f {
                Fault::KillProvider { .. } => {
                    let pids = running.descendants_named(PROVIDER);
                    for pid in &pids {
                        let _ = process::signal(*pid, "KILL");
                    }
                    !pids.is_empty()
                }
                Fault::SshDrop { .. } => drop_ssh_sessions(&prefix()) > 0,
                Fault::SshdDown { for_ms, .. } | Fault::JoinRefused { for_ms, .. } => {
                    // The server may not exist yet: the outage starts once it does.
                    let (name, rule) = outage_rule(f).unwrap();
                    match namespace_of(cloud, name) {
                        Some(ns) if iptables(&ns, "-I", &rule) => {
                            outages.push(Outage {
                                ns,
                                rule,
                                until: Instant::now() + Duration::from_millis(*for_ms),
                            });
                            true
                        }
                        _ => false,
                    }
                }
                Fault::Api { .. } | Fault::Action { .. } => true,
            };
            if done {
                fired.push(format!("{} (fired at {now} ms)", f.describe()));
            } else {
                // Nothing to act on yet (no provider, session or server): try again.
                still.push(f);
            }
        }
        pending = still;
        outages.retain(|o| {
            if Instant::now() < o.until {
                return true;
            }
            iptables(&o.ns, "-D", &o.rule);
            false
        });
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = running.wait().unwrap();
    for o in outages {
        iptables(&o.ns, "-D", &o.rule);
    }
    fired.extend(scripted_fired(cloud, faults));
    assert_eq!(
        cloud.admin("DELETE", "/faults", &json!({})),
        200,
        "clearing faults"
    );
    (out, fired, pending.into_iter().cloned().collect())
}

/// What a command run until it succeeded left.
struct Tries {
    runs: Vec<k3strading_e2e::Run>,
    fired: Vec<String>,
}

impl Tries {
    fn succeeded(&self) -> bool {
        self.runs.last().is_some_and(|r| r.code == 0)
    }
}

/// Runs `args` with `faults`, then again until it succeeds, at most
/// `again` more times. Timed faults whose moment did not come in a failed
/// run (it ended early) are carried into the next one, where they fire at
/// the same offset; scripted faults are used once.
fn until_success(
    cloud: &Cloud,
    wd: &Workdir,
    args: &[&str],
    faults: &[Fault],
    log: &Path,
    again: usize,
) -> Tries {
    let mut tries = Tries {
        runs: Vec::new(),
        fired: Vec::new(),
    };
    let mut faults = faults.to_vec();
    while tries.runs.len() <= again && !tries.succeeded() {
        let (run, fired, unfired) = run_with_faults(cloud, wd, args, &faults, log);
        tries.fired.extend(fired);
        tries.runs.push(run);
        faults = unfired;
    }
    tries
}

/// Terraform's error lines and the lines after each, of a failed run.
fn errors_of(run: Option<&k3strading_e2e::Run>) -> String {
    let all = run.map(k3strading_e2e::Run::all).unwrap_or_default();
    let lines: Vec<&str> = all.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("Error:"))
        .flat_map(|(i, _)| lines.iter().skip(i).take(6))
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// One run's findings.
#[derive(Debug, Default)]
struct Outcome {
    fired: Vec<String>,
    /// Wall time of each apply, in seconds.
    apply_secs: Vec<f64>,
    applies: usize,
    destroys: usize,
    converged: bool,
    orphans: Vec<String>,
    duplicates: Vec<String>,
    leaks: Vec<String>,
    problems: Vec<String>,
}

/// Where each secret must never be: Terraform's output of every command,
/// the provider's log, and the state with its sensitive attributes taken
/// out. Returns what leaked, and where.
fn leaks(secrets: &[(&str, String)], outputs: &str, log: &Path, state: &Path) -> Vec<String> {
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap_or_default())
            .unwrap_or(Value::Null);
    for r in state["resources"].as_array_mut().into_iter().flatten() {
        for i in r["instances"].as_array_mut().into_iter().flatten() {
            if let Some(a) = i["attributes"].as_object_mut() {
                a.remove("k3s_token");
                a.remove("ssh_private_key");
            }
        }
    }
    let places = [
        ("Terraform's output", outputs.to_owned()),
        (
            "the provider's log",
            std::fs::read_to_string(log).unwrap_or_default(),
        ),
        ("the state's non-sensitive part", state.to_string()),
    ];
    let mut found = Vec::new();
    for (what, secret) in secrets {
        let p = probe(secret);
        assert!(p.len() >= 20, "{what}: nothing to look for");
        for (place, text) in &places {
            if text.contains(&p) {
                found.push(format!("{what} in {place}"));
            }
        }
    }
    found
}

/// Five Nodes, each Ready with its role label, seen by kubectl; the
/// kubeconfig's client key, for the leak check.
fn check_nodes(wd: &Workdir, problems: &mut Vec<String>) -> Option<String> {
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Reach {
            config,
            cp,
            kubeconfig,
        } = reach(wd);
        let nodes = kubectl_nodes(&config, &cp, wd.path(), &kubeconfig);
        (nodes, kubeconfig)
    }));
    let Ok((nodes, kubeconfig)) = checked else {
        problems.push("the cluster could not be reached with OpenSSH and kubectl".into());
        return None;
    };
    let mut seen: Vec<String> = Vec::new();
    for n in &nodes {
        let name = n["metadata"]["name"].as_str().unwrap_or("?").to_owned();
        let role = name.rsplit('-').nth(1).unwrap_or("");
        let role = if name.ends_with("-control") {
            "control-plane"
        } else {
            role
        };
        let ready = n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if !ready {
            problems.push(format!("Node {name} is not Ready"));
        }
        if n["metadata"]["labels"][format!("node-role.kubernetes.io/{role}")] != "true" {
            problems.push(format!("Node {name} lacks its {role} role label"));
        }
        seen.push(name);
    }
    seen.sort();
    let mut want = servers();
    want.sort();
    if seen != want {
        problems.push(format!("Nodes {seen:?}, expected {want:?}"));
    }
    kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-key-data: "))
        .map(str::to_owned)
}

/// One run: the faulted apply, re-applies to convergence, the checks, the
/// (perhaps faulted) destroy and its check.
fn one_run(tf: &Terraform, cloud: &Cloud, draw: &Draw, logs: &Path) -> Outcome {
    let mut o = Outcome::default();
    let wd = workdir(tf, cloud, None);
    let log = logs.join("provider.log");
    let mut outputs = String::new();

    let applied = until_success(cloud, &wd, &APPLY, &draw.apply, &log, MAX_REAPPLIES);
    o.fired = applied.fired.clone();
    o.applies = applied.runs.len();
    for r in &applied.runs {
        o.apply_secs.push(r.elapsed.as_secs_f64());
        outputs.push_str(&r.all());
    }
    let last = if applied.succeeded() { 0 } else { 1 };
    let plan = run_with_faults(cloud, &wd, &PLAN, &[], &log).0;
    outputs.push_str(&plan.all());
    if last != 0 {
        o.problems.push(format!(
            "no successful apply in {} applies; the last said: {}",
            o.applies,
            errors_of(applied.runs.last())
        ));
    } else if plan.code != 0 {
        o.problems.push(format!(
            "the plan after converging is not empty: {}",
            plan.all()
        ));
    }
    let cluster = cluster_name("dev");
    let converged = Facts::converged(&cluster, "dev", 1).with_k3s();
    let diff = facts_diff(cloud, &converged);
    if !diff.is_empty() {
        o.problems
            .push(format!("the cloud after converging: {diff}"));
    }
    let (orphans, duplicates) = strays(cloud, &converged);
    o.orphans.extend(orphans);
    o.duplicates.extend(duplicates);

    let mut secrets: Vec<(&str, String)> = vec![("the Hetzner token", TOKEN.to_owned())];
    let state_file = wd.path().join("terraform.tfstate");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap_or_default())
            .unwrap_or(Value::Null);
    if last == 0 {
        secrets.push(("the K3s token", cluster_attr(&state, "k3s_token")));
        secrets.push((
            "the provider's private key",
            cluster_attr(&state, "ssh_private_key"),
        ));
        if let Some(key) = check_nodes(&wd, &mut o.problems) {
            secrets.push(("the kubeconfig's client key", key));
        }
    }
    o.converged = o.problems.is_empty();

    // The destroy, perhaps faulted, then again until it succeeds.
    let destroyed = until_success(cloud, &wd, &DESTROY, &draw.destroy, &log, MAX_REDESTROYS);
    o.fired.extend(destroyed.fired.clone());
    o.destroys = destroyed.runs.len();
    for r in &destroyed.runs {
        outputs.push_str(&r.all());
    }
    let last = if destroyed.succeeded() { 0 } else { 1 };
    if last != 0 {
        o.problems.push(format!(
            "no successful destroy in {} destroys; the last said: {}",
            o.destroys,
            errors_of(destroyed.runs.last())
        ));
    }
    let (orphans, duplicates) = strays(cloud, &Facts::destroyed(&cluster));
    o.orphans
        .extend(orphans.into_iter().map(|s| format!("{s} (after destroy)")));
    o.duplicates.extend(
        duplicates
            .into_iter()
            .map(|s| format!("{s} (after destroy)")),
    );
    let diff = facts_diff(cloud, &Facts::destroyed(&cluster));
    if !diff.is_empty() && o.orphans.is_empty() && o.duplicates.is_empty() {
        o.problems.push(format!("the cloud after destroy: {diff}"));
    }
    o.leaks = leaks(&secrets, &outputs, &log, &state_file);
    o
}

struct Settings {
    seed: u64,
    runs: u64,
    only: Option<u64>,
    record: Option<PathBuf>,
}

fn settings() -> Settings {
    let num = |key: &str, default: u64| -> u64 {
        std::env::var(key)
            .ok()
            .map(|v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{key}={v:?} is not a number"))
            })
            .unwrap_or(default)
    };
    Settings {
        seed: num("CAMPAIGN_SEED", 20_261_130),
        runs: num("CAMPAIGN_RUNS", 2),
        only: std::env::var("CAMPAIGN_RUN")
            .ok()
            .map(|_| num("CAMPAIGN_RUN", 0)),
        record: std::env::var_os("CAMPAIGN_RECORD").map(PathBuf::from),
    }
}

/// The runs of `seed` already in the record.
fn recorded(record: Option<&Path>, seed: u64) -> Vec<Value> {
    let Some(path) = record else {
        return Vec::new();
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["seed"] == seed)
        .collect()
}

/// The summary line over `runs`.
fn summary(seed: u64, runs: &[Value]) -> String {
    let count = |key: &str| -> usize {
        runs.iter()
            .map(|r| r[key].as_array().map_or(0, Vec::len))
            .sum()
    };
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for r in runs {
        for k in r["kinds"].as_array().into_iter().flatten() {
            *kinds
                .entry(k.as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
    }
    let drawn: usize = kinds.values().sum();
    let fired = count("fired");
    let not_converged = runs.iter().filter(|r| r["converged"] != true).count();
    let max_applies = runs
        .iter()
        .filter_map(|r| r["applies"].as_u64())
        .max()
        .unwrap_or(0);
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!(
        "fault campaign, seed {seed}: {} runs, {drawn} faults drawn ({}), {fired} fired; \
         applies per run at most {max_applies}; orphans {}, duplicates {}, non-converged {not_converged}, \
         leaked secrets {}",
        runs.len(),
        kinds.join(", "),
        count("orphans"),
        count("duplicates"),
        count("leaks"),
    )
}

#[test]
fn draws_follow_from_the_seed_alone_and_cover_every_kind_of_fault() {
    assert_eq!(draw(7, 3), draw(7, 3), "a run's draw must replay");
    assert_ne!(draw(7, 3), draw(7, 4));
    assert_ne!(draw(7, 3), draw(8, 3));
    let mut kinds = std::collections::BTreeSet::new();
    for run in 0..100 {
        let d = draw(20_261_130, run);
        assert!((1..=3).contains(&d.apply.len()));
        kinds.extend(d.apply.iter().chain(&d.destroy).map(Fault::kind));
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "action",
            "api",
            "join refused",
            "provider kill",
            "ssh drop",
            "sshd down"
        ]
    );
}

#[test]
fn the_checks_find_orphans_duplicates_and_leaks() {
    // An extra network is an orphan; a second kafka-1 is a duplicate.
    let cluster = cluster_name("dev");
    let expected = Facts::converged(&cluster, "dev", 1).with_k3s();
    assert_eq!(strays_of(&expected, &expected), (vec![], vec![]));
    let mut observed = expected.clone();
    let kafka = observed
        .servers
        .iter()
        .find(|s| s.name == "k3s-trading-dev-kafka-1")
        .unwrap()
        .clone();
    observed.servers.push(kafka);
    let mut net = observed.networks[0].clone();
    net.name = "k3s-trading-dev-2".into();
    observed.networks.push(net);
    assert_eq!(
        strays_of(&expected, &observed),
        (
            vec!["network k3s-trading-dev-2".to_owned()],
            vec!["server k3s-trading-dev-kafka-1".to_owned()]
        )
    );
    // After a destroy, anything but the two Primary IPs is an orphan.
    let (orphans, _) = strays_of(&Facts::destroyed(&cluster), &expected);
    assert_eq!(orphans.len(), 5 + 1 + 1 + 3 + 1, "{orphans:?}");

    // A secret is found in the output, the log or a non-sensitive attribute,
    // and not in the sensitive attribute that is meant to hold it.
    let dir = tempfile::tempdir().unwrap();
    let secret = "K10c0ffee5a1t3d0e5n0tm4tt3rwh4t1tsays::server:9f8e7d6c5b4a";
    let (log, state) = (dir.path().join("log"), dir.path().join("state"));
    let with_token = |extra: &str| {
        json!({"resources": [{"type": "k3strading_cluster", "instances": [{"attributes": {
            "k3s_token": secret, "user_data": extra,
        }}]}]})
        .to_string()
    };
    let secrets = [("the K3s token", secret.to_owned())];
    std::fs::write(&log, "nothing to see").unwrap();
    std::fs::write(&state, with_token("")).unwrap();
    assert!(leaks(&secrets, "apply done", &log, &state).is_empty());
    std::fs::write(&log, format!("debug: joining with {secret}")).unwrap();
    std::fs::write(&state, with_token(&format!("token={secret}"))).unwrap();
    assert_eq!(
        leaks(&secrets, &format!("Error: {secret}"), &log, &state),
        [
            "the K3s token in Terraform's output",
            "the K3s token in the provider's log",
            "the K3s token in the state's non-sensitive part"
        ]
    );
}

#[test]
fn a_record_resumes_its_seed_and_sums_up_every_run_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("record.jsonl");
    let run = |seed: u64, run: u64, converged: bool, orphans: &[&str]| {
        json!({"seed": seed, "run": run, "kinds": ["api", "ssh drop"], "fired": ["x"],
               "applies": 2, "converged": converged, "orphans": orphans,
               "duplicates": [], "leaks": []})
        .to_string()
    };
    let lines = [
        run(5, 0, true, &[]),
        run(6, 1, true, &[]),
        "not json".to_owned(),
        run(5, 2, false, &["network n (after destroy)"]),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let mine = recorded(Some(&path), 5);
    let runs: Vec<u64> = mine.iter().filter_map(|r| r["run"].as_u64()).collect();
    assert_eq!(
        runs,
        [0, 2],
        "only seed 5's runs, so runs 0 and 2 are skipped"
    );
    assert!(recorded(None, 5).is_empty());
    assert_eq!(
        summary(5, &mine),
        "fault campaign, seed 5: 2 runs, 4 faults drawn (api 2, ssh drop 2), 2 fired; \
         applies per run at most 2; orphans 1, duplicates 0, non-converged 1, leaked secrets 0"
    );
}

#[test]
fn fault_campaign() {
    if vms_skipped() {
        return;
    }
    let s = settings();
    let before = recorded(s.record.as_deref(), s.seed);
    let done: Vec<u64> = before.iter().filter_map(|r| r["run"].as_u64()).collect();
    let todo: Vec<u64> = match s.only {
        Some(run) => vec![run],
        None => (0..s.runs).filter(|r| !done.contains(r)).collect(),
    };
    let tf = &terraforms()[0];
    let logs = tempfile::tempdir().unwrap();
    let mut cloud = Cloud::start_vms_with(&prefix(), &pool(), |o| {
        o.latency = Latency::Realistic { scale: TIME_SCALE };
    });
    let mut results = if s.only.is_some() { Vec::new() } else { before };
    for run in todo {
        let d = draw(s.seed, run);
        let started = Instant::now();
        let dir = logs.path().join(format!("run-{run}"));
        std::fs::create_dir_all(&dir).unwrap();
        // Each run starts with Hetzner's hourly budget full: a campaign makes
        // hundreds of requests a minute, and from about run 50 on the client
        // paced itself at one request a second (which works, but tests the
        // budget instead of the faults).
        assert_eq!(
            cloud.admin("POST", "/budget", &json!({ "remaining": 3600 })),
            200
        );
        let o = one_run(tf, &cloud, &d, &dir);
        let faults: Vec<String> = d
            .apply
            .iter()
            .chain(&d.destroy)
            .map(Fault::describe)
            .collect();
        let kinds: Vec<&str> = d.apply.iter().chain(&d.destroy).map(Fault::kind).collect();
        let entry = json!({
            "seed": s.seed, "run": run, "faults": faults, "kinds": kinds, "fired": o.fired,
            "applies": o.applies, "apply_secs": o.apply_secs, "destroys": o.destroys, "converged": o.converged,
            "orphans": o.orphans, "duplicates": o.duplicates, "leaks": o.leaks,
            "problems": o.problems, "secs": started.elapsed().as_secs(),
        });
        eprintln!("campaign run {run}: {entry}");
        if let Some(path) = &s.record
            && s.only.is_none()
        {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            writeln!(f, "{entry}").unwrap();
        }
        let dirty = !o.orphans.is_empty() || !o.duplicates.is_empty() || !o.problems.is_empty();
        results.push(entry);
        if dirty {
            // Whatever is left would spoil the next run: start a new cloud.
            drop(cloud);
            cloud = Cloud::start_vms_with(&prefix(), &pool(), |o| {
                o.latency = Latency::Realistic { scale: TIME_SCALE };
            });
        }
    }
    cloud.assert_spec_clean();
    let line = summary(s.seed, &results);
    println!("{line}");
    let failed: Vec<String> = results
        .iter()
        .filter(|r| {
            r["converged"] != true
                || ["orphans", "duplicates", "leaks"]
                    .iter()
                    .any(|k| r[k].as_array().is_some_and(|a| !a.is_empty()))
        })
        .map(|r| {
            format!(
                "run {}: {} — replay: make campaign SEED={} RUN={}",
                r["run"], r, s.seed, r["run"]
            )
        })
        .collect();
    assert!(failed.is_empty(), "{line}\n{}", failed.join("\n"));
}
