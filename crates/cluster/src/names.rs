//! Deterministic names, and the labels that make stateless teardown and
//! safe adoption possible. Every object name is built here and nowhere else.

use hcloud::models::Labels;

/// Label holding the cluster name on everything the provider creates.
pub const CLUSTER: &str = "k3strading.io/cluster";
/// Label holding the server role (`control-plane`, `kafka`, `app`, `worker`).
pub const ROLE: &str = "k3strading.io/role";
/// Label marking objects k3strading manages.
pub const MANAGED_BY: &str = "k3strading.io/managed-by";
/// Label holding a Primary IP's logical name.
pub const PRIMARY_IP: &str = "k3strading.io/primary-ip";
/// Label holding the pinned K3s version on the control plane ('+' as '-').
pub const K3S_VERSION: &str = "k3strading.io/k3s-version";
/// Label saying whether a server runs K3s (`true`/`false`: the resources'
/// `install_k3s`), so import can read it back.
pub const K3S: &str = "k3strading.io/k3s";
/// Label holding the SHA256 fingerprint (unpadded base64url) of the SSH key
/// a server was created with: a server whose key we do not hold is never adopted.
pub const SSH_KEY: &str = "k3strading.io/ssh-key";
/// Label holding the SHA256 fingerprint (unpadded base64url) of the server's
/// SSH host key, so that even a client without state can pin it.
pub const HOST_KEY: &str = "k3strading.io/host-key";
/// Value of [`MANAGED_BY`].
pub const MANAGER: &str = "terraform-provider-k3strading";
/// Prefix of every label key k3strading owns.
pub const PREFIX: &str = "k3strading.io/";

/// True for label keys k3strading owns (users cannot set or see them as theirs).
pub fn is_managed(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// The managed labels of an object of `cluster` (and `role`, for a server).
pub fn managed(cluster: &str, role: Option<&str>) -> Labels {
    let mut l = Labels::new();
    l.insert(CLUSTER.into(), cluster.into());
    l.insert(MANAGED_BY.into(), MANAGER.into());
    if let Some(r) = role {
        l.insert(ROLE.into(), r.into());
    }
    l
}

/// User labels merged under the managed ones (which always win).
pub fn merged(user: &Labels, managed: Labels) -> Labels {
    let mut l = user_part(user);
    l.extend(managed);
    l
}

/// The user's part of a label set.
pub fn user_part(all: &Labels) -> Labels {
    all.iter()
        .filter(|(k, _)| !is_managed(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Server name of the control plane.
pub fn control_plane(cluster: &str) -> String {
    format!("{cluster}-control")
}

/// Name of a Primary IP by logical name.
pub fn primary_ip(cluster: &str, logical: &str) -> String {
    format!("{cluster}-{logical}")
}

/// Name of the SSH key the provider generates for `cluster`.
pub fn ssh_key(cluster: &str) -> String {
    format!("{cluster}-provider")
}

/// Name of the network and of the firewall of `cluster`.
pub fn network(cluster: &str) -> String {
    cluster.to_owned()
}

/// Name of the firewall of `cluster`.
pub fn firewall(cluster: &str) -> String {
    cluster.to_owned()
}

/// Name of spread placement group number `block` (see [`crate::placement`]).
pub fn placement_group(cluster: &str, block: u32) -> String {
    format!("{cluster}-spread-{block}")
}

/// True for RFC 1123 labels (one DNS label: lowercase letters, digits, '-').
pub fn valid_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_seed_layout() {
        assert_eq!(control_plane("k3s-trading-dev"), "k3s-trading-dev-control");
        assert_eq!(
            primary_ip("k3s-trading-dev", "kafka"),
            "k3s-trading-dev-kafka"
        );
        assert_eq!(ssh_key("k3s-trading-dev"), "k3s-trading-dev-provider");
        assert_eq!(
            placement_group("k3s-trading-dev", 3),
            "k3s-trading-dev-spread-3"
        );
        assert!(valid_dns_label("k3s-trading-dev-kafka-0"));
        assert!(!valid_dns_label("K3s"));
        assert!(!valid_dns_label("a_b"));
        assert!(!valid_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn managed_labels_win_and_are_hidden_from_the_user_part() {
        let mut user = Labels::new();
        user.insert("team".into(), "quant".into());
        user.insert(CLUSTER.into(), "spoofed".into());
        let all = merged(&user, managed("c", Some("app")));
        assert_eq!(all[CLUSTER], "c");
        assert_eq!(all[ROLE], "app");
        assert_eq!(user_part(&all).len(), 1);
    }
}
