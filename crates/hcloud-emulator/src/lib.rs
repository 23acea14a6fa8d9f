//! `k3strading-cloud`: a local, stateful stand-in for the Hetzner Cloud API.
//!
//! It is a faithful *stand-in*, not Hetzner: resources follow Hetzner's rules
//! (Primary IPs need stopped servers, protection, uniqueness, locked
//! resources, address rules, label selectors, pagination, rate limits), its
//! responses are checked against Hetzner's own OpenAPI document in the test
//! suite, and its conformance is exercised with Hetzner's official Python
//! client. Servers are simulated (only their status changes) unless `--vms`
//! makes them sandboxes you can SSH into (see [`vms`]), with a stand-in
//! internet that serves the K3s installer and releases (see [`inet`]).
//!
//! Tests call [`app`] directly (no socket); the binary serves it on loopback
//! (see [`listen`]).
//! Fault injection and inspection live under `/_emulator/…`, which can never
//! collide with the API under `/v1`.

pub mod admin;
pub mod catalog;
pub mod firewalls;
pub mod http;
pub mod inet;
pub mod listen;
pub mod networks;
pub mod placement_groups;
pub mod pool;
pub mod primary_ips;
pub mod servers;
pub mod spec;
pub mod ssh_keys;
pub mod vms;
pub mod world;

pub mod gate;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use hcloud::ErrorCode;
use hcloud::models::Id;
use ipnet::Ipv4Net;
use serde_json::json;

use crate::http::{ApiErr, Query, Res};
use crate::world::{Latency, World};

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The only accepted API token.
    pub token: String,
    /// Simulated durations.
    pub latency: Latency,
    /// Rate-limit budget (RateLimit-Limit).
    pub rate_limit: u64,
    /// Budget refill per second.
    pub refill_per_sec: f64,
    /// Public IPv4 pool for Primary IPs.
    pub ipv4_pool: Ipv4Net,
    /// Where to keep state across restarts.
    pub state_file: Option<PathBuf>,
    /// Validate every response against this OpenAPI document.
    pub spec: Option<Arc<spec::SpecChecker>>,
    /// Hetzner's per-project server quota: `POST /servers` beyond this many
    /// existing servers answers 403 `resource_limit_exceeded`. None: no quota.
    pub server_limit: Option<usize>,
    /// Servers become VMs you can SSH into (`--vms`, needs root).
    pub vms: Option<vms::VmsConfig>,
}

impl Options {
    /// Defaults: instant, Hetzner's 3600/h budget, pool 100.64.0.0/16, no
    /// server quota.
    pub fn new(token: impl Into<String>) -> Options {
        Options {
            token: token.into(),
            latency: Latency::Instant,
            rate_limit: 3600,
            refill_per_sec: 1.0,
            ipv4_pool: Ipv4Net::new(std::net::Ipv4Addr::new(100, 64, 0, 0), 16).unwrap_or_default(),
            state_file: None,
            spec: None,
            server_limit: None,
            vms: None,
        }
    }
}

/// Shared emulator state.
#[derive(Debug)]
pub struct Shared {
    world: Mutex<World>,
    opts: Options,
    gate: gate::GateState,
    /// Responses that did not match the specification.
    pub violations: Mutex<Vec<serde_json::Value>>,
    requests: AtomicU64,
}

/// Handle passed to handlers.
pub type Emu = Arc<Shared>;

impl Shared {
    /// Builds the state, loading `state_file` when it exists.
    pub fn new(opts: Options) -> Result<Emu, String> {
        let mut world = World::new(opts.ipv4_pool, opts.latency);
        if let Some(path) = &opts.state_file
            && path.exists()
        {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            world = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            world.latency = opts.latency;
            if opts.vms.is_some() {
                world.power_off_all();
            }
        }
        Ok(Arc::new(Shared {
            world: Mutex::new(world),
            gate: gate::GateState::new(opts.rate_limit, opts.refill_per_sec),
            opts,
            violations: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
        }))
    }

    /// The world, with due actions finished.
    pub fn world(&self) -> MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        w.tick();
        w
    }

    /// Persists after a change (when `--state` is set).
    pub fn changed(&self, w: &World) {
        let Some(path) = &self.opts.state_file else {
            return;
        };
        match serde_json::to_vec_pretty(w) {
            Ok(bytes) => {
                let tmp = path.with_extension("tmp");
                if let Err(e) =
                    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path))
                {
                    tracing::warn!(error = %e, "could not save state");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not serialise state"),
        }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The request log (as `GET /_emulator/requests` shows it).
    pub fn request_log(&self) -> Vec<gate::LogEntry> {
        self.gate
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Scripts a fault (as `POST /_emulator/faults` does).
    pub fn add_fault(&self, f: gate::Fault) {
        self.gate
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    /// The scripted faults not yet used up (a fault is dropped once it has
    /// applied `times` times).
    pub fn pending_faults(&self) -> Vec<gate::Fault> {
        self.gate
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Scripts an action outcome (as `POST /_emulator/action-faults` does).
    pub fn add_action_fault(&self, f: world::ActionFault) {
        self.world().action_faults.push(f);
    }
}

async fn locations(State(_): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    http::list("locations", catalog::locations(), &q, |l| &l.name, |_| None)
}

async fn location(Path(id): Path<Id>) -> Res {
    let l = catalog::locations()
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiErr::not_found("location"))?;
    http::ok(json!({ "location": l }))
}

async fn server_types(RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    http::list(
        "server_types",
        catalog::server_types(),
        &q,
        |t| &t.name,
        |_| None,
    )
}

async fn server_type(Path(id): Path<Id>) -> Res {
    let t = catalog::server_types()
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiErr::not_found("server_type"))?;
    http::ok(json!({ "server_type": t }))
}

async fn images(RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let types = q.all("type");
    let imgs: Vec<_> = catalog::images()
        .into_iter()
        .filter(|i| types.is_empty() || types.contains(&i.kind.as_str()))
        .collect();
    http::list(
        "images",
        imgs,
        &q,
        |i| i.name.as_deref().unwrap_or(""),
        |i| Some(&i.labels),
    )
}

async fn image(Path(id): Path<Id>) -> Res {
    let i = catalog::images()
        .into_iter()
        .find(|i| i.id == id)
        .ok_or_else(|| ApiErr::not_found("image"))?;
    http::ok(json!({ "image": i }))
}

async fn actions(State(emu): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let ids: Vec<Id> = q
        .all("id")
        .iter()
        .map(|s| {
            s.parse::<Id>()
                .map_err(|_| ApiErr::field("id", "must be an id"))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(ApiErr::field(
            "id",
            "listing all actions was removed; pass one or more id parameters",
        ));
    }
    if ids.len() > 25 {
        return Err(ApiErr::field("id", "at most 25 ids per request"));
    }
    let w = emu.world();
    let found: Vec<_> = ids
        .iter()
        .filter_map(|id| w.actions.get(id).map(|a| a.action.clone()))
        .collect();
    http::ok(json!({ "actions": found }))
}

async fn action(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let w = emu.world();
    let a = w
        .actions
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("action"))?;
    http::ok(json!({ "action": a.action }))
}

/// `GET /{resource}/actions/{id}`: the action, if it touches that kind of resource.
fn scoped_action(kind: &'static str) -> axum::routing::MethodRouter<Emu> {
    get(
        move |State(emu): State<Emu>, Path(id): Path<Id>| async move {
            let w = emu.world();
            let a = w
                .actions
                .get(&id)
                .filter(|a| a.action.resources.iter().any(|r| r.kind == kind))
                .ok_or_else(|| ApiErr::not_found("action"))?;
            http::ok(json!({ "action": a.action }))
        },
    )
}

/// The API router (under `/v1`) plus the admin API (under `/_emulator`).
pub fn app(emu: Emu) -> Router {
    use axum::routing::post;
    let v1 = Router::new()
        .route("/locations", get(locations))
        .route("/locations/{id}", get(location))
        .route("/server_types", get(server_types))
        .route("/server_types/{id}", get(server_type))
        .route("/images", get(images))
        .route("/images/{id}", get(image))
        .route("/actions", get(actions))
        .route("/actions/{id}", get(action))
        .route("/servers/actions/{id}", scoped_action("server"))
        .route("/primary_ips/actions/{id}", scoped_action("primary_ip"))
        .route("/networks/actions/{id}", scoped_action("network"))
        .route("/firewalls/actions/{id}", scoped_action("firewall"))
        .route("/servers", get(servers::list).post(servers::create))
        .route(
            "/servers/{id}",
            get(servers::get)
                .put(servers::update)
                .delete(servers::delete),
        )
        .route("/servers/{id}/actions/{action}", post(servers::action))
        .route(
            "/primary_ips",
            get(primary_ips::list).post(primary_ips::create),
        )
        .route(
            "/primary_ips/{id}",
            get(primary_ips::get)
                .put(primary_ips::update)
                .delete(primary_ips::delete),
        )
        .route(
            "/primary_ips/{id}/actions/{action}",
            post(primary_ips::action),
        )
        .route("/networks", get(networks::list).post(networks::create))
        .route(
            "/networks/{id}",
            get(networks::get)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route("/networks/{id}/actions/{action}", post(networks::action))
        .route("/firewalls", get(firewalls::list).post(firewalls::create))
        .route(
            "/firewalls/{id}",
            get(firewalls::get)
                .put(firewalls::update)
                .delete(firewalls::delete),
        )
        .route("/firewalls/{id}/actions/{action}", post(firewalls::action))
        .route("/ssh_keys", get(ssh_keys::list).post(ssh_keys::create))
        .route(
            "/ssh_keys/{id}",
            get(ssh_keys::get)
                .put(ssh_keys::update)
                .delete(ssh_keys::delete),
        )
        .route(
            "/placement_groups",
            get(placement_groups::list).post(placement_groups::create),
        )
        .route(
            "/placement_groups/{id}",
            get(placement_groups::get)
                .put(placement_groups::update)
                .delete(placement_groups::delete),
        )
        .fallback(|| async { ApiErr::new(404, ErrorCode::NotFound, "no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            emu.clone(),
            gate::gate,
        ))
        .with_state(emu.clone());
    Router::new()
        .nest("/v1", v1)
        .nest("/_emulator", admin::router(emu))
}
