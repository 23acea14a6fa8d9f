//! The subset of cloud-init a local VM honours at first boot: `ssh_keys`
//! (host keys), `ssh_authorized_keys`, `write_files`, `runcmd`, `hostname`.
//! A user data that starts with `#!` is run as a script, as cloud-init does.
//!
//! Everything is written into the VM's disk (the overlay's upper layers)
//! before the VM starts; `runcmd` is left as a script the VM's init runs.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// The cloud-config keys the local cloud acts on; others are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct CloudConfig {
    /// Host keys, named as cloud-init names them (`ed25519_private`, …).
    #[serde(default)]
    pub ssh_keys: BTreeMap<String, String>,
    /// Extra authorized keys for root.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
    /// Files to write.
    #[serde(default)]
    pub write_files: Vec<WriteFile>,
    /// Commands run in order at first boot.
    #[serde(default)]
    pub runcmd: Vec<RunCmd>,
    /// Hostname (the server's name when absent).
    #[serde(default)]
    pub hostname: Option<String>,
}

/// One `write_files` entry.
#[derive(Debug, Deserialize)]
pub struct WriteFile {
    /// Absolute path inside the VM.
    pub path: String,
    /// Content (see `encoding`).
    #[serde(default)]
    pub content: String,
    /// Octal mode such as `"0644"`.
    #[serde(default)]
    pub permissions: Option<String>,
    /// `b64`/`base64` or plain.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Append instead of replace.
    #[serde(default)]
    pub append: bool,
}

/// A `runcmd` entry: a shell line, or an argument vector.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RunCmd {
    /// Run by `sh`.
    Line(String),
    /// Run as is (each word quoted).
    Argv(Vec<String>),
}

/// What the user data asks for.
#[derive(Debug, Default)]
pub struct Seed {
    /// Parsed cloud-config (empty for scripts).
    pub config: CloudConfig,
    /// A `#!` user data, run once like `runcmd`.
    pub script: Option<String>,
}

/// Parses user data; the error never quotes the content.
pub fn parse(user_data: Option<&str>) -> Result<Seed, String> {
    let Some(text) = user_data.filter(|t| !t.trim().is_empty()) else {
        return Ok(Seed::default());
    };
    if text.starts_with("#!") {
        return Ok(Seed {
            config: CloudConfig::default(),
            script: Some(text.to_owned()),
        });
    }
    if !text.starts_with("#cloud-config") {
        return Err("only #cloud-config and #! scripts are understood".into());
    }
    let config: CloudConfig = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
        Some(l) => format!("not valid cloud-config YAML (line {})", l.line()),
        None => "not valid cloud-config YAML".into(),
    })?;
    Ok(Seed {
        config,
        script: None,
    })
}

/// Single-quotes a word for `sh`.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The first-boot script: `runcmd` entries in order, stopping at none (like
/// cloud-init, a failing entry does not stop the rest).
pub fn runcmd_script(seed: &Seed) -> Option<String> {
    if let Some(s) = &seed.script {
        return Some(s.clone());
    }
    if seed.config.runcmd.is_empty() {
        return None;
    }
    let mut out = String::from("#!/bin/sh\n");
    for cmd in &seed.config.runcmd {
        match cmd {
            RunCmd::Line(l) => out.push_str(l),
            RunCmd::Argv(words) => {
                let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
                out.push_str(&quoted.join(" "));
            }
        }
        out.push('\n');
    }
    Some(out)
}

/// Host key files (`ssh_host_<type>_key[.pub]`) and their contents.
pub fn host_keys(seed: &Seed) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kind in ["ed25519", "ecdsa", "rsa"] {
        if let Some(private) = seed.config.ssh_keys.get(&format!("{kind}_private")) {
            out.push((format!("ssh_host_{kind}_key"), ensure_newline(private)));
            if let Some(public) = seed.config.ssh_keys.get(&format!("{kind}_public")) {
                out.push((format!("ssh_host_{kind}_key.pub"), ensure_newline(public)));
            }
        }
    }
    out
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

/// Where a VM path lives on the VM's disk: under one of the overlay roots or
/// the root home. Paths elsewhere (e.g. `/tmp`) or with `..` are refused.
pub fn disk_path(vm_dir: &Path, path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    let mut parts = p.components().skip(1);
    let top = match parts.next()? {
        Component::Normal(t) => t.to_str()?,
        _ => return None,
    };
    let rest: PathBuf = parts.collect();
    if top == "root" {
        return Some(vm_dir.join("root").join(rest));
    }
    if super::sandbox::OVERLAY_ROOTS.contains(&top) && !rest.as_os_str().is_empty() {
        return Some(vm_dir.join("upper").join(top).join(rest));
    }
    None
}

/// A `write_files` entry's bytes and mode.
pub fn file_content(f: &WriteFile) -> Result<(Vec<u8>, u32), String> {
    let bytes = match f.encoding.as_deref() {
        None | Some("text/plain") => f.content.clone().into_bytes(),
        Some("b64" | "base64") => base64::engine::general_purpose::STANDARD
            .decode(f.content.trim())
            .map_err(|_| format!("write_files {}: content is not base64", f.path))?,
        Some(other) => {
            return Err(format!(
                "write_files {}: encoding {other:?} is not supported",
                f.path
            ));
        }
    };
    let mode = match &f.permissions {
        None => 0o644,
        Some(p) => u32::from_str_radix(p.trim_start_matches("0o"), 8)
            .map_err(|_| format!("write_files {}: permissions {p:?} is not octal", f.path))?,
    };
    Ok((bytes, mode))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    const UD: &str = "#cloud-config
hostname: cp-1
ssh_keys:
  ed25519_private: |
    -----BEGIN OPENSSH PRIVATE KEY-----
    abc
    -----END OPENSSH PRIVATE KEY-----
  ed25519_public: ssh-ed25519 AAAA host
ssh_authorized_keys: [ssh-ed25519 BBBB me]
write_files:
  - path: /etc/rancher/k3s/config.yaml
    content: 'token: x'
    permissions: '0600'
  - path: /usr/local/bin/hi
    encoding: b64
    content: aGk=
runcmd:
  - [echo, \"it's\"]
  - echo two > /root/two
";

    #[test]
    fn cloud_config_keys_are_read() {
        let s = parse(Some(UD)).unwrap();
        assert_eq!(s.config.hostname.as_deref(), Some("cp-1"));
        assert_eq!(s.config.ssh_authorized_keys, ["ssh-ed25519 BBBB me"]);
        let keys = host_keys(&s);
        assert_eq!(keys[0].0, "ssh_host_ed25519_key");
        assert!(keys[0].1.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
        assert_eq!(
            keys[1],
            (
                "ssh_host_ed25519_key.pub".into(),
                "ssh-ed25519 AAAA host\n".into()
            )
        );
        let (bytes, mode) = file_content(&s.config.write_files[0]).unwrap();
        assert_eq!((bytes.as_slice(), mode), (&b"token: x"[..], 0o600));
        assert_eq!(file_content(&s.config.write_files[1]).unwrap().0, b"hi");
    }

    #[test]
    fn runcmd_keeps_order_and_quotes_argv_entries() {
        let s = parse(Some(UD)).unwrap();
        assert_eq!(
            runcmd_script(&s).unwrap(),
            "#!/bin/sh\n'echo' 'it'\\''s'\necho two > /root/two\n"
        );
        let script = parse(Some("#!/bin/bash\necho hi\n")).unwrap();
        assert_eq!(runcmd_script(&script).unwrap(), "#!/bin/bash\necho hi\n");
        assert!(runcmd_script(&parse(None).unwrap()).is_none());
    }

    #[test]
    fn paths_map_onto_the_disk_and_escapes_are_refused() {
        let d = Path::new("/d");
        assert_eq!(disk_path(d, "/etc/a/b"), Some("/d/upper/etc/a/b".into()));
        assert_eq!(disk_path(d, "/root/.ssh/x"), Some("/d/root/.ssh/x".into()));
        assert_eq!(disk_path(d, "/etc/../x"), None);
        assert_eq!(disk_path(d, "/tmp/x"), None);
        assert_eq!(disk_path(d, "etc/x"), None);
        assert_eq!(disk_path(d, "/etc"), None);
    }

    #[test]
    fn errors_never_quote_the_user_data() {
        let e = parse(Some("#cloud-config\nssh_keys: [secret-key-material")).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(parse(Some("plain text")).is_err());
    }
}
