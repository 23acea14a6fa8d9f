//! `k3strading_node`: one server of a cluster with a fixed private address,
//! optionally a Primary IP by logical name (otherwise no public address at
//! all, with egress through the control plane), role labels and taints. The
//! work is done by the cluster crate; this module maps values and errors.

use k3strading_cluster::hcloud;

use std::net::Ipv4Addr;

use k3strading_cluster::converge::{self, NodeBuilt};
use k3strading_cluster::defaults as d;
use k3strading_cluster::spec::{NodeSpec, Role};
use k3strading_cluster::{Field, names, network};
use tfplug::{
    Attribute, Ctx, Diagnostic, Diagnostics, Failure, Plan, Resource, Schema, Type, Value,
    validators,
};

use crate::Client;
use crate::cloud::{attr_err, diag, diags, hetzner};
use crate::resources::common::*;

/// The resource.
#[derive(Debug)]
pub struct NodeResource;

/// The attribute for a field of the node spec.
pub fn attr(f: Field) -> Option<&'static str> {
    Some(match f {
        Field::Name => "name",
        Field::Cluster => "cluster",
        Field::Location => "location",
        Field::ServerType => "server_type",
        Field::Image => "image",
        Field::PrivateIp => "private_ip",
        Field::PrimaryIp | Field::PrimaryIps | Field::ControlPlanePrimaryIp => "primary_ip",
    })
}

fn schema() -> Schema {
    Schema::new(1)
        .description("A K3s node of a `k3strading_cluster`: a server with a fixed private address, on the cluster's network, firewall and placement group, with a Primary IP or no public address at all.")
        .attribute(Attribute::string("id").computed().stable().describe("Hetzner server id."))
        .attribute(Attribute::string("cluster").required().force_new().validate(dns_label).describe("Name of the cluster (`k3strading_cluster.<x>.name`)."))
        .attribute(Attribute::string("name").required().force_new().validate(dns_label).describe("Server name, e.g. `k3s-trading-prod-kafka-0`."))
        .attribute(Attribute::string("role").required().force_new().validate(validators::one_of(Role::NODE_ROLE_NAMES)).describe("`kafka`, `app` or `worker`; sets the `kafka=true` / `app=true` node labels."))
        .attribute(Attribute::string("private_ip").required().force_new().validate(ipv4).describe("Fixed address in the cluster network, present at first boot."))
        .attribute(Attribute::string("primary_ip").optional().force_new().validate(dns_label).describe("Logical name of a cluster Primary IP for this node's public IPv4. Unset: no public address; egress goes through the control plane."))
        .attribute(Attribute::string("server_type").default(d::SERVER_TYPE).force_new().describe("Server type."))
        .attribute(Attribute::string("location").default(d::LOCATION).force_new().describe("Location; must be the cluster's."))
        .attribute(Attribute::string("image").default(d::IMAGE).force_new().describe("System image."))
        .attribute(labels_attr())
        .attribute(Attribute::new("taints", Type::list(Type::String)).optional().describe("Kubernetes taints (`key=value:Effect`), applied when the node joins."))
        .attribute(Attribute::number("server_id").computed().stable().describe("Hetzner server id (number)."))
        .attribute(Attribute::string("ipv4_address").computed().stable().describe("Public IPv4, or null for private-only nodes."))
        .attribute(Attribute::number("placement_group_id").computed().stable().describe("Hetzner id of the node's spread placement group (`<cluster>-spread-N` for host numbers 10·N to 10·N+9 of the network; at most 10 servers each)."))
        .block(timeouts_block())
}

/// The spec of a known planned value.
fn spec_of(v: &Value) -> Result<NodeSpec, Diagnostic> {
    let s = |k: &str, default: &str| v.get_str(k).unwrap_or(default).to_owned();
    let role = Role::parse(v.get_str("role").unwrap_or_default())
        .ok_or_else(|| attr_err("role", "Invalid role", "must be kafka, app or worker"))?;
    let private_ip: Ipv4Addr = s("private_ip", "")
        .parse()
        .map_err(|e| attr_err("private_ip", "Invalid private_ip", format!("{e}")))?;
    Ok(NodeSpec {
        cluster: s("cluster", ""),
        name: s("name", ""),
        role,
        private_ip,
        primary_ip: v.get_str("primary_ip").map(str::to_owned),
        server_type: s("server_type", d::SERVER_TYPE),
        location: s("location", d::LOCATION),
        image: s("image", d::IMAGE),
        labels: labels_of(v.get("labels")),
    })
}

fn server_state(mut v: Value, server: &hcloud::models::Server) -> Value {
    v.set("id", Value::from(server.id.to_string()));
    v.set("server_id", Value::int(server.id));
    v.set("placement_group_id", placement_group_of(server));
    v.set(
        "ipv4_address",
        server
            .public_net
            .ipv4
            .as_ref()
            .map(|i| Value::from(i.ip.as_str()))
            .unwrap_or(Value::Null),
    );
    v
}

#[tfplug::async_trait]
impl Resource<Client> for NodeResource {
    fn type_name(&self) -> &str {
        "k3strading_node"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let (Some(name), Some(cluster)) = (config.get_str("name"), config.get_str("cluster"))
            && !name.starts_with(&format!("{cluster}-"))
        {
            d.push(Diagnostic::warning(format!("Node name {name} does not start with the cluster name {cluster}-"), "stateless teardown finds nodes by label, so this works, but names are clearer with the prefix").at_attr("name"));
        }
        if let Some(Value::List(taints)) = config.get("taints") {
            for (i, t) in taints.iter().enumerate() {
                let Some(t) = t.as_str() else { continue };
                let effect_ok = t.rsplit_once(':').is_some_and(|(_, e)| {
                    ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&e)
                });
                if !effect_ok {
                    d.push(
                        Diagnostic::error(
                            "Invalid taint",
                            format!("{t:?} must look like key=value:NoSchedule"),
                        )
                        .at(tfplug::AttrPath::attr("taints").push_index(i as i64)),
                    );
                }
            }
        }
        d
    }

    async fn plan(&self, ctx: &Ctx<'_, Client>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.is_create() {
            // Unknown until the server exists.
            plan.planned.set(
                "ipv4_address",
                if plan.planned.get("primary_ip").is_some_and(Value::is_null) {
                    Value::Null
                } else {
                    Value::Unknown
                },
            );
        }
        let p = &plan.planned;
        let (
            Some(cluster),
            Some(name),
            Some(ip_text),
            Some(location),
            Some(server_type),
            Some(image),
        ) = (
            p.get_str("cluster"),
            p.get_str("name"),
            p.get_str("private_ip"),
            p.get_str("location"),
            p.get_str("server_type"),
            p.get_str("image"),
        )
        else {
            return Ok(());
        };
        // Only new servers are ordered: later deprecations must not break plans.
        let mut problems = if plan.is_create() {
            diags(
                &ctx.client
                    .cloud
                    .catalog()
                    .await?
                    .check(location, server_type, image),
                attr,
            )
        } else {
            Diagnostics::new()
        };
        let ip: Ipv4Addr = ip_text.parse().map_err(|e| {
            Diagnostics::from(attr_err("private_ip", "Invalid private_ip", format!("{e}")))
        })?;
        let primary_ip = p.get_str("primary_ip").map(str::to_owned);
        // What the cluster says: from its plan in this run, else from Hetzner.
        let planned_cluster = ctx.client.cloud.registry().clusters.get(cluster).cloned();
        let known = match planned_cluster {
            Some(c) => Some((c.cidr, c.control_plane_ip, c.primary_ips, c.location)),
            None => match network::find(&hetzner(ctx), cluster).await {
                Ok((_, cidr)) => Some((Some(cidr), None, Vec::new(), None)),
                Err(_) => None,
            },
        };
        if let Some((cidr, cp_ip, primary_ips, cluster_location)) = known {
            if let Some(problem) = cidr.and_then(|c| network::address_problem(&c, ip)) {
                problems.push(attr_err("private_ip", "Invalid private_ip", problem));
            }
            if cp_ip == Some(ip) {
                problems.push(attr_err(
                    "private_ip",
                    "Invalid private_ip",
                    format!("{ip} is the control plane's address"),
                ));
            }
            if let Some(logical) = &primary_ip
                && !primary_ips.is_empty()
                && !primary_ips.contains(logical)
            {
                problems.push(attr_err(
                    "primary_ip",
                    format!("Cluster {cluster} has no Primary IP {logical:?}"),
                    format!("its primary_ips are {primary_ips:?}"),
                ));
            }
            if let Some(l) = cluster_location.filter(|l| l != location) {
                problems.push(attr_err(
                    "location",
                    format!("Node location {location} differs from the cluster's ({l})"),
                    "a Hetzner network and its Primary IPs live in one location",
                ));
            }
        }
        {
            let mut reg = ctx.client.cloud.registry();
            // A node is identified by its address here: the same name planned again
            // for the same address is the same node.
            let owner = format!("the node at {ip}");
            match reg.ips.get(&(cluster.to_owned(), ip)) {
                Some(other) if other != name => problems.push(attr_err(
                    "private_ip",
                    format!("Duplicate private_ip {ip}"),
                    format!("node {other} uses it too"),
                )),
                _ => {
                    reg.ips.insert((cluster.to_owned(), ip), name.to_owned());
                }
            }
            match reg.names.get(name) {
                Some(other) if *other != owner => problems.push(attr_err(
                    "name",
                    format!("Duplicate server name {name}"),
                    format!("{other} uses it too"),
                )),
                _ => {
                    reg.names.insert(name.to_owned(), owner);
                }
            }
            if let Some(logical) = &primary_ip {
                match reg.primary_ips.get(&(cluster.to_owned(), logical.clone())) {
                    Some(other) if other != name => problems.push(attr_err(
                        "primary_ip",
                        format!("Primary IP {logical:?} is already used by node {other}"),
                        "each Primary IP can serve one server",
                    )),
                    _ => {
                        reg.primary_ips
                            .insert((cluster.to_owned(), logical.clone()), name.to_owned());
                    }
                }
            }
        }
        problems.into_result()
    }

    async fn create(
        &self,
        ctx: &Ctx<'_, Client>,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure> {
        let spec = spec_of(planned)?;
        let mut built = NodeBuilt::default();
        let result = converge::node(
            &hetzner(ctx),
            &spec,
            timeout(config, "create", d::CREATE_TIMEOUT),
            &mut built,
        )
        .await;
        match (result, built.server) {
            (Ok(server), _) => Ok(server_state(planned.clone(), &server)),
            (Err(e), Some(id)) => {
                let mut partial = planned.clone();
                partial.set("id", Value::from(id.to_string()));
                partial.set("server_id", Value::int(id));
                partial.set("ipv4_address", Value::Null);
                partial.set("placement_group_id", opt_int(built.placement_group));
                Err(Failure::with_partial(diag(&e, attr), partial))
            }
            (Err(e), None) => Err(diag(&e, attr).into()),
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<'_, Client>,
        state: &Value,
    ) -> Result<Option<Value>, Diagnostics> {
        let Some(id) = state.get_i64("server_id") else {
            return Ok(None);
        };
        let server = match ctx.client.cloud.api.server(id).await {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                let e = k3strading_cluster::Error::api("read the server", e);
                return Err(diag(&e, attr).into());
            }
        };
        let mut v = server_state(state.clone(), &server);
        v.set(
            "labels",
            read_labels(state.get("labels"), &names::user_part(&server.labels)),
        );
        Ok(Some(v))
    }

    async fn update(
        &self,
        ctx: &Ctx<'_, Client>,
        _prior: &Value,
        planned: &Value,
        _config: &Value,
    ) -> Result<Value, Failure> {
        let id = planned
            .get_i64("server_id")
            .ok_or_else(|| Diagnostic::error("Node has no server id in state", "re-import it"))?;
        let spec = spec_of(planned)?;
        let server = converge::relabel_node(&hetzner(ctx), id, &spec)
            .await
            .map_err(|e| diag(&e, attr))?;
        Ok(server_state(planned.clone(), &server))
    }

    async fn delete(&self, ctx: &Ctx<'_, Client>, prior: &Value) -> Result<(), Diagnostics> {
        let Some(id) = prior.get_i64("server_id") else {
            return Ok(());
        };
        let deadline = timeout(prior, "delete", d::DELETE_TIMEOUT);
        k3strading_cluster::server::delete(&hetzner(ctx), id, deadline)
            .await
            .map_err(|e| diag(&e, attr).into())
    }

    async fn import(&self, ctx: &Ctx<'_, Client>, id: &str) -> Result<Value, Diagnostics> {
        crate::resources::import::node(&hetzner(ctx), id, &schema()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_0_state_upgrades_with_an_unknown_placement_group() {
        assert_eq!(schema().version, 1);
        let old = serde_json::json!({
            "id": "42", "cluster": "c", "name": "c-app-0", "role": "app",
            "private_ip": "10.0.1.30", "primary_ip": null, "server_type": "cpx22",
            "location": "fsn1", "image": "ubuntu-24.04", "labels": null, "taints": null,
            "server_id": 42, "ipv4_address": null, "timeouts": null
        });
        let v = NodeResource.upgrade(0, &old).unwrap();
        assert_eq!(v.get_i64("server_id"), Some(42));
        assert_eq!(v.get("placement_group_id"), Some(&Value::Null));
    }
}
