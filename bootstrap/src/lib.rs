//! The Kubernetes side of a k3strading cluster, on kube-rs: what a cluster
//! needs beyond its Nodes (namespaces, PriorityClasses, quotas, Strimzi and
//! Kafka 4.0.0, ArgoCD, Prometheus), rendered as plain objects from live facts
//! and applied server-side.
//!
//! ```no_run
//! # async fn run(client: kube::Client) -> Result<(), bootstrap::Error> {
//! use std::time::Duration;
//! let facts = bootstrap::Facts::read(&client, "dev", "203.0.113.20").await?;
//! let objects = bootstrap::render(&facts, &bootstrap::Options::default())?;
//! let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
//! bootstrap::apply(&client, &objects, deadline, &mut |p| println!("{p:?}")).await?;
//! println!("{}", bootstrap::Status::read(&client, "dev").await?.render());
//! # Ok(())
//! # }
//! ```

pub mod apply;
pub mod error;
pub mod facts;
pub mod files;
pub mod options;
pub mod quantity;
pub mod quota;
pub mod render;
pub mod status;
pub mod wait;

pub use apply::{Phase, Phases, Progress, apply, apply_with};
pub use error::Error;
pub use facts::{Facts, NodeCapacity};
pub use files::write_dir;
pub use options::Options;
pub use render::render;
pub use status::Status;
