//! Reads the swagger definitions and the CRD files of the schemas directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::strict::strict;
use crate::{SchemaError, Source};

/// The Kubernetes OpenAPI document, relative to the schemas directory.
const SWAGGER: &str = "k8s-v1.34.1/swagger.json";
/// Subdirectories whose YAML files hold CRDs (other documents in them are skipped).
const CRD_DIRS: [&str; 3] = [
    "strimzi-0.50.1",
    "argocd-v3.5.1",
    "helm-controller-v0.16.26",
];

type Kinds = HashMap<(String, String), Source>;

/// Strict definitions and every kind's schema source.
pub(crate) fn load(dir: &Path) -> Result<(Value, Kinds), SchemaError> {
    let path = dir.join(SWAGGER);
    let text = read(&path)?;
    let swagger: Value = serde_json::from_str(&text).map_err(|e| parse(&path, e.to_string()))?;
    let mut definitions = swagger
        .get("definitions")
        .filter(|d| d.is_object())
        .cloned()
        .ok_or_else(|| {
            parse(
                &path,
                "no \"definitions\" object; is it a swagger document?".into(),
            )
        })?;
    let mut kinds = builtin_kinds(&definitions);
    strict(&mut definitions);
    for sub in CRD_DIRS {
        for file in yaml_files(&dir.join(sub))? {
            custom_kinds(&file, &mut kinds)?;
        }
    }
    Ok((definitions, kinds))
}

fn read(path: &Path) -> Result<String, SchemaError> {
    std::fs::read_to_string(path).map_err(|source| SchemaError::Read {
        path: path.to_owned(),
        source,
    })
}

fn parse(path: &Path, reason: String) -> SchemaError {
    SchemaError::Parse {
        path: path.to_owned(),
        reason,
    }
}

/// `group/version` or, for the core group, `version`.
fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// Definitions that carry `x-kubernetes-group-version-kind` are kinds. Shared definitions
/// (DeleteOptions, WatchEvent) name many groups; each becomes a kind of its own.
fn builtin_kinds(definitions: &Value) -> Kinds {
    let mut kinds = Kinds::new();
    let Some(map) = definitions.as_object() else {
        return kinds;
    };
    for (name, def) in map {
        let gvks = def
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for gvk in gvks {
            let s = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or_default();
            kinds
                .entry((api_version(s("group"), s("version")), s("kind").to_owned()))
                .or_insert_with(|| Source::Builtin(name.clone()));
        }
    }
    kinds
}

/// The `*.yaml` files of `dir`, sorted.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, SchemaError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SchemaError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| SchemaError::Read {
                path: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Adds the served versions of every CRD in `file`.
fn custom_kinds(file: &Path, kinds: &mut Kinds) -> Result<(), SchemaError> {
    let text = read(file)?;
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let doc: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| parse(file, e.to_string()))?;
        if doc.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
            continue;
        }
        let group = doc.pointer("/spec/group").and_then(Value::as_str);
        let kind = doc.pointer("/spec/names/kind").and_then(Value::as_str);
        let (Some(group), Some(kind)) = (group, kind) else {
            return Err(parse(
                file,
                "a CRD without spec.group or spec.names.kind".into(),
            ));
        };
        let versions = doc
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for version in versions {
            let served = version
                .get("served")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let name = version.get("name").and_then(Value::as_str);
            let schema = version.pointer("/schema/openAPIV3Schema");
            let (true, Some(name), Some(schema)) = (served, name, schema) else {
                continue;
            };
            let mut schema = schema.clone();
            strict(&mut schema);
            kinds.insert(
                (api_version(group, name), kind.to_owned()),
                Source::Custom(schema),
            );
        }
    }
    Ok(())
}
