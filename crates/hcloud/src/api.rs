//! Typed endpoints: servers, Primary IPs, networks, firewalls, SSH keys,
//! placement groups, and the catalog (locations, server types, images).

use std::future::Future;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Req};
use crate::error::{Error, ErrorCode};
use crate::labels::Selector;
use crate::models::*;

/// `POST /servers` body.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateServer {
    /// Name.
    pub name: String,
    /// Type name, e.g. `cpx22`.
    pub server_type: String,
    /// Image name, e.g. `ubuntu-24.04`.
    pub image: String,
    /// Location name.
    pub location: String,
    /// Power on when created.
    pub start_after_create: bool,
    /// SSH key ids.
    pub ssh_keys: Vec<Id>,
    /// Network ids (ids only: fixed IPs need attach_to_network).
    pub networks: Vec<Id>,
    /// Firewalls.
    pub firewalls: Vec<FirewallRef>,
    /// Placement group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement_group: Option<Id>,
    /// Cloud-init user data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Labels.
    pub labels: Labels,
    /// Public interface.
    pub public_net: CreatePublicNet,
}

/// A firewall to apply at creation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FirewallRef {
    /// Firewall id.
    pub firewall: Id,
}

/// Public interface at creation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreatePublicNet {
    /// Give it an IPv4.
    pub enable_ipv4: bool,
    /// Give it an IPv6.
    pub enable_ipv6: bool,
    /// Use this Primary IP as IPv4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Id>,
}

/// `POST /servers` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreatedServer {
    /// The server (preliminary).
    pub server: Server,
    /// The create action.
    pub action: Action,
    /// Follow-up actions (power on).
    pub next_actions: Vec<Action>,
}

// Request bodies. Optional fields are left out rather than sent as null,
// which the API would read as "clear this".

/// `PUT /servers/{id}`.
#[derive(Debug, Serialize)]
struct UpdateServer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a Labels>,
}

/// `POST /servers/{id}/actions/attach_to_network`.
#[derive(Debug, Serialize)]
struct AttachToNetwork<'a> {
    network: Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
}

/// `POST /primary_ips`.
#[derive(Debug, Serialize)]
struct CreatePrimaryIp<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    location: &'a str,
    auto_delete: bool,
    labels: &'a Labels,
}

/// `PUT /primary_ips/{id}`.
#[derive(Debug, Serialize)]
struct UpdatePrimaryIp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a Labels>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_delete: Option<bool>,
}

/// `POST /{resource}/{id}/actions/change_protection`.
#[derive(Debug, Serialize)]
struct ChangeProtection {
    delete: bool,
}

/// `POST /networks`.
#[derive(Debug, Serialize)]
struct CreateNetwork<'a> {
    name: &'a str,
    ip_range: &'a str,
    labels: &'a Labels,
    subnets: [NewSubnet<'a>; 1],
}

/// A subnet in `POST /networks`.
#[derive(Debug, Serialize)]
struct NewSubnet<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    ip_range: &'a str,
    network_zone: &'a str,
}

/// `POST /networks/{id}/actions/add_route`.
#[derive(Debug, Serialize)]
struct AddRoute<'a> {
    destination: &'a str,
    gateway: &'a str,
}

/// `POST /firewalls`.
#[derive(Debug, Serialize)]
struct CreateFirewall<'a> {
    name: &'a str,
    labels: &'a Labels,
    rules: &'a [FirewallRule],
    apply_to: &'a [FirewallTarget],
}

/// `POST /firewalls/{id}/actions/set_rules`.
#[derive(Debug, Serialize)]
struct SetRules<'a> {
    rules: &'a [FirewallRule],
}

/// `POST /firewalls/{id}/actions/remove_from_resources`.
#[derive(Debug, Serialize)]
struct RemoveFrom<'a> {
    remove_from: &'a [FirewallTarget],
}

/// `POST /ssh_keys`.
#[derive(Debug, Serialize)]
struct CreateSshKey<'a> {
    name: &'a str,
    public_key: &'a str,
    labels: &'a Labels,
}

/// `POST /placement_groups`.
#[derive(Debug, Serialize)]
struct CreatePlacementGroup<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    labels: &'a Labels,
}

impl Client {
    async fn get_one<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
        key: &str,
    ) -> Result<T, Error> {
        self.call(Req::new(Method::GET, path), key).await
    }

    async fn act(&self, path: String, body: &impl Serialize) -> Result<Action, Error> {
        self.call(Req::new(Method::POST, path).json(body)?, "action")
            .await
    }

    async fn delete_plain(&self, path: String) -> Result<(), Error> {
        self.send(Req::new(Method::DELETE, path)).await.map(|_| ())
    }

    fn selector_query(
        selector: Option<&Selector>,
        name: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = selector {
            q.push(("label_selector", s.to_string()));
        }
        if let Some(n) = name {
            q.push(("name", n.to_owned()));
        }
        q
    }

    // ---- servers

    /// Creates a server (not retried on ambiguous failures; see [`Client::create_or_adopt`]).
    pub async fn create_server(&self, body: &CreateServer) -> Result<CreatedServer, Error> {
        let v = self
            .send(Req::new(Method::POST, "/servers").json(body)?)
            .await?;
        serde_json::from_value(v).map_err(|e| Error::Decode {
            method: "POST".into(),
            path: "/servers".into(),
            status: 201,
            message: e.to_string(),
        })
    }
    /// One server.
    pub async fn server(&self, id: Id) -> Result<Server, Error> {
        self.get_one(format!("/servers/{id}"), "server").await
    }
    /// Servers matching `selector` and/or `name`.
    pub async fn servers(
        &self,
        selector: Option<&Selector>,
        name: Option<&str>,
    ) -> Result<Vec<Server>, Error> {
        self.list_all("/servers", "servers", &Self::selector_query(selector, name))
            .await
    }
    /// Renames or relabels a server (labels replace the set).
    pub async fn update_server(
        &self,
        id: Id,
        name: Option<&str>,
        labels: Option<&Labels>,
    ) -> Result<Server, Error> {
        let body = UpdateServer { name, labels };
        self.call(
            Req::new(Method::PUT, format!("/servers/{id}")).json(&body)?,
            "server",
        )
        .await
    }
    /// Deletes a server; rides out `locked` (a delete is safe to repeat).
    pub async fn delete_server(&self, id: Id) -> Result<Action, Error> {
        let req = Req::new(Method::DELETE, format!("/servers/{id}")).retry_locked();
        self.call(req, "action").await
    }
    /// Powers on.
    pub async fn poweron(&self, id: Id) -> Result<Action, Error> {
        self.call(
            Req::new(Method::POST, format!("/servers/{id}/actions/poweron")).idempotent(),
            "action",
        )
        .await
    }
    /// Cuts power.
    pub async fn poweroff(&self, id: Id) -> Result<Action, Error> {
        self.call(
            Req::new(Method::POST, format!("/servers/{id}/actions/poweroff")).idempotent(),
            "action",
        )
        .await
    }
    /// ACPI shutdown.
    pub async fn shutdown(&self, id: Id) -> Result<Action, Error> {
        self.call(
            Req::new(Method::POST, format!("/servers/{id}/actions/shutdown")).idempotent(),
            "action",
        )
        .await
    }
    /// Attaches to a network with a fixed IP (or any, when `ip` is None).
    /// Retries `locked`, which is common right after creation.
    pub async fn attach_to_network(
        &self,
        id: Id,
        network: Id,
        ip: Option<&str>,
    ) -> Result<Action, Error> {
        let req = Req::new(
            Method::POST,
            format!("/servers/{id}/actions/attach_to_network"),
        )
        .json(&AttachToNetwork { network, ip })?
        .retry_locked();
        self.call(req, "action").await
    }

    // ---- primary IPs

    /// Creates an unassigned IPv4 Primary IP in `location`.
    pub async fn create_primary_ip(
        &self,
        name: &str,
        location: &str,
        auto_delete: bool,
        labels: &Labels,
    ) -> Result<PrimaryIp, Error> {
        let body = CreatePrimaryIp {
            name,
            kind: "ipv4",
            location,
            auto_delete,
            labels,
        };
        self.call(
            Req::new(Method::POST, "/primary_ips").json(&body)?,
            "primary_ip",
        )
        .await
    }
    /// One Primary IP.
    pub async fn primary_ip(&self, id: Id) -> Result<PrimaryIp, Error> {
        self.get_one(format!("/primary_ips/{id}"), "primary_ip")
            .await
    }
    /// Primary IPs matching `selector` and/or `name`.
    pub async fn primary_ips(
        &self,
        selector: Option<&Selector>,
        name: Option<&str>,
    ) -> Result<Vec<PrimaryIp>, Error> {
        self.list_all(
            "/primary_ips",
            "primary_ips",
            &Self::selector_query(selector, name),
        )
        .await
    }
    /// Updates name, labels or auto-delete.
    pub async fn update_primary_ip(
        &self,
        id: Id,
        labels: Option<&Labels>,
        auto_delete: Option<bool>,
    ) -> Result<PrimaryIp, Error> {
        let body = UpdatePrimaryIp {
            labels,
            auto_delete,
        };
        self.call(
            Req::new(Method::PUT, format!("/primary_ips/{id}")).json(&body)?,
            "primary_ip",
        )
        .await
    }
    /// Deletes a Primary IP.
    pub async fn delete_primary_ip(&self, id: Id) -> Result<(), Error> {
        self.delete_plain(format!("/primary_ips/{id}")).await
    }
    /// Unassigns from its (stopped) server.
    pub async fn unassign_primary_ip(&self, id: Id) -> Result<Action, Error> {
        self.call(
            Req::new(Method::POST, format!("/primary_ips/{id}/actions/unassign")).idempotent(),
            "action",
        )
        .await
    }
    /// Turns delete protection on or off.
    pub async fn protect_primary_ip(&self, id: Id, delete: bool) -> Result<Action, Error> {
        let req = Req::new(
            Method::POST,
            format!("/primary_ips/{id}/actions/change_protection"),
        )
        .json(&ChangeProtection { delete })?
        .idempotent();
        self.call(req, "action").await
    }

    // ---- networks

    /// Creates a network with one cloud subnet.
    pub async fn create_network(
        &self,
        name: &str,
        ip_range: &str,
        subnet: &str,
        zone: &str,
        labels: &Labels,
    ) -> Result<Network, Error> {
        let body = CreateNetwork {
            name,
            ip_range,
            labels,
            subnets: [NewSubnet {
                kind: "cloud",
                ip_range: subnet,
                network_zone: zone,
            }],
        };
        self.call(Req::new(Method::POST, "/networks").json(&body)?, "network")
            .await
    }
    /// Networks matching `selector` and/or `name`.
    pub async fn networks(
        &self,
        selector: Option<&Selector>,
        name: Option<&str>,
    ) -> Result<Vec<Network>, Error> {
        self.list_all(
            "/networks",
            "networks",
            &Self::selector_query(selector, name),
        )
        .await
    }
    /// Deletes a network.
    pub async fn delete_network(&self, id: Id) -> Result<(), Error> {
        self.delete_plain(format!("/networks/{id}")).await
    }
    /// Adds a route.
    pub async fn add_route(
        &self,
        id: Id,
        destination: &str,
        gateway: &str,
    ) -> Result<Action, Error> {
        self.act(
            format!("/networks/{id}/actions/add_route"),
            &AddRoute {
                destination,
                gateway,
            },
        )
        .await
    }

    // ---- firewalls, SSH keys, placement groups

    /// Creates a firewall.
    pub async fn create_firewall(
        &self,
        name: &str,
        labels: &Labels,
        rules: &[FirewallRule],
        apply_to: &[FirewallTarget],
    ) -> Result<Firewall, Error> {
        let body = CreateFirewall {
            name,
            labels,
            rules,
            apply_to,
        };
        self.call(
            Req::new(Method::POST, "/firewalls").json(&body)?,
            "firewall",
        )
        .await
    }
    /// Firewalls matching `selector` and/or `name`.
    pub async fn firewalls(
        &self,
        selector: Option<&Selector>,
        name: Option<&str>,
    ) -> Result<Vec<Firewall>, Error> {
        self.list_all(
            "/firewalls",
            "firewalls",
            &Self::selector_query(selector, name),
        )
        .await
    }
    /// Replaces a firewall's rules.
    pub async fn set_firewall_rules(
        &self,
        id: Id,
        rules: &[FirewallRule],
    ) -> Result<Vec<Action>, Error> {
        self.call(
            Req::new(Method::POST, format!("/firewalls/{id}/actions/set_rules"))
                .json(&SetRules { rules })?
                .idempotent(),
            "actions",
        )
        .await
    }
    /// Detaches a firewall from targets (servers or label selectors).
    pub async fn remove_firewall_from(
        &self,
        id: Id,
        targets: &[FirewallTarget],
    ) -> Result<Vec<Action>, Error> {
        let clean: Vec<FirewallTarget> = targets
            .iter()
            .map(|t| FirewallTarget {
                applied_to_resources: None,
                ..t.clone()
            })
            .collect();
        let req = Req::new(
            Method::POST,
            format!("/firewalls/{id}/actions/remove_from_resources"),
        )
        .json(&RemoveFrom {
            remove_from: &clean,
        })?;
        self.call(req, "actions").await
    }
    /// Deletes a firewall.
    pub async fn delete_firewall(&self, id: Id) -> Result<(), Error> {
        self.delete_plain(format!("/firewalls/{id}")).await
    }
    /// Uploads an SSH public key.
    pub async fn create_ssh_key(
        &self,
        name: &str,
        public_key: &str,
        labels: &Labels,
    ) -> Result<SshKey, Error> {
        let body = CreateSshKey {
            name,
            public_key,
            labels,
        };
        self.call(Req::new(Method::POST, "/ssh_keys").json(&body)?, "ssh_key")
            .await
    }
    /// SSH keys matching `selector` and/or `name`.
    pub async fn ssh_keys(
        &self,
        selector: Option<&Selector>,
        name: Option<&str>,
    ) -> Result<Vec<SshKey>, Error> {
        self.list_all(
            "/ssh_keys",
            "ssh_keys",
            &Self::selector_query(selector, name),
        )
        .await
    }
    /// Deletes an SSH key.
    pub async fn delete_ssh_key(&self, id: Id) -> Result<(), Error> {
        self.delete_plain(format!("/ssh_keys/{id}")).await
    }
    /// Creates a spread placement group.
    pub async fn create_placement_group(
        &self,
        name: &str,
        labels: &Labels,
    ) -> Result<PlacementGroup, Error> {
        let body = CreatePlacementGroup {
            name,
            kind: "spread",
            labels,
        };
        self.call(
            Req::new(Method::POST, "/placement_groups").json(&body)?,
            "placement_group",
        )
        .await
    }
    /// Placement groups matching `selector` and/or `name`.
    pub async fn placement_groups(
        &self,
        selector: Option<&Selector>,
        name: Option<&str>,
    ) -> Result<Vec<PlacementGroup>, Error> {
        self.list_all(
            "/placement_groups",
            "placement_groups",
            &Self::selector_query(selector, name),
        )
        .await
    }
    /// Deletes a placement group.
    pub async fn delete_placement_group(&self, id: Id) -> Result<(), Error> {
        self.delete_plain(format!("/placement_groups/{id}")).await
    }

    // ---- catalog

    /// All locations.
    pub async fn locations(&self) -> Result<Vec<Location>, Error> {
        self.list_all("/locations", "locations", &[]).await
    }
    /// All server types (with per-location deprecation and prices).
    pub async fn server_types(&self) -> Result<Vec<ServerType>, Error> {
        self.list_all("/server_types", "server_types", &[]).await
    }
    /// System images with `name`.
    pub async fn images(&self, name: Option<&str>) -> Result<Vec<Image>, Error> {
        self.list_all("/images", "images", &Self::selector_query(None, name))
            .await
    }

    // ---- ambiguity

    /// Runs `create`; when it fails with `uniqueness_error` or an answer-less
    /// error (the create may have happened), looks the object up with `find`
    /// and adopts it. If nothing is found after an ambiguous failure the
    /// create is tried once more. Returns the object and whether it was adopted.
    pub async fn create_or_adopt<T, C, CF, F, FF>(
        &self,
        create: C,
        find: F,
    ) -> Result<(T, bool), Error>
    where
        C: Fn() -> CF,
        CF: Future<Output = Result<T, Error>>,
        F: Fn() -> FF,
        FF: Future<Output = Result<Option<T>, Error>>,
    {
        match create().await {
            Ok(t) => Ok((t, false)),
            Err(e) if e.code() == Some(&ErrorCode::UniquenessError) || e.is_ambiguous() => {
                tracing::info!(error = %e, "create failed ambiguously or name taken; looking for the object");
                if let Some(t) = find().await? {
                    return Ok((t, true));
                }
                if e.is_ambiguous() {
                    create().await.map(|t| (t, false))
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn wire(body: &impl Serialize) -> Value {
        serde_json::to_value(body).unwrap()
    }

    fn labels() -> Labels {
        Labels::from([("k3strading.io/cluster".to_owned(), "dev".to_owned())])
    }

    #[test]
    fn create_bodies_carry_the_documented_fields() {
        let l = labels();
        assert_eq!(
            wire(&CreatePrimaryIp {
                name: "ip-0",
                kind: "ipv4",
                location: "fsn1",
                auto_delete: false,
                labels: &l,
            }),
            json!({ "name": "ip-0", "type": "ipv4", "location": "fsn1", "auto_delete": false,
                    "labels": { "k3strading.io/cluster": "dev" } })
        );
        assert_eq!(
            wire(&CreateNetwork {
                name: "net",
                ip_range: "10.0.0.0/16",
                labels: &l,
                subnets: [NewSubnet {
                    kind: "cloud",
                    ip_range: "10.0.1.0/24",
                    network_zone: "eu-central",
                }],
            }),
            json!({ "name": "net", "ip_range": "10.0.0.0/16",
                    "labels": { "k3strading.io/cluster": "dev" },
                    "subnets": [{ "type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central" }] })
        );
        assert_eq!(
            wire(&CreatePlacementGroup {
                name: "pg",
                kind: "spread",
                labels: &l,
            }),
            json!({ "name": "pg", "type": "spread", "labels": { "k3strading.io/cluster": "dev" } })
        );
    }

    #[test]
    fn optional_fields_are_left_out_not_sent_as_null() {
        assert_eq!(
            wire(&AttachToNetwork {
                network: 7,
                ip: Some("10.0.1.10"),
            }),
            json!({ "network": 7, "ip": "10.0.1.10" })
        );
        assert_eq!(
            wire(&AttachToNetwork {
                network: 7,
                ip: None
            }),
            json!({ "network": 7 })
        );
        let l = labels();
        assert_eq!(
            wire(&UpdateServer {
                name: None,
                labels: Some(&l),
            }),
            json!({ "labels": { "k3strading.io/cluster": "dev" } })
        );
        assert_eq!(
            wire(&UpdatePrimaryIp {
                labels: None,
                auto_delete: Some(false),
            }),
            json!({ "auto_delete": false })
        );
    }

    #[test]
    fn firewall_bodies_nest_rules_and_targets() {
        let rules = [FirewallRule {
            direction: "in".into(),
            protocol: "tcp".into(),
            port: Some("22".into()),
            source_ips: vec!["203.0.113.0/24".into()],
            ..FirewallRule::default()
        }];
        let targets = [FirewallTarget::selector("k3strading.io/cluster=dev")];
        let rule = json!({ "direction": "in", "protocol": "tcp", "port": "22",
                           "source_ips": ["203.0.113.0/24"], "destination_ips": [], "description": null });
        let target = json!({ "type": "label_selector",
                             "label_selector": { "selector": "k3strading.io/cluster=dev" } });
        assert_eq!(
            wire(&CreateFirewall {
                name: "fw",
                labels: &Labels::new(),
                rules: &rules,
                apply_to: &targets,
            }),
            json!({ "name": "fw", "labels": {}, "rules": [rule], "apply_to": [target] })
        );
        assert_eq!(
            wire(&SetRules { rules: &rules }),
            json!({ "rules": [rule] })
        );
        assert_eq!(
            wire(&RemoveFrom {
                remove_from: &targets
            }),
            json!({ "remove_from": [target] })
        );
        assert_eq!(
            wire(&ChangeProtection { delete: true }),
            json!({ "delete": true })
        );
    }
}
