//! Terraform's JSON value encoding, used for stored state in
//! `UpgradeResourceState`. Unlike msgpack it has no unknowns.

use std::collections::BTreeMap;

use serde_json::Value as J;

use crate::msgpack::CodecError;
use crate::value::{AttrPath, Number, Type, Value};

/// Decodes JSON state as a value of type `ty`. Object attributes missing from
/// the JSON become null; attributes the type does not know are an error unless
/// `drop_unknown_attrs` is set (state written by a newer or older schema).
pub fn decode(json: &J, ty: &Type, drop_unknown_attrs: bool) -> Result<Value, CodecError> {
    dec(json, ty, &AttrPath::default(), drop_unknown_attrs)
}

fn mismatch(path: &AttrPath, expected: &dyn std::fmt::Display, found: &J) -> CodecError {
    let found = match found {
        J::Null => "null",
        J::Bool(_) => "bool",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    };
    CodecError::Mismatch {
        path: if path.0.is_empty() {
            "(root)".to_owned()
        } else {
            path.to_string()
        },
        expected: expected.to_string(),
        found: format!("JSON {found}"),
    }
}

fn dec(j: &J, ty: &Type, path: &AttrPath, drop: bool) -> Result<Value, CodecError> {
    if j.is_null() {
        return Ok(Value::Null);
    }
    match (ty, j) {
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Number, J::Number(n)) => {
            let num = n
                .as_i64()
                .map(Number::Int)
                .or_else(|| n.as_f64().map(Number::from_f64));
            num.map(Value::Number).ok_or_else(|| mismatch(path, ty, j))
        }
        (Type::Number, J::String(s)) => Number::parse(s)
            .map(Value::Number)
            .ok_or_else(|| mismatch(path, ty, j)),
        (Type::String, J::String(s)) => Ok(Value::String(s.clone())),
        // Terraform stores primitives loosely in a few legacy paths.
        (Type::String, J::Number(n)) => Ok(Value::String(n.to_string())),
        (Type::String, J::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::List(et) | Type::Set(et), J::Array(items)) => {
            let vals = items
                .iter()
                .enumerate()
                .map(|(i, item)| dec(item, et, &path.push_index(i as i64), drop))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(vals)
            } else {
                Value::List(vals)
            })
        }
        (Type::Tuple(ets), J::Array(items)) if ets.len() == items.len() => {
            let vals = items
                .iter()
                .zip(ets)
                .enumerate()
                .map(|(i, (item, et))| dec(item, et, &path.push_index(i as i64), drop))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Tuple(vals))
        }
        (Type::Map(et), J::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, item) in m {
                out.insert(k.clone(), dec(item, et, &path.push_key(k.clone()), drop)?);
            }
            Ok(Value::Map(out))
        }
        (Type::Object(ats), J::Object(m)) => {
            let mut out = BTreeMap::new();
            for (k, item) in m {
                match ats.get(k) {
                    Some(at) => {
                        out.insert(k.clone(), dec(item, at, &path.push_attr(k.clone()), drop)?);
                    }
                    None if drop => {}
                    None => {
                        return Err(CodecError::Mismatch {
                            path: path.push_attr(k.clone()).to_string(),
                            expected: format!("an attribute of {ty}"),
                            found: "an attribute the schema does not have".to_owned(),
                        });
                    }
                }
            }
            for k in ats.keys() {
                out.entry(k.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(out))
        }
        (Type::Dynamic, J::Object(m)) if m.contains_key("type") && m.contains_key("value") => {
            let tj = m.get("type").unwrap_or(&J::Null);
            let inner_ty = Type::from_json(tj).map_err(|e| CodecError::Mismatch {
                path: path.to_string(),
                expected: "a type constraint".to_owned(),
                found: e,
            })?;
            let inner = dec(m.get("value").unwrap_or(&J::Null), &inner_ty, path, drop)?;
            Ok(match inner {
                Value::Null => Value::Null,
                known => Value::Dynamic(inner_ty, Box::new(known)),
            })
        }
        _ => Err(mismatch(path, ty, j)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_json_decodes_with_nulls_for_missing_attributes() {
        let ty = Type::object([
            ("id", Type::String),
            ("size", Type::Number),
            ("tags", Type::map(Type::String)),
        ]);
        let v = decode(&json!({"id": "x", "size": 3}), &ty, false).unwrap();
        assert_eq!(v.get_str("id"), Some("x"));
        assert_eq!(v.get_i64("size"), Some(3));
        assert_eq!(v.get("tags"), Some(&Value::Null));
    }

    #[test]
    fn unknown_attributes_are_an_error_unless_dropped() {
        let ty = Type::object([("id", Type::String)]);
        let j = json!({"id": "x", "old": 1});
        let err = decode(&j, &ty, false).unwrap_err();
        assert!(err.to_string().contains("old"), "{err}");
        assert!(decode(&j, &ty, true).is_ok());
    }

    #[test]
    fn dynamic_state_values_carry_type_and_value() {
        let j = json!({"type": ["list", "string"], "value": ["a"]});
        let v = decode(&j, &Type::Dynamic, false).unwrap();
        assert_eq!(
            v,
            Value::Dynamic(
                Type::list(Type::String),
                Box::new(Value::List(vec![Value::from("a")]))
            )
        );
    }
}
