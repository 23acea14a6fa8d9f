//! The HTTP layer: authentication, retries with backoff and jitter for
//! transient errors only, rate-limit pacing, error decoding, request counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::endpoint::Endpoint;
use crate::error::{ApiError, Error, ErrorCode};

/// The API token: the one place that holds it. Its `Debug` never shows the
/// secret, and it has no `Display`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(t: impl Into<String>) -> Token {
        Token(t.into())
    }

    /// The secret itself, for code that must send or compare it. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Retry behaviour for transient errors.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total (first try included).
    pub max_tries: u32,
    /// First backoff.
    pub base: Duration,
    /// Backoff cap.
    pub cap: Duration,
    /// Longest wait for a rate-limit reset.
    pub max_rate_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_rate_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `n` (1-based): base × 2^(n-1), capped,
    /// with "equal jitter" (half fixed, half random).
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.cap);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// How action polls are spaced.
#[derive(Debug, Clone)]
pub struct PollPolicy {
    /// First interval.
    pub initial: Duration,
    /// Longest interval.
    pub cap: Duration,
}

impl Default for PollPolicy {
    /// 0.5 s, then every second. Polls are shared by every wait of a client,
    /// so a short cap costs one request per second however many actions run.
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_millis(500),
            cap: Duration::from_secs(1),
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// API base URL, e.g. `https://api.hetzner.cloud/v1`. Checked by
    /// [`Client::new`]: see [`Endpoint`].
    pub endpoint: String,
    /// Token.
    pub token: Token,
    /// Retries.
    pub retry: RetryPolicy,
    /// Action polling.
    pub poll: PollPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Config {
    /// Defaults for `endpoint` and `token`.
    pub fn new(endpoint: impl Into<String>, token: Token) -> Config {
        Config {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            token,
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct RateState {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    /// Our running count of the budget: the answers' `RateLimit-Remaining`
    /// minus every request sent since, plus the refill. Below the reserve,
    /// each request reserves the next free slot, so concurrent requests
    /// queue one refill apart instead of bursting into a 429.
    tokens: Option<f64>,
    /// When `tokens` was last brought up to date.
    at: Option<std::time::Instant>,
    /// Refill per second, from `RateLimit-Reset` (when the bucket is full again).
    refill: Option<f64>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    cfg: Config,
    rate: Mutex<RateState>,
    counters: Mutex<BTreeMap<String, u64>>,
    pub(crate) poller: crate::actions::Poller,
}

/// A Hetzner Cloud API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method.
    pub method: Method,
    /// Path below the endpoint, e.g. `/servers`.
    pub path: String,
    /// Query pairs (repeat a key for arrays).
    pub query: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<Value>,
    /// Retry on `locked` (only for calls known to be safe to repeat).
    pub retry_locked: bool,
    /// Safe to repeat after an answer-less failure (GET/PUT/DELETE and
    /// actions that converge); creates are not.
    pub idempotent: bool,
}

impl Req {
    /// A request with defaults derived from the method.
    pub fn new(method: Method, path: impl Into<String>) -> Req {
        let idempotent = method != Method::POST;
        Req {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            retry_locked: false,
            idempotent,
        }
    }
    /// Sets the body.
    pub fn body(mut self, v: Value) -> Req {
        self.body = Some(v);
        self
    }
    /// Sets the body from a typed value.
    pub fn json(self, body: &impl serde::Serialize) -> Result<Req, Error> {
        let v = serde_json::to_value(body).map_err(|e| {
            Error::Invalid(format!("{} {}: request body: {e}", self.method, self.path))
        })?;
        Ok(self.body(v))
    }
    /// Adds a query pair.
    pub fn query(mut self, k: &str, v: impl ToString) -> Req {
        self.query.push((k.to_owned(), v.to_string()));
        self
    }
    /// Marks the call as safe to repeat.
    pub fn idempotent(mut self) -> Req {
        self.idempotent = true;
        self
    }
    /// Retries `locked` answers too.
    pub fn retry_locked(mut self) -> Req {
        self.retry_locked = true;
        self
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `GET /servers/42` → `GET /servers/{id}`.
pub fn endpoint_key(method: &Method, path: &str) -> String {
    format!("{method} {}", fold_ids(path))
}

/// `/servers/42/actions/poweron` → `/servers/{id}/actions/poweron`.
pub fn fold_ids(path: &str) -> String {
    let norm: Vec<&str> = path
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    norm.join("/")
}

fn retryable(code: &ErrorCode, status: u16) -> bool {
    matches!(
        code,
        ErrorCode::Conflict
            | ErrorCode::RateLimitExceeded
            | ErrorCode::BadGateway
            | ErrorCode::Timeout
    ) || matches!(status, 502 | 504 | 429)
}

impl Client {
    /// Builds a client. Refuses an endpoint that is not `https://` (plain
    /// `http://` only on loopback) with [`Error::Endpoint`], before anything
    /// is sent.
    pub fn new(cfg: Config) -> Result<Client, Error> {
        let endpoint = Endpoint::parse(&cfg.endpoint)?;
        // The API never redirects; following one could carry the token to a
        // URL that was never checked.
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("k3strading-hcloud/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!endpoint.is_loopback())
            .build()
            .map_err(|e| Error::Invalid(format!("HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                cfg,
                rate: Mutex::new(RateState::default()),
                counters: Mutex::default(),
                poller: crate::actions::Poller::default(),
            }),
        })
    }

    /// The action poller every clone of this client shares.
    pub(crate) fn poller(&self) -> &crate::actions::Poller {
        &self.inner.poller
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// Requests sent so far, per endpoint (retries included).
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.inner
            .counters
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Total requests sent so far.
    pub fn total_requests(&self) -> u64 {
        self.request_counts().values().sum()
    }

    /// What the last response said about the rate limit: (limit, remaining).
    pub fn rate_limit(&self) -> (Option<u64>, Option<u64>) {
        let r = self.inner.rate.lock().map(|r| *r).unwrap_or_default();
        (r.limit, r.remaining)
    }

    fn count(&self, req: &Req) {
        if let Ok(mut c) = self.inner.counters.lock() {
            *c.entry(endpoint_key(&req.method, &req.path)).or_default() += 1;
        }
    }

    /// Spreads requests out when the budget runs low, so it never runs dry:
    /// every request takes a token from the client's own count first; below
    /// the reserve (1 % of the limit, at least 2) it waits for the slot its
    /// token will be refilled at. Waiting requests hold their slots, so a
    /// burst of concurrent requests is spread at the refill rate.
    async fn pace(&self) {
        let wait = {
            let Ok(mut r) = self.inner.rate.lock() else {
                return;
            };
            let (Some(limit), Some(tokens), Some(at)) = (r.limit, r.tokens, r.at) else {
                return;
            };
            let now = std::time::Instant::now();
            let refill = r.refill.unwrap_or(1.0).max(0.001);
            let have = (tokens + refill * now.duration_since(at).as_secs_f64()).min(limit as f64);
            let left = have - 1.0;
            r.tokens = Some(left);
            r.at = Some(now);
            let reserve = (limit as f64 / 100.0).max(2.0);
            if left >= reserve {
                return;
            }
            Duration::from_secs_f64((reserve - left) / refill)
        };
        let wait = wait.min(self.inner.cfg.retry.max_rate_wait);
        tracing::debug!(?wait, "rate limit budget low; pacing");
        tokio::time::sleep(wait).await;
    }

    fn note_rate(&self, headers: &reqwest::header::HeaderMap) {
        let num = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Ok(mut r) = self.inner.rate.lock() {
            if let Some(l) = num("ratelimit-limit") {
                r.limit = Some(l);
            }
            if let Some(reset) = num("ratelimit-reset") {
                r.reset = Some(reset);
            }
            let Some(rem) = num("ratelimit-remaining") else {
                return;
            };
            r.remaining = Some(rem);
            if let (Some(limit), Some(reset)) = (r.limit, r.reset) {
                let secs = reset.saturating_sub(unix_now());
                let missing = limit.saturating_sub(rem);
                if secs > 0 && missing > 0 {
                    r.refill = Some(missing as f64 / secs as f64);
                }
            }
            // The answer knows what other clients spent; our count knows
            // what is still on its way. Keep the lower.
            let now = std::time::Instant::now();
            let ours = match (r.tokens, r.at) {
                (Some(t), Some(at)) => {
                    t + r.refill.unwrap_or(1.0) * now.duration_since(at).as_secs_f64()
                }
                _ => f64::INFINITY,
            };
            r.tokens = Some(ours.min(rem as f64));
            r.at = Some(now);
        }
    }

    fn rate_wait(&self) -> Duration {
        let reset = self
            .inner
            .rate
            .lock()
            .ok()
            .and_then(|r| r.reset)
            .unwrap_or_default();
        let until = Duration::from_secs(reset.saturating_sub(unix_now()).max(1));
        until.min(self.inner.cfg.retry.max_rate_wait) + Duration::from_millis(fastrand::u64(0..250))
    }

    /// Sends `req`, retrying transient failures, and decodes the JSON answer
    /// (`Value::Null` for empty bodies).
    pub async fn send(&self, req: Req) -> Result<Value, Error> {
        let policy = self.inner.cfg.retry.clone();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= policy.max_tries;
            self.pace().await;
            self.count(&req);
            let url = format!("{}{}", self.inner.endpoint.as_str(), req.path);
            let mut rb = self
                .inner
                .http
                .request(req.method.clone(), &url)
                .bearer_auth(self.inner.cfg.token.expose_secret())
                .query(&req.query);
            if let Some(b) = &req.body {
                rb = rb
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            let transport = |e: &reqwest::Error| Error::Transport {
                method: req.method.to_string(),
                path: req.path.clone(),
                message: describe(e),
                ambiguous: !e.is_connect(),
            };
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let err = transport(&e);
                    if !last && (e.is_connect() || (req.idempotent && e.is_timeout())) {
                        let d = policy.backoff(attempt);
                        tracing::debug!(path = %req.path, ?d, "transport error; retrying");
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            self.note_rate(resp.headers());
            let status = resp.status().as_u16();
            let correlation_id = resp
                .headers()
                .get("x-correlation-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    // Status arrived but the body did not: the request was processed.
                    return Err(Error::Transport {
                        method: req.method.to_string(),
                        path: req.path.clone(),
                        message: describe(&e),
                        ambiguous: true,
                    });
                }
            };
            if (200..300).contains(&status) {
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
                    method: req.method.to_string(),
                    path: req.path.clone(),
                    status,
                    message: e.to_string(),
                });
            }
            let error = api_error(status, &bytes, correlation_id);
            let transient = retryable(&error.code, status);
            let ambiguous = matches!(status, 502 | 504)
                || matches!(error.code, ErrorCode::BadGateway | ErrorCode::Timeout);
            let may_retry = (transient && (req.idempotent || !ambiguous))
                || (req.retry_locked && error.code == ErrorCode::Locked);
            if may_retry && !last {
                let d = if status == 429 || error.code == ErrorCode::RateLimitExceeded {
                    self.rate_wait()
                } else {
                    policy.backoff(attempt)
                };
                tracing::debug!(path = %req.path, code = %error.code, attempt, ?d, "transient API error; retrying");
                tokio::time::sleep(d).await;
                continue;
            }
            return Err(Error::Api {
                method: req.method.to_string(),
                path: req.path.clone(),
                error: Box::new(error),
            });
        }
    }

    /// Sends `req` and decodes the value under `key` of the answer.
    pub async fn call<T: DeserializeOwned>(&self, req: Req, key: &str) -> Result<T, Error> {
        let (method, path) = (req.method.to_string(), req.path.clone());
        let mut v = self.send(req).await?;
        let part = v.get_mut(key).map(Value::take).unwrap_or(Value::Null);
        serde_json::from_value(part).map_err(|e| Error::Decode {
            method,
            path,
            status: 200,
            message: format!("{key}: {e}"),
        })
    }

    /// Every item of a paginated list, following `meta.pagination.next_page`.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        let mut page = 1i64;
        loop {
            let mut req = Req::new(Method::GET, path)
                .query("page", page)
                .query("per_page", 50);
            for (k, v) in query {
                req = req.query(k, v);
            }
            let mut v = self.send(req).await?;
            let items = v.get_mut(key).map(Value::take).unwrap_or(Value::Null);
            let batch: Vec<T> = serde_json::from_value(items).map_err(|e| Error::Decode {
                method: "GET".into(),
                path: path.to_owned(),
                status: 200,
                message: format!("{key}: {e}"),
            })?;
            out.extend(batch);
            match v
                .pointer("/meta/pagination/next_page")
                .and_then(Value::as_i64)
            {
                Some(next) if next > page => page = next,
                _ => return Ok(out),
            }
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest errors carry the URL, never headers, so the token cannot leak.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the response"
    } else {
        "request failed"
    };
    let mut msg = kind.to_owned();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn api_error(status: u16, body: &[u8], correlation_id: Option<String>) -> ApiError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let code = err
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .map(ErrorCode::from)
        .unwrap_or_else(|| match status {
            401 => ErrorCode::Unauthorized,
            404 => ErrorCode::NotFound,
            429 => ErrorCode::RateLimitExceeded,
            502 => ErrorCode::BadGateway,
            504 => ErrorCode::Timeout,
            _ => ErrorCode::Unknown(format!("http_{status}")),
        });
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status} without an error body"));
    let details = err
        .and_then(|e| e.get("details"))
        .cloned()
        .unwrap_or(Value::Null);
    ApiError {
        status,
        code,
        message,
        details,
        correlation_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let p = RetryPolicy::default();
        for n in 1..=8 {
            let d = p.backoff(n);
            let full = Duration::from_secs(1u64 << (n - 1)).min(Duration::from_secs(60));
            assert!(d >= full / 2 && d <= full, "try {n}: {d:?}");
        }
    }

    #[test]
    fn endpoint_keys_fold_ids() {
        assert_eq!(
            endpoint_key(&Method::POST, "/servers/42/actions/poweron"),
            "POST /servers/{id}/actions/poweron"
        );
        assert_eq!(endpoint_key(&Method::GET, "/actions"), "GET /actions");
    }

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(format!("{:?}", Token::new("hunter2")), "Token(***)");
        let cfg = Config::new("http://x/v1/", Token::new("hunter2"));
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert_eq!(cfg.endpoint, "http://x/v1");
    }

    #[test]
    fn a_client_for_plain_http_off_loopback_is_refused_naming_https() {
        let refused = Client::new(Config::new(
            "http://api.example.invalid/v1",
            Token::new("hunter2"),
        ))
        .unwrap_err();
        assert!(
            matches!(
                refused,
                Error::Endpoint(crate::EndpointError::InsecureHttp { .. })
            ),
            "{refused:?}"
        );
        let msg = refused.to_string();
        assert!(msg.contains("https://"), "{msg}");
        assert!(!format!("{msg} {refused:?}").contains("hunter2"));
        for ok in ["https://api.hetzner.cloud/v1", "http://127.0.0.1:1/v1"] {
            let c = Client::new(Config::new(ok, Token::new("hunter2"))).unwrap();
            assert!(!format!("{c:?}").contains("hunter2"));
        }
    }

    #[test]
    fn error_bodies_decode_and_bare_statuses_get_codes() {
        let e = api_error(
            423,
            br#"{"error":{"code":"locked","message":"busy","details":{}}}"#,
            Some("c1".into()),
        );
        assert_eq!(e.code, ErrorCode::Locked);
        assert_eq!(api_error(502, b"<html>", None).code, ErrorCode::BadGateway);
        assert!(retryable(&ErrorCode::Conflict, 409));
        assert!(!retryable(&ErrorCode::Locked, 423));
        assert!(!retryable(&ErrorCode::UniquenessError, 409));
    }
}
