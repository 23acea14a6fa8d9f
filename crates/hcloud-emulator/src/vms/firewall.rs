//! Hetzner firewalls on the public side: for each VM a chain `fw<server>` in
//! the fabric's FORWARD path to its public port. With no firewall applied,
//! everything inbound is allowed (as on Hetzner); with one or more, only
//! their `in` rules are (plus replies), the rest is dropped. Private networks
//! are not filtered (Hetzner firewalls do not apply to them either).

use hcloud::models::Firewall;

use super::cmd::{VmError, in_ns};

/// The chain's rules, as iptables argument vectors for `-A <chain>`.
pub fn chain_rules(firewalls: &[&Firewall]) -> Vec<Vec<String>> {
    let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    if firewalls.is_empty() {
        return vec![words(&["-j", "ACCEPT"])];
    }
    let mut out = vec![words(&[
        "-m",
        "conntrack",
        "--ctstate",
        "ESTABLISHED,RELATED",
        "-j",
        "ACCEPT",
    ])];
    for fw in firewalls {
        for rule in fw.rules.iter().filter(|r| r.direction == "in") {
            let proto = match rule.protocol.as_str() {
                p @ ("tcp" | "udp" | "icmp" | "esp" | "gre") => p,
                _ => continue,
            };
            for src in rule.source_ips.iter().filter(|s| !s.contains(':')) {
                let mut r = words(&["-p", proto, "-s", src]);
                if let (Some(port), "tcp" | "udp") = (&rule.port, proto)
                    && port != "any"
                {
                    r.push("--dport".into());
                    r.push(port.replace('-', ":"));
                }
                r.extend(words(&["-j", "ACCEPT"]));
                out.push(r);
            }
        }
    }
    out.push(words(&["-j", "DROP"]));
    out
}

/// Hooks a new VM's chain into FORWARD.
pub async fn hook(fabric: &str, server: i64) -> Result<(), VmError> {
    let (chain, port) = (format!("fw{server}"), format!("p{server}"));
    let _ = in_ns(fabric, "iptables", &["-w", "-N", &chain]).await;
    in_ns(fabric, "iptables", &["-w", "-F", &chain]).await?;
    in_ns(
        fabric,
        "iptables",
        &["-w", "-I", "FORWARD", "1", "-o", &port, "-j", &chain],
    )
    .await
    .map(drop)
}

/// Replaces the chain's rules.
pub async fn apply(fabric: &str, server: i64, rules: &[Vec<String>]) -> Result<(), VmError> {
    let chain = format!("fw{server}");
    in_ns(fabric, "iptables", &["-w", "-F", &chain]).await?;
    for r in rules {
        let mut args = vec!["-w", "-A", chain.as_str()];
        args.extend(r.iter().map(String::as_str));
        in_ns(fabric, "iptables", &args).await?;
    }
    Ok(())
}

/// Removes the chain and its hook.
pub async fn unhook(fabric: &str, server: i64) {
    let (chain, port) = (format!("fw{server}"), format!("p{server}"));
    let _ = in_ns(
        fabric,
        "iptables",
        &["-w", "-D", "FORWARD", "-o", &port, "-j", &chain],
    )
    .await;
    let _ = in_ns(fabric, "iptables", &["-w", "-F", &chain]).await;
    let _ = in_ns(fabric, "iptables", &["-w", "-X", &chain]).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use hcloud::models::FirewallRule;

    fn fw(rules: Vec<FirewallRule>) -> Firewall {
        Firewall {
            rules,
            ..Firewall::default()
        }
    }

    fn rule(dir: &str, proto: &str, port: Option<&str>, src: &[&str]) -> FirewallRule {
        FirewallRule {
            direction: dir.into(),
            protocol: proto.into(),
            port: port.map(str::to_owned),
            source_ips: src.iter().map(|s| (*s).to_owned()).collect(),
            destination_ips: Vec::new(),
            description: None,
        }
    }

    #[test]
    fn no_firewall_allows_everything() {
        assert_eq!(chain_rules(&[]), vec![vec!["-j", "ACCEPT"]]);
    }

    #[test]
    fn inbound_rules_allow_their_ports_and_sources_then_drop() {
        let f = fw(vec![
            rule("in", "tcp", Some("22"), &["0.0.0.0/0", "::/0"]),
            rule("in", "udp", Some("8000-8100"), &["10.1.0.0/16"]),
            rule("in", "icmp", None, &["0.0.0.0/0"]),
            rule("out", "tcp", Some("443"), &[]),
        ]);
        let r = chain_rules(&[&f]);
        let text: Vec<String> = r.iter().map(|w| w.join(" ")).collect();
        assert_eq!(
            text,
            [
                "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                "-p tcp -s 0.0.0.0/0 --dport 22 -j ACCEPT",
                "-p udp -s 10.1.0.0/16 --dport 8000:8100 -j ACCEPT",
                "-p icmp -s 0.0.0.0/0 -j ACCEPT",
                "-j DROP",
            ]
        );
    }

    #[test]
    fn a_firewall_without_rules_drops_all_new_inbound() {
        let f = fw(Vec::new());
        assert_eq!(chain_rules(&[&f]).last().unwrap(), &vec!["-j", "DROP"]);
    }
}
