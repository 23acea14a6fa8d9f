//! The resource types the stand-in serves: a fixed set of built-in kinds
//! plus every served version of each registered CustomResourceDefinition.

use serde_json::{Value, json};

/// One resource type at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    /// API group ("" for the core group).
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name, as in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
}

/// The group of CustomResourceDefinitions.
pub const CRD_GROUP: &str = "apiextensions.k8s.io";

impl Kind {
    /// `group/version`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this is the CustomResourceDefinition kind.
    pub fn is_crd(&self) -> bool {
        self.group == CRD_GROUP && self.plural == "customresourcedefinitions"
    }

    /// `kafkas.kafka.strimzi.io`, the qualified resource name in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The discovery entry (`APIResource`).
    pub fn discovery(&self) -> Value {
        json!({
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "shortNames": self.short_names,
            "verbs": ["create", "delete", "get", "list", "patch", "update"],
        })
    }
}

fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
) -> Kind {
    Kind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| (*s).to_string()).collect(),
    }
}

/// The built-in kinds the generic store serves (nodes and pods have their
/// own handlers).
pub fn builtins() -> Vec<Kind> {
    vec![
        builtin("", "v1", "Namespace", "namespaces", false, &["ns"]),
        builtin("", "v1", "Secret", "secrets", true, &[]),
        builtin("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
        builtin("", "v1", "Service", "services", true, &["svc"]),
        builtin(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            true,
            &["quota"],
        ),
        builtin("", "v1", "LimitRange", "limitranges", true, &["limits"]),
        builtin("apps", "v1", "Deployment", "deployments", true, &["deploy"]),
        builtin(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            false,
            &["pc"],
        ),
        // Stored and validated, not enforced: the stand-in admits no pods.
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            false,
            &["vap"],
        ),
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            false,
            &["vapb"],
        ),
        builtin(
            CRD_GROUP,
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
        ),
    ]
}

/// The served versions of a CRD as kinds, each with its `openAPIV3Schema`
/// when it has one; an error names what is missing.
pub fn from_crd(crd: &Value) -> Result<Vec<(Kind, Option<Value>)>, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let group = text(spec, "group");
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let (kind, plural) = (text(names, "kind"), text(names, "plural"));
    for (field, value) in [
        ("spec.group", &group),
        ("spec.names.kind", &kind),
        ("spec.names.plural", &plural),
    ] {
        if value.is_empty() {
            return Err(format!("{field}: Required value"));
        }
    }
    let name = crd
        .get("metadata")
        .map(|m| text(m, "name"))
        .unwrap_or_default();
    if name != format!("{plural}.{group}") {
        return Err(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let namespaced = match text(spec, "scope").as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(format!(
                "spec.scope: Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
            ));
        }
    };
    let singular = match text(names, "singular") {
        s if s.is_empty() => kind.to_ascii_lowercase(),
        s => s,
    };
    let short_names: Vec<String> = names
        .get("shortNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or("spec.versions: Required value")?;
    Ok(versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .map(|v| {
            let kind = Kind {
                group: group.clone(),
                version: text(v, "name"),
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                namespaced,
                short_names: short_names.clone(),
            };
            let schema = v
                .get("schema")
                .and_then(|s| s.get("openAPIV3Schema"))
                .cloned();
            (kind, schema)
        })
        .collect())
}

/// The status a real API server gives an accepted CRD.
pub fn crd_status(crd: &Value, now: &str) -> Value {
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now});
    let names = crd
        .get("spec")
        .and_then(|s| s.get("names"))
        .cloned()
        .unwrap_or(Value::Null);
    let stored: Vec<Value> = crd
        .get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool).unwrap_or(false))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "acceptedNames": names,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    })
}
