//! Fidelity check: validates the emulator's own responses against the
//! response schemas of Hetzner's official OpenAPI document.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Compiled response schemas of one OpenAPI document.
#[derive(Debug)]
pub struct SpecChecker {
    paths: serde_json::Map<String, Value>,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl SpecChecker {
    /// Loads `cloud.spec.json`.
    pub fn load(path: &Path) -> Result<SpecChecker, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let paths = spec
            .get("paths")
            .and_then(Value::as_object)
            .cloned()
            .ok_or("the document has no paths")?;
        Ok(SpecChecker {
            paths,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The spec path template matching `path` (literal segments preferred).
    pub fn template(&self, path: &str) -> Option<&str> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.paths
            .keys()
            .filter_map(|t| {
                let tsegs: Vec<&str> = t.trim_matches('/').split('/').collect();
                if tsegs.len() != segs.len() {
                    return None;
                }
                let mut literal = 0;
                for (a, b) in tsegs.iter().zip(&segs) {
                    if a.starts_with('{') {
                        continue;
                    }
                    if a != b {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, t.as_str()))
            })
            .max_by_key(|(l, _)| *l)
            .map(|(_, t)| t)
    }

    /// Checks one response. `path` is below `/v1`.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), Vec<String>> {
        let template = self
            .template(path)
            .ok_or_else(|| vec![format!("{path} is not in the specification")])?;
        let m = method.to_ascii_lowercase();
        let op = self
            .paths
            .get(template)
            .and_then(|p| p.get(&m))
            .ok_or_else(|| vec![format!("{method} {template} is not in the specification")])?;
        let responses = op
            .get("responses")
            .and_then(Value::as_object)
            .ok_or_else(|| vec!["operation without responses".to_owned()])?;
        let range = format!("{}xx", status / 100);
        let resp = responses
            .get(&status.to_string())
            .or_else(|| responses.get(&range))
            .or_else(|| responses.get(&range.to_uppercase()))
            .ok_or_else(|| {
                vec![format!(
                    "{method} {template} does not declare status {status}"
                )]
            })?;
        let Some(schema) = resp.pointer("/content/application~1json/schema") else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(vec![format!("status {status} must have no body")])
            };
        };
        let instance: Value =
            serde_json::from_slice(body).map_err(|e| vec![format!("body is not JSON: {e}")])?;
        let key = format!("{m} {template} {status}");
        let validator = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let v = Arc::new(
                        jsonschema::validator_for(schema)
                            .map_err(|e| vec![format!("schema of {key}: {e}")])?,
                    );
                    cache.insert(key.clone(), v.clone());
                    v
                }
            }
        };
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .take(8)
            .map(|e| format!("{}: {}", e.instance_path(), e))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
