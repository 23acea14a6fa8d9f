//! `k3strading_cluster`: network + subnet + NAT route, firewall, placement
//! group, the provider's SSH key, the persistent Primary IPs, secrets, and
//! the control-plane server. Destroy removes everything but the Primary IPs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use hcloud::labels::Selector;
use hcloud::models::{Firewall, FirewallRule, FirewallTarget, Id, PrimaryIp};
use ipnet::Ipv4Net;
use tfplug::{
    Attribute, Ctx, Diagnostic, Diagnostics, Failure, Plan, Resource, Schema, Type, Value,
};

use crate::Client;
use crate::cloud::{self, PlannedCluster, ServerSpec, api_diag, attr_err};
use crate::cloud_init::{Egress, UserData};
use crate::naming;
use crate::resources::common::*;

/// The resource.
#[derive(Debug)]
pub struct ClusterResource;

/// Settings read from a planned value.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Cluster name.
    pub name: String,
    /// Location.
    pub location: String,
    /// Network range.
    pub cidr: Ipv4Net,
    /// Control-plane type.
    pub cp_type: String,
    /// Control-plane private address.
    pub cp_ip: Ipv4Addr,
    /// Image.
    pub image: String,
    /// Logical Primary IP names.
    pub primary_ips: Vec<String>,
    /// Which one the control plane uses.
    pub cp_primary_ip: String,
    /// SSH sources.
    pub ssh_cidrs: Vec<String>,
    /// Kubernetes API sources (empty: closed).
    pub api_cidrs: Vec<String>,
    /// Kafka NodePort range on the public firewall.
    pub kafka_ports: Option<String>,
    /// Kafka sources.
    pub kafka_cidrs: Vec<String>,
    /// User labels.
    pub labels: hcloud::models::Labels,
    /// Pinned K3s release.
    pub k3s_version: String,
}

fn bad(attr: &str, e: impl std::fmt::Display) -> Diagnostic {
    attr_err(attr, format!("Invalid {attr}"), e.to_string())
}

impl Spec {
    /// Reads a known value.
    pub fn from_value(v: &Value) -> Result<Spec, Diagnostic> {
        let s = |k: &str| v.get_str(k).unwrap_or_default().to_owned();
        Ok(Spec {
            name: s("name"),
            location: s("location"),
            cidr: s("network_cidr")
                .parse()
                .map_err(|e| bad("network_cidr", e))?,
            cp_type: s("control_plane_type"),
            cp_ip: s("control_plane_ip")
                .parse()
                .map_err(|e| bad("control_plane_ip", e))?,
            image: s("image"),
            primary_ips: strings(v.get("primary_ips")),
            cp_primary_ip: s("control_plane_primary_ip"),
            ssh_cidrs: strings(v.get("ssh_allowed_cidrs")),
            api_cidrs: strings(v.get("api_allowed_cidrs")),
            kafka_ports: v.get_str("kafka_nodeports").map(str::to_owned),
            kafka_cidrs: strings(v.get("kafka_allowed_cidrs")),
            labels: labels_of(v.get("labels")),
            k3s_version: v
                .get_str("k3s_version")
                .unwrap_or("v1.34.1+k3s1")
                .to_owned(),
        })
    }

    fn managed(&self) -> hcloud::models::Labels {
        naming::merged(&self.labels, naming::managed(&self.name, None))
    }

    /// The public firewall's rules.
    pub fn rules(&self) -> Vec<FirewallRule> {
        let rule = |port: &str, cidrs: &[String], what: &str| FirewallRule {
            direction: "in".into(),
            protocol: "tcp".into(),
            port: Some(port.into()),
            source_ips: cidrs.to_vec(),
            destination_ips: Vec::new(),
            description: Some(what.into()),
        };
        let mut rules = Vec::new();
        if !self.ssh_cidrs.is_empty() {
            rules.push(rule("22", &self.ssh_cidrs, "SSH"));
        }
        if !self.api_cidrs.is_empty() {
            rules.push(rule("6443", &self.api_cidrs, "Kubernetes API"));
        }
        if let (Some(p), false) = (&self.kafka_ports, self.kafka_cidrs.is_empty()) {
            rules.push(rule(p, &self.kafka_cidrs, "Kafka NodePorts"));
        }
        rules
    }
}

fn schema() -> Schema {
    let list = |name: &str| Attribute::new(name, Type::list(Type::String));
    Schema::new(0)
        .description("An ephemeral K3s trading cluster on Hetzner Cloud: private network with NAT through the control plane, public firewall, placement group, the persistent Primary IPs (created once, reused by name, never deleted), generated secrets, and the control-plane server.")
        .attribute(Attribute::string("id").computed().stable().describe("The cluster name."))
        .attribute(Attribute::string("name").required().force_new().validate(dns_label).describe("Cluster name, e.g. `k3s-trading-prod`; prefixes every object name."))
        .attribute(Attribute::string("location").default("fsn1").force_new().describe("Hetzner location, e.g. `fsn1`, `nbg1`, `hel1`."))
        .attribute(Attribute::string("network_cidr").default("10.0.1.0/24").force_new().validate(private_cidr).describe("Private network range (RFC 1918, /24 or larger)."))
        .attribute(Attribute::string("control_plane_type").default("cpx22").force_new().describe("Server type of the control plane."))
        .attribute(Attribute::string("control_plane_ip").default("10.0.1.10").force_new().validate(ipv4).describe("Fixed private address of the control plane."))
        .attribute(Attribute::string("image").default("ubuntu-24.04").force_new().describe("System image."))
        .attribute(
            Attribute::new("primary_ips", Type::set(Type::String))
                .optional()
                .computed()
                .validate(|v| strings(Some(v)).iter().try_for_each(|s| dns_label(&Value::from(s.as_str()))))
                .describe("Logical names of the persistent Primary IPv4s (default `control` and `kafka`). Each is created once as `<name>-<logical>`, delete-protected, and reused by name ever after."),
        )
        .attribute(Attribute::string("control_plane_primary_ip").default("control").force_new().validate(dns_label).describe("Which Primary IP the control plane uses."))
        .attribute(list("ssh_allowed_cidrs").optional().computed().validate(cidr_list).describe("Sources allowed to reach SSH (22/tcp) on public addresses. Default: anywhere."))
        .attribute(list("api_allowed_cidrs").optional().computed().validate(cidr_list).describe("Sources allowed to reach the Kubernetes API (6443/tcp). Default: none (closed)."))
        .attribute(Attribute::string("kafka_nodeports").default("31090-31095").describe("Kafka NodePort range opened on public addresses."))
        .attribute(list("kafka_allowed_cidrs").optional().computed().validate(cidr_list).describe("Sources allowed to reach the Kafka NodePorts. Default: none (closed)."))
        .attribute(Attribute::string("k3s_version").default("v1.34.1+k3s1").force_new().validate(|v| match v.as_str() {
            Some(s) if s.starts_with('v') && s.contains("+k3s") => Ok(()),
            _ => Err("must look like v1.34.1+k3s1".into()),
        }).describe("Pinned K3s release."))
        .attribute(labels_attr())
        .attribute(Attribute::number("network_id").computed().stable().describe("Hetzner network id."))
        .attribute(Attribute::number("firewall_id").computed().stable().describe("Hetzner firewall id."))
        .attribute(Attribute::number("placement_group_id").computed().stable().describe("Hetzner placement group id."))
        .attribute(Attribute::number("control_plane_id").computed().stable().describe("Server id of the control plane."))
        .attribute(Attribute::string("control_plane_ipv4").computed().stable().describe("Public IPv4 of the control plane (its Primary IP)."))
        .attribute(Attribute::new("primary_ip_addresses", Type::map(Type::String)).computed().describe("Logical name → public address of every Primary IP."))
        .attribute(Attribute::new("primary_ip_ids", Type::map(Type::Number)).computed().describe("Logical name → Hetzner id of every Primary IP."))
        .attribute(Attribute::string("ssh_public_key").computed().stable().describe("Public half of the key the provider generated to reach the servers."))
        .attribute(Attribute::string("ssh_private_key").computed().stable().sensitive().describe("Private half (PKCS#8, base64). Sensitive; not recoverable on import."))
        .attribute(Attribute::string("k3s_token").computed().stable().sensitive().describe("K3s join secret. Sensitive; not recoverable on import."))
        .block(timeouts_block())
}

const DEFAULT_PRIMARY_IPS: [&str; 2] = ["control", "kafka"];

#[tfplug::async_trait]
impl Resource<Client> for ClusterResource {
    fn type_name(&self) -> &str {
        "k3strading_cluster"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let cidr = config
            .get_str("network_cidr")
            .unwrap_or("10.0.1.0/24")
            .parse::<Ipv4Net>();
        let ip = config
            .get_str("control_plane_ip")
            .unwrap_or("10.0.1.10")
            .parse::<Ipv4Addr>();
        if let (Ok(cidr), Ok(ip)) = (cidr, ip)
            && let Some(problem) = cloud::address_problem(&cidr, ip)
        {
            d.push(attr_err(
                "control_plane_ip",
                "Invalid control_plane_ip",
                problem,
            ));
        }
        let ips = strings(config.get("primary_ips"));
        let cp = config
            .get_str("control_plane_primary_ip")
            .unwrap_or("control");
        let known = config
            .get("primary_ips")
            .is_none_or(|v| v.is_wholly_known());
        if known && !ips.is_empty() && !ips.iter().any(|i| i == cp) {
            d.push(attr_err(
                "control_plane_primary_ip",
                "Unknown Primary IP",
                format!("{cp:?} is not in primary_ips {ips:?}"),
            ));
        }
        d
    }

    async fn plan(&self, ctx: &Ctx<'_, Client>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.config.get("primary_ips").is_none_or(Value::is_null) {
            let defaults: Vec<String> = DEFAULT_PRIMARY_IPS
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            plan.planned.set("primary_ips", string_set(&defaults));
        }
        for (attr, default) in [
            ("ssh_allowed_cidrs", Some("0.0.0.0/0")),
            ("api_allowed_cidrs", None),
            ("kafka_allowed_cidrs", None),
        ] {
            if plan.config.get(attr).is_none_or(Value::is_null) {
                let v: Vec<String> = default.into_iter().map(str::to_owned).collect();
                plan.planned.set(attr, string_list(&v));
            }
        }
        if plan.is_create()
            && let Some(name) = plan.planned.get_str("name").map(str::to_owned)
        {
            plan.planned.set("id", name.into());
        }
        // The Primary IP maps follow the set of logical names.
        if !plan.is_create() && plan.planned.get("primary_ips") != plan.prior.get("primary_ips") {
            plan.planned.set("primary_ip_ids", Value::Unknown);
            plan.planned.set("primary_ip_addresses", Value::Unknown);
        }
        let inputs = [
            "name",
            "location",
            "network_cidr",
            "control_plane_type",
            "control_plane_ip",
            "image",
        ];
        if inputs
            .iter()
            .any(|k| plan.planned.get(k).is_none_or(|v| !v.is_wholly_known()))
        {
            return Ok(()); // checked again when the values are known
        }
        let spec = Spec::from_value(&plan.planned)?;
        // Only new servers are ordered: a type deprecated later must not
        // break plans of a cluster that already runs on it.
        if plan.is_create() {
            let catalog = ctx.client.cloud.catalog().await?;
            let problems = catalog.check(
                &spec.location,
                &spec.cp_type,
                &spec.image,
                "control_plane_type",
            );
            if !problems.is_empty() {
                return Err(Diagnostics(problems));
            }
        }
        let mut reg = ctx.client.cloud.registry();
        reg.clusters.insert(
            spec.name.clone(),
            PlannedCluster {
                cidr: Some(spec.cidr),
                control_plane_ip: Some(spec.cp_ip),
                primary_ips: spec.primary_ips.clone(),
                location: Some(spec.location.clone()),
            },
        );
        reg.names.insert(
            naming::control_plane(&spec.name),
            format!("k3strading_cluster {}", spec.name),
        );
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx<'_, Client>,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure> {
        let spec = Spec::from_value(planned)?;
        let deadline = timeout(config, "create", Duration::from_secs(20 * 60));
        let mut state = planned.clone();
        let token = crate::secrets::k3s_token()
            .map_err(|e| Diagnostic::error("Could not generate the K3s token", e.to_string()))?;
        let (private_key, public_key) =
            crate::secrets::ssh_key_pair(&format!("{}-provider", spec.name))
                .map_err(|e| Diagnostic::error("Could not generate the SSH key", e.to_string()))?;
        state.set("k3s_token", token.into());
        state.set("ssh_private_key", private_key.into());
        state.set("ssh_public_key", public_key.clone().into());
        let built = build(ctx, &spec, &public_key, &mut state, deadline).await;
        match built {
            Ok(()) => Ok(state),
            Err((d, partial)) => {
                if partial {
                    Err(Failure::with_partial(d, state))
                } else {
                    Err(d.into())
                }
            }
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<'_, Client>,
        state: &Value,
    ) -> Result<Option<Value>, Diagnostics> {
        let api = &ctx.client.cloud.api;
        let Some(cp) = state.get_i64("control_plane_id") else {
            // A create that failed before the server existed: keep the state,
            // so destroy still removes the network and friends.
            return Ok(state.get_i64("network_id").map(|_| state.clone()));
        };
        let server = match api.server(cp).await {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(api_diag("read the control plane", &e).into()),
        };
        let mut v = state.clone();
        v.set(
            "labels",
            read_labels(state.get("labels"), &naming::user_part(&server.labels)),
        );
        v.set(
            "control_plane_ipv4",
            server
                .public_net
                .ipv4
                .map(|i| Value::from(i.ip))
                .unwrap_or(Value::Null),
        );
        Ok(Some(v))
    }

    async fn update(
        &self,
        ctx: &Ctx<'_, Client>,
        prior: &Value,
        planned: &Value,
        config: &Value,
    ) -> Result<Value, Failure> {
        let spec = Spec::from_value(planned)?;
        let api = &ctx.client.cloud.api;
        let mut state = planned.clone();
        let deadline = timeout(config, "update", Duration::from_secs(20 * 60));
        if let Some(fw) = planned.get_i64("firewall_id") {
            api.set_firewall_rules(fw, &spec.rules())
                .await
                .map_err(|e| api_diag("update the firewall rules", &e))?;
        }
        let (ids, addrs) = primary_ips(ctx, &spec, deadline).await?;
        state.set("primary_ip_ids", id_map(&ids));
        state.set("primary_ip_addresses", string_map(&addrs));
        if prior.get("labels") != planned.get("labels")
            && let Some(cp) = planned.get_i64("control_plane_id")
        {
            let labels = cp_labels(&spec);
            api.update_server(cp, None, Some(&labels))
                .await
                .map_err(|e| api_diag("label the control plane", &e))?;
        }
        Ok(state)
    }

    async fn delete(&self, ctx: &Ctx<'_, Client>, prior: &Value) -> Result<(), Diagnostics> {
        let name = prior.get_str("name").unwrap_or_default().to_owned();
        teardown(
            ctx,
            &name,
            false,
            timeout(prior, "delete", Duration::from_secs(10 * 60)),
        )
        .await
        .map_err(Diagnostics::from)
    }

    async fn import(&self, ctx: &Ctx<'_, Client>, id: &str) -> Result<Value, Diagnostics> {
        crate::resources::import::cluster(ctx, id, &schema()).await
    }
}

type BuildErr = (Diagnostic, bool);

/// Creates or adopts everything; fills `state` as it goes. The error says
/// whether anything exists that state must record.
async fn build(
    ctx: &Ctx<'_, Client>,
    spec: &Spec,
    public_key: &str,
    state: &mut Value,
    deadline: Duration,
) -> Result<(), BuildErr> {
    let cloud = &ctx.client.cloud;
    let api = &cloud.api;
    let catalog = cloud.catalog().await.map_err(|d| (d, false))?;
    let problems = catalog.check(
        &spec.location,
        &spec.cp_type,
        &spec.image,
        "control_plane_type",
    );
    if let Some(p) = problems.into_iter().next() {
        return Err((p, false));
    }
    let zone = catalog
        .zone(&spec.location)
        .unwrap_or("eu-central")
        .to_owned();
    let labels = spec.managed();
    let mine = Selector::new().eq(naming::CLUSTER, &spec.name);
    let e = |doing: &'static str| move |err: hcloud::Error| (api_diag(doing, &err), true);

    // Primary IPs first: they are what must never be duplicated.
    let (ids, addrs) = primary_ips(ctx, spec, deadline)
        .await
        .map_err(|d| (d, false))?;
    state.set("primary_ip_ids", id_map(&ids));
    state.set("primary_ip_addresses", string_map(&addrs));

    let key_name = format!("{}-provider", spec.name);
    for old in api
        .ssh_keys(Some(&mine), Some(&key_name))
        .await
        .map_err(e("look up SSH keys"))?
    {
        api.delete_ssh_key(old.id)
            .await
            .map_err(e("replace the leftover SSH key"))?;
    }
    let key = api
        .create_ssh_key(&key_name, public_key, &labels)
        .await
        .map_err(e("create the SSH key"))?;

    let network = match api
        .networks(None, Some(&spec.name))
        .await
        .map_err(e("look up networks"))?
        .into_iter()
        .next()
    {
        Some(n)
            if n.labels.get(naming::CLUSTER) == Some(&spec.name)
                && n.ip_range == spec.cidr.to_string() =>
        {
            n
        }
        Some(n) => {
            return Err((
                attr_err(
                    "name",
                    format!(
                        "A network named {} already exists and is not this cluster's",
                        n.name
                    ),
                    format!(
                        "its range is {} and its labels are {:?}",
                        n.ip_range, n.labels
                    ),
                ),
                true,
            ));
        }
        None => api
            .create_network(
                &spec.name,
                &spec.cidr.to_string(),
                &spec.cidr.to_string(),
                &zone,
                &labels,
            )
            .await
            .map_err(e("create the network"))?,
    };
    state.set("network_id", Value::int(network.id));
    let default_route = network
        .routes
        .iter()
        .any(|r| r.destination == "0.0.0.0/0" && r.gateway == spec.cp_ip.to_string());
    if !default_route {
        let a = api
            .add_route(network.id, "0.0.0.0/0", &spec.cp_ip.to_string())
            .await
            .map_err(e("route the network's egress through the control plane"))?;
        cloud::wait(cloud, &ctx.cancel, &a, deadline, "add the egress route")
            .await
            .map_err(|d| (d, true))?;
    }

    let fw = ensure_firewall(ctx, spec, &labels)
        .await
        .map_err(|d| (d, true))?;
    state.set("firewall_id", Value::int(fw.id));

    let pg = match api
        .placement_groups(Some(&mine), Some(&spec.name))
        .await
        .map_err(e("look up placement groups"))?
        .into_iter()
        .next()
    {
        Some(pg) => pg,
        None => api
            .create_placement_group(&spec.name, &labels)
            .await
            .map_err(e("create the placement group"))?,
    };
    state.set("placement_group_id", Value::int(pg.id));

    let cp_ip = ids.get(&spec.cp_primary_ip).copied().ok_or_else(|| {
        (
            attr_err(
                "control_plane_primary_ip",
                "Unknown Primary IP",
                format!("{:?} is not in primary_ips", spec.cp_primary_ip),
            ),
            true,
        )
    })?;
    let name = naming::control_plane(&spec.name);
    let server_spec = ServerSpec {
        name: name.clone(),
        server_type: spec.cp_type.clone(),
        image: spec.image.clone(),
        location: spec.location.clone(),
        labels: cp_labels(spec),
        network: network.id,
        private_ip: spec.cp_ip,
        primary_ip: Some(cp_ip),
        placement_group: Some(pg.id),
        ssh_key: key.id,
        user_data: crate::cloud_init::render(&UserData {
            hostname: name,
            egress: Egress::NatGateway {
                network_cidr: spec.cidr.to_string(),
            },
        }),
    };
    match cloud::ensure_server(ctx, &server_spec, deadline).await {
        Ok(server) => {
            state.set("control_plane_id", Value::int(server.id));
            state.set(
                "control_plane_ipv4",
                server
                    .public_net
                    .ipv4
                    .map(|i| Value::from(i.ip))
                    .unwrap_or(Value::Null),
            );
            Ok(())
        }
        Err((d, id)) => {
            if let Some(id) = id {
                state.set("control_plane_id", Value::int(id));
            }
            Err((d, true))
        }
    }
}

async fn ensure_firewall(
    ctx: &Ctx<'_, Client>,
    spec: &Spec,
    labels: &hcloud::models::Labels,
) -> Result<Firewall, Diagnostic> {
    let api = &ctx.client.cloud.api;
    let selector = Selector::new().eq(naming::CLUSTER, &spec.name).to_string();
    let existing = api
        .firewalls(None, Some(&spec.name))
        .await
        .map_err(|e| api_diag("look up firewalls", &e))?;
    match existing.into_iter().next() {
        Some(fw) if fw.labels.get(naming::CLUSTER) == Some(&spec.name) => {
            api.set_firewall_rules(fw.id, &spec.rules())
                .await
                .map_err(|e| api_diag("update the firewall rules", &e))?;
            Ok(fw)
        }
        Some(fw) => Err(attr_err(
            "name",
            format!(
                "A firewall named {} already exists and is not this cluster's",
                fw.name
            ),
            "rename the cluster or remove that firewall",
        )),
        None => api
            .create_firewall(
                &spec.name,
                labels,
                &spec.rules(),
                &[FirewallTarget::selector(selector)],
            )
            .await
            .map_err(|e| api_diag("create the firewall", &e)),
    }
}

/// Finds or creates every Primary IP, protected and never auto-deleted.
async fn primary_ips(
    ctx: &Ctx<'_, Client>,
    spec: &Spec,
    deadline: Duration,
) -> Result<(BTreeMap<String, Id>, BTreeMap<String, String>), Diagnostic> {
    let cloud = &ctx.client.cloud;
    let api = &cloud.api;
    let (mut ids, mut addrs) = (BTreeMap::new(), BTreeMap::new());
    for logical in &spec.primary_ips {
        let name = naming::primary_ip(&spec.name, logical);
        let mut labels = spec.managed();
        labels.insert(naming::PRIMARY_IP.into(), logical.clone());
        let found: Option<PrimaryIp> = api
            .primary_ips(None, Some(&name))
            .await
            .map_err(|e| api_diag("look up Primary IPs", &e))?
            .into_iter()
            .next();
        let ip = match found {
            Some(ip) if ip.labels.get(naming::CLUSTER) != Some(&spec.name) => {
                return Err(attr_err(
                    "primary_ips",
                    format!("Primary IP {name} exists but belongs to something else"),
                    format!("its labels are {:?}", ip.labels),
                ));
            }
            Some(ip) if ip.location.name != spec.location => {
                return Err(attr_err(
                    "location",
                    format!(
                        "Primary IP {name} is in {}, the cluster in {}",
                        ip.location.name, spec.location
                    ),
                    "Primary IPs cannot move; keep the cluster in their location",
                ));
            }
            Some(ip) => {
                tracing::info!(ip = %name, "reusing Primary IP");
                if ip.auto_delete || ip.labels != labels {
                    api.update_primary_ip(ip.id, Some(&labels), Some(false))
                        .await
                        .map_err(|e| api_diag("update a Primary IP", &e))?;
                }
                ip
            }
            None => {
                let create = || api.create_primary_ip(&name, &spec.location, false, &labels);
                let find =
                    || async { Ok(api.primary_ips(None, Some(&name)).await?.into_iter().next()) };
                api.create_or_adopt(create, find)
                    .await
                    .map_err(|e| api_diag(&format!("create Primary IP {name}"), &e))?
                    .0
            }
        };
        if !ip.protection.delete {
            let a = api
                .protect_primary_ip(ip.id, true)
                .await
                .map_err(|e| api_diag("protect a Primary IP", &e))?;
            cloud::wait(cloud, &ctx.cancel, &a, deadline, "protect a Primary IP").await?;
        }
        ids.insert(logical.clone(), ip.id);
        addrs.insert(logical.clone(), ip.ip.clone());
    }
    Ok((ids, addrs))
}

/// Removes the cluster's servers and objects by label, keeping the Primary
/// IPs (left unassigned and protected). Safe to repeat.
pub async fn teardown(
    ctx: &Ctx<'_, Client>,
    cluster: &str,
    include_nodes: bool,
    deadline: Duration,
) -> Result<(), Diagnostic> {
    let cloud = &ctx.client.cloud;
    let api = &cloud.api;
    let mine = Selector::new().eq(naming::CLUSTER, cluster);
    let ignore_missing = |r: Result<(), hcloud::Error>, doing: &str| match r {
        Err(e) if !e.is_not_found() => Err(api_diag(doing, &e)),
        _ => Ok(()),
    };
    let servers = api
        .servers(Some(&mine), None)
        .await
        .map_err(|e| api_diag("list the cluster's servers", &e))?;
    if !include_nodes {
        let nodes: Vec<&str> = servers
            .iter()
            .filter(|s| s.labels.get(naming::ROLE).map(String::as_str) != Some("control-plane"))
            .map(|s| s.name.as_str())
            .collect();
        if !nodes.is_empty() {
            return Err(Diagnostic::error(
                format!("Cluster {cluster} still has nodes: {}", nodes.join(", ")),
                "destroy the k3strading_node resources first (Terraform does when they reference the cluster's name)",
            ));
        }
    }
    let mut pending = Vec::new();
    for s in servers {
        match api.delete_server(s.id).await {
            Ok(a) => pending.push(a),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(api_diag(&format!("delete server {}", s.name), &e)),
        }
    }
    if !pending.is_empty() {
        match api.wait_actions(&pending, deadline, &ctx.cancel).await {
            Ok(_) => {}
            Err(hcloud::Error::Cancelled) => return Err(tfplug::cancelled()),
            Err(e) => return Err(api_diag("delete the servers", &e)),
        }
    }
    for fw in api
        .firewalls(Some(&mine), None)
        .await
        .map_err(|e| api_diag("list firewalls", &e))?
    {
        if !fw.applied_to.is_empty() {
            match api.remove_firewall_from(fw.id, &fw.applied_to).await {
                Ok(actions) => {
                    if let Err(e) = api.wait_actions(&actions, deadline, &ctx.cancel).await {
                        return Err(api_diag("detach the firewall", &e));
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(api_diag("detach the firewall", &e)),
            }
        }
        ignore_missing(api.delete_firewall(fw.id).await, "delete the firewall")?;
    }
    for pg in api
        .placement_groups(Some(&mine), None)
        .await
        .map_err(|e| api_diag("list placement groups", &e))?
    {
        ignore_missing(
            api.delete_placement_group(pg.id).await,
            "delete the placement group",
        )?;
    }
    for n in api
        .networks(Some(&mine), None)
        .await
        .map_err(|e| api_diag("list networks", &e))?
    {
        ignore_missing(api.delete_network(n.id).await, "delete the network")?;
    }
    for k in api
        .ssh_keys(Some(&mine), None)
        .await
        .map_err(|e| api_diag("list SSH keys", &e))?
    {
        ignore_missing(api.delete_ssh_key(k.id).await, "delete the SSH key")?;
    }
    Ok(())
}

/// Labels of the control plane; the K3s version is kept there so import can
/// read it back ('+' is not allowed in label values).
fn cp_labels(spec: &Spec) -> hcloud::models::Labels {
    let mut l = naming::merged(
        &spec.labels,
        naming::managed(&spec.name, Some("control-plane")),
    );
    l.insert(
        naming::K3S_VERSION.into(),
        spec.k3s_version.replace('+', "-"),
    );
    l
}

/// The `primary_ips` default, for import.
pub fn default_primary_ips() -> Vec<String> {
    DEFAULT_PRIMARY_IPS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_opens_ssh_and_only_what_was_asked() {
        let v = Value::object([
            ("name", Value::from("c")),
            ("location", Value::from("fsn1")),
            ("network_cidr", Value::from("10.0.1.0/24")),
            ("control_plane_type", Value::from("cpx22")),
            ("control_plane_ip", Value::from("10.0.1.10")),
            ("image", Value::from("ubuntu-24.04")),
            ("ssh_allowed_cidrs", string_list(&["203.0.113.0/24".into()])),
            ("kafka_nodeports", Value::from("31090-31095")),
        ]);
        let spec = Spec::from_value(&v).unwrap();
        let rules = spec.rules();
        assert_eq!(rules.len(), 1, "{rules:?}");
        assert_eq!(rules[0].port.as_deref(), Some("22"));
    }
}
