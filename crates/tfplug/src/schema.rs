//! Schema builder: attributes, nested attributes and blocks, with the flags
//! Terraform knows (required, optional, computed, sensitive, write-only) and
//! the ones this library enforces for the resource author (defaults,
//! replacement on change, validators, values kept across updates).

use std::fmt;
use std::sync::Arc;

use crate::value::{AttrPath, Type, Value};

/// A check on a known, non-null configuration value. The error text is shown
/// to the user next to the attribute's path.
pub type Validator = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// A versioned resource or provider schema.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// Bumped whenever stored state needs an upgrade.
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

impl Schema {
    /// A schema at `version` with an empty block.
    pub fn new(version: i64) -> Schema {
        Schema {
            version,
            block: Block::default(),
        }
    }
    /// Sets the markdown description.
    pub fn description(mut self, text: impl Into<String>) -> Schema {
        self.block.description = text.into();
        self
    }
    /// Adds an attribute.
    pub fn attribute(mut self, a: Attribute) -> Schema {
        self.block.attributes.push(a);
        self
    }
    /// Adds a nested block.
    pub fn block(mut self, b: NestedBlock) -> Schema {
        self.block.blocks.push(b);
        self
    }
    /// The object type of values of this schema.
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}

/// A block: attributes and nested blocks.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Attributes in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested block types.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Deprecated blocks warn when used.
    pub deprecated: bool,
}

impl Block {
    /// An empty block.
    pub fn new() -> Block {
        Block::default()
    }
    /// Adds an attribute.
    pub fn attribute(mut self, a: Attribute) -> Block {
        self.attributes.push(a);
        self
    }
    /// Adds a nested block.
    pub fn block(mut self, b: NestedBlock) -> Block {
        self.blocks.push(b);
        self
    }
    /// Sets the markdown description.
    pub fn description(mut self, text: impl Into<String>) -> Block {
        self.description = text.into();
        self
    }
    /// The object type of values of this block.
    pub fn value_type(&self) -> Type {
        let attrs = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_type()));
        let blocks = self
            .blocks
            .iter()
            .map(|b| (b.type_name.clone(), b.value_type()));
        Type::Object(attrs.chain(blocks).collect())
    }
    /// The attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// How a nested block or nested attribute repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// Exactly zero or one object.
    Single,
    /// A block that is always present (its attributes may be null); blocks only.
    Group,
    /// An ordered list of objects.
    List,
    /// An unordered set of objects.
    Set,
    /// Objects keyed by a label.
    Map,
}

impl Nesting {
    fn wrap(self, object: Type) -> Type {
        match self {
            Nesting::Single | Nesting::Group => object,
            Nesting::List => Type::list(object),
            Nesting::Set => Type::set(object),
            Nesting::Map => Type::map(object),
        }
    }
}

/// A nested block type such as `timeouts { ... }`.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    /// The block's name in configuration.
    pub type_name: String,
    /// Its contents.
    pub block: Block,
    /// How it repeats.
    pub nesting: Nesting,
    /// At least this many (list and set only).
    pub min_items: i64,
    /// At most this many, 0 for no limit (list and set only).
    pub max_items: i64,
}

impl NestedBlock {
    /// A nested block.
    pub fn new(type_name: impl Into<String>, nesting: Nesting, block: Block) -> NestedBlock {
        NestedBlock {
            type_name: type_name.into(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        }
    }
    /// Limits the number of blocks (list and set only).
    pub fn items(mut self, min: i64, max: i64) -> NestedBlock {
        self.min_items = min;
        self.max_items = max;
        self
    }
    /// The type of this block's value in its parent object.
    pub fn value_type(&self) -> Type {
        self.nesting.wrap(self.block.value_type())
    }
}

/// What an attribute holds: a plain type, or nested attributes.
#[derive(Debug, Clone)]
pub enum AttrKind {
    /// A value of this type.
    Plain(Type),
    /// Objects of these attributes, repeated as `Nesting` says (not `Group`).
    Nested(Nesting, Vec<Attribute>),
}

/// One attribute of a block.
#[derive(Clone)]
pub struct Attribute {
    /// Its name in configuration and state.
    pub name: String,
    /// Its type.
    pub kind: AttrKind,
    /// Markdown description.
    pub description: String,
    /// Must be set in configuration.
    pub required: bool,
    /// May be set in configuration.
    pub optional: bool,
    /// The provider may set it.
    pub computed: bool,
    /// Hidden in plan output.
    pub sensitive: bool,
    /// Accepted in configuration, never stored: always null in state and plans.
    pub write_only: bool,
    /// Warns when set.
    pub deprecated: bool,
    /// A change to it replaces the resource.
    pub force_new: bool,
    /// A computed value that does not change when something else changes, so
    /// plans keep the prior value instead of marking it unknown.
    pub stable: bool,
    /// Used when configuration leaves it null (implies optional + computed).
    pub default: Option<Value>,
    /// Checks on known configuration values.
    pub validators: Vec<Validator>,
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("required", &self.required)
            .field("optional", &self.optional)
            .field("computed", &self.computed)
            .field("sensitive", &self.sensitive)
            .field("write_only", &self.write_only)
            .field("force_new", &self.force_new)
            .field("default", &self.default)
            .field("validators", &self.validators.len())
            .finish()
    }
}

impl Attribute {
    /// An attribute of type `ty`; call one of required/optional/computed next.
    pub fn new(name: impl Into<String>, ty: Type) -> Attribute {
        Attribute::with_kind(name, AttrKind::Plain(ty))
    }
    /// A string attribute.
    pub fn string(name: impl Into<String>) -> Attribute {
        Attribute::new(name, Type::String)
    }
    /// A number attribute.
    pub fn number(name: impl Into<String>) -> Attribute {
        Attribute::new(name, Type::Number)
    }
    /// A bool attribute.
    pub fn bool(name: impl Into<String>) -> Attribute {
        Attribute::new(name, Type::Bool)
    }
    /// Nested attributes (`nesting` must not be `Group`).
    pub fn nested(name: impl Into<String>, nesting: Nesting, attrs: Vec<Attribute>) -> Attribute {
        Attribute::with_kind(name, AttrKind::Nested(nesting, attrs))
    }
    fn with_kind(name: impl Into<String>, kind: AttrKind) -> Attribute {
        Attribute {
            name: name.into(),
            kind,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecated: false,
            force_new: false,
            stable: false,
            default: None,
            validators: Vec::new(),
        }
    }
    /// Must be set.
    pub fn required(mut self) -> Attribute {
        self.required = true;
        self
    }
    /// May be set.
    pub fn optional(mut self) -> Attribute {
        self.optional = true;
        self
    }
    /// Set by the provider (combine with `optional` to let users set it too).
    pub fn computed(mut self) -> Attribute {
        self.computed = true;
        self
    }
    /// Hidden in plan output.
    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }
    /// Never stored (Terraform 1.11+).
    pub fn write_only(mut self) -> Attribute {
        self.write_only = true;
        self
    }
    /// Warns when used.
    pub fn deprecated(mut self) -> Attribute {
        self.deprecated = true;
        self
    }
    /// A change replaces the resource.
    pub fn force_new(mut self) -> Attribute {
        self.force_new = true;
        self
    }
    /// Keeps its prior value across updates (computed attributes only).
    pub fn stable(mut self) -> Attribute {
        self.stable = true;
        self
    }
    /// The value used when configuration leaves it null.
    pub fn default(mut self, v: impl Into<Value>) -> Attribute {
        self.default = Some(v.into());
        self.optional = true;
        self.computed = true;
        self
    }
    /// Markdown description.
    pub fn describe(mut self, text: impl Into<String>) -> Attribute {
        self.description = text.into();
        self
    }
    /// Adds a check on known configuration values.
    pub fn validate(
        mut self,
        f: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Attribute {
        self.validators.push(Arc::new(f));
        self
    }
    /// The type of this attribute's value.
    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttrKind::Plain(t) => t.clone(),
            AttrKind::Nested(n, attrs) => n.wrap(Type::Object(
                attrs
                    .iter()
                    .map(|a| (a.name.clone(), a.value_type()))
                    .collect(),
            )),
        }
    }
}

/// Calls `f` for every attribute instance in `v` (a value of `block`), with
/// its path, descending into nested attributes and blocks. Elements of sets
/// are reported under the set's own path, since Terraform cannot address them.
pub fn walk<'v>(block: &Block, v: &'v Value, f: &mut dyn FnMut(&AttrPath, &Attribute, &'v Value)) {
    walk_block(block, v, &AttrPath::default(), f);
}

fn walk_block<'v>(
    block: &Block,
    v: &'v Value,
    path: &AttrPath,
    f: &mut dyn FnMut(&AttrPath, &Attribute, &'v Value),
) {
    for a in &block.attributes {
        let Some(av) = v.get(&a.name) else { continue };
        let p = path.push_attr(a.name.clone());
        f(&p, a, av);
        if let AttrKind::Nested(nesting, attrs) = &a.kind {
            let inner = Block {
                attributes: attrs.clone(),
                ..Block::default()
            };
            walk_nested(&inner, *nesting, av, &p, f);
        }
    }
    for b in &block.blocks {
        let Some(bv) = v.get(&b.type_name) else {
            continue;
        };
        walk_nested(
            &b.block,
            b.nesting,
            bv,
            &path.push_attr(b.type_name.clone()),
            f,
        );
    }
}

fn walk_nested<'v>(
    block: &Block,
    nesting: Nesting,
    v: &'v Value,
    path: &AttrPath,
    f: &mut dyn FnMut(&AttrPath, &Attribute, &'v Value),
) {
    match (nesting, v) {
        (Nesting::Single | Nesting::Group, Value::Object(_)) => walk_block(block, v, path, f),
        (Nesting::List, Value::List(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk_block(block, item, &path.push_index(i as i64), f);
            }
        }
        (Nesting::Set, Value::Set(items)) => {
            for item in items {
                walk_block(block, item, path, f);
            }
        }
        (Nesting::Map, Value::Map(items)) => {
            for (k, item) in items {
                walk_block(block, item, &path.push_key(k.clone()), f);
            }
        }
        _ => {}
    }
}

/// Ready-made validators.
pub mod validators {
    use super::Value;

    /// The string is one of `allowed`.
    pub fn one_of(
        allowed: &'static [&'static str],
    ) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        move |v| match v.as_str() {
            Some(s) if allowed.contains(&s) => Ok(()),
            Some(s) => Err(format!("{s:?} is not one of: {}", allowed.join(", "))),
            None => Ok(()),
        }
    }

    /// The integer lies in `min..=max`.
    pub fn int_between(min: i64, max: i64) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        move |v| match v.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(()),
            Some(i) => Err(format!("{i} is outside {min}..={max}")),
            None => Err(format!("must be a whole number between {min} and {max}")),
        }
    }

    /// The string's length in characters lies in `min..=max`.
    pub fn length_between(
        min: usize,
        max: usize,
    ) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        move |v| match v.as_str().map(|s| s.chars().count()) {
            Some(n) if (min..=max).contains(&n) => Ok(()),
            Some(n) => Err(format!("length {n} is outside {min}..={max}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Schema {
        Schema::new(1)
            .attribute(Attribute::string("name").required().force_new())
            .attribute(Attribute::number("size").default(3))
            .attribute(Attribute::nested(
                "disks",
                Nesting::List,
                vec![Attribute::string("label").required()],
            ))
            .block(NestedBlock::new(
                "timeouts",
                Nesting::Single,
                Block::new().attribute(Attribute::string("create").optional()),
            ))
    }

    #[test]
    fn implied_type_covers_attributes_nested_attributes_and_blocks() {
        let t = sample().value_type();
        let expected = Type::object([
            ("name", Type::String),
            ("size", Type::Number),
            ("disks", Type::list(Type::object([("label", Type::String)]))),
            ("timeouts", Type::object([("create", Type::String)])),
        ]);
        assert_eq!(t, expected);
    }

    #[test]
    fn default_makes_an_attribute_optional_and_computed() {
        let s = sample();
        let size = s.block.attr("size").unwrap();
        assert!(size.optional && size.computed && !size.required);
    }

    #[test]
    fn walk_visits_nested_attributes_with_paths() {
        let s = sample();
        let v = Value::object([
            ("name", Value::from("a")),
            ("size", Value::int(1)),
            (
                "disks",
                Value::List(vec![Value::object([("label", Value::from("d0"))])]),
            ),
            ("timeouts", Value::Null),
        ]);
        let mut seen = Vec::new();
        walk(&s.block, &v, &mut |p, _, _| seen.push(p.to_string()));
        assert_eq!(seen, ["name", "size", "disks", "disks[0].label"]);
    }

    #[test]
    fn validators_explain_what_is_wrong() {
        let f = validators::one_of(&["a", "b"]);
        assert!(f(&Value::from("a")).is_ok());
        assert_eq!(
            f(&Value::from("c")).unwrap_err(),
            "\"c\" is not one of: a, b"
        );
        let g = validators::int_between(1, 3);
        assert!(g(&Value::int(4)).unwrap_err().contains("outside"));
    }
}
