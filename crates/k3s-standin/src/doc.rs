//! Panic-free access to JSON documents by key path.

use serde_json::{Map, Value};

static NULL: Value = Value::Null;

/// The value at `path`, or `null` when any step is missing.
pub fn at<'a>(doc: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .try_fold(doc, |v, key| v.get(key))
        .unwrap_or(&NULL)
}

/// The string at `path`, or "".
pub fn text<'a>(doc: &'a Value, path: &[&str]) -> &'a str {
    at(doc, path).as_str().unwrap_or_default()
}

/// Sets the value at `path`, turning anything in the way into an object.
pub fn set(doc: &mut Value, path: &[&str], value: Value) {
    let _ = try_set(doc, path, value);
}

fn try_set(doc: &mut Value, path: &[&str], value: Value) -> Option<()> {
    let (last, parents) = path.split_last()?;
    let mut cursor = doc;
    for key in parents {
        cursor = as_object(cursor)?
            .entry((*key).to_string())
            .or_insert(Value::Null);
    }
    as_object(cursor)?.insert((*last).to_string(), value);
    Some(())
}

fn as_object(v: &mut Value) -> Option<&mut Map<String, Value>> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
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
    fn set_creates_the_path_and_at_reads_null_when_missing() {
        let mut doc = json!({"a": 1});
        set(&mut doc, &["a", "b", "c"], json!("x"));
        assert_eq!(doc, json!({"a": {"b": {"c": "x"}}}));
        assert_eq!(at(&doc, &["a", "b", "c"]), "x");
        assert!(at(&doc, &["a", "zz", "c"]).is_null());
    }
}
