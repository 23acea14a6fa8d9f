//! Validates Kubernetes objects (as `serde_json::Value`) against official schemas: built-in
//! kinds against the Kubernetes 1.34 OpenAPI (swagger 2.0) definitions, custom resources
//! against the `openAPIV3Schema` of their CRD version.
//!
//! The schemas directory holds `k8s-v1.34.1/swagger.json` and CRD YAML files under
//! `strimzi-0.50.1/`, `argocd-v3.5.1/` and `helm-controller-v0.16.26/`. Validation is strict,
//! like `kubectl apply --validate=strict`: a field the schema does not list is an error, so a
//! misspelt field fails instead of being dropped silently.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let schemas = kube_schemas::Schemas::load(std::path::Path::new("../shared/schemas"))?;
//! let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kafka"}});
//! schemas.validate(&ns)?;
//! # Ok(())
//! # }
//! ```

mod find;
mod load;
mod strict;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use find::SCHEMAS_DIR;

/// Loading or compiling schemas failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not JSON or YAML of the expected shape.
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// No `Cargo.toml` with `[workspace]` at or above the starting directory.
    #[error("no Cargo.toml with [workspace] in {} or above it", start.display())]
    NoWorkspace {
        /// Where the search started.
        start: PathBuf,
    },
    /// The schemas directory is missing where CI requires it.
    #[error(
        "the schemas directory is missing: {} (CI=true, so manifests must be validated)",
        path.display()
    )]
    Missing {
        /// The path looked for.
        path: PathBuf,
    },
}

/// One way an object breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer of the offending field, e.g. `/spec/finalizers` (empty for the root).
    pub path: String,
    /// What is wrong; instance values are masked, so Secret data never shows.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// An object that does not match its schema, or whose kind has no schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{api_version} {kind} {name:?} is invalid: {}", list(problems))]
pub struct Invalid {
    /// The object's apiVersion (as given; empty if absent).
    pub api_version: String,
    /// The object's kind (as given; empty if absent).
    pub kind: String,
    /// metadata.name (empty if absent).
    pub name: String,
    /// Every problem found (at least one).
    pub problems: Vec<Problem>,
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where a kind's schema comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A swagger definition name, e.g. `io.k8s.api.core.v1.Namespace`.
    Builtin(String),
    /// A CRD version's `openAPIV3Schema` (already made strict).
    Custom(Value),
}

/// The loaded schemas; validators are compiled on first use and cached.
#[derive(Debug)]
pub struct Schemas {
    /// Swagger definitions, made strict, embedded in every compiled schema.
    definitions: Value,
    /// `(apiVersion, kind)` → schema.
    kinds: HashMap<(String, String), Source>,
    cache: Mutex<HashMap<(String, String), Arc<jsonschema::Validator>>>,
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

impl Schemas {
    /// Loads `dir/k8s-v1.34.1/swagger.json` and every CRD in the YAML files of the
    /// operator subdirectories.
    pub fn load(dir: &Path) -> Result<Schemas, SchemaError> {
        let (definitions, kinds) = load::load(dir)?;
        Ok(Schemas {
            definitions,
            kinds,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The schemas directory for a workspace: `<workspace_root>/../shared/schemas`, where
    /// the workspace root is the nearest directory at or above `start` whose `Cargo.toml`
    /// has `[workspace]`. Absent: `Ok(None)` after one note on stderr, unless the
    /// environment has `CI=true`, where validation is mandatory ([`SchemaError::Missing`]).
    pub fn find_dir(workspace_root: &Path) -> Result<Option<PathBuf>, SchemaError> {
        find::find_dir(workspace_root)
    }

    /// The `(apiVersion, kind)` pairs that have a schema, sorted.
    pub fn kinds(&self) -> Vec<(String, String)> {
        let mut kinds: Vec<_> = self.kinds.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    /// Validates one object by its apiVersion and kind.
    pub fn validate(&self, object: &Value) -> Result<(), Invalid> {
        let field = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
        let api_version = field("apiVersion").to_owned();
        let kind = field("kind").to_owned();
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let invalid = |problems: Vec<Problem>| Invalid {
            api_version: api_version.clone(),
            kind: kind.clone(),
            name: name.clone(),
            problems,
        };
        let validator = self.validator(&api_version, &kind).map_err(|message| {
            invalid(vec![Problem {
                path: String::new(),
                message,
            }])
        })?;
        let problems: Vec<Problem> = validator
            .iter_errors(object)
            .map(|e| Problem {
                path: e.instance_path().to_string(),
                message: e.masked().to_string(),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(invalid(problems))
        }
    }

    /// The compiled validator of a kind, from the cache or compiled now.
    fn validator(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Arc<jsonschema::Validator>, String> {
        let key = (api_version.to_owned(), kind.to_owned());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        let source = self.kinds.get(&key).ok_or_else(|| {
            format!("unknown kind: no schema for apiVersion {api_version:?} kind {kind:?}")
        })?;
        let mut schema = match source {
            Source::Builtin(definition) => json!({ "$ref": format!("#/definitions/{definition}") }),
            Source::Custom(schema) => {
                let mut schema = schema.clone();
                // A CRD schema says only `metadata: {type: object}`; the API server checks
                // metadata as ObjectMeta, so do the same.
                if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                    props.insert(
                        "metadata".into(),
                        json!({ "$ref": format!("#/definitions/{OBJECT_META}") }),
                    );
                }
                schema
            }
        };
        if let Some(map) = schema.as_object_mut() {
            map.insert("definitions".into(), self.definitions.clone());
        }
        let validator = jsonschema::draft4::options()
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|e| format!("the schema of {api_version} {kind} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(key, validator.clone());
        Ok(validator)
    }
}
