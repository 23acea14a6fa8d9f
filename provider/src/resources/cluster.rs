//! `k3strading_cluster`: Terraform's view of a cluster. The work is done by
//! `k3strading_cluster` (the crate); this module maps schema values to a
//! [`ClusterSpec`], progress back to state, and errors to diagnostics.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k3strading_cluster::converge::{self, ClusterBuilt};
use k3strading_cluster::defaults as d;
use k3strading_cluster::inventory::{self, Inventory};
use k3strading_cluster::spec::ClusterSpec;
use k3strading_cluster::teardown::{Scope, teardown};
use k3strading_cluster::{Field, names, network, secrets};
use tfplug::{
    Attribute, Ctx, Diagnostic, Diagnostics, Failure, Plan, Resource, Schema, Type, Value,
};

use crate::Client;
use crate::cloud::{PlannedCluster, attr_err, diag, diags, hetzner};
use crate::config::Login;
use crate::resources::common::*;

/// The resource.
#[derive(Debug)]
pub struct ClusterResource;

/// The attribute for a field of the cluster spec.
pub fn attr(f: Field) -> Option<&'static str> {
    Some(match f {
        Field::Name | Field::Cluster => "name",
        Field::Location => "location",
        Field::ServerType => "control_plane_type",
        Field::Image => "image",
        Field::PrivateIp => "control_plane_ip",
        Field::PrimaryIps | Field::PrimaryIp => "primary_ips",
        Field::ControlPlanePrimaryIp => "control_plane_primary_ip",
    })
}

fn bad(attr: &str, e: impl std::fmt::Display) -> Diagnostic {
    attr_err(attr, format!("Invalid {attr}"), e.to_string())
}

/// The spec of a known planned value.
pub fn spec_of(v: &Value) -> Result<ClusterSpec, Diagnostic> {
    let s = |k: &str, default: &str| v.get_str(k).unwrap_or(default).to_owned();
    let cidr: Ipv4Net = s("network_cidr", "")
        .parse()
        .map_err(|e| bad("network_cidr", e))?;
    let cp_ip: Ipv4Addr = s("control_plane_ip", "")
        .parse()
        .map_err(|e| bad("control_plane_ip", e))?;
    Ok(ClusterSpec {
        name: s("name", ""),
        location: s("location", d::LOCATION),
        cidr,
        control_plane_type: s("control_plane_type", d::SERVER_TYPE),
        control_plane_ip: cp_ip,
        image: s("image", d::IMAGE),
        primary_ips: strings(v.get("primary_ips")),
        control_plane_primary_ip: s("control_plane_primary_ip", d::CONTROL_PLANE_PRIMARY_IP),
        ssh_allowed_cidrs: strings(v.get("ssh_allowed_cidrs")),
        api_allowed_cidrs: strings(v.get("api_allowed_cidrs")),
        kafka_nodeports: v.get_str("kafka_nodeports").map(str::to_owned),
        kafka_allowed_cidrs: strings(v.get("kafka_allowed_cidrs")),
        labels: labels_of(v.get("labels")),
        k3s_version: s("k3s_version", d::K3S_VERSION),
        ssh_authorized_keys: strings(v.get("ssh_authorized_keys")),
        install_k3s: v.get_bool("install_k3s").unwrap_or(true),
    })
}

fn schema() -> Schema {
    let list = |name: &str| Attribute::new(name, Type::list(Type::String));
    Schema::new(1)
        .description("An ephemeral K3s trading cluster on Hetzner Cloud: private network with NAT through the control plane, public firewall, the persistent Primary IPs (created once, reused by name, never deleted), generated secrets, and the control-plane server in its spread placement group.")
        .attribute(Attribute::string("id").computed().stable().describe("The cluster name."))
        .attribute(Attribute::string("name").required().force_new().validate(dns_label).describe("Cluster name, e.g. `k3s-trading-prod`; prefixes every object name."))
        .attribute(Attribute::string("location").default(d::LOCATION).force_new().describe("Hetzner location, e.g. `fsn1`, `nbg1`, `hel1`."))
        .attribute(Attribute::string("network_cidr").default(d::NETWORK_CIDR.to_string()).force_new().validate(private_cidr).describe("Private network range (RFC 1918, /24 or larger)."))
        .attribute(Attribute::string("control_plane_type").default(d::SERVER_TYPE).force_new().describe("Server type of the control plane."))
        .attribute(Attribute::string("control_plane_ip").default(d::CONTROL_PLANE_IP.to_string()).force_new().validate(ipv4).describe("Fixed private address of the control plane."))
        .attribute(Attribute::string("image").default(d::IMAGE).force_new().describe("System image."))
        .attribute(
            Attribute::new("primary_ips", Type::set(Type::String))
                .optional()
                .computed()
                .validate(|v| strings(Some(v)).iter().try_for_each(|s| dns_label(&Value::from(s.as_str()))))
                .describe("Logical names of the persistent Primary IPv4s (default `control` and `kafka`). Each is created once as `<name>-<logical>`, delete-protected, and reused by name ever after."),
        )
        .attribute(Attribute::string("control_plane_primary_ip").default(d::CONTROL_PLANE_PRIMARY_IP).force_new().validate(dns_label).describe("Which Primary IP the control plane uses."))
        .attribute(list("ssh_allowed_cidrs").optional().computed().validate(cidr_list).describe("Sources allowed to reach SSH (22/tcp) on public addresses. Default: anywhere."))
        .attribute(list("api_allowed_cidrs").optional().computed().validate(cidr_list).describe("Sources allowed to reach the Kubernetes API (6443/tcp). Default: none (closed)."))
        .attribute(Attribute::string("kafka_nodeports").default(d::KAFKA_NODEPORTS).describe("Kafka NodePort range opened on public addresses."))
        .attribute(list("kafka_allowed_cidrs").optional().computed().validate(cidr_list).describe("Sources allowed to reach the Kafka NodePorts. Default: none (closed)."))
        .attribute(Attribute::string("k3s_version").default(d::K3S_VERSION).force_new().validate(|v| match v.as_str() {
            Some(s) if s.starts_with('v') && s.contains("+k3s") => Ok(()),
            _ => Err("must look like v1.34.1+k3s1".into()),
        }).describe("Pinned K3s release."))
        .attribute(Attribute::bool("install_k3s").default(true).force_new().describe("Install the K3s server on the control plane. It installs at first boot, from the user data, so node servers are created while it comes up; the nodes wait for it. `false` gives bare servers."))
        .attribute(labels_attr())
        .attribute(authorized_keys_attr())
        .attribute(Attribute::number("network_id").computed().stable().describe("Hetzner network id."))
        .attribute(Attribute::number("firewall_id").computed().stable().describe("Hetzner firewall id."))
        .attribute(Attribute::number("placement_group_id").computed().stable().describe("Hetzner id of the control plane's spread placement group. Servers are spread in groups of at most 10 by private address: `<name>-spread-N` holds host numbers 10·N to 10·N+9 of the network."))
        .attribute(Attribute::number("control_plane_id").computed().stable().describe("Server id of the control plane."))
        .attribute(Attribute::string("control_plane_ipv4").computed().stable().describe("Public IPv4 of the control plane (its Primary IP)."))
        .attribute(Attribute::new("primary_ip_addresses", Type::map(Type::String)).computed().describe("Logical name → public address of every Primary IP."))
        .attribute(Attribute::new("primary_ip_ids", Type::map(Type::Number)).computed().describe("Logical name → Hetzner id of every Primary IP."))
        .attribute(Attribute::string("ssh_public_key").computed().stable().describe("Public half of the login key: generated by the provider, or the provider block's own. Servers carry its SHA256 fingerprint in the label `k3strading.io/ssh-key`; a leftover server with another key is replaced, never adopted."))
        .attribute(Attribute::string("ssh_private_key").computed().stable().sensitive().describe("Private half, in OpenSSH format ending in a newline (`ssh -i` takes it as it is). Null when the provider block supplies the login key (`ssh_private_key` or an agent's `ssh_public_key`). Sensitive; not recoverable on import."))
        .attribute(Attribute::string("host_public_key").computed().stable().describe("The control plane's SSH host key (OpenSSH one-line format), generated by the provider and delivered through cloud-init: build `known_hosts` from it. Its fingerprint is in the server label `k3strading.io/host-key`. Not recoverable on import."))
        .attribute(Attribute::string("k3s_token").computed().stable().sensitive().describe("The cluster's K3s join secret, given to the server at first boot in a 0600 file (never in argv or config.yaml). Agents join with the server's secure `K10…` token, which pins the cluster CA. Sensitive; not recoverable on import."))
        .block(timeouts_block())
}

/// The version-0 private key (base64 PKCS#8) as OpenSSH text.
fn upgrade_private_key(old: &str, cluster: &str) -> Result<Value, Diagnostic> {
    use base64::Engine as _;
    let bad = || {
        Diagnostic::error(
            "Could not upgrade the stored SSH key",
            "ssh_private_key in state is not a base64 PKCS#8 Ed25519 key; replace the cluster",
        )
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(old.trim())
        .map_err(|_| bad())?;
    let pair =
        secrets::KeyPair::from_pkcs8_ed25519(&der, &names::ssh_key(cluster)).map_err(|_| bad())?;
    Ok(Value::from(pair.private_openssh().expose().to_owned()))
}

/// Writes what exists into state; what does not is null.
fn record(state: &mut Value, built: &ClusterBuilt) {
    match &built.primary_ips {
        Some(ips) => {
            let ids = ips.iter().map(|(k, a)| (k.clone(), a.id)).collect();
            let addrs = ips.iter().map(|(k, a)| (k.clone(), a.ip.clone())).collect();
            state.set("primary_ip_ids", id_map(&ids));
            state.set("primary_ip_addresses", string_map(&addrs));
        }
        None => {
            state.set("primary_ip_ids", Value::Null);
            state.set("primary_ip_addresses", Value::Null);
        }
    }
    state.set("network_id", opt_int(built.network));
    state.set("firewall_id", opt_int(built.firewall));
    state.set("placement_group_id", opt_int(built.placement_group));
    state.set("control_plane_id", opt_int(built.control_plane));
    state.set(
        "control_plane_ipv4",
        built
            .control_plane_ipv4
            .clone()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
}

/// What state says exists.
fn built_of(state: &Value) -> ClusterBuilt {
    ClusterBuilt {
        network: state.get_i64("network_id"),
        firewall: state.get_i64("firewall_id"),
        placement_group: state.get_i64("placement_group_id"),
        control_plane: state.get_i64("control_plane_id"),
        ..ClusterBuilt::default()
    }
}

#[tfplug::async_trait]
impl Resource<Client> for ClusterResource {
    fn type_name(&self) -> &str {
        "k3strading_cluster"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        let cidr = config
            .get_str("network_cidr")
            .map_or(Ok(d::NETWORK_CIDR), str::parse::<Ipv4Net>);
        let ip = config
            .get_str("control_plane_ip")
            .map_or(Ok(d::CONTROL_PLANE_IP), str::parse::<Ipv4Addr>);
        if let (Ok(cidr), Ok(ip)) = (cidr, ip)
            && let Some(problem) = network::address_problem(&cidr, ip)
        {
            diags.push(attr_err(
                "control_plane_ip",
                "Invalid control_plane_ip",
                problem,
            ));
        }
        let ips = strings(config.get("primary_ips"));
        let cp = config
            .get_str("control_plane_primary_ip")
            .unwrap_or(d::CONTROL_PLANE_PRIMARY_IP);
        let known = config
            .get("primary_ips")
            .is_none_or(|v| v.is_wholly_known());
        if known && !ips.is_empty() && !ips.iter().any(|i| i == cp) {
            diags.push(attr_err(
                "control_plane_primary_ip",
                "Unknown Primary IP",
                format!("{cp:?} is not in primary_ips {ips:?}"),
            ));
        }
        diags
    }

    async fn plan(&self, ctx: &Ctx<'_, Client>, plan: &mut Plan) -> Result<(), Diagnostics> {
        if plan.config.get("primary_ips").is_none_or(Value::is_null) {
            plan.planned
                .set("primary_ips", string_set(&d::primary_ips()));
        }
        let ssh_default: Vec<String> = d::SSH_ALLOWED_CIDRS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for (attr, default) in [
            ("ssh_allowed_cidrs", ssh_default),
            ("api_allowed_cidrs", Vec::new()),
            ("kafka_allowed_cidrs", Vec::new()),
        ] {
            if plan.config.get(attr).is_none_or(Value::is_null) {
                plan.planned.set(attr, string_list(&default));
            }
        }
        if plan.is_create()
            && let Some(name) = plan.planned.get_str("name").map(str::to_owned)
        {
            plan.planned.set("id", name.into());
        }
        // A cluster whose control plane is gone (a destroy cut short after
        // deleting it, or the server deleted by hand) is built again.
        if !plan.is_create() && plan.prior.get_i64("control_plane_id").is_none() {
            plan.planned.set("control_plane_id", Value::Unknown);
            plan.requires_replace
                .push(tfplug::AttrPath::attr("control_plane_id"));
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
        let spec = spec_of(&plan.planned)?;
        // Only new servers are ordered: a type deprecated later must not
        // break plans of a cluster that already runs on it.
        if plan.is_create() {
            let catalog = ctx.client.cloud.catalog().await?;
            let problems = catalog.check(&spec.location, &spec.control_plane_type, &spec.image);
            if !problems.is_empty() {
                return Err(diags(&problems, attr));
            }
        }
        let mut reg = ctx.client.cloud.registry();
        reg.clusters.insert(
            spec.name.clone(),
            PlannedCluster {
                cidr: Some(spec.cidr),
                control_plane_ip: Some(spec.control_plane_ip),
                primary_ips: spec.primary_ips.clone(),
                location: Some(spec.location.clone()),
            },
        );
        reg.names.insert(
            names::control_plane(&spec.name),
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
        let spec = spec_of(planned)?;
        let deadline = timeout(config, "create", d::CREATE_TIMEOUT);
        let fail = |e: k3strading_cluster::Error| diag(&e, attr);
        let token = secrets::k3s_token().map_err(fail)?;
        // The login key: generated and kept in state, or the user's own
        // (from the provider block or an agent), which never enters state.
        let (private_key, public_key) = match &ctx.client.settings.login {
            Login::Generated => {
                let key = secrets::key_pair(&names::ssh_key(&spec.name)).map_err(fail)?;
                (
                    Value::from(key.private_openssh().expose().to_owned()),
                    key.public_openssh().to_owned(),
                )
            }
            Login::PrivateKey { public, .. } | Login::Agent { public } => {
                (Value::Null, public.clone())
            }
        };
        let host = secrets::key_pair(&names::control_plane(&spec.name)).map_err(fail)?;
        let catalog = ctx.client.cloud.catalog().await?;
        let mut state = planned.clone();
        state.set("k3s_token", token.clone().into());
        state.set("ssh_private_key", private_key);
        state.set("ssh_public_key", public_key.clone().into());
        state.set("host_public_key", host.public_openssh().to_owned().into());
        let install_k3s = planned.get_bool("install_k3s").unwrap_or(true);
        let k3s_token = secrets::Secret::new(token.as_str());
        let mut built = ClusterBuilt::default();
        let memo = &ctx.client.cloud.memo;
        memo.forget(&spec.name);
        let result = converge::cluster(
            &hetzner(ctx),
            &spec,
            catalog,
            &public_key,
            &host,
            install_k3s.then_some(&k3s_token),
            deadline,
            &mut built,
        )
        .await;
        // A create that succeeded left what it made in the memo for the
        // nodes; one that failed may have left anything.
        if result.is_err() {
            memo.forget(&spec.name);
        }
        record(&mut state, &built);
        match result {
            Ok(()) => Ok(state),
            Err(e) if built.is_empty() => Err(fail(e).into()),
            Err(e) => Err(Failure::with_partial(fail(e), state)),
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<'_, Client>,
        state: &Value,
    ) -> Result<Option<Value>, Diagnostics> {
        let Some(cp) = state.get_i64("control_plane_id") else {
            // A create that failed before the server existed: keep the state,
            // so destroy still removes the network and friends.
            return Ok(state.get_i64("network_id").map(|_| state.clone()));
        };
        let name = state.get_str("name").unwrap_or_default();
        let Some(server) = inventory::server_for_refresh(&hetzner(ctx), name, cp)
            .await
            .map_err(|e| Diagnostics::from(diag(&e, attr)))?
        else {
            // The control plane is gone. What else the cluster made (network,
            // firewall, key, placement groups) may not be: a destroy cut short
            // after deleting the server leaves them. The resource stays, without
            // a control plane, so the next destroy removes them and the next
            // apply builds the cluster again; it is dropped only when nothing
            // of it is left.
            let left = inventory::Inventory::read(&hetzner(ctx), name)
                .await
                .map_err(|e| Diagnostics::from(diag(&e, attr)))?;
            if !left.only_primary_ips() {
                let mut v = state.clone();
                v.set("control_plane_id", Value::Null);
                v.set("control_plane_ipv4", Value::Null);
                return Ok(Some(v));
            }
            return Ok(None);
        };
        let mut v = state.clone();
        v.set(
            "labels",
            read_labels(state.get("labels"), &names::user_part(&server.labels)),
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
        let spec = spec_of(planned)?;
        let deadline = timeout(config, "update", d::UPDATE_TIMEOUT);
        let relabel = prior.get("labels") != planned.get("labels");
        let public_key = planned.get_str("ssh_public_key").unwrap_or_default();
        let host_key = planned.get_str("host_public_key").unwrap_or_default();
        ctx.client.cloud.memo.forget(&spec.name);
        let ips = converge::update_cluster(
            &hetzner(ctx),
            &spec,
            &built_of(planned),
            public_key,
            host_key,
            relabel,
            deadline,
        )
        .await;
        ctx.client.cloud.memo.forget(&spec.name);
        let ips = ips.map_err(|e| diag(&e, attr))?;
        let mut state = planned.clone();
        let ids = ips.iter().map(|(k, a)| (k.clone(), a.id)).collect();
        let addrs = ips.iter().map(|(k, a)| (k.clone(), a.ip.clone())).collect();
        state.set("primary_ip_ids", id_map(&ids));
        state.set("primary_ip_addresses", string_map(&addrs));
        Ok(state)
    }

    async fn delete(&self, ctx: &Ctx<'_, Client>, prior: &Value) -> Result<(), Diagnostics> {
        let name = prior.get_str("name").unwrap_or_default();
        ctx.client.cloud.memo.forget(name);
        let gone = teardown(
            &hetzner(ctx),
            name,
            Scope::ControlPlaneOnly,
            timeout(prior, "delete", d::DELETE_TIMEOUT),
        )
        .await;
        ctx.client.cloud.memo.forget(name);
        gone.map_err(|e| diag(&e, attr).into())
    }

    fn upgrade(&self, from_version: i64, state: &serde_json::Value) -> Result<Value, Diagnostics> {
        let mut v = tfplug::json::decode(state, &schema().value_type(), true).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Stored state does not match the schema",
                e.to_string(),
            ))
        })?;
        // Version 0 kept the private key as base64 PKCS#8; it is OpenSSH text now.
        if from_version < 1
            && let Some(old) = v.get_str("ssh_private_key").map(str::to_owned)
        {
            v.set(
                "ssh_private_key",
                upgrade_private_key(&old, v.get_str("name").unwrap_or_default())?,
            );
        }
        Ok(v)
    }

    async fn import(&self, ctx: &Ctx<'_, Client>, id: &str) -> Result<Value, Diagnostics> {
        let inv = Inventory::read(&hetzner(ctx), id)
            .await
            .map_err(|e| Diagnostics::from(diag(&e, attr)))?;
        crate::resources::import::cluster(id, &inv, &schema())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_0_state_upgrades_its_private_key_to_openssh_text() {
        use base64::Engine as _;
        assert_eq!(schema().version, 1);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let old = serde_json::json!({
            "id": "c", "name": "c", "network_cidr": "10.0.1.0/24",
            "ssh_private_key": base64::engine::general_purpose::STANDARD.encode(der.as_ref()),
            "ssh_public_key": "ssh-ed25519 AAAA c-provider",
        });
        let v = ClusterResource.upgrade(0, &old).unwrap();
        let key = v.get_str("ssh_private_key").unwrap();
        assert!(
            key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
            "{key:.40}"
        );
        assert!(key.ends_with('\n'));
        assert_eq!(v.get("host_public_key"), Some(&Value::Null));
        // Current state is left as it is.
        let now = ClusterResource
            .upgrade(1, &serde_json::json!({"ssh_private_key": key}))
            .unwrap();
        assert_eq!(now.get_str("ssh_private_key"), Some(key));
        // A key that is not PKCS#8 is refused, without echoing it.
        let err = ClusterResource
            .upgrade(0, &serde_json::json!({"ssh_private_key": "bm90LWEta2V5"}))
            .unwrap_err();
        assert!(!err.to_string().contains("bm90LWEta2V5"), "{err}");
    }
}
