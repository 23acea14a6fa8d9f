//! Equality-based label selectors and the one field selector kubectl uses
//! (`metadata.name=`, when it waits for a deletion).

use serde_json::Value;

#[derive(Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

/// A parsed `labelSelector`.
#[derive(Debug, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    /// Parses `a=b,c!=d,e,!f`; set-based forms are refused, not misread.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part.contains(" in ") || part.contains(" notin ") || part.contains('(') {
                return Err(format!(
                    "set-based selector {part:?} is not supported by the stand-in"
                ));
            }
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::Absent(k.trim().into())
            } else {
                Requirement::Exists(part.into())
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether a `metadata.labels` object satisfies every requirement.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::Absent(k) => get(k).is_none(),
        })
    }
}

/// The name a `fieldSelector` pins, if any.
pub fn name_field(text: &str) -> Result<Option<String>, String> {
    let mut name = None;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("metadata.name", v)) => name = Some(v.trim_start_matches('=').to_string()),
            _ => {
                return Err(format!(
                    "field selector {part:?} is not supported by the stand-in"
                ));
            }
        }
    }
    Ok(name)
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
    fn equality_selectors_match_as_kubernetes_defines_them() {
        let labels = json!({"kafka": "true", "zone": "a"});
        assert!(
            Selector::parse("kafka=true,zone!=b")
                .unwrap()
                .matches(&labels)
        );
        assert!(
            Selector::parse("kafka==true,!gpu")
                .unwrap()
                .matches(&labels)
        );
        assert!(!Selector::parse("kafka=false").unwrap().matches(&labels));
        assert!(!Selector::parse("gpu").unwrap().matches(&labels));
        assert!(Selector::parse("zone in (a)").is_err());
        assert_eq!(
            name_field("metadata.name=n1").unwrap().as_deref(),
            Some("n1")
        );
        assert!(name_field("spec.unschedulable=true").is_err());
    }
}
