//! What every `/v1` request passes through: request log, correlation id,
//! rate limit (token bucket with RateLimit-* headers), authentication,
//! injected faults and latency, and the specification check.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hcloud::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::Emu;
use crate::http::ApiErr;

/// A scripted answer for matching requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method; any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path with ids folded, e.g. `/servers/{id}/actions/poweron`.
    pub path: String,
    /// `respond` (answer with status/code instead of running the request),
    /// `commit_then_drop` (run it, then drop the connection before the
    /// body), or `delay` (run it after `delay_ms`).
    #[serde(default = "respond")]
    pub mode: String,
    /// Status for `respond`.
    #[serde(default = "bad_gateway")]
    pub status: u16,
    /// Error code for `respond`; a bare status without a body when absent.
    #[serde(default)]
    pub code: Option<String>,
    /// Message for `respond`.
    #[serde(default)]
    pub message: Option<String>,
    /// Delay for `delay`.
    #[serde(default)]
    pub delay_ms: u64,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
}

fn respond() -> String {
    "respond".into()
}
fn bad_gateway() -> u16 {
    502
}
fn one() -> u32 {
    1
}

/// One logged request.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Method.
    pub method: String,
    /// Path below `/v1`, query excluded.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Status sent.
    pub status: u16,
    /// Handling time.
    pub micros: u64,
    /// When the request arrived: milliseconds since the cloud started.
    pub at_ms: u64,
    /// Correlation id sent.
    pub correlation_id: String,
    /// Names of the request headers, sorted; never their values (one of
    /// them carries the token).
    pub headers: Vec<String>,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    refill: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.refill)
            .min(self.capacity);
        self.last = now;
    }
    fn reset_at(&self) -> u64 {
        let missing = (self.capacity - self.tokens).max(0.0);
        let secs = if self.refill > 0.0 {
            missing / self.refill
        } else {
            0.0
        };
        crate::world::now_ms() / 1000 + secs.ceil() as u64
    }
}

/// Gate bookkeeping.
#[derive(Debug)]
pub struct GateState {
    bucket: Mutex<Bucket>,
    /// Scripted faults.
    pub faults: Mutex<Vec<Fault>>,
    /// Recent requests (newest last, at most 10 000).
    pub log: Mutex<VecDeque<LogEntry>>,
    /// Extra latency for every request.
    pub latency_ms: AtomicU64,
    seq: AtomicU64,
    born: Instant,
}

impl GateState {
    /// A full bucket.
    pub fn new(capacity: u64, refill: f64) -> GateState {
        GateState {
            bucket: Mutex::new(Bucket {
                capacity: capacity as f64,
                tokens: capacity as f64,
                refill,
                last: Instant::now(),
            }),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(VecDeque::new()),
            latency_ms: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// Sets the remaining budget (budget exhaustion tests).
    pub fn set_remaining(&self, remaining: f64) {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        b.refill();
        b.tokens = remaining.min(b.capacity);
    }

    /// Takes one token; returns (allowed, limit, remaining, reset).
    fn take(&self) -> (bool, u64, u64, u64) {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        b.refill();
        let allowed = b.tokens >= 1.0;
        if allowed {
            b.tokens -= 1.0;
        }
        (
            allowed,
            b.capacity as u64,
            b.tokens.floor() as u64,
            b.reset_at(),
        )
    }

    fn fault_for(&self, method: &str, path: &str) -> Option<Fault> {
        let key = hcloud::client::endpoint_key(&method.parse().ok()?, path);
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let pos = faults.iter().position(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && key.split_once(' ').is_some_and(|(_, p)| p == f.path)
        })?;
        let f = faults.get_mut(pos)?;
        f.times -= 1;
        let out = f.clone();
        faults.retain(|f| f.times > 0);
        Some(out)
    }
}

/// Marks answers made up by fault injection.
#[derive(Debug, Clone, Copy)]
struct Injected;

fn injected(mut r: Response) -> Response {
    r.extensions_mut().insert(Injected);
    r
}

/// A response body that fails at once, so the server drops the connection
/// after the status line: the client cannot know whether the request worked.
struct Dropped;

impl http_body::Body for Dropped {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other(
            "connection dropped (injected fault)",
        ))))
    }
}

/// True when the request carries `Authorization: Bearer <token>`.
pub(crate) fn bearer_ok(req: &Request, token: &str) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == token)
}

/// The middleware.
pub async fn gate(State(emu): State<Emu>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let g = &emu.gate;
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let mut headers: Vec<String> = req
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect();
    headers.sort();
    let seq = g.seq.fetch_add(1, Ordering::Relaxed);
    emu.requests.fetch_add(1, Ordering::Relaxed);
    let correlation_id = format!(
        "{:016x}",
        seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995
    );
    let (allowed, limit, remaining, reset) = g.take();

    let mut resp = if !allowed {
        ApiErr::new(
            429,
            ErrorCode::RateLimitExceeded,
            "rate limit exceeded; see RateLimit-Reset",
        )
        .into_response()
    } else if !bearer_ok(&req, &emu.opts.token) {
        ApiErr::new(401, ErrorCode::Unauthorized, "unable to authenticate").into_response()
    } else {
        let extra = g.latency_ms.load(Ordering::Relaxed);
        if extra > 0 {
            tokio::time::sleep(Duration::from_millis(extra)).await;
        }
        match g.fault_for(&method, &path) {
            Some(f) if f.mode == "respond" => match &f.code {
                Some(code) => {
                    let message = f
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("{code} (injected)"));
                    injected(
                        ApiErr::new(f.status, ErrorCode::from(code.as_str()), message)
                            .into_response(),
                    )
                }
                // A proxy's answer, without Hetzner's error body.
                None => injected(
                    StatusCode::from_u16(f.status)
                        .unwrap_or(StatusCode::BAD_GATEWAY)
                        .into_response(),
                ),
            },
            Some(f) if f.mode == "commit_then_drop" => {
                let real = next.run(req).await;
                let mut r = Response::new(Body::new(Dropped));
                *r.status_mut() = real.status();
                r.extensions_mut().insert(Injected);
                r.headers_mut()
                    .insert("content-length", HeaderValue::from_static("512"));
                r.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
                r
            }
            Some(f) => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
            None => next.run(req).await,
        }
    };

    let status = resp.status().as_u16();
    if let Some(checker) = &emu.opts.spec {
        // Scripted faults are ours, not Hetzner's: only real answers are checked.
        if resp.extensions().get::<Injected>().is_none() {
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, 64 << 20)
                .await
                .unwrap_or_default();
            let api_path = path.strip_prefix("/v1").unwrap_or(&path);
            if let Err(errors) = checker.check(&method, api_path, status, &bytes) {
                tracing::warn!(%method, path = %api_path, status, ?errors, "response does not match the specification");
                emu.violations
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(serde_json::json!({
                        "method": method, "path": api_path, "status": status, "errors": errors,
                    }));
            }
            resp = Response::from_parts(parts, Body::from(bytes));
        }
    }
    let h = resp.headers_mut();
    for (k, v) in [
        ("ratelimit-limit", limit.to_string()),
        ("ratelimit-remaining", remaining.to_string()),
        ("ratelimit-reset", reset.to_string()),
        ("x-correlation-id", correlation_id.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    let entry = LogEntry {
        method,
        path: path.strip_prefix("/v1").unwrap_or(&path).to_owned(),
        query,
        status,
        micros: started.elapsed().as_micros() as u64,
        at_ms: started.saturating_duration_since(g.born).as_millis() as u64,
        correlation_id,
        headers,
    };
    let mut log = g.log.lock().unwrap_or_else(|e| e.into_inner());
    if log.len() >= 10_000 {
        log.pop_front();
    }
    log.push_back(entry);
    resp
}
