//! The Terraform resources.

pub mod cluster;
pub mod common;
pub mod import;
pub mod node;
