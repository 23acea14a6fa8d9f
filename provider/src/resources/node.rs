//! `k3strading_node`: one server of a cluster with a fixed private address,
//! optionally a Primary IP by logical name (otherwise no public address at
//! all, with egress through the control plane), role labels and taints.

use std::net::Ipv4Addr;
use std::time::Duration;

use hcloud::labels::Selector;
use ipnet::Ipv4Net;
use tfplug::{
    Attribute, Ctx, Diagnostic, Diagnostics, Failure, Plan, Resource, Schema, Type, Value,
    validators,
};

use crate::Client;
use crate::cloud::{self, ServerSpec, api_diag, attr_err};
use crate::cloud_init::{Egress, UserData};
use crate::naming;
use crate::resources::common::*;

/// The resource.
#[derive(Debug)]
pub struct NodeResource;

/// Node roles.
pub const ROLES: &[&str] = &["kafka", "app", "worker"];

fn schema() -> Schema {
    Schema::new(0)
        .description("A K3s node of a `k3strading_cluster`: a server with a fixed private address, on the cluster's network, firewall and placement group, with a Primary IP or no public address at all.")
        .attribute(Attribute::string("id").computed().stable().describe("Hetzner server id."))
        .attribute(Attribute::string("cluster").required().force_new().validate(dns_label).describe("Name of the cluster (`k3strading_cluster.<x>.name`)."))
        .attribute(Attribute::string("name").required().force_new().validate(dns_label).describe("Server name, e.g. `k3s-trading-prod-kafka-0`."))
        .attribute(Attribute::string("role").required().force_new().validate(validators::one_of(ROLES)).describe("`kafka`, `app` or `worker`; sets the `kafka=true` / `app=true` node labels."))
        .attribute(Attribute::string("private_ip").required().force_new().validate(ipv4).describe("Fixed address in the cluster network, present at first boot."))
        .attribute(Attribute::string("primary_ip").optional().force_new().validate(dns_label).describe("Logical name of a cluster Primary IP for this node's public IPv4. Unset: no public address; egress goes through the control plane."))
        .attribute(Attribute::string("server_type").default("cpx22").force_new().describe("Server type."))
        .attribute(Attribute::string("location").default("fsn1").force_new().describe("Location; must be the cluster's."))
        .attribute(Attribute::string("image").default("ubuntu-24.04").force_new().describe("System image."))
        .attribute(labels_attr())
        .attribute(Attribute::new("taints", Type::list(Type::String)).optional().describe("Kubernetes taints (`key=value:Effect`), applied when the node joins."))
        .attribute(Attribute::number("server_id").computed().stable().describe("Hetzner server id (number)."))
        .attribute(Attribute::string("ipv4_address").computed().stable().describe("Public IPv4, or null for private-only nodes."))
        .block(timeouts_block())
}

fn role_label(role: &str) -> &str {
    if role == "kafka" { "kafka" } else { "app" }
}

/// What the node needs from its cluster.
struct ClusterObjects {
    network: hcloud::models::Network,
    cidr: Ipv4Net,
    placement_group: Option<i64>,
    ssh_key: i64,
    primary_ip: Option<i64>,
}

async fn cluster_objects(
    ctx: &Ctx<'_, Client>,
    cluster: &str,
    primary_ip: Option<&str>,
) -> Result<ClusterObjects, Diagnostic> {
    let api = &ctx.client.cloud.api;
    let mine = Selector::new().eq(naming::CLUSTER, cluster);
    let network = api
        .networks(Some(&mine), Some(cluster))
        .await
        .map_err(|e| api_diag("look up the cluster network", &e))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            attr_err(
                "cluster",
                format!("Cluster {cluster} not found"),
                "create the k3strading_cluster first (reference its name so Terraform orders them)",
            )
        })?;
    let cidr: Ipv4Net = network.ip_range.parse().map_err(|_| {
        Diagnostic::error(
            "Cluster network has an unexpected range",
            network.ip_range.clone(),
        )
    })?;
    let placement_group = api
        .placement_groups(Some(&mine), Some(cluster))
        .await
        .map_err(|e| api_diag("look up the placement group", &e))?
        .first()
        .map(|g| g.id);
    let ssh_key = api
        .ssh_keys(Some(&mine), Some(&format!("{cluster}-provider")))
        .await
        .map_err(|e| api_diag("look up the provider's SSH key", &e))?
        .first()
        .map(|k| k.id)
        .ok_or_else(|| {
            attr_err(
                "cluster",
                format!("Cluster {cluster} has no provider SSH key"),
                "re-apply the k3strading_cluster",
            )
        })?;
    let primary_ip = match primary_ip {
        None => None,
        Some(logical) => {
            let name = naming::primary_ip(cluster, logical);
            let ip = api
                .primary_ips(Some(&mine), Some(&name))
                .await
                .map_err(|e| api_diag("look up the Primary IP", &e))?
                .into_iter()
                .next();
            Some(ip.map(|i| i.id).ok_or_else(|| {
                attr_err(
                    "primary_ip",
                    format!("Cluster {cluster} has no Primary IP {logical:?}"),
                    "add it to the cluster's primary_ips",
                )
            })?)
        }
    };
    Ok(ClusterObjects {
        network,
        cidr,
        placement_group,
        ssh_key,
        primary_ip,
    })
}

fn server_state(mut v: Value, server: &hcloud::models::Server) -> Value {
    v.set("id", Value::from(server.id.to_string()));
    v.set("server_id", Value::int(server.id));
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
        let mut diags = if plan.is_create() {
            Diagnostics(ctx.client.cloud.catalog().await?.check(
                location,
                server_type,
                image,
                "server_type",
            ))
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
            None => match cluster_objects(ctx, cluster, None).await {
                Ok(o) => Some((Some(o.cidr), None, Vec::new(), None)),
                Err(_) => None,
            },
        };
        if let Some((cidr, cp_ip, primary_ips, cluster_location)) = known {
            if let Some(problem) = cidr.and_then(|c| cloud::address_problem(&c, ip)) {
                diags.push(attr_err("private_ip", "Invalid private_ip", problem));
            }
            if cp_ip == Some(ip) {
                diags.push(attr_err(
                    "private_ip",
                    "Invalid private_ip",
                    format!("{ip} is the control plane's address"),
                ));
            }
            if let Some(logical) = &primary_ip
                && !primary_ips.is_empty()
                && !primary_ips.contains(logical)
            {
                diags.push(attr_err(
                    "primary_ip",
                    format!("Cluster {cluster} has no Primary IP {logical:?}"),
                    format!("its primary_ips are {primary_ips:?}"),
                ));
            }
            if let Some(l) = cluster_location.filter(|l| l != location) {
                diags.push(attr_err(
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
                Some(other) if other != name => diags.push(attr_err(
                    "private_ip",
                    format!("Duplicate private_ip {ip}"),
                    format!("node {other} uses it too"),
                )),
                _ => {
                    reg.ips.insert((cluster.to_owned(), ip), name.to_owned());
                }
            }
            match reg.names.get(name) {
                Some(other) if *other != owner => diags.push(attr_err(
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
                    Some(other) if other != name => diags.push(attr_err(
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
        diags.into_result()
    }

    async fn create(
        &self,
        ctx: &Ctx<'_, Client>,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure> {
        let s = |k: &str| planned.get_str(k).unwrap_or_default().to_owned();
        let (cluster, name, role) = (s("cluster"), s("name"), s("role"));
        let primary_ip = planned.get_str("primary_ip");
        let objs = cluster_objects(ctx, &cluster, primary_ip).await?;
        let private_ip: Ipv4Addr = s("private_ip")
            .parse()
            .map_err(|e| attr_err("private_ip", "Invalid private_ip", format!("{e}")))?;
        if let Some(problem) = cloud::address_problem(&objs.cidr, private_ip) {
            return Err(attr_err("private_ip", "Invalid private_ip", problem).into());
        }
        let egress = match objs.primary_ip {
            Some(_) => Egress::Public,
            None => Egress::ViaNetwork {
                gateway: cloud::gateway(&objs.cidr).to_string(),
            },
        };
        let mut labels = naming::merged(
            &labels_of(planned.get("labels")),
            naming::managed(&cluster, Some(&role)),
        );
        labels.insert(
            format!("k3strading.io/{}", role_label(&role)),
            "true".into(),
        );
        let spec = ServerSpec {
            name: name.clone(),
            server_type: s("server_type"),
            image: s("image"),
            location: s("location"),
            labels,
            network: objs.network.id,
            private_ip,
            primary_ip: objs.primary_ip,
            placement_group: objs.placement_group,
            ssh_key: objs.ssh_key,
            user_data: crate::cloud_init::render(&UserData {
                hostname: name,
                egress,
            }),
        };
        match cloud::ensure_server(
            ctx,
            &spec,
            timeout(config, "create", Duration::from_secs(20 * 60)),
        )
        .await
        {
            Ok(server) => Ok(server_state(planned.clone(), &server)),
            Err((d, Some(id))) => {
                let mut partial = planned.clone();
                partial.set("id", Value::from(id.to_string()));
                partial.set("server_id", Value::int(id));
                Err(Failure::with_partial(d, partial))
            }
            Err((d, None)) => Err(d.into()),
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
            Err(e) => return Err(api_diag("read the server", &e).into()),
        };
        let mut v = server_state(state.clone(), &server);
        v.set(
            "labels",
            read_labels(state.get("labels"), &naming::user_part(&server.labels)),
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
        let (cluster, role) = (
            planned.get_str("cluster").unwrap_or_default(),
            planned.get_str("role").unwrap_or_default(),
        );
        let mut labels = naming::merged(
            &labels_of(planned.get("labels")),
            naming::managed(cluster, Some(role)),
        );
        labels.insert(format!("k3strading.io/{}", role_label(role)), "true".into());
        let server = ctx
            .client
            .cloud
            .api
            .update_server(id, None, Some(&labels))
            .await
            .map_err(|e| api_diag("update the server labels", &e))?;
        Ok(server_state(planned.clone(), &server))
    }

    async fn delete(&self, ctx: &Ctx<'_, Client>, prior: &Value) -> Result<(), Diagnostics> {
        let cloud = &ctx.client.cloud;
        let Some(id) = prior.get_i64("server_id") else {
            return Ok(());
        };
        match cloud.api.delete_server(id).await {
            Ok(a) => cloud::wait(
                cloud,
                &ctx.cancel,
                &a,
                timeout(prior, "delete", Duration::from_secs(600)),
                "delete the server",
            )
            .await
            .map_err(Diagnostics::from),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api_diag("delete the server", &e).into()),
        }
    }

    async fn import(&self, ctx: &Ctx<'_, Client>, id: &str) -> Result<Value, Diagnostics> {
        crate::resources::import::node(ctx, id, &schema()).await
    }
}
