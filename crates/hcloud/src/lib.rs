//! Hetzner Cloud API client.
//!
//! Behaves like the best Hetzner clients under real-world faults: transient
//! errors (`conflict`, `rate_limit_exceeded`, `bad_gateway`, `timeout`, HTTP
//! 502/504, connection failures) are retried with exponential backoff and
//! jitter, `locked` only where a call opts in; creates are never blindly
//! repeated (see [`Client::create_or_adopt`]); the rate-limit budget is read
//! from `RateLimit-*` headers and requests are paced before it runs dry;
//! action waits are batched. The token never appears in `Debug`, logs or
//! errors, and is only sent over `https://` (plain `http://` is accepted on
//! loopback only, for a local cloud; see [`Endpoint`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), hcloud::Error> {
//! use hcloud::{Client, Config, Token, labels::Selector};
//! let client = Client::new(Config::new("https://api.hetzner.cloud/v1", Token::new("...")))?;
//! let servers = client.servers(Some(&Selector::new().eq("k3strading.io/cluster", "dev")), None).await?;
//! # Ok(()) }
//! ```

pub mod actions;
pub mod api;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod labels;
pub mod models;

pub use api::{CreatePublicNet, CreateServer, CreatedServer, FirewallRef};
pub use client::{Client, Config, PollPolicy, Req, RetryPolicy, Token};
pub use endpoint::{Endpoint, EndpointError};
pub use error::{ApiError, Error, ErrorCode};
pub use models::*;
