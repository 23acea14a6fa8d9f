//! Writing rendered objects as YAML files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;

/// Writes one `NN-kind-namespace-name.yaml` per object (numbered in apply order) into
/// `dir`, creating it. Returns the paths written, in order.
pub fn write_dir(dir: &Path, objects: &[Value]) -> Result<Vec<PathBuf>, Error> {
    let written = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(written(dir))?;
    let mut paths = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        let path = dir.join(file_name(index, object)?);
        let text = to_yaml(object)?;
        std::fs::write(&path, text).map_err(written(&path))?;
        paths.push(path);
    }
    Ok(paths)
}

/// An object as one YAML document (keys in the object's order).
pub fn to_yaml(object: &Value) -> Result<String, Error> {
    serde_yaml_ng::to_string(object).map_err(|source| Error::Yaml {
        name: describe(object),
        source,
    })
}

/// `Kind namespace/name` for messages.
pub fn describe(object: &Value) -> String {
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let ns = s("/metadata/namespace");
    let slash = if ns.is_empty() { "" } else { "/" };
    format!("{} {ns}{slash}{}", s("/kind"), s("/metadata/name"))
}

/// `07-resourcequota-ingestion-k3strading-share.yaml`.
pub fn file_name(index: usize, object: &Value) -> Result<String, Error> {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str);
    let (Some(kind), Some(name)) = (s("/kind"), s("/metadata/name")) else {
        return Err(Error::Object {
            index,
            what: "no kind or metadata.name".into(),
        });
    };
    let mut parts = vec![kind.to_ascii_lowercase()];
    parts.extend(s("/metadata/namespace").map(str::to_owned));
    parts.push(name.to_owned());
    Ok(format!("{index:02}-{}.yaml", parts.join("-")))
}
