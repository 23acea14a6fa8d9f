//! Integration tests for the local cloud: its HTTP contract, Hetzner's rules,
//! the Hetzner client against it, and conformance with the official client.
//! Every response in these tests is validated against Hetzner's OpenAPI
//! document when `../shared/schemas` is present.

// Test code: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod admin;
mod client;
mod common;
mod conformance;
mod docs;
mod limits;
mod rules;
mod serve;
mod vms;
