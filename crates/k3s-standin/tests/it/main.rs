//! Runs the built `k3s` stand-in as real processes: a server in a temporary
//! root on a loopback port, agents joining it, and real kubectl (from the
//! project's `.venv/kubectl`) talking to it with the written kubeconfig.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod agent;
mod apply;
mod kubectl;
mod restart;
mod schema;
mod server;
mod support;
mod watch;
