//! K3s over SSH: Ed25519 keys, pinned-host-key SSH sessions, K3s config rendering and install steps.
//!
//! ```no_run
//! # async fn demo(host_key_line: String, login: k3s::Secret) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tokio::time::Instant;
//! let target = k3s::Target::new("203.0.113.10", 22, host_key_line);
//! let session = k3s::connect(&target, &k3s::Auth::PrivateKey(login), Instant::now() + Duration::from_secs(120)).await?;
//! let out = session.run(&k3s::Command::new("uname -r", Duration::from_secs(10))).await?;
//! println!("{}", out.stdout);
//! # Ok(()) }
//! ```

pub mod api;
pub mod install;
pub mod keys;
pub mod render;
pub mod secret;
pub mod session;

pub use api::{ApiError, ClusterApi};
pub use install::InstallError;
pub use keys::{KeyError, KeyPair, fingerprint};
pub use render::{InstallSpec, NodeSpec, RenderError, Role};
pub use secret::Secret;
pub use session::{Auth, Command, Forward, Output, Session, SessionError, Target, connect};
