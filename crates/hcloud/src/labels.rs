//! Label selectors: a builder for clients and a parser/matcher (used by the
//! local cloud). Grammar: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`,
//! `k notin (a,b)`, joined by commas (AND).

use crate::models::Labels;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `k=v` / `k==v`
    Equals(String, String),
    /// `k!=v` (also true when the key is absent)
    NotEquals(String, String),
    /// `k`
    Exists(String),
    /// `!k`
    NotExists(String),
    /// `k in (a,b)`
    In(String, Vec<String>),
    /// `k notin (a,b)` (also true when the key is absent)
    NotIn(String, Vec<String>),
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        }
    }

    fn render(&self) -> String {
        match self {
            Requirement::Equals(k, v) => format!("{k}={v}"),
            Requirement::NotEquals(k, v) => format!("{k}!={v}"),
            Requirement::Exists(k) => k.clone(),
            Requirement::NotExists(k) => format!("!{k}"),
            Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
            Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
        }
    }
}

/// A parsed selector: all requirements must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Requirement>);

impl Selector {
    /// An empty selector (matches everything).
    pub fn new() -> Selector {
        Selector::default()
    }
    /// Adds `k=v`.
    pub fn eq(mut self, k: &str, v: &str) -> Selector {
        self.0.push(Requirement::Equals(k.into(), v.into()));
        self
    }
    /// Adds `k!=v`.
    pub fn ne(mut self, k: &str, v: &str) -> Selector {
        self.0.push(Requirement::NotEquals(k.into(), v.into()));
        self
    }
    /// Adds `k`.
    pub fn has(mut self, k: &str) -> Selector {
        self.0.push(Requirement::Exists(k.into()));
        self
    }
    /// Adds `!k`.
    pub fn lacks(mut self, k: &str) -> Selector {
        self.0.push(Requirement::NotExists(k.into()));
        self
    }
    /// Adds `k in (...)`.
    pub fn one_of(mut self, k: &str, vs: &[&str]) -> Selector {
        self.0.push(Requirement::In(
            k.into(),
            vs.iter().map(|v| (*v).to_owned()).collect(),
        ));
        self
    }
    /// Adds `k notin (...)`.
    pub fn none_of(mut self, k: &str, vs: &[&str]) -> Selector {
        self.0.push(Requirement::NotIn(
            k.into(),
            vs.iter().map(|v| (*v).to_owned()).collect(),
        ));
        self
    }
    /// True when every requirement holds for `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }

    /// Parses selector text; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(text)? {
            let p = part.trim();
            if p.is_empty() {
                return Err(format!("empty requirement in {text:?}"));
            }
            reqs.push(parse_requirement(p)?);
        }
        Ok(Selector(reqs))
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Requirement::render).collect();
        f.write_str(&parts.join(","))
    }
}

fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("unbalanced ')' in {text:?}"));
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in {text:?}"));
    }
    parts.push(text.get(start..).unwrap_or_default());
    Ok(parts)
}

fn valid_key(k: &str) -> bool {
    let name = k.rsplit('/').next().unwrap_or(k);
    !k.is_empty()
        && name.len() <= 63
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(k: &str, rest: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected (a,b) after {k:?}"))?;
    let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
    if let Some(bad) = vals.iter().find(|v| !valid_value(v)) {
        return Err(format!("invalid label value {bad:?}"));
    }
    Ok(vals)
}

fn parse_requirement(p: &str) -> Result<Requirement, String> {
    let key_ok = |k: &str| {
        if valid_key(k) {
            Ok(k.to_owned())
        } else {
            Err(format!("invalid label key {k:?}"))
        }
    };
    let val_ok = |v: &str| {
        if valid_value(v) {
            Ok(v.to_owned())
        } else {
            Err(format!("invalid label value {v:?}"))
        }
    };
    if let Some(k) = p.strip_prefix('!') {
        return Ok(Requirement::NotExists(key_ok(k.trim())?));
    }
    if let Some((k, v)) = p.split_once("!=") {
        return Ok(Requirement::NotEquals(key_ok(k.trim())?, val_ok(v.trim())?));
    }
    if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
        return Ok(Requirement::Equals(key_ok(k.trim())?, val_ok(v.trim())?));
    }
    if let Some((k, rest)) = p.split_once(" notin ") {
        return Ok(Requirement::NotIn(key_ok(k.trim())?, parse_set(k, rest)?));
    }
    if let Some((k, rest)) = p.split_once(" in ") {
        return Ok(Requirement::In(key_ok(k.trim())?, parse_set(k, rest)?));
    }
    Ok(Requirement::Exists(key_ok(p)?))
}

/// Checks a label set against Hetzner's rules; the error names the key.
pub fn validate(labels: &Labels) -> Result<(), String> {
    for (k, v) in labels {
        if !valid_key(k) {
            return Err(format!("invalid label key {k:?}"));
        }
        if k.starts_with("hetzner.cloud/") {
            return Err(format!(
                "label key {k:?} uses the reserved prefix hetzner.cloud/"
            ));
        }
        if !valid_value(v) {
            return Err(format!("invalid value {v:?} for label {k:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn full_grammar_parses_and_matches() {
        let l = labels(&[("k3strading.io/cluster", "dev"), ("role", "kafka")]);
        for (sel, want) in [
            ("k3strading.io/cluster=dev", true),
            ("k3strading.io/cluster==dev", true),
            ("role!=app", true),
            ("missing!=x", true),
            ("role", true),
            ("!role", false),
            ("!missing", true),
            ("role in (kafka,app)", true),
            ("role notin (kafka)", false),
            ("missing notin (a)", true),
            ("k3strading.io/cluster=dev,role in (app, kafka),!x", true),
            ("k3strading.io/cluster=prod,role", false),
        ] {
            let s = Selector::parse(sel).unwrap();
            assert_eq!(s.matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn builder_renders_parseable_text() {
        let s = Selector::new()
            .eq("a", "1")
            .lacks("b")
            .one_of("c", &["x", "y"])
            .none_of("d", &["z"])
            .ne("e", "2")
            .has("f");
        assert_eq!(s.to_string(), "a=1,!b,c in (x,y),d notin (z),e!=2,f");
        assert_eq!(Selector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn bad_selectors_and_labels_are_explained() {
        assert!(
            Selector::parse("a in (b")
                .unwrap_err()
                .contains("unbalanced")
        );
        assert!(Selector::parse("a=b,,c").unwrap_err().contains("empty"));
        assert!(Selector::parse("a=b c").is_err());
        assert!(
            validate(&labels(&[("hetzner.cloud/x", "1")]))
                .unwrap_err()
                .contains("reserved")
        );
        assert!(validate(&labels(&[("ok", "bad value")])).is_err());
    }
}
