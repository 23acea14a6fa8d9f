//! Terraform's rules for plans and apply results, enforced for the resource
//! author. Pure functions over schema and values.

use crate::diag::{Diagnostic, Diagnostics};
use crate::schema::{Block, walk};
use crate::value::{AttrPath, Value};

fn paths_where(
    block: &Block,
    v: &Value,
    pred: impl Fn(&crate::schema::Attribute) -> bool,
) -> Vec<AttrPath> {
    let mut out = Vec::new();
    walk(block, v, &mut |p, a, _| {
        if pred(a) {
            out.push(p.clone());
        }
    });
    out
}

/// Runs each attribute's validators on known, non-null configuration values.
pub fn validate_config(block: &Block, config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    walk(block, config, &mut |p, a, v| {
        if v.is_null() || !v.is_wholly_known() {
            return;
        }
        for check in &a.validators {
            if let Err(msg) = check(v) {
                diags.push(Diagnostic::error(format!("Invalid value for {p}"), msg).at(p.clone()));
            }
        }
        if a.deprecated {
            diags.push(
                Diagnostic::warning(format!("{p} is deprecated"), a.description.clone())
                    .at(p.clone()),
            );
        }
    });
    diags
}

/// Sets every write-only attribute to null.
pub fn null_write_only(block: &Block, v: &mut Value) {
    null_write_only_in(&block.attributes, &block.blocks, v);
}

// By value rather than by path, so elements of sets are reached too.
fn null_write_only_in(
    attrs: &[crate::schema::Attribute],
    blocks: &[crate::schema::NestedBlock],
    v: &mut Value,
) {
    use crate::schema::AttrKind;
    let Value::Object(m) = v else { return };
    for a in attrs {
        let Some(slot) = m.get_mut(&a.name) else {
            continue;
        };
        if a.write_only {
            *slot = Value::Null;
        } else if let AttrKind::Nested(_, inner) = &a.kind {
            each_element(slot, &mut |e| null_write_only_in(inner, &[], e));
        }
    }
    for b in blocks {
        if let Some(slot) = m.get_mut(&b.type_name) {
            each_element(slot, &mut |e| {
                null_write_only_in(&b.block.attributes, &b.block.blocks, e)
            });
        }
    }
}

/// Calls `f` on the object, or on every element of a list, set or map.
fn each_element(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match v {
        Value::Object(_) => f(v),
        Value::List(items) | Value::Set(items) => items.iter_mut().for_each(f),
        Value::Map(m) => m.values_mut().for_each(f),
        _ => {}
    }
}

/// The path without its last step.
fn parent(p: &AttrPath) -> AttrPath {
    AttrPath(
        p.0.get(..p.0.len().saturating_sub(1))
            .unwrap_or_default()
            .to_vec(),
    )
}

/// Replaces every unknown with null (state saved after a failed apply).
pub fn unknown_as_null(v: &mut Value) {
    match v {
        Value::Unknown => *v = Value::Null,
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            items.iter_mut().for_each(unknown_as_null)
        }
        Value::Map(m) | Value::Object(m) => m.values_mut().for_each(unknown_as_null),
        Value::Dynamic(_, inner) => unknown_as_null(inner),
        _ => {}
    }
}

/// The library's part of planning: defaults where configuration is null,
/// write-only values null, and computed values unknown where they will be
/// decided by the apply (on create, and on update when anything changes,
/// unless the attribute is marked stable).
pub fn plan_computed(block: &Block, prior: &Value, config: &Value, proposed: Value) -> Value {
    let mut planned = proposed;
    let mut computed_paths = Vec::new();
    for p in paths_where(block, &planned, |_| true) {
        let Some(attr) = attr_at(block, &p) else {
            continue;
        };
        let cfg_null = config.at(&p).is_none_or(Value::is_null);
        let Some(slot) = planned.at_mut(&p) else {
            continue;
        };
        if attr.write_only {
            *slot = Value::Null;
        } else if attr.computed && cfg_null {
            if let Some(d) = &attr.default {
                *slot = d.clone();
            } else if !attr.stable || prior.is_null() {
                computed_paths.push(p);
            }
        }
    }
    let changed = prior.is_null() || {
        let mut without_computed = planned.clone();
        let mut prior_cmp = prior.clone();
        for p in &computed_paths {
            if let Some(s) = without_computed.at_mut(p) {
                *s = Value::Null;
            }
            if let Some(s) = prior_cmp.at_mut(p) {
                *s = Value::Null;
            }
        }
        without_computed != prior_cmp
    };
    if changed {
        for p in &computed_paths {
            if let Some(slot) = planned.at_mut(p) {
                *slot = Value::Unknown;
            }
        }
    }
    planned
}

/// The attribute definition at `path` (list indexes and map keys skipped).
pub fn attr_at<'b>(block: &'b Block, path: &AttrPath) -> Option<&'b crate::schema::Attribute> {
    use crate::schema::AttrKind;
    use crate::value::PathStep;
    let mut attrs: &'b [crate::schema::Attribute] = &block.attributes;
    let mut blocks: &'b [crate::schema::NestedBlock] = &block.blocks;
    let mut found = None;
    for step in &path.0 {
        let PathStep::Attr(n) = step else { continue };
        if let Some(a) = attrs.iter().find(|a| &a.name == n) {
            found = Some(a);
            if let AttrKind::Nested(_, inner) = &a.kind {
                attrs = inner;
                blocks = &[];
            }
        } else if let Some(b) = blocks.iter().find(|b| &b.type_name == n) {
            found = None;
            attrs = &b.block.attributes;
            blocks = &b.block.blocks;
        } else {
            return None;
        }
    }
    found
}

/// Paths of force-new attributes whose planned value differs from the prior.
pub fn replace_paths(block: &Block, prior: &Value, planned: &Value) -> Vec<AttrPath> {
    if prior.is_null() || planned.is_null() {
        return Vec::new();
    }
    let mut out = Vec::new();
    walk(block, planned, &mut |p, a, v| {
        if !a.force_new {
            return;
        }
        // Elements of sets cannot be addressed: replace on any change of the set.
        let (path, changed) = match planned.at(p) {
            Some(_) => (p.clone(), prior.at(p) != Some(v)),
            None => {
                let set = parent(p);
                let changed = prior.at(&set) != planned.at(&set);
                (set, changed)
            }
        };
        if changed && !out.contains(&path) {
            out.push(path);
        }
    });
    out
}

/// Checks that a plan keeps what Terraform will insist on: attributes the
/// user configured (and every non-computed attribute) planned exactly as
/// configured.
pub fn check_plan(block: &Block, config: &Value, planned: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    walk(block, planned, &mut |p, a, v| {
        // Write-only values are nulled; set elements cannot be paired by path.
        if a.write_only || planned.at(p).is_none() {
            return;
        }
        let cfg = config.at(p).unwrap_or(&Value::Null);
        let must_match = !a.computed || !cfg.is_null();
        if must_match && cfg != v && matches!(a.kind, crate::schema::AttrKind::Plain(_)) {
            diags.push(
                Diagnostic::error(
                    format!("Provider bug: planned value for {p} differs from the configuration"),
                    "the plan hook changed a value that only configuration may set".to_owned(),
                )
                .at(p.clone()),
            );
        }
    });
    diags
}

/// Checks an apply result against its plan: nothing unknown, and every value
/// that the plan knew is unchanged.
pub fn check_apply(planned: &Value, new: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    compare(planned, new, &AttrPath::default(), &mut diags);
    if diags.is_empty() && !new.is_wholly_known() {
        diags.push(Diagnostic::error(
            "Provider bug: apply result still holds unknown values",
            String::new(),
        ));
    }
    diags
}

fn compare(planned: &Value, new: &Value, path: &AttrPath, diags: &mut Diagnostics) {
    let bug = |what: String| {
        let name = if path.0.is_empty() {
            "the resource".to_owned()
        } else {
            path.to_string()
        };
        Diagnostic::error(
            format!("Provider bug: apply result for {name} {what}"),
            String::new(),
        )
        .at(path.clone())
    };
    if !new.is_wholly_known() && !matches!(new, Value::Object(_) | Value::List(_) | Value::Map(_)) {
        diags.push(bug("is still unknown".to_owned()));
        return;
    }
    match (planned, new) {
        (Value::Unknown, _) => {}
        (Value::Object(pm), Value::Object(nm)) | (Value::Map(pm), Value::Map(nm))
            if pm.len() == nm.len() =>
        {
            for (k, pv) in pm {
                let child = if matches!(planned, Value::Object(_)) {
                    path.push_attr(k.clone())
                } else {
                    path.push_key(k.clone())
                };
                match nm.get(k) {
                    Some(nv) => compare(pv, nv, &child, diags),
                    None => diags.push(bug(format!("lacks {child}"))),
                }
            }
        }
        (Value::List(pl), Value::List(nl)) if pl.len() == nl.len() => {
            for (i, (pv, nv)) in pl.iter().zip(nl).enumerate() {
                compare(pv, nv, &path.push_index(i as i64), diags);
            }
        }
        (Value::Set(pl), Value::Set(nl)) if !planned.is_wholly_known() && pl.len() == nl.len() => {}
        (p, n) if p == n => {}
        // Values are not printed: they may be sensitive.
        (p, n) => diags.push(bug(format!(
            "differs from the plan ({} planned, {} returned)",
            kind(p),
            kind(n)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown => "unknown",
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Dynamic(..) => "a value",
        Value::List(_) | Value::Tuple(_) => "a list",
        Value::Set(_) => "a set",
        Value::Map(_) | Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attribute, Schema};

    fn schema() -> Schema {
        Schema::new(0)
            .attribute(Attribute::string("id").computed().stable())
            .attribute(Attribute::string("name").required().force_new())
            .attribute(Attribute::string("etag").computed())
            .attribute(Attribute::number("size").default(1))
            .attribute(Attribute::string("secret").optional().write_only())
    }

    fn obj(id: Value, name: &str, etag: Value, size: Value, secret: Value) -> Value {
        Value::object([
            ("id", id),
            ("name", name.into()),
            ("etag", etag),
            ("size", size),
            ("secret", secret),
        ])
    }

    #[test]
    fn create_plan_fills_defaults_marks_computed_unknown_and_nulls_write_only() {
        let s = schema();
        let config = obj(Value::Null, "a", Value::Null, Value::Null, "pw".into());
        let planned = plan_computed(&s.block, &Value::Null, &config, config.clone());
        assert_eq!(
            planned,
            obj(
                Value::Unknown,
                "a",
                Value::Unknown,
                Value::int(1),
                Value::Null
            )
        );
        assert!(check_plan(&s.block, &config, &planned).is_empty());
    }

    #[test]
    fn unchanged_update_keeps_computed_values() {
        let s = schema();
        let prior = obj("x".into(), "a", "e1".into(), Value::int(1), Value::Null);
        let config = obj(Value::Null, "a", Value::Null, Value::Null, Value::Null);
        let proposed = prior.clone();
        assert_eq!(plan_computed(&s.block, &prior, &config, proposed), prior);
    }

    #[test]
    fn changed_update_marks_unstable_computed_unknown_and_keeps_stable_ones() {
        let s = schema();
        let prior = obj("x".into(), "a", "e1".into(), Value::int(1), Value::Null);
        let config = obj(Value::Null, "a", Value::Null, Value::int(2), Value::Null);
        let proposed = obj("x".into(), "a", "e1".into(), Value::int(2), Value::Null);
        let planned = plan_computed(&s.block, &prior, &config, proposed);
        assert_eq!(
            planned,
            obj("x".into(), "a", Value::Unknown, Value::int(2), Value::Null)
        );
        assert!(replace_paths(&s.block, &prior, &planned).is_empty());
    }

    #[test]
    fn force_new_change_requires_replacement_at_its_path() {
        let s = schema();
        let prior = obj("x".into(), "a", "e1".into(), Value::int(1), Value::Null);
        let planned = obj("x".into(), "b", Value::Unknown, Value::int(1), Value::Null);
        assert_eq!(
            replace_paths(&s.block, &prior, &planned),
            vec![AttrPath::attr("name")]
        );
    }

    #[test]
    fn plan_check_catches_a_changed_configured_value() {
        let s = schema();
        let config = obj(Value::Null, "a", Value::Null, Value::Null, Value::Null);
        let planned = obj(
            Value::Unknown,
            "A",
            Value::Unknown,
            Value::int(1),
            Value::Null,
        );
        let d = check_plan(&s.block, &config, &planned);
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].path, Some(AttrPath::attr("name")));
    }

    #[test]
    fn apply_check_names_the_inconsistent_attribute() {
        let planned = obj(
            Value::Unknown,
            "a",
            Value::Unknown,
            Value::int(1),
            Value::Null,
        );
        let good = obj("x".into(), "a", "e".into(), Value::int(1), Value::Null);
        assert!(check_apply(&planned, &good).is_empty());
        let bad = obj("x".into(), "a", "e".into(), Value::int(5), Value::Null);
        let d = check_apply(&planned, &bad);
        assert_eq!(d.0.len(), 1);
        assert!(d.0[0].summary.contains("size"), "{}", d.0[0].summary);
        let unknown = obj(Value::Unknown, "a", "e".into(), Value::int(1), Value::Null);
        assert!(
            check_apply(&planned, &unknown).0[0]
                .summary
                .contains("unknown")
        );
        let nested = Value::object([("m", Value::Map([("k".to_owned(), Value::Unknown)].into()))]);
        let planned_nested = Value::object([("m", Value::Unknown)]);
        assert!(
            !check_apply(&planned_nested, &nested).is_empty(),
            "nested unknowns must be caught"
        );
        let secret = obj("x".into(), "a", "e".into(), Value::int(7), Value::Null);
        assert!(
            !check_apply(&planned, &secret).to_string().contains('7'),
            "values must not be printed"
        );
    }

    #[test]
    fn validators_report_at_the_attribute_path() {
        let s = Schema::new(0).attribute(
            Attribute::number("port")
                .required()
                .validate(crate::schema::validators::int_between(1, 65535)),
        );
        let d = validate_config(&s.block, &Value::object([("port", Value::int(0))]));
        assert_eq!(d.0[0].path, Some(AttrPath::attr("port")));
        assert!(validate_config(&s.block, &Value::object([("port", Value::Unknown)])).is_empty());
    }

    #[test]
    fn set_nested_blocks_get_write_only_nulled_no_false_plan_errors_and_replacement_at_the_set() {
        use crate::schema::{Block, NestedBlock, Nesting};
        let s = Schema::new(0).block(NestedBlock::new(
            "rule",
            Nesting::Set,
            Block::new()
                .attribute(Attribute::string("port").required().force_new())
                .attribute(Attribute::string("secret").optional().write_only()),
        ));
        let rule = |port: &str, secret: Value| {
            Value::object([("port", Value::from(port)), ("secret", secret)])
        };
        let config = Value::object([("rule", Value::Set(vec![rule("22", "pw".into())]))]);
        let mut planned = config.clone();
        null_write_only(&s.block, &mut planned);
        assert_eq!(
            planned,
            Value::object([("rule", Value::Set(vec![rule("22", Value::Null)]))])
        );
        assert!(check_plan(&s.block, &config, &planned).is_empty());
        let prior = Value::object([("rule", Value::Set(vec![rule("80", Value::Null)]))]);
        assert_eq!(
            replace_paths(&s.block, &prior, &planned),
            vec![AttrPath::attr("rule")]
        );
        assert!(replace_paths(&s.block, &planned, &planned.clone()).is_empty());
    }

    #[test]
    fn unknowns_become_null_in_partial_state() {
        let mut v = Value::object([
            ("a", Value::Unknown),
            ("b", Value::List(vec![Value::Unknown])),
        ]);
        unknown_as_null(&mut v);
        assert!(v.is_wholly_known());
    }
}
