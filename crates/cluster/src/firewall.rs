//! The public firewall: policy (which ports, from where) and its object,
//! applied to every server of the cluster by label selector.

use hcloud::labels::Selector;
use hcloud::models::{Firewall, FirewallRule, FirewallTarget, Labels};

use crate::spec::ClusterSpec;
use crate::{Error, Field, Hetzner, names};

/// The rules: SSH from `ssh_allowed_cidrs`, the Kubernetes API only when
/// asked, the Kafka NodePorts only when sources are given. Everything else
/// stays closed.
pub fn rules(spec: &ClusterSpec) -> Vec<FirewallRule> {
    let rule = |port: &str, cidrs: &[String], what: &str| FirewallRule {
        direction: "in".into(),
        protocol: "tcp".into(),
        port: Some(port.into()),
        source_ips: cidrs.to_vec(),
        destination_ips: Vec::new(),
        description: Some(what.into()),
    };
    let mut out = Vec::new();
    if !spec.ssh_allowed_cidrs.is_empty() {
        out.push(rule("22", &spec.ssh_allowed_cidrs, "SSH"));
    }
    if !spec.api_allowed_cidrs.is_empty() {
        out.push(rule("6443", &spec.api_allowed_cidrs, "Kubernetes API"));
    }
    if let (Some(p), false) = (&spec.kafka_nodeports, spec.kafka_allowed_cidrs.is_empty()) {
        out.push(rule(p, &spec.kafka_allowed_cidrs, "Kafka NodePorts"));
    }
    out
}

/// The firewall with [`rules`], applied to the cluster's label: adopted
/// (rules set again) when ours, refused when the name is someone else's.
pub async fn ensure(
    hz: &Hetzner<'_>,
    spec: &ClusterSpec,
    labels: &Labels,
) -> Result<Firewall, Error> {
    let name = names::firewall(&spec.name);
    let selector = Selector::new().eq(names::CLUSTER, &spec.name).to_string();
    let targets = [FirewallTarget::selector(selector)];
    let wanted = rules(spec);
    // Create first: on a fresh cluster the name is free, and Hetzner's
    // uniqueness check answers the lookup for a leftover.
    let find = || async {
        Ok::<_, hcloud::Error>(
            hz.api
                .firewalls(None, Some(&name))
                .await?
                .into_iter()
                .next(),
        )
    };
    let (fw, adopted) = hz
        .api
        .create_or_adopt(
            || hz.api.create_firewall(&name, labels, &wanted, &targets),
            find,
        )
        .await
        .map_err(|e| Error::api("create the firewall", e))?;
    if !adopted {
        return Ok(fw);
    }
    if fw.labels.get(names::CLUSTER) != Some(&spec.name) {
        return Err(Error::refused(
            Field::Name,
            format!(
                "A firewall named {} already exists and is not this cluster's",
                fw.name
            ),
            "rename the cluster or remove that firewall",
        ));
    }
    set_rules(hz, fw.id, spec).await?;
    Ok(fw)
}

/// Sets the firewall's rules to [`rules`].
pub async fn set_rules(
    hz: &Hetzner<'_>,
    id: hcloud::models::Id,
    spec: &ClusterSpec,
) -> Result<(), Error> {
    hz.api
        .set_firewall_rules(id, &rules(spec))
        .await
        .map(|_| ())
        .map_err(|e| Error::api("update the firewall rules", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_opens_ssh_and_only_what_was_asked() {
        let mut spec = ClusterSpec::new("c");
        spec.ssh_allowed_cidrs = vec!["203.0.113.0/24".into()];
        spec.kafka_allowed_cidrs = Vec::new();
        let r = rules(&spec);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].port.as_deref(), Some("22"));
        spec.kafka_allowed_cidrs = vec!["198.51.100.7/32".into()];
        spec.api_allowed_cidrs = vec!["198.51.100.8/32".into()];
        let ports: Vec<_> = rules(&spec).into_iter().filter_map(|r| r.port).collect();
        assert_eq!(ports, ["22", "6443", "31090-31095"]);
    }
}
