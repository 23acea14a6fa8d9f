//! Conversions between the library's types and the protocol messages.

use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::proto::tfplugin6 as pb;
use crate::schema::{AttrKind, Attribute, Block, Nesting, Schema};
use crate::value::{AttrPath, PathStep, Type, Value};

pub(crate) fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block)),
    }
}

fn markdown() -> i32 {
    pb::StringKind::Markdown as i32
}

fn block(b: &Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| {
                use pb::schema::nested_block::NestingMode as M;
                let nesting = match nb.nesting {
                    Nesting::Single => M::Single,
                    Nesting::Group => M::Group,
                    Nesting::List => M::List,
                    Nesting::Set => M::Set,
                    Nesting::Map => M::Map,
                };
                pb::schema::NestedBlock {
                    type_name: nb.type_name.clone(),
                    block: Some(block(&nb.block)),
                    nesting: nesting as i32,
                    min_items: nb.min_items,
                    max_items: nb.max_items,
                }
            })
            .collect(),
        description: b.description.clone(),
        description_kind: markdown(),
        deprecated: b.deprecated,
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested_type) = match &a.kind {
        AttrKind::Plain(t) => (t.to_json().to_string().into_bytes(), None),
        AttrKind::Nested(n, attrs) => {
            use pb::schema::object::NestingMode as M;
            let nesting = match n {
                Nesting::Single | Nesting::Group => M::Single,
                Nesting::List => M::List,
                Nesting::Set => M::Set,
                Nesting::Map => M::Map,
            };
            let obj = pb::schema::Object {
                attributes: attrs.iter().map(attribute).collect(),
                nesting: nesting as i32,
            };
            (Vec::new(), Some(obj))
        }
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: markdown(),
        deprecated: a.deprecated,
        write_only: a.write_only,
    }
}

pub(crate) fn path_to_pb(p: &AttrPath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attr(n) => Selector::AttributeName(n.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

pub(crate) fn diagnostics(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.iter()
        .map(|d| pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error,
                Severity::Warning => pb::diagnostic::Severity::Warning,
            } as i32,
            summary: d.summary.clone(),
            detail: d.detail.clone(),
            attribute: d.path.as_ref().map(path_to_pb),
        })
        .collect()
}

/// Decodes a DynamicValue (msgpack, or JSON when only that is set); an
/// absent value is null.
pub(crate) fn decode(
    dv: Option<&pb::DynamicValue>,
    ty: &Type,
    what: &str,
) -> Result<Value, Diagnostic> {
    let bad = |e: String| Diagnostic::error(format!("Could not decode {what}"), e);
    match dv {
        Some(dv) if !dv.msgpack.is_empty() => {
            crate::msgpack::decode(&dv.msgpack, ty).map_err(|e| bad(e.to_string()))
        }
        Some(dv) if !dv.json.is_empty() => {
            let j: serde_json::Value =
                serde_json::from_slice(&dv.json).map_err(|e| bad(e.to_string()))?;
            crate::json::decode(&j, ty, false).map_err(|e| bad(e.to_string()))
        }
        _ => Ok(Value::Null),
    }
}

pub(crate) fn encode(v: &Value, ty: &Type, what: &str) -> Result<pb::DynamicValue, Diagnostic> {
    crate::msgpack::encode(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                format!("Provider bug: could not encode {what}"),
                e.to_string(),
            )
        })
}
