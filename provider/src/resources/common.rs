//! Schema pieces and value conversions both resources use.

use k3strading_cluster::hcloud;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use hcloud::models::Labels;
use ipnet::Ipv4Net;
use tfplug::{Attribute, Block, NestedBlock, Nesting, Type, Value};

/// The `timeouts { create = "20m" delete = "10m" }` block.
pub fn timeouts_block() -> NestedBlock {
    let dur = |name: &str, default: &str| {
        Attribute::string(name)
            .optional()
            .validate(|v| match v.as_str().map(humantime::parse_duration) {
                Some(Ok(_)) | None => Ok(()),
                Some(Err(e)) => Err(format!("not a duration like \"20m\": {e}")),
            })
            .describe(format!(
                "How long {name} may take, e.g. `30m`. Default {default}."
            ))
    };
    NestedBlock::new(
        "timeouts",
        Nesting::Single,
        Block::new()
            .attribute(dur("create", "20m"))
            .attribute(dur("update", "20m"))
            .attribute(dur("delete", "10m")),
    )
}

/// The deadline for `op` from the `timeouts` block, or `default`.
pub fn timeout(config: &Value, op: &str, default: Duration) -> Duration {
    config
        .get("timeouts")
        .and_then(|t| t.get_str(op))
        .and_then(|s| humantime::parse_duration(s).ok())
        .unwrap_or(default)
}

/// A `labels` attribute: user labels, updated in place.
pub fn labels_attr() -> Attribute {
    Attribute::new("labels", Type::map(Type::String))
        .optional()
        .validate(|v| {
            let Value::Map(m) = v else { return Ok(()) };
            let labels: Labels = m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            if let Some(k) = labels
                .keys()
                .find(|k| k3strading_cluster::names::is_managed(k))
            {
                return Err(format!(
                    "label {k:?} uses the prefix k3strading.io/, which the provider manages"
                ));
            }
            hcloud::labels::validate(&labels)
        })
        .describe(
            "Extra labels for the Hetzner objects (keys under `k3strading.io/` are reserved).",
        )
}

/// The `ssh_authorized_keys` attribute: people's keys for root logins.
pub fn authorized_keys_attr() -> Attribute {
    Attribute::new("ssh_authorized_keys", Type::list(Type::String))
        .optional()
        .validate(|v| {
            for k in strings(Some(v)) {
                k3strading_cluster::ssh_key::fingerprint(&k)
                    .map_err(|_| format!("{:.20}… is not an OpenSSH public key line", k))?;
            }
            Ok(())
        })
        .describe("Public keys (OpenSSH one-line format) of people allowed to log in as root, besides the provider's own key.")
}

/// Labels from a `map(string)` value.
pub fn labels_of(v: Option<&Value>) -> Labels {
    match v {
        Some(Value::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
        _ => Labels::new(),
    }
}

/// A `map(string)` value from labels; an empty set is null (unset in config).
pub fn labels_value(l: &Labels) -> Value {
    if l.is_empty() {
        Value::Null
    } else {
        Value::Map(
            l.iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        )
    }
}

/// Labels read back from Hetzner, keeping the user's spelling of "none":
/// `labels = {}` stays an empty map instead of turning into null (which
/// would show a change on every plan).
pub fn read_labels(prior: Option<&Value>, actual: &Labels) -> Value {
    match (prior, actual.is_empty()) {
        (Some(Value::Map(m)), true) if m.is_empty() => Value::Map(Default::default()),
        _ => labels_value(actual),
    }
}

/// Strings of a list or set value.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::List(items) | Value::Set(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A list of strings.
pub fn string_list(items: &[String]) -> Value {
    Value::List(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// A set of strings.
pub fn string_set(items: &[String]) -> Value {
    Value::Set(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// A number, or null.
pub fn opt_int(v: Option<i64>) -> Value {
    v.map(Value::int).unwrap_or(Value::Null)
}

/// The id of a server's placement group, or null.
pub fn placement_group_of(server: &hcloud::models::Server) -> Value {
    opt_int(server.placement_group.as_ref().map(|g| g.id))
}

/// A string→number map value.
pub fn id_map(m: &BTreeMap<String, i64>) -> Value {
    Value::Map(m.iter().map(|(k, v)| (k.clone(), Value::int(*v))).collect())
}

/// A string→string map value.
pub fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Map(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

/// Validator: an IPv4 address.
pub fn ipv4(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some(s) => s
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("{s:?} is not an IPv4 address")),
        None => Ok(()),
    }
}

/// Validator: an RFC 1918 IPv4 CIDR of at least /24 without host bits.
pub fn private_cidr(v: &Value) -> Result<(), String> {
    let Some(s) = v.as_str() else { return Ok(()) };
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 CIDR such as 10.0.1.0/24"))?;
    if net.trunc() != net {
        return Err(format!(
            "{s:?} has host bits set; did you mean {}?",
            net.trunc()
        ));
    }
    let private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        .iter()
        .filter_map(|r| r.parse::<Ipv4Net>().ok())
        .any(|r| r.contains(&net));
    if !private {
        return Err(format!("{s} is not a private (RFC 1918) range"));
    }
    if net.prefix_len() > 24 {
        return Err(format!(
            "{s} is smaller than /24, the smallest Hetzner network"
        ));
    }
    Ok(())
}

/// Validator: every element is a CIDR.
pub fn cidr_list(v: &Value) -> Result<(), String> {
    for s in strings(Some(v)) {
        s.parse::<ipnet::IpNet>()
            .map_err(|_| format!("{s:?} is not a CIDR such as 203.0.113.0/24"))?;
    }
    Ok(())
}

/// Validator: an RFC 1123 DNS label.
pub fn dns_label(v: &Value) -> Result<(), String> {
    match v.as_str() {
        Some(s) if !k3strading_cluster::names::valid_dns_label(s) => Err(format!(
            "{s:?} must be lowercase letters, digits and '-', at most 63 characters (RFC 1123)"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_checks_explain_the_problem() {
        assert!(private_cidr(&Value::from("10.0.1.0/24")).is_ok());
        assert!(
            private_cidr(&Value::from("10.0.1.0/33"))
                .unwrap_err()
                .contains("not an IPv4 CIDR")
        );
        assert!(
            private_cidr(&Value::from("8.8.8.0/24"))
                .unwrap_err()
                .contains("RFC 1918")
        );
        assert!(
            private_cidr(&Value::from("10.0.1.0/25"))
                .unwrap_err()
                .contains("/24")
        );
        assert!(
            private_cidr(&Value::from("10.0.1.5/24"))
                .unwrap_err()
                .contains("host bits")
        );
        assert!(cidr_list(&Value::List(vec![Value::from("nope")])).is_err());
    }

    #[test]
    fn labels_round_trip_and_reserved_keys_are_refused() {
        let mut l = Labels::new();
        l.insert("team".into(), "quant".into());
        assert_eq!(labels_of(Some(&labels_value(&l))), l);
        assert_eq!(labels_value(&Labels::new()), Value::Null);
        let empty = Value::Map(Default::default());
        assert_eq!(read_labels(Some(&empty), &Labels::new()), empty);
        assert_eq!(read_labels(Some(&Value::Null), &Labels::new()), Value::Null);
        assert_eq!(read_labels(Some(&empty), &l), labels_value(&l));
        let bad = Value::Map([("k3strading.io/role".to_owned(), Value::from("x"))].into());
        assert!((labels_attr().validators[0])(&bad).is_err());
    }
}
