//! objects.json: every stored object, written whole on each change (to a
//! temporary file, then renamed).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::Key;
use crate::doc;

pub(super) fn load(file: &Path) -> Result<BTreeMap<Key, Value>, crate::Error> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(crate::Error::io("read", file, e)),
    };
    let items: Vec<(String, String, Value)> =
        serde_json::from_slice(&bytes).map_err(|e| crate::Error::Config {
            path: file.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(items
        .into_iter()
        .map(|(group, plural, object)| {
            let ns = doc::text(&object, &["metadata", "namespace"]).to_string();
            let name = doc::text(&object, &["metadata", "name"]).to_string();
            ((group, plural, ns, name), object)
        })
        .collect())
}

/// A failure is reported, not fatal: the API keeps serving from memory.
pub(super) fn save(file: &Path, objects: &BTreeMap<Key, Value>) {
    let items: Vec<(&str, &str, &Value)> = objects
        .iter()
        .map(|((group, plural, _, _), object)| (group.as_str(), plural.as_str(), object))
        .collect();
    let tmp = file.with_extension("json.tmp");
    let result = serde_json::to_vec(&items)
        .map_err(|e| e.to_string())
        .and_then(|bytes| crate::paths::write_file(&tmp, &bytes, 0o600).map_err(|e| e.to_string()))
        .and_then(|()| std::fs::rename(&tmp, file).map_err(|e| e.to_string()));
    if let Err(e) = result {
        eprintln!("level=error msg=\"save {}: {e}\"", file.display());
    }
}
