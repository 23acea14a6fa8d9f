//! Shared helpers: an in-process cloud on a loopback socket, a fast client,
//! and the specification check.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hcloud::{Client, Config, PollPolicy, RetryPolicy, Token};
use hcloud_emulator::spec::{SpecChecker, find_hetzner_spec};
use hcloud_emulator::{Emu, Options, Shared, app};
use serde_json::Value;

pub const TOKEN: &str = "test-token-5b1e";

/// Hetzner's OpenAPI document: required with `CI=true`, otherwise skipped
/// with a note when it is not beside the workspace.
pub fn spec() -> Option<Arc<SpecChecker>> {
    static SPEC: OnceLock<Option<Arc<SpecChecker>>> = OnceLock::new();
    SPEC.get_or_init(|| {
        find_hetzner_spec(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or_else(|e| panic!("{e}"))
            .map(Arc::new)
    })
    .clone()
}

/// Where the document was loaded from, for `--spec`.
pub fn spec_path() -> Option<PathBuf> {
    spec().map(|s| s.path().to_owned())
}

pub fn options() -> Options {
    let mut o = Options::new(TOKEN);
    o.spec = spec();
    o
}

pub struct Cloud {
    pub url: String,
    pub base: String,
    pub emu: Emu,
}

impl Cloud {
    pub async fn start(opts: Options) -> Cloud {
        let emu = Shared::new(opts).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(emu.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Cloud {
            url: format!("http://{addr}/v1"),
            base: format!("http://{addr}"),
            emu,
        }
    }

    pub async fn default() -> Cloud {
        Cloud::start(options()).await
    }

    /// A client with millisecond backoffs so retry tests stay fast.
    pub fn client(&self) -> Client {
        let mut cfg = Config::new(&self.url, Token::new(TOKEN));
        cfg.retry = RetryPolicy {
            max_tries: 5,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
            max_rate_wait: Duration::from_secs(5),
        };
        cfg.poll = PollPolicy {
            initial: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        };
        cfg.timeout = Duration::from_secs(5);
        Client::new(cfg).unwrap()
    }

    pub async fn admin(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/_emulator/{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
    }

    /// Requests the cloud saw, as `METHOD path status` lines.
    pub async fn requests(&self) -> Vec<String> {
        let log = self.request_log().await;
        log.iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["method"].as_str().unwrap(),
                    r["path"].as_str().unwrap(),
                    r["status"]
                )
            })
            .collect()
    }

    /// The raw request log.
    pub async fn request_log(&self) -> Vec<Value> {
        let v: Value = reqwest::Client::new()
            .get(format!("{}/_emulator/requests", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["requests"].as_array().unwrap().clone()
    }

    /// Fails the test if any response broke the specification.
    pub fn assert_spec_clean(&self) {
        let v = self.emu.violations.lock().unwrap();
        assert!(
            v.is_empty(),
            "responses that break the OpenAPI document: {}",
            serde_json::to_string_pretty(&*v).unwrap()
        );
    }
}
