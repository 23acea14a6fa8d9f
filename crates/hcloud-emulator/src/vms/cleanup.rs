//! Finding and removing what a run made, by its naming prefix: the fabric,
//! stand-in internet and VM namespaces (with every process inside, such as
//! the stand-in internet's server), the host link, the disks.
//! Used at stop, and at start for what a crashed earlier run left behind.

use std::path::Path;

use super::cmd::{VmError, ip, run};
use super::net::Names;

/// True for namespaces this prefix names: `<prefix>-fabric`, `<prefix>-inet`,
/// `<prefix>-vm<id>`.
pub fn ours(names: &Names, ns: &str) -> bool {
    let Some(rest) = ns
        .strip_prefix(names.prefix.as_str())
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    rest == "fabric"
        || rest == "inet"
        || rest
            .strip_prefix("vm")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The namespaces of this prefix that exist now.
pub async fn namespaces(names: &Names) -> Result<Vec<String>, VmError> {
    let out = ip(&["netns", "list"]).await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| ours(names, ns))
        .map(str::to_owned)
        .collect())
}

/// Kills every process in `ns` (only processes this program started can be
/// there) and deletes it.
pub async fn remove_namespace(ns: &str) {
    if let Ok(pids) = ip(&["netns", "pids", ns]).await {
        for pid in pids.split_whitespace() {
            let _ = run("kill", &["-KILL", pid]).await;
        }
    }
    if let Err(e) = ip(&["netns", "del", ns]).await {
        tracing::warn!(error = %e, "could not delete a namespace");
    }
}

/// Removes everything of this prefix; returns how many namespaces were found.
pub async fn everything(names: &Names, dir: &Path) -> Result<usize, VmError> {
    let found = namespaces(names).await?;
    // VMs (and the stand-in internet) first, so the fabric's ports go with them.
    let (fabric, vms): (Vec<_>, Vec<_>) = found.iter().partition(|n| n.ends_with("-fabric"));
    for ns in vms.iter().chain(fabric.iter()) {
        remove_namespace(ns).await;
    }
    let link = names.host_link();
    // Deleting the fabric usually takes the host link with it, a moment later.
    if ip(&["link", "show", "dev", &link]).await.is_ok()
        && let Err(e) = ip(&["link", "del", "dev", &link]).await
        && ip(&["link", "show", "dev", &link]).await.is_ok()
    {
        return Err(e);
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(VmError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_this_prefix_match() {
        let n = Names {
            prefix: "k3c".into(),
        };
        assert!(ours(&n, "k3c-fabric"));
        assert!(ours(&n, "k3c-vm1001"));
        assert!(ours(&n, "k3c-inet"));
        assert!(!ours(&n, "k3c-inetx"));
        assert!(!ours(&n, "k3c-vm"));
        assert!(!ours(&n, "k3c-vmx"));
        assert!(!ours(&n, "k3cx-vm1"));
        assert!(!ours(&n, "k3c2-fabric"));
        assert!(!ours(&n, "vml-fabric"));
    }
}
