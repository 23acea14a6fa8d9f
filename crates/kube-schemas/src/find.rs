//! Finds the schemas directory beside the workspace.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::SchemaError;

/// The schemas directory relative to the directory that holds the workspace root.
pub const SCHEMAS_DIR: &str = "shared/schemas";

pub(crate) fn find_dir(start: &Path) -> Result<Option<PathBuf>, SchemaError> {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let dir = schemas_dir(start)?;
    let found = present(&dir, ci)?;
    if found.is_none() {
        // Straight to stderr: the test harness swallows eprintln! of passing tests, and a
        // skipped check must not go unnoticed.
        let _ = writeln!(
            std::io::stderr(),
            "note: {} is absent; manifests are NOT validated against the official schemas (set CI=true to make this an error)",
            dir.display()
        );
    }
    Ok(found)
}

/// `<workspace root>/../shared/schemas`.
fn schemas_dir(start: &Path) -> Result<PathBuf, SchemaError> {
    let root = start
        .ancestors()
        .find(|dir| is_workspace_root(dir))
        .ok_or_else(|| SchemaError::NoWorkspace {
            start: start.to_owned(),
        })?;
    let beside = root
        .parent()
        .map_or_else(|| root.join(".."), Path::to_path_buf);
    Ok(beside.join(SCHEMAS_DIR))
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

/// `dir` if it exists; missing is `None`, or an error when `required`.
fn present(dir: &Path, required: bool) -> Result<Option<PathBuf>, SchemaError> {
    if dir.is_dir() {
        Ok(Some(dir.to_owned()))
    } else if required {
        Err(SchemaError::Missing {
            path: dir.to_owned(),
        })
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(with_dir: bool) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        let member = ws.join("crates/c");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(ws.join("Cargo.toml"), "[workspace] # root\n").unwrap();
        std::fs::write(
            member.join("Cargo.toml"),
            "[package]\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        if with_dir {
            std::fs::create_dir_all(tmp.path().join(SCHEMAS_DIR)).unwrap();
        }
        (tmp, member)
    }

    #[test]
    fn the_directory_is_found_beside_the_workspace_root_not_the_crate() {
        let (tmp, member) = layout(true);
        let dir = schemas_dir(&member).unwrap();
        assert_eq!(
            present(&dir, true).unwrap(),
            Some(tmp.path().join(SCHEMAS_DIR))
        );
    }

    #[test]
    fn a_missing_directory_is_skipped_outside_ci_and_an_error_naming_the_path_in_ci() {
        let (tmp, member) = layout(false);
        let dir = schemas_dir(&member).unwrap();
        assert_eq!(present(&dir, false).unwrap(), None);
        let expected = tmp.path().join(SCHEMAS_DIR);
        assert!(
            matches!(present(&dir, true), Err(SchemaError::Missing { path }) if path == expected)
        );
    }
}
