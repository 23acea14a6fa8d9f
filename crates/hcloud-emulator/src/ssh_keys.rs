//! `/ssh_keys`: OpenSSH public keys, unique by name and by fingerprint.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use hcloud::models::*;
use serde_json::json;

use crate::Emu;
use crate::http::{self, ApiErr, Query, Res};
use crate::world::{now_ms, rfc3339};

fn fingerprint(public_key: &str) -> Result<String, ApiErr> {
    use base64::Engine as _;
    use md5::Digest as _;
    let mut parts = public_key.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let blob = parts.next().unwrap_or_default();
    if !(kind.starts_with("ssh-") || kind.starts_with("ecdsa-")) {
        return Err(ApiErr::field("public_key", "is not an OpenSSH public key"));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| ApiErr::field("public_key", "key data is not base64"))?;
    let digest = md5::Md5::digest(&raw);
    Ok(digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

pub async fn list(State(emu): State<Emu>, RawQuery(q): RawQuery) -> Res {
    let q = Query::parse(q.as_deref())?;
    let w = emu.world();
    let mut keys: Vec<SshKey> = w.ssh_keys.values().cloned().collect();
    if let Some(fp) = q.get("fingerprint") {
        keys.retain(|k| k.fingerprint == fp);
    }
    http::list("ssh_keys", keys, &q, |k| &k.name, |k| Some(&k.labels))
}

pub async fn get(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let w = emu.world();
    let k = w
        .ssh_keys
        .get(&id)
        .ok_or_else(|| ApiErr::not_found("ssh_key"))?;
    http::ok(json!({ "ssh_key": k }))
}

pub async fn create(State(emu): State<Emu>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "public_key", "labels"])?;
    let mut w = emu.world();
    let name = http::check_name(&v)?;
    let public_key = http::req_str(&v, "public_key")?.trim().to_owned();
    let fp = fingerprint(&public_key)?;
    if w.ssh_keys.values().any(|k| k.name == name) {
        return Err(ApiErr::unique("name"));
    }
    if w.ssh_keys.values().any(|k| k.fingerprint == fp) {
        return Err(ApiErr::unique("public_key"));
    }
    let id = w.id();
    let key = SshKey {
        id,
        name,
        fingerprint: fp,
        public_key,
        labels: http::labels(&v)?.unwrap_or_default(),
        created: rfc3339(now_ms()),
    };
    w.ssh_keys.insert(id, key.clone());
    emu.changed(&w);
    http::created(json!({ "ssh_key": key }))
}

pub async fn update(State(emu): State<Emu>, Path(id): Path<Id>, body: Bytes) -> Res {
    let v = http::body(&body)?;
    http::only_keys(&v, &["name", "labels"])?;
    let mut w = emu.world();
    let r = http::rename(&v, |n| {
        w.ssh_keys.values().any(|x| x.name == n && x.id != id)
    })?;
    let k = w
        .ssh_keys
        .get_mut(&id)
        .ok_or_else(|| ApiErr::not_found("ssh_key"))?;
    r.apply(&mut k.name, &mut k.labels);
    let out = k.clone();
    emu.changed(&w);
    http::ok(json!({ "ssh_key": out }))
}

pub async fn delete(State(emu): State<Emu>, Path(id): Path<Id>) -> Res {
    let mut w = emu.world();
    w.ssh_keys
        .remove(&id)
        .ok_or_else(|| ApiErr::not_found("ssh_key"))?;
    emu.changed(&w);
    http::no_content()
}
