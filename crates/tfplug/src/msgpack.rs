//! The msgpack encoding Terraform uses for `DynamicValue`, driven by the type.
//!
//! Rules (those of Terraform's cty library): null is `nil`; unknown is any
//! extension value on input (type 0 plain, type 12 refined) and a zero-length
//! extension of type 0 on output; numbers are integers, floats or decimal
//! strings; objects are maps with every attribute present; a value in a
//! `dynamic` slot is a two-element array `[type JSON, value]`.

use std::collections::BTreeMap;

use rmp::Marker;

use crate::value::{AttrPath, Number, Type, Value};

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    /// The input ended in the middle of a value.
    #[error("msgpack input ends early at {path}")]
    Truncated {
        /// Where decoding stopped.
        path: String,
    },
    /// The input holds something other than the type requires.
    #[error("at {path}: expected {expected}, found {found}")]
    Mismatch {
        /// Where the mismatch is.
        path: String,
        /// What the type calls for.
        expected: String,
        /// What was there.
        found: String,
    },
    /// Bytes after the end of the value.
    #[error("{0} unexpected bytes after the value")]
    Trailing(usize),
}

/// Encodes `v` as a value of type `ty`.
pub fn encode(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    enc(&mut out, v, ty, &AttrPath::default())?;
    Ok(out)
}

/// Decodes a value of type `ty`, rejecting trailing bytes.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let v = r.value(ty, &AttrPath::default())?;
    match bytes.len() - r.pos {
        0 => Ok(v),
        n => Err(CodecError::Trailing(n)),
    }
}

fn mismatch(path: &AttrPath, expected: impl ToString, found: impl ToString) -> CodecError {
    CodecError::Mismatch {
        path: display_path(path),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

fn display_path(path: &AttrPath) -> String {
    if path.0.is_empty() {
        "(root)".to_owned()
    } else {
        path.to_string()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Tuple(_) => "tuple",
        Value::Dynamic(..) => "dynamic value",
    }
}

// Writing to a Vec cannot fail, so the write results are discarded.
fn enc(out: &mut Vec<u8>, v: &Value, ty: &Type, path: &AttrPath) -> Result<(), CodecError> {
    match (v, ty) {
        (Value::Null, _) => {
            let _ = rmp::encode::write_nil(out);
        }
        (Value::Unknown, _) => out.extend_from_slice(&[0xc7, 0x00, 0x00]),
        (Value::Dynamic(inner_ty, inner), Type::Dynamic) => {
            let ty_json = inner_ty.to_json().to_string();
            let _ = rmp::encode::write_array_len(out, 2);
            let _ = rmp::encode::write_bin(out, ty_json.as_bytes());
            enc(out, inner, inner_ty, path)?;
        }
        (v, Type::Dynamic) => {
            let inferred = infer_type(v).ok_or_else(|| {
                mismatch(
                    path,
                    "a value with a known type in a dynamic attribute",
                    kind(v),
                )
            })?;
            enc(
                out,
                &Value::Dynamic(inferred, Box::new(v.clone())),
                ty,
                path,
            )?;
        }
        (Value::Bool(b), Type::Bool) => {
            let _ = rmp::encode::write_bool(out, *b);
        }
        (Value::Number(n), Type::Number) => match n {
            Number::Int(i) => {
                let _ = rmp::encode::write_sint(out, *i);
            }
            Number::Float(f) => {
                let _ = rmp::encode::write_f64(out, *f);
            }
            Number::Big(s) => {
                let _ = rmp::encode::write_str(out, s);
            }
        },
        (Value::String(s), Type::String) => {
            let _ = rmp::encode::write_str(out, s);
        }
        (Value::List(items), Type::List(et)) | (Value::Set(items), Type::Set(et)) => {
            let _ = rmp::encode::write_array_len(out, len32(items.len(), path)?);
            for (i, item) in items.iter().enumerate() {
                enc(out, item, et, &path.push_index(i as i64))?;
            }
        }
        (Value::Tuple(items), Type::Tuple(ets)) => {
            if items.len() != ets.len() {
                return Err(mismatch(
                    path,
                    format!("{} tuple elements", ets.len()),
                    items.len(),
                ));
            }
            let _ = rmp::encode::write_array_len(out, len32(items.len(), path)?);
            for (i, (item, et)) in items.iter().zip(ets).enumerate() {
                enc(out, item, et, &path.push_index(i as i64))?;
            }
        }
        (Value::Map(m), Type::Map(et)) => {
            let _ = rmp::encode::write_map_len(out, len32(m.len(), path)?);
            for (k, item) in m {
                let _ = rmp::encode::write_str(out, k);
                enc(out, item, et, &path.push_key(k.clone()))?;
            }
        }
        (Value::Object(m), Type::Object(ats)) => {
            if let Some(extra) = m.keys().find(|k| !ats.contains_key(*k)) {
                return Err(mismatch(
                    path,
                    format!("attributes of {ty}"),
                    format!("attribute {extra:?}"),
                ));
            }
            let _ = rmp::encode::write_map_len(out, len32(ats.len(), path)?);
            for (k, at) in ats {
                let _ = rmp::encode::write_str(out, k);
                let item = m.get(k).unwrap_or(&Value::Null);
                enc(out, item, at, &path.push_attr(k.clone()))?;
            }
        }
        (v, ty) => return Err(mismatch(path, ty, kind(v))),
    }
    Ok(())
}

fn len32(n: usize, path: &AttrPath) -> Result<u32, CodecError> {
    u32::try_from(n).map_err(|_| mismatch(path, "a collection of at most 2^32-1 elements", n))
}

/// The type a known value would have if sent into a `dynamic` slot.
fn infer_type(v: &Value) -> Option<Type> {
    Some(match v {
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::Dynamic(t, _) => t.clone(),
        Value::Object(m) => Type::Object(
            m.iter()
                .map(|(k, v)| Some((k.clone(), infer_type(v)?)))
                .collect::<Option<_>>()?,
        ),
        Value::Tuple(items) => Type::Tuple(items.iter().map(infer_type).collect::<Option<_>>()?),
        Value::List(items) => Type::list(infer_type(items.first()?)?),
        Value::Set(items) => Type::set(infer_type(items.first()?)?),
        Value::Map(m) => Type::map(infer_type(m.values().next()?)?),
        Value::Null | Value::Unknown => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, path: &AttrPath) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| CodecError::Truncated {
            path: display_path(path),
        })?;
        let s = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize, path: &AttrPath) -> Result<u64, CodecError> {
        Ok(self
            .take(n, path)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn marker(&mut self, path: &AttrPath) -> Result<Marker, CodecError> {
        Ok(Marker::from_u8(
            self.take(1, path)?.first().copied().unwrap_or(0xc1),
        ))
    }

    /// Reads one extension value's payload after its marker; the content is
    /// irrelevant because every extension means "unknown".
    fn skip_ext(&mut self, m: Marker, path: &AttrPath) -> Result<bool, CodecError> {
        let len = match m {
            Marker::FixExt1 => 1,
            Marker::FixExt2 => 2,
            Marker::FixExt4 => 4,
            Marker::FixExt8 => 8,
            Marker::FixExt16 => 16,
            Marker::Ext8 => self.be(1, path)? as usize,
            Marker::Ext16 => self.be(2, path)? as usize,
            Marker::Ext32 => self.be(4, path)? as usize,
            _ => return Ok(false),
        };
        self.take(1 + len, path)?;
        Ok(true)
    }

    fn str_len(&mut self, m: Marker, path: &AttrPath) -> Result<Option<usize>, CodecError> {
        Ok(Some(match m {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 | Marker::Bin8 => self.be(1, path)? as usize,
            Marker::Str16 | Marker::Bin16 => self.be(2, path)? as usize,
            Marker::Str32 | Marker::Bin32 => self.be(4, path)? as usize,
            _ => return Ok(None),
        }))
    }

    fn string(&mut self, m: Marker, path: &AttrPath) -> Result<Option<String>, CodecError> {
        let Some(n) = self.str_len(m, path)? else {
            return Ok(None);
        };
        let bytes = self.take(n, path)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| mismatch(path, "UTF-8 text", "invalid UTF-8"))
    }

    fn array_len(&mut self, m: Marker, path: &AttrPath) -> Result<Option<usize>, CodecError> {
        Ok(Some(match m {
            Marker::FixArray(n) => n as usize,
            Marker::Array16 => self.be(2, path)? as usize,
            Marker::Array32 => self.be(4, path)? as usize,
            _ => return Ok(None),
        }))
    }

    fn map_len(&mut self, m: Marker, path: &AttrPath) -> Result<Option<usize>, CodecError> {
        Ok(Some(match m {
            Marker::FixMap(n) => n as usize,
            Marker::Map16 => self.be(2, path)? as usize,
            Marker::Map32 => self.be(4, path)? as usize,
            _ => return Ok(None),
        }))
    }

    fn number(&mut self, m: Marker, path: &AttrPath) -> Result<Option<Number>, CodecError> {
        Ok(Some(match m {
            Marker::FixPos(n) => Number::Int(i64::from(n)),
            Marker::FixNeg(n) => Number::Int(i64::from(n)),
            Marker::U8 => Number::Int(self.be(1, path)? as i64),
            Marker::U16 => Number::Int(self.be(2, path)? as i64),
            Marker::U32 => Number::Int(self.be(4, path)? as i64),
            Marker::U64 => {
                let u = self.be(8, path)?;
                i64::try_from(u).map_or_else(|_| Number::Big(u.to_string()), Number::Int)
            }
            Marker::I8 => Number::Int(i64::from(self.be(1, path)? as u8 as i8)),
            Marker::I16 => Number::Int(i64::from(self.be(2, path)? as u16 as i16)),
            Marker::I32 => Number::Int(i64::from(self.be(4, path)? as u32 as i32)),
            Marker::I64 => Number::Int(self.be(8, path)? as i64),
            Marker::F32 => Number::from_f64(f64::from(f32::from_bits(self.be(4, path)? as u32))),
            Marker::F64 => Number::from_f64(f64::from_bits(self.be(8, path)?)),
            other => match self.string(other, path)? {
                Some(s) => {
                    Number::parse(&s).ok_or_else(|| mismatch(path, "a number", format!("{s:?}")))?
                }
                None => return Ok(None),
            },
        }))
    }

    fn value(&mut self, ty: &Type, path: &AttrPath) -> Result<Value, CodecError> {
        let m = self.marker(path)?;
        if m == Marker::Null {
            return Ok(Value::Null);
        }
        if self.skip_ext(m, path)? {
            return Ok(Value::Unknown);
        }
        let found = || format!("msgpack {m:?}");
        match ty {
            Type::Bool => match m {
                Marker::True => Ok(Value::Bool(true)),
                Marker::False => Ok(Value::Bool(false)),
                _ => Err(mismatch(path, ty, found())),
            },
            Type::Number => self
                .number(m, path)?
                .map(Value::Number)
                .ok_or_else(|| mismatch(path, ty, found())),
            Type::String => self
                .string(m, path)?
                .map(Value::String)
                .ok_or_else(|| mismatch(path, ty, found())),
            Type::Dynamic => {
                if self.array_len(m, path)? != Some(2) {
                    return Err(mismatch(path, "[type, value] for a dynamic value", found()));
                }
                let tm = self.marker(path)?;
                let ty_text = self
                    .string(tm, path)?
                    .ok_or_else(|| mismatch(path, "type JSON", format!("msgpack {tm:?}")))?;
                let ty_json: serde_json::Value =
                    serde_json::from_str(&ty_text).map_err(|e| mismatch(path, "type JSON", e))?;
                let inner_ty =
                    Type::from_json(&ty_json).map_err(|e| mismatch(path, "type JSON", e))?;
                let inner = self.value(&inner_ty, path)?;
                Ok(match inner {
                    Value::Null | Value::Unknown => inner,
                    known => Value::Dynamic(inner_ty, Box::new(known)),
                })
            }
            Type::List(et) | Type::Set(et) => {
                let n = self
                    .array_len(m, path)?
                    .ok_or_else(|| mismatch(path, ty, found()))?;
                let mut items = Vec::with_capacity(n.min(4096));
                for i in 0..n {
                    items.push(self.value(et, &path.push_index(i as i64))?);
                }
                Ok(if matches!(ty, Type::Set(_)) {
                    Value::Set(items)
                } else {
                    Value::List(items)
                })
            }
            Type::Tuple(ets) => {
                let n = self
                    .array_len(m, path)?
                    .ok_or_else(|| mismatch(path, ty, found()))?;
                if n != ets.len() {
                    return Err(mismatch(path, format!("{} tuple elements", ets.len()), n));
                }
                let mut items = Vec::with_capacity(n);
                for (i, et) in ets.iter().enumerate() {
                    items.push(self.value(et, &path.push_index(i as i64))?);
                }
                Ok(Value::Tuple(items))
            }
            Type::Map(et) => {
                let n = self
                    .map_len(m, path)?
                    .ok_or_else(|| mismatch(path, ty, found()))?;
                let mut out = BTreeMap::new();
                for _ in 0..n {
                    let km = self.marker(path)?;
                    let k = self.string(km, path)?.ok_or_else(|| {
                        mismatch(path, "a string map key", format!("msgpack {km:?}"))
                    })?;
                    let item = self.value(et, &path.push_key(k.clone()))?;
                    out.insert(k, item);
                }
                Ok(Value::Map(out))
            }
            Type::Object(ats) => {
                let n = self
                    .map_len(m, path)?
                    .ok_or_else(|| mismatch(path, ty, found()))?;
                let mut out = BTreeMap::new();
                for _ in 0..n {
                    let km = self.marker(path)?;
                    let k = self.string(km, path)?.ok_or_else(|| {
                        mismatch(path, "an attribute name", format!("msgpack {km:?}"))
                    })?;
                    let at = ats.get(&k).ok_or_else(|| {
                        mismatch(
                            path,
                            format!("attributes of {ty}"),
                            format!("attribute {k:?}"),
                        )
                    })?;
                    let item = self.value(at, &path.push_attr(k.clone()))?;
                    out.insert(k, item);
                }
                for k in ats.keys() {
                    out.entry(k.clone()).or_insert(Value::Null);
                }
                Ok(Value::Object(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_read_from_any_extension_and_written_as_ext_zero() {
        // fixext1 type 0, and ext8 type 12 with a refinement payload
        assert_eq!(
            decode(&[0xd4, 0x00, 0x00], &Type::String),
            Ok(Value::Unknown)
        );
        assert_eq!(
            decode(&[0xc7, 0x02, 0x0c, 0x81, 0x01], &Type::String),
            Ok(Value::Unknown)
        );
        assert_eq!(
            encode(&Value::Unknown, &Type::Number),
            Ok(vec![0xc7, 0x00, 0x00])
        );
    }

    #[test]
    fn numbers_arrive_as_int_float_or_decimal_string() {
        assert_eq!(decode(&[0x05], &Type::Number), Ok(Value::int(5)));
        assert_eq!(decode(&[0xd0, 0xfb], &Type::Number), Ok(Value::int(-5)));
        let mut f = vec![0xcb];
        f.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
        assert_eq!(
            decode(&f, &Type::Number),
            Ok(Value::Number(Number::Float(1.5)))
        );
        assert_eq!(
            decode(&[0xa2, b'4', b'2'], &Type::Number),
            Ok(Value::int(42))
        );
        assert!(decode(&[0xa1, b'x'], &Type::Number).is_err());
    }

    #[test]
    fn objects_fill_missing_attributes_with_null_and_reject_unknown_names() {
        let ty = Type::object([("a", Type::String), ("b", Type::Bool)]);
        let bytes = [0x81, 0xa1, b'a', 0xa1, b'x'];
        let v = decode(&bytes, &ty).unwrap();
        assert_eq!(v.get("b"), Some(&Value::Null));
        let bad = [0x81, 0xa1, b'z', 0xc0];
        let err = decode(&bad, &ty).unwrap_err();
        assert!(err.to_string().contains("\"z\""), "{err}");
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        let v = Value::Dynamic(
            Type::list(Type::String),
            Box::new(Value::List(vec![Value::from("a")])),
        );
        let bytes = encode(&v, &Type::Dynamic).unwrap();
        assert_eq!(decode(&bytes, &Type::Dynamic), Ok(v));
        // a plain string in a dynamic slot is wrapped with its inferred type
        let bytes = encode(&Value::from("s"), &Type::Dynamic).unwrap();
        assert_eq!(
            decode(&bytes, &Type::Dynamic),
            Ok(Value::Dynamic(Type::String, Box::new(Value::from("s"))))
        );
    }

    #[test]
    fn errors_name_the_path_of_the_bad_element() {
        let ty = Type::object([("ports", Type::list(Type::Number))]);
        let bytes = [0x81, 0xa5, b'p', b'o', b'r', b't', b's', 0x92, 0x01, 0xc3];
        let err = decode(&bytes, &ty).unwrap_err();
        assert!(err.to_string().contains("ports[1]"), "{err}");
        assert_eq!(
            decode(&[0x01, 0x02], &Type::Number),
            Err(CodecError::Trailing(1))
        );
        assert!(matches!(
            decode(&[0x92, 0x01], &Type::list(Type::Number)),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn encoding_rejects_values_of_the_wrong_type() {
        let err = encode(&Value::from("x"), &Type::Bool).unwrap_err();
        assert!(err.to_string().contains("expected bool"), "{err}");
    }
}
