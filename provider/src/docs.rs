//! Registry-format documentation generated from the schemas, so docs/
//! cannot drift from the code (a test compares them).

use std::fmt::Write as _;

use tfplug::schema::{AttrKind, Attribute, Block, NestedBlock};
use tfplug::{Schema, Type};

fn type_name(t: &Type) -> String {
    match t {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

fn attr_line(out: &mut String, a: &Attribute) {
    let ty = match &a.kind {
        AttrKind::Plain(t) => type_name(t),
        AttrKind::Nested(..) => "Attributes".into(),
    };
    let mut flags = vec![ty];
    if a.sensitive {
        flags.push("Sensitive".into());
    }
    if a.write_only {
        flags.push("Write-only".into());
    }
    let mut line = format!(
        "- `{}` ({}) {}",
        a.name,
        flags.join(", "),
        a.description.trim()
    );
    if let Some(d) = &a.default {
        let shown = match (d.as_str(), d.as_bool()) {
            (Some(s), _) => format!("\"{s}\""),
            (None, Some(b)) => b.to_string(),
            _ => format!("{d:?}"),
        };
        let _ = write!(line, " Default: `{shown}`.");
    }
    if a.force_new {
        line.push_str(" Changing it replaces the resource.");
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

fn section(out: &mut String, title: &str, attrs: &[&Attribute], blocks: &[&NestedBlock]) {
    if attrs.is_empty() && blocks.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    for a in attrs {
        attr_line(out, a);
    }
    for b in blocks {
        let _ = writeln!(
            out,
            "- `{}` (Block) See [below for nested schema](#nestedblock--{}).",
            b.type_name, b.type_name
        );
    }
    out.push('\n');
}

fn block_sections(out: &mut String, block: &Block) {
    let req: Vec<&Attribute> = block.attributes.iter().filter(|a| a.required).collect();
    let opt: Vec<&Attribute> = block.attributes.iter().filter(|a| a.optional).collect();
    let ro: Vec<&Attribute> = block
        .attributes
        .iter()
        .filter(|a| a.computed && !a.optional && !a.required)
        .collect();
    let blocks: Vec<&NestedBlock> = block.blocks.iter().collect();
    section(out, "Required", &req, &[]);
    section(out, "Optional", &opt, &blocks);
    section(out, "Read-Only", &ro, &[]);
    for b in &block.blocks {
        let _ = writeln!(
            out,
            "<a id=\"nestedblock--{}\"></a>\n### Nested Schema for `{}`\n",
            b.type_name, b.type_name
        );
        for a in &b.block.attributes {
            attr_line(out, a);
        }
        out.push('\n');
    }
}

/// One resource page: front matter, description, example, schema, import.
pub fn resource_page(name: &str, schema: &Schema, example: &str, import: &str) -> String {
    let mut out = String::new();
    let first_sentence = schema
        .block
        .description
        .split(". ")
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    let _ = writeln!(
        out,
        "---\npage_title: \"{name} Resource - terraform-provider-k3strading\"\nsubcategory: \"\"\ndescription: |-\n  {first_sentence}.\n---\n"
    );
    let _ = writeln!(
        out,
        "# {name} (Resource)\n\n{}\n",
        schema.block.description.trim()
    );
    let _ = writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example);
    out.push_str("## Schema\n\n");
    block_sections(&mut out, &schema.block);
    let _ = writeln!(
        out,
        "## Import\n\nImport is supported using the following syntax:\n\n```shell\n{}```",
        import
    );
    out
}

/// The provider page.
pub fn provider_page(schema: &Schema, example: &str) -> String {
    let mut out = String::new();
    out.push_str("---\npage_title: \"k3strading Provider\"\ndescription: |-\n  Ephemeral K3s trading clusters on Hetzner Cloud.\n---\n\n");
    let _ = writeln!(
        out,
        "# k3strading Provider\n\n{}\n",
        schema.block.description.trim()
    );
    out.push_str("`terraform apply -var env=prod` builds the cluster around two persistent Primary IPv4s; `terraform destroy` removes the servers and per-run objects and keeps the IPs. Without a Hetzner account, point `HCLOUD_ENDPOINT` at the local cloud `k3strading-cloud`.\n\n");
    let _ = writeln!(out, "## Example Usage\n\n```terraform\n{example}```\n");
    out.push_str("## Schema\n\n");
    block_sections(&mut out, &schema.block);
    out.trim_end().to_owned() + "\n"
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tfplug::Provider;

    use super::*;

    fn read(rel: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel))
            .unwrap_or_default()
    }

    fn check(rel: &str, rendered: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, rendered).unwrap();
        }
        assert_eq!(
            read(rel),
            rendered,
            "{rel} is out of step with the schema; run UPDATE_GOLDEN=1 cargo test -p k3strading-provider docs"
        );
    }

    #[test]
    fn docs_are_in_step_with_the_schema() {
        let provider = crate::K3sTrading;
        check(
            "docs/index.md",
            &provider_page(&provider.schema(), &read("examples/provider/provider.tf")),
        );
        for r in provider.resources() {
            let name = r.type_name().to_owned();
            let page = resource_page(
                &name,
                &r.schema(),
                &read(&format!("examples/resources/{name}/resource.tf")),
                &read(&format!("examples/resources/{name}/import.sh")),
            );
            assert!(page.contains("## Import") && page.contains("### Required"));
            check(
                &format!(
                    "docs/resources/{}.md",
                    name.trim_start_matches("k3strading_")
                ),
                &page,
            );
        }
    }
}
