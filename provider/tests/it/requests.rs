//! Reading the local cloud's request log: which endpoint was called, in
//! what order, and what it answered.

use hcloud_emulator::gate::LogEntry;

use crate::common::Cloud;

/// A point in the request log; later requests are read with
/// [`Requests::since`].
#[derive(Debug, Clone)]
pub struct Mark(Option<String>);

/// Requests in the order the cloud answered them.
#[derive(Debug, Clone)]
pub struct Requests(pub Vec<LogEntry>);

/// `METHOD /path` with ids folded, e.g. `POST /servers/{id}/actions/poweron`.
pub fn endpoint(e: &LogEntry) -> String {
    format!("{} {}", e.method, hcloud::client::fold_ids(&e.path))
}

/// True when `e`'s query has `key=value`.
pub fn has_query(e: &LogEntry, key: &str, value: &str) -> bool {
    e.query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.split_once('=') == Some((key, value)))
    })
}

impl Cloud {
    /// The end of the request log now.
    pub fn mark(&self) -> Mark {
        Mark(
            self.emu
                .request_log()
                .last()
                .map(|e| e.correlation_id.clone()),
        )
    }
}

impl Requests {
    /// Every logged request.
    pub fn all(cloud: &Cloud) -> Requests {
        Requests(cloud.emu.request_log())
    }

    /// The requests after `mark`.
    pub fn since(cloud: &Cloud, mark: &Mark) -> Requests {
        let log = cloud.emu.request_log();
        let start = match &mark.0 {
            None => 0,
            Some(id) => {
                log.iter()
                    .position(|e| &e.correlation_id == id)
                    .expect("the mark fell out of the request log")
                    + 1
            }
        };
        Requests(log.into_iter().skip(start).collect())
    }

    /// Requests to `endpoint` (see [`endpoint`]).
    pub fn to<'a>(&'a self, ep: &'a str) -> impl Iterator<Item = (usize, &'a LogEntry)> + 'a {
        self.0
            .iter()
            .enumerate()
            .filter(move |(_, e)| endpoint(e) == ep)
    }

    /// How many requests to `ep` were answered with `status`.
    pub fn count(&self, ep: &str, status: u16) -> usize {
        self.to(ep).filter(|(_, e)| e.status == status).count()
    }

    /// Polls of action `id` (`GET /actions/{id}` or `GET /actions?id=…`).
    pub fn polls_of_action(&self, id: i64) -> usize {
        let one = format!("/actions/{id}");
        self.0
            .iter()
            .filter(|e| {
                e.method == "GET"
                    && (e.path.ends_with(&one)
                        || (e.path == "/actions" && has_query(e, "id", &id.to_string())))
            })
            .count()
    }

    /// One line per request, for failure messages.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|e| {
                format!(
                    "{} {}{} -> {}",
                    e.method,
                    e.path,
                    e.query
                        .as_deref()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default(),
                    e.status
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A fresh cluster is created without asking first: each create is sent
/// straight away (Hetzner's uniqueness check finds a leftover), the nodes
/// reuse what the cluster just made, and no server is read back after its
/// actions succeeded.
#[test]
fn a_fresh_apply_creates_without_looking_first() {
    let tf = &crate::common::terraforms()[0];
    let cloud = Cloud::start(|_| {});
    let wd = crate::common::workdir(tf, &cloud, None);
    let mark = cloud.mark();
    crate::common::ok(wd.run(&crate::common::APPLY), "apply");
    let r = Requests::since(&cloud, &mark);
    for lookup in [
        "GET /servers",
        "GET /servers/{id}",
        "GET /networks",
        "GET /firewalls",
        "GET /placement_groups",
        "GET /ssh_keys",
        "GET /primary_ips/{id}",
    ] {
        assert_eq!(r.count(lookup, 200), 0, "{lookup}\n{}", r.render());
    }
    // Only the Primary IPs, which outlive the cluster, are looked up by name.
    assert_eq!(r.count("GET /primary_ips", 200), 2, "{}", r.render());
    assert_eq!(r.count("POST /servers", 201), 5, "{}", r.render());
}
