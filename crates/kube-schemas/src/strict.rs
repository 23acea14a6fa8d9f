//! Turns OpenAPI schemas into strict draft-4 JSON Schema, the way the API server reads them.

use serde_json::{Value, json};

/// Makes every object schema that lists `properties` refuse other fields (unless it keeps
/// unknown fields on purpose), lets `int-or-string` be either, and honours `nullable`.
pub(crate) fn strict(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let keeps_unknown = map
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !keeps_unknown
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            // Swagger spells IntOrString as a string with a format; the server takes both.
            if map.get("format").and_then(Value::as_str) == Some("int-or-string") {
                map.insert("type".into(), json!(["integer", "string"]));
            }
            if map.get("nullable").and_then(Value::as_bool) == Some(true)
                && let Some(Value::String(ty)) = map.get("type")
            {
                let ty = ty.clone();
                map.insert("type".into(), json!([ty, "null"]));
            }
            map.values_mut().for_each(strict);
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_properties_close_the_object_unless_unknown_fields_are_kept() {
        let mut schema = json!({
            "properties": {
                "a": {"properties": {"b": {}}},
                "c": {"properties": {}, "x-kubernetes-preserve-unknown-fields": true},
                "d": {"type": "string", "format": "int-or-string"},
                "e": {"type": "string", "nullable": true}
            }
        });
        strict(&mut schema);
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(
            schema["properties"]["a"]["additionalProperties"],
            json!(false)
        );
        assert!(
            schema["properties"]["c"]
                .get("additionalProperties")
                .is_none()
        );
        assert_eq!(
            schema["properties"]["d"]["type"],
            json!(["integer", "string"])
        );
        assert_eq!(schema["properties"]["e"]["type"], json!(["string", "null"]));
    }
}
