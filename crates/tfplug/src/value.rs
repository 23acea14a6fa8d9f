//! Terraform's value model: types, values with unknowns and nulls, and paths.

use std::collections::BTreeMap;
use std::fmt;

/// A Terraform (cty) type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// `bool`
    Bool,
    /// `number`: arbitrary precision in Terraform, see [`Number`].
    Number,
    /// `string`
    String,
    /// `dynamic`: the concrete type travels with each value.
    Dynamic,
    /// `list(T)`
    List(Box<Type>),
    /// `set(T)`
    Set(Box<Type>),
    /// `map(T)`
    Map(Box<Type>),
    /// `object({...})`
    Object(BTreeMap<String, Type>),
    /// `tuple([...])`
    Tuple(Vec<Type>),
}

impl Type {
    /// `list(elem)`
    pub fn list(elem: Type) -> Type {
        Type::List(Box::new(elem))
    }
    /// `set(elem)`
    pub fn set(elem: Type) -> Type {
        Type::Set(Box::new(elem))
    }
    /// `map(elem)`
    pub fn map(elem: Type) -> Type {
        Type::Map(Box::new(elem))
    }
    /// `object({...})` from `(name, type)` pairs.
    pub fn object<I, S>(attrs: I) -> Type
    where
        I: IntoIterator<Item = (S, Type)>,
        S: Into<String>,
    {
        Type::Object(attrs.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }

    /// The JSON type constraint Terraform expects in schemas and dynamic values.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(e) => J::Array(vec![J::from("list"), e.to_json()]),
            Type::Set(e) => J::Array(vec![J::from("set"), e.to_json()]),
            Type::Map(e) => J::Array(vec![J::from("map"), e.to_json()]),
            Type::Object(attrs) => {
                let m = attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                J::Array(vec![J::from("object"), J::Object(m)])
            }
            Type::Tuple(elems) => J::Array(vec![
                J::from("tuple"),
                J::Array(elems.iter().map(Type::to_json).collect()),
            ]),
        }
    }

    /// Parses a JSON type constraint (the inverse of [`Type::to_json`]).
    /// Optional-attribute markers on object types are accepted and ignored.
    pub fn from_json(v: &serde_json::Value) -> Result<Type, String> {
        use serde_json::Value as J;
        match v {
            J::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(format!("unknown primitive type {other:?}")),
            },
            J::Array(items) => {
                let kind = items
                    .first()
                    .and_then(J::as_str)
                    .ok_or("type array without kind")?;
                let arg = items
                    .get(1)
                    .ok_or_else(|| format!("{kind} type without argument"))?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(arg)?)),
                    "set" => Ok(Type::set(Type::from_json(arg)?)),
                    "map" => Ok(Type::map(Type::from_json(arg)?)),
                    "object" => {
                        let m = arg
                            .as_object()
                            .ok_or("object type needs a map of attributes")?;
                        let mut attrs = BTreeMap::new();
                        for (k, t) in m {
                            attrs.insert(k.clone(), Type::from_json(t)?);
                        }
                        Ok(Type::Object(attrs))
                    }
                    "tuple" => {
                        let a = arg.as_array().ok_or("tuple type needs a list of types")?;
                        Ok(Type::Tuple(
                            a.iter().map(Type::from_json).collect::<Result<_, _>>()?,
                        ))
                    }
                    other => Err(format!("unknown type kind {other:?}")),
                }
            }
            other => Err(format!("not a type constraint: {other}")),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(e) => write!(f, "list({e})"),
            Type::Set(e) => write!(f, "set({e})"),
            Type::Map(e) => write!(f, "map({e})"),
            Type::Object(a) => {
                f.write_str("object({")?;
                for (i, (k, t)) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={t}")?;
                }
                f.write_str("})")
            }
            Type::Tuple(e) => {
                f.write_str("tuple([")?;
                for (i, t) in e.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
        }
    }
}

/// A Terraform number. Integers that fit `i64` and finite floats are kept
/// natively; anything larger or more precise keeps its decimal text.
#[derive(Debug, Clone)]
pub enum Number {
    /// An integer within `i64`.
    Int(i64),
    /// A finite non-integer, or an integer beyond `i64` that `f64` holds exactly.
    Float(f64),
    /// Decimal text that neither of the above holds exactly.
    Big(String),
}

impl Number {
    /// Canonical form of a float: integral values within `i64` become `Int`.
    pub fn from_f64(f: f64) -> Number {
        if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
            Number::Int(f as i64)
        } else {
            Number::Float(f)
        }
    }

    /// Parses decimal text as Terraform writes it (`"12"`, `"-1.5"`, `"1e400"`).
    pub fn parse(s: &str) -> Option<Number> {
        let t = s.trim();
        if let Ok(i) = t.parse::<i64>() {
            return Some(Number::Int(i));
        }
        let f: f64 = t.parse().ok()?;
        if f.is_finite() && exact_text(t, f) {
            return Some(Number::from_f64(f));
        }
        let valid = t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
        valid.then(|| Number::Big(t.to_owned()))
    }

    /// The value as `i64` when it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as `f64` (may round `Big`).
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Float(f) => *f,
            Number::Big(s) => s.parse().unwrap_or(f64::NAN),
        }
    }
}

/// True when the decimal text denotes exactly `f` (so no precision is lost by
/// keeping the float).
fn exact_text(text: &str, f: f64) -> bool {
    // Digits beyond what f64 distinguishes (about 17 significant) mean the
    // text is more precise than the float.
    let digits = text
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant <= 15 || f.to_string() == text
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Big(a), Number::Big(b)) => a == b,
            (Number::Big(_), _) | (_, Number::Big(_)) => false,
            (a, b) => a.as_f64() == b.as_f64(),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Big(s) => f.write_str(s),
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number::Int(i)
    }
}

/// A Terraform value. Object values always carry every attribute of their
/// type (absent ones are [`Value::Null`]).
#[derive(Debug, Clone)]
pub enum Value {
    /// Known to be absent.
    Null,
    /// Not known until apply.
    Unknown,
    /// `bool`
    Bool(bool),
    /// `number`
    Number(Number),
    /// `string`
    String(String),
    /// `list`
    List(Vec<Value>),
    /// `set`: order carries no meaning.
    Set(Vec<Value>),
    /// `map`
    Map(BTreeMap<String, Value>),
    /// `object`
    Object(BTreeMap<String, Value>),
    /// `tuple`
    Tuple(Vec<Value>),
    /// A known value in a `dynamic` slot, with the concrete type it was sent as.
    Dynamic(Type, Box<Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => {
                a.len() == b.len()
                    && a.iter().all(|x| b.contains(x))
                    && b.iter().all(|x| a.contains(x))
            }
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            (Dynamic(ta, a), Dynamic(tb, b)) => ta == tb && a == b,
            _ => false,
        }
    }
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// An integer value.
    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    /// An object from `(name, value)` pairs.
    pub fn object<I, S>(attrs: I) -> Value
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True for [`Value::Unknown`] at the top level.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True when no unknown appears anywhere inside the value.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }

    /// Attribute `name` of an object (None for non-objects or missing names).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(name),
            Value::Dynamic(_, v) => v.get(name),
            _ => None,
        }
    }

    /// Mutable attribute `name` of an object.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self {
            Value::Object(m) => m.get_mut(name),
            _ => None,
        }
    }

    /// Sets attribute `name` of an object; no effect on other values.
    pub fn set(&mut self, name: &str, v: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_owned(), v);
        }
    }

    /// The string inside a known string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer inside a known number value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The bool inside a known bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// String attribute `name`, if known and not null.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Integer attribute `name`, if known and not null.
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }

    /// Bool attribute `name`, if known and not null.
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }

    /// The value at `path`, if every step exists.
    pub fn at(&self, path: &AttrPath) -> Option<&Value> {
        let mut cur = self;
        for step in &path.0 {
            cur = match (step, cur) {
                (PathStep::Attr(n), v) => v.get(n)?,
                (PathStep::Key(k), Value::Map(m)) => m.get(k)?,
                (PathStep::Index(i), Value::List(v) | Value::Tuple(v)) => {
                    v.get(usize::try_from(*i).ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The value at `path` for changing, if every step exists.
    pub fn at_mut(&mut self, path: &AttrPath) -> Option<&mut Value> {
        let mut cur = self;
        for step in &path.0 {
            cur = match (step, cur) {
                (PathStep::Attr(n), Value::Object(m)) => m.get_mut(n)?,
                (PathStep::Key(k), Value::Map(m)) => m.get_mut(k)?,
                (PathStep::Index(i), Value::List(v) | Value::Tuple(v)) => {
                    v.get_mut(usize::try_from(*i).ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::int(i)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}

/// One step of an [`AttrPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An object attribute or nested block by name.
    Attr(String),
    /// A map element by key.
    Key(String),
    /// A list or tuple element by index.
    Index(i64),
}

/// A path from the root of a resource's value to one of its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AttrPath(pub Vec<PathStep>);

impl AttrPath {
    /// The path to top-level attribute `name`.
    pub fn attr(name: impl Into<String>) -> AttrPath {
        AttrPath(vec![PathStep::Attr(name.into())])
    }
    /// This path extended by attribute `name`.
    pub fn push_attr(&self, name: impl Into<String>) -> AttrPath {
        let mut p = self.clone();
        p.0.push(PathStep::Attr(name.into()));
        p
    }
    /// This path extended by map key `key`.
    pub fn push_key(&self, key: impl Into<String>) -> AttrPath {
        let mut p = self.clone();
        p.0.push(PathStep::Key(key.into()));
        p
    }
    /// This path extended by list index `i`.
    pub fn push_index(&self, i: i64) -> AttrPath {
        let mut p = self.clone();
        p.0.push(PathStep::Index(i));
        p
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                PathStep::Attr(n) if i == 0 => f.write_str(n)?,
                PathStep::Attr(n) => write!(f, ".{n}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(ix) => write!(f, "[{ix}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_json_round_trips_nested_types() {
        let t = Type::object([
            ("a", Type::list(Type::set(Type::Number))),
            ("b", Type::Tuple(vec![Type::Bool, Type::Dynamic])),
            ("c", Type::map(Type::String)),
        ]);
        assert_eq!(Type::from_json(&t.to_json()), Ok(t));
    }

    #[test]
    fn type_json_accepts_optional_attribute_markers() {
        let j = serde_json::json!(["object", {"a": "string"}, ["a"]]);
        assert_eq!(Type::from_json(&j), Ok(Type::object([("a", Type::String)])));
        assert!(Type::from_json(&serde_json::json!("strin")).is_err());
    }

    #[test]
    fn numbers_compare_across_representations() {
        assert_eq!(Number::from_f64(3.0), Number::Int(3));
        assert_eq!(Number::parse("3"), Some(Number::Int(3)));
        assert_eq!(Number::parse("0.5"), Some(Number::Float(0.5)));
        assert!(matches!(
            Number::parse("123456789012345678901234567890"),
            Some(Number::Big(_))
        ));
        assert_eq!(Number::parse("abc"), None);
    }

    #[test]
    fn sets_are_equal_regardless_of_order() {
        let a = Value::Set(vec![Value::from("x"), Value::from("y")]);
        let b = Value::Set(vec![Value::from("y"), Value::from("x")]);
        assert_eq!(a, b);
        assert_ne!(a, Value::Set(vec![Value::from("x")]));
    }

    #[test]
    fn paths_address_nested_values_and_print_like_terraform() {
        let v = Value::object([(
            "tags",
            Value::Map(BTreeMap::from([("env".to_owned(), Value::from("dev"))])),
        )]);
        let p = AttrPath::attr("tags").push_key("env");
        assert_eq!(v.at(&p), Some(&Value::from("dev")));
        assert_eq!(p.to_string(), "tags[\"env\"]");
        assert!(!Value::List(vec![Value::Unknown]).is_wholly_known());
    }
}
