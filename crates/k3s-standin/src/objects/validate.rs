//! The validation hook every write passes before it is stored. A failure
//! becomes a 422 `Invalid` Status. The stand-in ships two validators: one
//! that accepts everything (the default hook, to be replaced by a full
//! validator against the official schemas) and a structural check of custom
//! resources against their CRD's `openAPIV3Schema`.

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::Value;

use super::kinds::{self, Kind};

/// Checks an object about to be stored.
pub trait Validator: Send + Sync {
    /// `Ok` to store it; otherwise `"<field>: <what is wrong>"`, the field as
    /// a dotted path (`spec.replicas`).
    fn validate(&self, object: &Value) -> Result<(), String>;
}

/// The default hook: accepts everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct AcceptAll;

impl Validator for AcceptAll {
    fn validate(&self, _object: &Value) -> Result<(), String> {
        Ok(())
    }
}

/// Every object against the official schemas (the Kubernetes 1.34 swagger
/// and the operators' CRDs). Kinds those schemas do not know (e.g. a CRD
/// registered without a file) are left to [`CrdSchemas`].
#[derive(Debug)]
pub struct Official(pub kube_schemas::Schemas);

impl Validator for Official {
    fn validate(&self, object: &Value) -> Result<(), String> {
        let key = (
            object["apiVersion"].as_str().unwrap_or_default().to_owned(),
            object["kind"].as_str().unwrap_or_default().to_owned(),
        );
        match self.0.validate(object) {
            Ok(()) => Ok(()),
            Err(_) if !self.0.kinds().contains(&key) => Ok(()),
            Err(invalid) => Err(invalid
                .problems
                .iter()
                .map(|p| {
                    let field = p.path.trim_start_matches('/').replace('/', ".");
                    format!("{field}: {}", p.message)
                })
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

/// Custom resources against the schema of their CRD version.
#[derive(Default)]
pub struct CrdSchemas {
    /// (apiVersion, kind) -> compiled schema.
    schemas: RwLock<HashMap<(String, String), jsonschema::Validator>>,
}

impl std::fmt::Debug for CrdSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrdSchemas").finish_non_exhaustive()
    }
}

impl CrdSchemas {
    /// Replaces the schemas with those of `crds`; a schema that does not
    /// compile is skipped with a warning (its CRs are then not checked).
    pub fn rebuild<'a>(&self, crds: impl Iterator<Item = &'a Value>) {
        let mut map = HashMap::new();
        for crd in crds {
            for (kind, schema) in kinds::from_crd(crd).unwrap_or_default() {
                let Some(schema) = schema else { continue };
                match compile(&schema) {
                    Ok(validator) => {
                        map.insert(key(&kind), validator);
                    }
                    Err(e) => eprintln!(
                        "level=warning msg=\"schema of {} {} not usable: {e}\"",
                        kind.api_version(),
                        kind.kind
                    ),
                }
            }
        }
        let mut schemas = self
            .schemas
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *schemas = map;
    }
}

fn key(kind: &Kind) -> (String, String) {
    (kind.api_version(), kind.kind.clone())
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(false)
        .build(schema)
        .map_err(|e| e.to_string())
}

impl Validator for CrdSchemas {
    fn validate(&self, object: &Value) -> Result<(), String> {
        let text = |k: &str| {
            object
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let schemas = self
            .schemas
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(validator) = schemas.get(&(text("apiVersion"), text("kind"))) else {
            return Ok(());
        };
        match validator.iter_errors(object).next() {
            None => Ok(()),
            Some(error) => {
                let pointer = error.instance_path().to_string();
                let field = pointer.trim_start_matches('/').replace('/', ".");
                let field = if field.is_empty() {
                    "<root>".to_string()
                } else {
                    field
                };
                Err(format!("{field}: Invalid value: {error}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cr_is_checked_against_the_schema_of_its_version() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
        });
        let schemas = CrdSchemas::default();
        schemas.rebuild(std::iter::once(&crd));
        let good = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 3}});
        assert!(schemas.validate(&good).is_ok());
        let bad =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": "big"}});
        let message = schemas.validate(&bad).unwrap_err();
        assert!(message.starts_with("spec.size: "), "{message}");
        let other =
            json!({"apiVersion": "example.com/v2", "kind": "Widget", "spec": {"size": "big"}});
        assert!(schemas.validate(&other).is_ok(), "no schema for v2");
    }
}
