//! Integration tests for the k3s crate (one binary for link time).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod exec;
mod install;
mod keys;
mod render;
mod session;
mod sshd;
mod tunnel;
