//! Checks of the workflows and scripts/deploy.sh (one binary for link time).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod deploy_script;
mod deploy_workflow;
mod pinning;
