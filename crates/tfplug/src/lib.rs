//! `tfplug`: write Terraform providers in Rust, speaking plugin protocol 6.
//!
//! The library covers the whole plugin side: go-plugin handshake and AutoMTLS,
//! the tfplugin6 gRPC service, Terraform's msgpack/JSON value encodings, a
//! schema builder, and a [`Resource`] trait whose calls are wrapped so that
//! Terraform's planning and apply rules hold without the author tracking them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tfplug::{Attribute, Ctx, Diagnostics, Failure, Provider, Resource, Schema, Value};
//!
//! struct Example;
//! struct Note;
//!
//! #[tfplug::async_trait]
//! impl Resource<()> for Note {
//!     fn type_name(&self) -> &str { "example_note" }
//!     fn schema(&self) -> Schema {
//!         Schema::new(0)
//!             .attribute(Attribute::string("id").computed().stable())
//!             .attribute(Attribute::string("text").required())
//!     }
//!     async fn create(&self, _: &Ctx<'_, ()>, planned: &Value, _: &Value) -> Result<Value, Failure> {
//!         let mut v = planned.clone();
//!         v.set("id", "note-1".into());
//!         Ok(v)
//!     }
//!     async fn read(&self, _: &Ctx<'_, ()>, state: &Value) -> Result<Option<Value>, Diagnostics> {
//!         Ok(Some(state.clone()))
//!     }
//!     async fn update(&self, _: &Ctx<'_, ()>, _: &Value, planned: &Value, _: &Value) -> Result<Value, Failure> {
//!         Ok(planned.clone())
//!     }
//!     async fn delete(&self, _: &Ctx<'_, ()>, _: &Value) -> Result<(), Diagnostics> { Ok(()) }
//! }
//!
//! #[tfplug::async_trait]
//! impl Provider for Example {
//!     type Client = ();
//!     fn schema(&self) -> Schema { Schema::new(0) }
//!     fn resources(&self) -> Vec<Arc<dyn Resource<()>>> { vec![Arc::new(Note)] }
//!     async fn configure(&self, _: &Value, _: &str) -> Result<(), Diagnostics> { Ok(()) }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     tfplug::main("provider.terraform-provider-example", Example)
//! }
//! ```

pub mod diag;
pub mod invariants;
pub mod json;
pub mod log;
pub mod msgpack;
pub mod resource;
pub mod schema;
pub mod server;
pub mod service;
pub mod tls;
pub mod value;

mod convert;

/// Generated protocol code.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations
)]
pub mod proto {
    /// Terraform plugin protocol 6.
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    /// go-plugin side services.
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}

pub use async_trait::async_trait;
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use resource::{Ctx, Failure, Plan, Provider, Resource, cancelled};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema, validators};
pub use server::{Env, ServeError, main, serve};
pub use tokio_util::sync::CancellationToken;
pub use value::{AttrPath, Number, PathStep, Type, Value};
