//! `terraform import` for both resources, by name. Everything is read back
//! from Hetzner (through the cluster inventory) except what only the creating
//! run knew: the generated secrets (`k3s_token`, `ssh_private_key`), the host
//! keys (`host_public_key`; their fingerprints are labels), node
//! `taints` and `timeouts`.

use k3strading_cluster::defaults as d;
use k3strading_cluster::inventory::{self, Inventory};
use k3strading_cluster::{Hetzner, names};
use tfplug::{Diagnostic, Diagnostics, Schema, Type, Value};

use crate::cloud::diag;
use crate::resources::common::*;

fn empty(schema: &Schema) -> Value {
    match schema.value_type() {
        Type::Object(attrs) => {
            Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect())
        }
        _ => Value::Null,
    }
}

fn not_found(what: String) -> Diagnostics {
    Diagnostic::error("Nothing to import", what).into()
}

/// Imports cluster `name` from its inventory.
pub fn cluster(name: &str, inv: &Inventory, schema: &Schema) -> Result<Value, Diagnostics> {
    let server = inv.control_plane(name).ok_or_else(|| {
        not_found(format!(
            "no server {} labelled {}={name}",
            names::control_plane(name),
            names::CLUSTER
        ))
    })?;
    let network = inv
        .network
        .as_ref()
        .ok_or_else(|| not_found(format!("no network {name}")))?;
    let firewall = inv.firewall.as_ref();
    let key = inv.ssh_key.as_ref();
    let ips = &inv.primary_ips;

    let mut v = empty(schema);
    v.set("id", name.into());
    v.set("name", name.into());
    v.set("location", server.location.name.as_str().into());
    v.set("network_cidr", network.ip_range.as_str().into());
    v.set(
        "control_plane_type",
        server.server_type.name.as_str().into(),
    );
    v.set(
        "control_plane_ip",
        server
            .private_ip(network.id)
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    v.set(
        "image",
        server
            .image
            .as_ref()
            .and_then(|i| i.name.clone())
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    let mut logical: Vec<String> = ips
        .iter()
        .filter_map(|i| i.labels.get(names::PRIMARY_IP).cloned())
        .collect();
    logical.sort();
    v.set("primary_ips", string_set(&logical));
    let cp_ip = server.public_net.ipv4.as_ref().map(|i| i.id);
    let cp_logical = ips
        .iter()
        .find(|i| Some(i.id) == cp_ip)
        .and_then(|i| i.labels.get(names::PRIMARY_IP).cloned());
    v.set(
        "control_plane_primary_ip",
        cp_logical.map(Value::from).unwrap_or(Value::Null),
    );
    let rules = firewall
        .as_ref()
        .map(|f| f.rules.clone())
        .unwrap_or_default();
    let sources = |port_pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        rules
            .iter()
            .filter(|r| r.port.as_deref().is_some_and(port_pred))
            .flat_map(|r| r.source_ips.clone())
            .collect()
    };
    let kafka_rule = rules
        .iter()
        .find(|r| r.port.as_deref().is_some_and(|p| p.contains('-')));
    v.set("ssh_allowed_cidrs", string_list(&sources(&|p| p == "22")));
    v.set("api_allowed_cidrs", string_list(&sources(&|p| p == "6443")));
    v.set(
        "kafka_allowed_cidrs",
        string_list(&kafka_rule.map(|r| r.source_ips.clone()).unwrap_or_default()),
    );
    v.set(
        "kafka_nodeports",
        Value::from(
            kafka_rule
                .and_then(|r| r.port.clone())
                .unwrap_or_else(|| d::KAFKA_NODEPORTS.into()),
        ),
    );
    let version = server
        .labels
        .get(names::K3S_VERSION)
        .map(|v| match v.rsplit_once("-k3s") {
            Some((base, n)) => format!("{base}+k3s{n}"),
            None => v.clone(),
        });
    v.set(
        "k3s_version",
        version.map(Value::from).unwrap_or(Value::Null),
    );
    v.set("labels", labels_value(&names::user_part(&server.labels)));
    v.set("install_k3s", Value::from(installs_k3s(server)));
    v.set("network_id", Value::int(network.id));
    v.set(
        "firewall_id",
        firewall.map(|f| Value::int(f.id)).unwrap_or(Value::Null),
    );
    v.set("placement_group_id", placement_group_of(server));
    v.set("control_plane_id", Value::int(server.id));
    v.set(
        "control_plane_ipv4",
        server
            .public_net
            .ipv4
            .as_ref()
            .map(|i| Value::from(i.ip.as_str()))
            .unwrap_or(Value::Null),
    );
    let ids = ips
        .iter()
        .filter_map(|i| Some((i.labels.get(names::PRIMARY_IP)?.clone(), i.id)))
        .collect();
    let addrs = ips
        .iter()
        .filter_map(|i| Some((i.labels.get(names::PRIMARY_IP)?.clone(), i.ip.clone())))
        .collect();
    v.set("primary_ip_ids", id_map(&ids));
    v.set("primary_ip_addresses", string_map(&addrs));
    v.set(
        "ssh_public_key",
        key.map(|k| Value::from(k.public_key.as_str()))
            .unwrap_or(Value::Null),
    );
    Ok(v)
}

/// Imports node `name` (the server name).
pub async fn node(hz: &Hetzner<'_>, name: &str, schema: &Schema) -> Result<Value, Diagnostics> {
    let fail = |e: k3strading_cluster::Error| Diagnostics::from(diag(&e, |_| None));
    let server = inventory::server_named(hz, name)
        .await
        .map_err(fail)?
        .ok_or_else(|| not_found(format!("no server named {name}")))?;
    let cluster = server.labels.get(names::CLUSTER).cloned().ok_or_else(|| {
        not_found(format!(
            "server {name} has no {} label: not managed by k3strading",
            names::CLUSTER
        ))
    })?;
    let role = server.labels.get(names::ROLE).cloned().unwrap_or_default();
    let inv = Inventory::read(hz, &cluster).await.map_err(fail)?;
    let private_ip = inv
        .network
        .as_ref()
        .and_then(|n| server.private_ip(n.id).map(str::to_owned));
    let primary_ip = server
        .public_net
        .ipv4
        .as_ref()
        .and_then(|ip| inv.logical_primary_ip(ip.id))
        .map(str::to_owned);
    let mut v = empty(schema);
    v.set("id", Value::from(server.id.to_string()));
    v.set("cluster", cluster.into());
    v.set("name", name.into());
    v.set("role", role.into());
    v.set(
        "private_ip",
        private_ip.map(Value::from).unwrap_or(Value::Null),
    );
    v.set(
        "primary_ip",
        primary_ip.map(Value::from).unwrap_or(Value::Null),
    );
    v.set("server_type", server.server_type.name.as_str().into());
    v.set("location", server.location.name.as_str().into());
    v.set(
        "image",
        server
            .image
            .as_ref()
            .and_then(|i| i.name.clone())
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    v.set("labels", labels_value(&names::user_part(&server.labels)));
    v.set("install_k3s", Value::from(installs_k3s(&server)));
    v.set("server_id", Value::int(server.id));
    v.set("placement_group_id", placement_group_of(&server));
    v.set(
        "ipv4_address",
        server
            .public_net
            .ipv4
            .map(|i| Value::from(i.ip))
            .unwrap_or(Value::Null),
    );
    Ok(v)
}

/// Whether a server was made with `install_k3s` (servers from before the label: yes).
fn installs_k3s(server: &k3strading_cluster::hcloud::models::Server) -> bool {
    server.labels.get(names::K3S).map(String::as_str) != Some("false")
}
