//! Fidelity check: validates the emulator's own responses against the
//! response schemas of Hetzner's official OpenAPI document, and finds that
//! document beside the workspace for the test suites.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Where the shared schemas keep Hetzner's document, relative to the
/// directory that holds the workspace.
const SHARED_SPEC: &str = "shared/schemas/hcloud/cloud.spec.json";

/// Finding or loading the OpenAPI document failed.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{} is not JSON: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: serde_json::Error,
    },
    /// The JSON has no `paths` object, so it is no OpenAPI document.
    #[error("{} has no \"paths\" object; is it an OpenAPI document?", path.display())]
    NoPaths {
        /// The file.
        path: PathBuf,
    },
    /// No `Cargo.toml` with `[workspace]` at or above the starting directory.
    #[error("no Cargo.toml with [workspace] in {} or above it", start.display())]
    NoWorkspace {
        /// Where the search started.
        start: PathBuf,
    },
    /// The document is missing where CI requires it.
    #[error(
        "Hetzner's OpenAPI document is missing: {} (CI=true, so responses must be validated)",
        path.display()
    )]
    Missing {
        /// The path looked for.
        path: PathBuf,
    },
}

/// Hetzner's OpenAPI document for test suites: looked for at
/// `<workspace root>/../shared/schemas/hcloud/cloud.spec.json`, where the
/// workspace root is the nearest directory at or above `manifest_dir` whose
/// `Cargo.toml` has `[workspace]`.
///
/// Present: loaded. Absent: `Ok(None)` after one note on stderr naming the
/// path, unless the environment has `CI=true`; there validation is
/// mandatory and the result is [`SpecError::Missing`].
pub fn find_hetzner_spec(manifest_dir: impl AsRef<Path>) -> Result<Option<SpecChecker>, SpecError> {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let path = shared_spec_path(manifest_dir.as_ref())?;
    let found = load_if_present(&path, ci)?;
    if found.is_none() {
        // Straight to stderr: the test harness swallows eprintln! of passing
        // tests, and a skipped check must not go unnoticed.
        let _ = writeln!(
            std::io::stderr(),
            "note: {} is absent; responses are NOT validated against Hetzner's OpenAPI document (set CI=true to make this an error)",
            path.display()
        );
    }
    Ok(found)
}

/// `<workspace root>/../shared/schemas/hcloud/cloud.spec.json`.
fn shared_spec_path(manifest_dir: &Path) -> Result<PathBuf, SpecError> {
    let root = manifest_dir
        .ancestors()
        .find(|dir| is_workspace_root(dir))
        .ok_or_else(|| SpecError::NoWorkspace {
            start: manifest_dir.to_owned(),
        })?;
    let beside = root
        .parent()
        .map_or_else(|| root.join(".."), Path::to_path_buf);
    Ok(beside.join(SHARED_SPEC))
}

/// True when `dir/Cargo.toml` has a `[workspace]` table header.
fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|text| {
        text.lines().any(|line| {
            let code = line.split_once('#').map_or(line, |(code, _)| code);
            code.trim() == "[workspace]"
        })
    })
}

/// Loads `path`; a missing file is `None`, or an error when `required`.
fn load_if_present(path: &Path, required: bool) -> Result<Option<SpecChecker>, SpecError> {
    if path.is_file() {
        SpecChecker::load(path).map(Some)
    } else if required {
        Err(SpecError::Missing {
            path: path.to_owned(),
        })
    } else {
        Ok(None)
    }
}

/// Compiled response schemas of one OpenAPI document.
#[derive(Debug)]
pub struct SpecChecker {
    path: PathBuf,
    paths: serde_json::Map<String, Value>,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl SpecChecker {
    /// Loads `cloud.spec.json`.
    pub fn load(path: &Path) -> Result<SpecChecker, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|reason| SpecError::Read {
            path: path.to_owned(),
            reason,
        })?;
        let spec: Value = serde_json::from_str(&text).map_err(|reason| SpecError::Parse {
            path: path.to_owned(),
            reason,
        })?;
        let paths = spec
            .get("paths")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| SpecError::NoPaths {
                path: path.to_owned(),
            })?;
        Ok(SpecChecker {
            path: path.to_owned(),
            paths,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `<tmp>/ws` is a workspace with a member crate `ws/crates/c`; `shared`
    /// may sit beside it.
    fn layout(with_spec: bool) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        let member = ws.join("crates/c");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(
            ws.join("Cargo.toml"),
            "[workspace] # root\nmembers = [\"crates/c\"]\n",
        )
        .unwrap();
        // A member manifest that mentions workspace keys is not the root.
        std::fs::write(
            member.join("Cargo.toml"),
            "[package]\nname = \"c\"\nversion.workspace = true\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        if with_spec {
            let spec = tmp.path().join(SHARED_SPEC);
            std::fs::create_dir_all(spec.parent().unwrap()).unwrap();
            std::fs::write(&spec, r#"{"paths":{"/servers":{}}}"#).unwrap();
        }
        (tmp, member)
    }

    #[test]
    fn the_document_is_found_beside_the_workspace_root_not_the_crate() {
        let (tmp, member) = layout(true);
        let path = shared_spec_path(&member).unwrap();
        let checker = load_if_present(&path, true).unwrap().unwrap();
        assert_eq!(checker.path(), tmp.path().join(SHARED_SPEC));
        assert_eq!(checker.template("/servers"), Some("/servers"));
    }

    #[test]
    fn a_missing_document_is_skipped_outside_ci_and_an_error_naming_the_path_in_ci() {
        let (tmp, member) = layout(false);
        let path = shared_spec_path(&member).unwrap();
        assert!(load_if_present(&path, false).unwrap().is_none());
        let err = load_if_present(&path, true).unwrap_err();
        let expected = tmp.path().join(SHARED_SPEC);
        assert!(
            matches!(&err, SpecError::Missing { path } if *path == expected),
            "{err:?}"
        );
        assert!(err.to_string().contains(&expected.display().to_string()));
    }

    #[test]
    fn no_workspace_above_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            shared_spec_path(tmp.path()),
            Err(SpecError::NoWorkspace { .. })
        ));
    }
}
