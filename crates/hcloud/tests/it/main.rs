//! The Hetzner client against the local cloud (in-process, on loopback) and
//! against small scripted servers.

// Test code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod endpoint;
mod teardown;
