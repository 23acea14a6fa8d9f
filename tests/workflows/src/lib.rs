//! Reads the repository's GitHub workflows for the tests in `tests/it`.
//!
//! ```no_run
//! let deploy = k3strading_workflow_tests::Workflow::load("deploy.yml")?;
//! assert!(deploy.text.contains("scripts/deploy.sh"));
//! # Ok::<(), String>(())
//! ```

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// The repository root (two levels above this package).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A workflow file: its raw text (for comments) and its parsed YAML.
#[derive(Debug)]
pub struct Workflow {
    /// File name under `.github/workflows`.
    pub name: String,
    /// The file as written.
    pub text: String,
    /// The parsed document.
    pub yaml: Value,
}

impl Workflow {
    /// Reads and parses `.github/workflows/<name>`.
    pub fn load(name: &str) -> Result<Workflow, String> {
        let path = repo_root().join(".github/workflows").join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let yaml = serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("parsing {}: {e}", path.display()))?;
        Ok(Workflow {
            name: name.to_owned(),
            text,
            yaml,
        })
    }

    /// Every workflow under `.github/workflows`, sorted by name.
    pub fn all() -> Result<Vec<Workflow>, String> {
        let dir = repo_root().join(".github/workflows");
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
            .collect();
        names.sort();
        names.iter().map(|n| Workflow::load(n)).collect()
    }

    /// `(job id, job)` for every job.
    pub fn jobs(&self) -> Vec<(String, &Value)> {
        self.yaml
            .get("jobs")
            .and_then(Value::as_mapping)
            .map(|jobs| {
                jobs.iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `(job id, step)` for every step of every job.
    pub fn steps(&self) -> Vec<(String, &Value)> {
        self.jobs()
            .into_iter()
            .flat_map(|(id, job)| {
                job.get("steps")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .map(move |s| (id.clone(), s))
            })
            .collect()
    }
}

/// Whether `uses` is `owner/repo[/path]@<40 lowercase hex>`.
pub fn pinned_to_commit(uses: &str) -> bool {
    let Some((action, rev)) = uses.split_once('@') else {
        return false;
    };
    let mut parts = action.split('/');
    let owner_repo = matches!((parts.next(), parts.next()), (Some(o), Some(r)) if !o.is_empty() && !r.is_empty());
    owner_repo
        && rev.len() == 40
        && rev
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `comment` (the text after `#`) names a release like `v1.2.3`.
pub fn version_comment(comment: &str) -> bool {
    let Some(v) = comment.trim().strip_prefix('v') else {
        return false;
    };
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_pin_needs_owner_repo_and_forty_hex_digits() {
        assert!(pinned_to_commit(
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
        ));
        assert!(!pinned_to_commit("actions/checkout@v7"));
        assert!(!pinned_to_commit(
            "checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
        ));
        assert!(!pinned_to_commit(
            "actions/checkout@3D3C42E5AAC5BA805825DA76410C181273BA90B1"
        ));
        assert!(!pinned_to_commit(
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b"
        ));
    }

    #[test]
    fn a_version_comment_is_v_and_three_numbers() {
        assert!(version_comment(" v7.0.1"));
        assert!(!version_comment(" v7"));
        assert!(!version_comment(" main"));
        assert!(!version_comment(" v7.0.x"));
    }
}
