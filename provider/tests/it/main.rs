//! End-to-end tests of the provider: real Terraform (1.15.5 and 1.13.5)
//! applying `terraform/` against the local cloud, which runs in-process on a
//! loopback socket and validates its responses against Hetzner's OpenAPI
//! document when `../shared/schemas` is present.

// Test code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod acceptance;
mod bad_config;
mod campaign;
mod common;
mod endpoint;
mod examples;
mod facts;
mod faults;
mod interrupted;
mod lifecycle;
mod platform;
mod release;
mod release_lag;
mod requests;
mod scale;
mod secrets;
mod vms;
