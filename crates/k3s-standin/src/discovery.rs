//! Legacy discovery (`/apis`, `/apis/{group}`, `/apis/{group}/{version}`,
//! the core list in `/api/v1`) for every served kind, CRDs included as
//! soon as they are created. Aggregated discovery is not offered: answering
//! with plain `application/json` makes kubectl fall back to these documents.

use std::cmp::Reverse;

use serde_json::{Value, json};

use crate::objects::kinds::Kind;

/// The APIGroupList.
pub fn groups(kinds: &[Kind]) -> Value {
    let mut names: Vec<&str> = Vec::new();
    for kind in kinds.iter().filter(|k| !k.group.is_empty()) {
        if !names.contains(&kind.group.as_str()) {
            names.push(&kind.group);
        }
    }
    let groups: Vec<Value> = names.into_iter().filter_map(|g| group(kinds, g)).collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// One APIGroup, its versions in Kubernetes priority order.
pub fn group(kinds: &[Kind], name: &str) -> Option<Value> {
    let mut versions: Vec<&str> = Vec::new();
    for kind in kinds.iter().filter(|k| k.group == name) {
        if !versions.contains(&kind.version.as_str()) {
            versions.push(&kind.version);
        }
    }
    versions.sort_by_key(|v| Reverse(priority(v)));
    let entry = |v: &str| json!({ "groupVersion": format!("{name}/{v}"), "version": v });
    let preferred = entry(versions.first()?);
    Some(json!({
        "kind": "APIGroup", "apiVersion": "v1", "name": name,
        "versions": versions.iter().map(|v| entry(v)).collect::<Vec<_>>(),
        "preferredVersion": preferred,
    }))
}

/// The APIResourceList of one group version (`extra`: entries served by
/// other handlers); None when nothing is served there.
pub fn resources(kinds: &[Kind], group: &str, version: &str, extra: Vec<Value>) -> Option<Value> {
    let mut list: Vec<Value> = kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .map(Kind::discovery)
        .collect();
    if list.is_empty() && extra.is_empty() {
        return None;
    }
    list.extend(extra);
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list }),
    )
}

/// Kubernetes' version order: GA before beta before alpha, higher numbers
/// first; anything else last.
fn priority(version: &str) -> (u8, u32, u32) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = rest.get(digits.len()..).unwrap_or_default();
    let level = |prefix: &str| {
        tail.strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
    };
    match (tail.is_empty(), level("beta"), level("alpha")) {
        (true, _, _) => (3, major, 0),
        (_, Some(minor), _) => (2, major, minor),
        (_, _, Some(minor)) => (1, major, minor),
        _ => (0, 0, 0),
    }
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

    #[test]
    fn ga_versions_are_preferred_over_beta_and_alpha() {
        let mut versions = vec!["v1alpha1", "v1beta2", "v1", "v2beta1", "v1beta1"];
        versions.sort_by_key(|v| Reverse(priority(v)));
        assert_eq!(
            versions,
            ["v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1"]
        );
    }
}
