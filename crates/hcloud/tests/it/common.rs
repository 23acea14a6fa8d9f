//! An in-process local cloud on a loopback socket and a client with short
//! backoffs.

use std::time::Duration;

use hcloud::{Client, Config, PollPolicy, RetryPolicy, Token};
use hcloud_emulator::{Emu, Options, Shared, app};

pub const TOKEN: &str = "hcloud-it-token-91c2";

/// Waits this long at most for any action.
pub const ACTION_DEADLINE: Duration = Duration::from_secs(10);

/// Serves `router` on a fresh loopback port; returns `http://127.0.0.1:PORT`.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A local cloud and a client for it.
pub async fn cloud() -> (Emu, Client) {
    let emu = Shared::new(Options::new(TOKEN)).unwrap();
    let base = serve(app(emu.clone())).await;
    (emu, client(&format!("{base}/v1")))
}

/// A client with millisecond backoffs and polls.
pub fn client(endpoint: &str) -> Client {
    let mut cfg = Config::new(endpoint, Token::new(TOKEN));
    cfg.retry = RetryPolicy {
        max_tries: 3,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
        max_rate_wait: Duration::from_secs(1),
    };
    cfg.poll = PollPolicy {
        initial: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    };
    cfg.timeout = Duration::from_secs(5);
    Client::new(cfg).unwrap()
}
