//! Input checks: everything rendered into YAML or shell has a known, harmless form.

use super::{InstallSpec, NodeSpec, RenderError, Role};

/// Label prefixes the kubelet may set on its own node.
const KUBELET_PREFIXES: [&str; 2] = ["kubelet.kubernetes.io/", "node.kubernetes.io/"];

pub(super) fn node(spec: &NodeSpec) -> Result<(), RenderError> {
    let bad = |field, value: &str, reason| RenderError::Invalid {
        node: spec.name.clone(),
        field,
        value: value.to_owned(),
        reason,
    };
    if !is_dns_label(&spec.name) {
        return Err(bad(
            "node name",
            &spec.name,
            "lowercase letters, digits and '-', at most 63",
        ));
    }
    for (key, value) in &spec.labels {
        label(spec, key, value)?;
    }
    for taint in &spec.taints {
        if !is_taint(taint) {
            return Err(bad(
                "taint",
                taint,
                "key[=value]:NoSchedule|PreferNoSchedule|NoExecute",
            ));
        }
    }
    if let Some(iface) = &spec.flannel_iface
        && !is_iface(iface)
    {
        return Err(bad("flannel interface", iface, "a Linux interface name"));
    }
    match &spec.role {
        Role::Server { tls_san } => {
            for san in tls_san {
                if san.is_empty()
                    || !san
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
                {
                    return Err(bad("tls-san", san, "a DNS name or IP address"));
                }
            }
        }
        Role::Agent { server_url } => {
            if !is_https_url(server_url) {
                return Err(bad("server URL", server_url, "https://host:port"));
            }
        }
    }
    Ok(())
}

pub(super) fn install(spec: &InstallSpec) -> Result<(), RenderError> {
    node(&spec.node)?;
    let bad = |field, value: &str, reason| RenderError::Invalid {
        node: spec.node.name.clone(),
        field,
        value: value.to_owned(),
        reason,
    };
    if !is_k3s_version(&spec.k3s_version) {
        return Err(bad(
            "K3s version",
            &spec.k3s_version,
            "vMAJOR.MINOR.PATCH+k3sN",
        ));
    }
    if !is_https_url(&spec.installer_url) {
        return Err(bad("installer URL", &spec.installer_url, "an https URL"));
    }
    if spec.unit_timeout_secs == 0 {
        return Err(bad("unit timeout", "0", "more than zero seconds"));
    }
    Ok(())
}

fn label(spec: &NodeSpec, key: &str, value: &str) -> Result<(), RenderError> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let kube_domain = ["kubernetes.io", "k8s.io"]
            .iter()
            .any(|d| prefix == *d || prefix.ends_with(&format!(".{d}")));
        let allowed = KUBELET_PREFIXES.iter().any(|p| key.starts_with(p));
        if kube_domain && !allowed {
            return Err(RenderError::ForbiddenLabel {
                node: spec.name.clone(),
                key: key.to_owned(),
            });
        }
    }
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    if !prefix_ok || !is_label_value(name) || name.is_empty() {
        return Err(RenderError::Invalid {
            node: spec.name.clone(),
            field: "label key",
            value: key.to_owned(),
            reason: "[prefix/]name with letters, digits, '-', '_', '.'",
        });
    }
    if !is_label_value(value) {
        return Err(RenderError::Invalid {
            node: spec.name.clone(),
            field: "label value",
            value: value.to_owned(),
            reason: "at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric",
        });
    }
    Ok(())
}

fn is_iface(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_label_value(s: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && edge_ok(s.chars().next())
        && edge_ok(s.chars().last())
}

fn is_taint(s: &str) -> bool {
    let Some((kv, effect)) = s.rsplit_once(':') else {
        return false;
    };
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        && !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && is_label_value(value)
}

fn is_https_url(s: &str) -> bool {
    s.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~:/?=&%+[]".contains(c))
    })
}

fn is_k3s_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let Some((semver, build)) = rest.split_once("+k3s") else {
        return false;
    };
    let numeric = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    semver.split('.').count() == 3 && semver.split('.').all(numeric) && numeric(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3s_versions() {
        assert!(is_k3s_version("v1.34.1+k3s1"));
        assert!(!is_k3s_version("1.34.1+k3s1"));
        assert!(!is_k3s_version("v1.34+k3s1"));
        assert!(!is_k3s_version("v1.34.1+k3s1; rm -rf /"));
    }

    #[test]
    fn taints() {
        assert!(is_taint("dedicated=kafka:NoSchedule"));
        assert!(is_taint("dedicated:NoExecute"));
        assert!(!is_taint("dedicated=kafka"));
        assert!(!is_taint("dedicated=kafka:Sometimes"));
    }
}
