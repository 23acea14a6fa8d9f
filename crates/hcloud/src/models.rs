//! Hetzner Cloud API objects, shaped like the official OpenAPI document.
//!
//! Tolerant on input: every field has a default, enums keep unknown values as
//! `Unknown(String)`, ids are 64-bit. Complete on output: every field is
//! serialised (nulls included), so the local cloud that reuses these types
//! produces the keys the specification requires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Resource ids are 64-bit.
pub type Id = i64;
/// Labels: string keys to string values.
pub type Labels = BTreeMap<String, String>;

/// Declares a string enum that keeps unknown values instead of failing.
#[macro_export]
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant,)*
            /// A value this client does not know yet.
            Unknown(String),
        }
        impl Default for $name {
            fn default() -> Self { $name::Unknown(String::new()) }
        }
        impl $name {
            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self { $($name::$variant => $text,)* $name::Unknown(s) => s }
            }
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s { $($text => $name::$variant,)* other => $name::Unknown(other.to_owned()) }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::from(s.as_str()))
            }
        }
    };
}

string_enum!(
    /// Server power and life-cycle state.
    ServerStatus {
        /// Running.
        Running = "running",
        /// Being created.
        Initializing = "initializing",
        /// Powering on.
        Starting = "starting",
        /// Powering off.
        Stopping = "stopping",
        /// Powered off.
        Off = "off",
        /// Being deleted.
        Deleting = "deleting",
        /// Migrating.
        Migrating = "migrating",
        /// Rebuilding.
        Rebuilding = "rebuilding",
    }
);

string_enum!(
    /// Action state.
    ActionStatus {
        /// Still running.
        Running = "running",
        /// Finished successfully.
        Success = "success",
        /// Failed; see `error`.
        Error = "error",
    }
);

/// Error detail of a failed action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionError {
    /// Machine-readable code.
    pub code: String,
    /// Message.
    pub message: String,
}

/// A resource an action touches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceRef {
    /// Its id.
    pub id: Id,
    /// Its type, e.g. `server`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// An asynchronous task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Action {
    /// Id.
    pub id: Id,
    /// What it does, e.g. `create_server`.
    pub command: String,
    /// State.
    pub status: ActionStatus,
    /// Percent done.
    pub progress: i32,
    /// RFC 3339 start time.
    pub started: String,
    /// RFC 3339 end time, null while running.
    pub finished: Option<String>,
    /// What it touches.
    pub resources: Vec<ResourceRef>,
    /// Why it failed.
    pub error: Option<ActionError>,
}

/// A data-centre location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Location {
    /// Id.
    pub id: Id,
    /// Short name, e.g. `fsn1`.
    pub name: String,
    /// Description.
    pub description: String,
    /// ISO country code.
    pub country: String,
    /// City.
    pub city: String,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Network zone, e.g. `eu-central`.
    pub network_zone: String,
}

/// Deprecation notice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deprecation {
    /// When it was announced.
    pub announced: String,
    /// After this, it can no longer be ordered.
    pub unavailable_after: String,
}

/// Net and gross amount (decimal strings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Amount {
    /// Net.
    pub net: String,
    /// Gross.
    pub gross: String,
}

/// Price of a server type in one location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Price {
    /// Location name.
    pub location: String,
    /// Hourly.
    pub price_hourly: Amount,
    /// Monthly.
    pub price_monthly: Amount,
    /// Included traffic in bytes.
    pub included_traffic: i64,
    /// Extra traffic per TB.
    pub price_per_tb_traffic: Amount,
}

/// Per-location availability of a server type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerTypeLocation {
    /// Location id.
    pub id: Id,
    /// Location name.
    pub name: String,
    /// Set when deprecated in this location.
    pub deprecation: Option<Deprecation>,
    /// Recommended here.
    pub recommended: bool,
    /// Orderable here now.
    pub available: bool,
}

/// A server type (size).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerType {
    /// Id.
    pub id: Id,
    /// Name, e.g. `cpx22`.
    pub name: String,
    /// Description.
    pub description: String,
    /// vCPUs.
    pub cores: f64,
    /// Memory in GB.
    pub memory: f64,
    /// Disk in GB.
    pub disk: f64,
    /// Deprecated everywhere (legacy flag).
    pub deprecated: bool,
    /// Prices per location.
    pub prices: Vec<Price>,
    /// `local` or `network`.
    pub storage_type: String,
    /// `shared` or `dedicated`.
    pub cpu_type: String,
    /// Category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `x86` or `arm`.
    pub architecture: String,
    /// Legacy global deprecation.
    pub deprecation: Option<Deprecation>,
    /// Where it is offered.
    pub locations: Vec<ServerTypeLocation>,
}

impl ServerType {
    /// Whether it can be ordered in `location` now (offered, available, not deprecated).
    pub fn orderable_in(&self, location: &str) -> bool {
        self.locations
            .iter()
            .any(|l| l.name == location && l.available && l.deprecation.is_none())
    }
}

/// Delete protection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Protection {
    /// Deletion blocked.
    pub delete: bool,
}

/// An operating-system image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    /// Id.
    pub id: Id,
    /// `system`, `app`, `snapshot` or `backup`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `available`, `creating` or `unavailable`.
    pub status: String,
    /// Name, e.g. `ubuntu-24.04` (system images only).
    pub name: Option<String>,
    /// Description.
    pub description: String,
    /// Stored size in GB.
    pub image_size: Option<f64>,
    /// Disk size in GB.
    pub disk_size: f64,
    /// Creation time.
    pub created: String,
    /// Source server.
    pub created_from: Option<serde_json::Value>,
    /// Server a backup is bound to.
    pub bound_to: Option<Id>,
    /// OS flavour.
    pub os_flavor: String,
    /// OS version.
    pub os_version: Option<String>,
    /// Rapid deploy.
    pub rapid_deploy: bool,
    /// Protection.
    pub protection: Protection,
    /// Deprecation time.
    pub deprecated: Option<String>,
    /// Deletion time.
    pub deleted: Option<String>,
    /// Labels.
    pub labels: Labels,
    /// `x86` or `arm`.
    pub architecture: String,
}

/// A public IPv4 on a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicIpv4 {
    /// Primary IP id.
    pub id: Id,
    /// Address.
    pub ip: String,
    /// Blocked by abuse handling.
    pub blocked: bool,
    /// Reverse DNS.
    pub dns_ptr: String,
}

/// A public IPv6 network on a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicIpv6 {
    /// Primary IP id.
    pub id: Id,
    /// Network, e.g. `2001:db8::/64`.
    pub ip: String,
    /// Blocked by abuse handling.
    pub blocked: bool,
    /// Reverse DNS entries.
    pub dns_ptr: Option<Vec<DnsPtr>>,
}

/// A reverse DNS entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsPtr {
    /// Address.
    pub ip: String,
    /// Name.
    pub dns_ptr: String,
}

/// A firewall's state on a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerFirewall {
    /// Firewall id.
    pub id: Id,
    /// `applied` or `pending`.
    pub status: String,
}

/// A server's public interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicNet {
    /// IPv4, if any.
    pub ipv4: Option<PublicIpv4>,
    /// IPv6, if any.
    pub ipv6: Option<PublicIpv6>,
    /// Floating IP ids.
    pub floating_ips: Vec<Id>,
    /// Firewalls.
    pub firewalls: Vec<ServerFirewall>,
}

/// A server's interface in a private network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrivateNet {
    /// Network id.
    pub network: Id,
    /// Address.
    pub ip: String,
    /// Extra addresses.
    pub alias_ips: Vec<String>,
    /// MAC address.
    pub mac_address: String,
}

/// Server protection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerProtection {
    /// Deletion blocked.
    pub delete: bool,
    /// Rebuild blocked.
    pub rebuild: bool,
}

/// A virtual machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    /// Id.
    pub id: Id,
    /// Name (RFC 1123 hostname).
    pub name: String,
    /// State.
    pub status: ServerStatus,
    /// Creation time.
    pub created: String,
    /// Public interface.
    pub public_net: PublicNet,
    /// Private interfaces.
    pub private_net: Vec<PrivateNet>,
    /// Type.
    pub server_type: ServerType,
    /// Location.
    pub location: Location,
    /// Image.
    pub image: Option<Image>,
    /// Attached ISO.
    pub iso: Option<serde_json::Value>,
    /// Rescue mode.
    pub rescue_enabled: bool,
    /// Locked by Hetzner.
    pub locked: bool,
    /// Backup window.
    pub backup_window: Option<String>,
    /// Outgoing traffic in bytes.
    pub outgoing_traffic: Option<i64>,
    /// Incoming traffic in bytes.
    pub ingoing_traffic: Option<i64>,
    /// Included traffic in bytes.
    pub included_traffic: Option<i64>,
    /// Protection.
    pub protection: ServerProtection,
    /// Labels.
    pub labels: Labels,
    /// Volume ids.
    pub volumes: Vec<Id>,
    /// Load balancer ids.
    pub load_balancers: Vec<Id>,
    /// Disk size in GB.
    pub primary_disk_size: f64,
    /// Placement group.
    pub placement_group: Option<PlacementGroup>,
}

impl Server {
    /// The address in network `network`, if attached.
    pub fn private_ip(&self, network: Id) -> Option<&str> {
        self.private_net
            .iter()
            .find(|p| p.network == network)
            .map(|p| p.ip.as_str())
    }
}

/// A Primary IP (public address that outlives servers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrimaryIp {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
    /// Blocked by abuse handling.
    pub blocked: bool,
    /// Location.
    pub location: Location,
    /// Address (a /64 network for IPv6).
    pub ip: String,
    /// Reverse DNS.
    pub dns_ptr: Vec<DnsPtr>,
    /// Protection.
    pub protection: Protection,
    /// `ipv4` or `ipv6`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Deleted with its server.
    pub auto_delete: bool,
    /// Always `server` (the only assignee type).
    pub assignee_type: String,
    /// Server it is assigned to.
    pub assignee_id: Option<Id>,
}

/// A subnet of a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subnet {
    /// `cloud`, `server` or `vswitch`.
    #[serde(rename = "type")]
    pub kind: String,
    /// CIDR.
    pub ip_range: String,
    /// Network zone.
    pub network_zone: String,
    /// Gateway address.
    pub gateway: String,
    /// vSwitch id (vswitch subnets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vswitch_id: Option<Id>,
}

/// A route in a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Route {
    /// Destination CIDR.
    pub destination: String,
    /// Next hop.
    pub gateway: String,
}

/// A private network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// CIDR.
    pub ip_range: String,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Routes.
    pub routes: Vec<Route>,
    /// Attached server ids.
    pub servers: Vec<Id>,
    /// Attached load balancers.
    pub load_balancers: Vec<Id>,
    /// Protection.
    pub protection: Protection,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
    /// Routes exposed to a vSwitch.
    pub expose_routes_to_vswitch: bool,
}

/// A firewall rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirewallRule {
    /// `in` or `out`.
    pub direction: String,
    /// `tcp`, `udp`, `icmp`, `esp` or `gre`.
    pub protocol: String,
    /// Port or range (`80`, `8000-8100`); null for protocols without ports.
    pub port: Option<String>,
    /// Allowed sources (direction `in`).
    pub source_ips: Vec<String>,
    /// Allowed destinations (direction `out`).
    pub destination_ips: Vec<String>,
    /// Description.
    pub description: Option<String>,
}

/// Server reference inside firewall targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdRef {
    /// Id.
    pub id: Id,
}

/// Label selector inside firewall targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectorRef {
    /// The selector.
    pub selector: String,
}

/// A server matched by a firewall's label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppliedResource {
    /// Always `server`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The server.
    pub server: IdRef,
}

/// What a firewall applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirewallTarget {
    /// `server` or `label_selector`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `server`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<IdRef>,
    /// For `label_selector`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<SelectorRef>,
    /// Servers a label selector currently matches (responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_to_resources: Option<Vec<AppliedResource>>,
}

impl FirewallTarget {
    /// Targets servers matching `selector`.
    pub fn selector(selector: impl Into<String>) -> FirewallTarget {
        FirewallTarget {
            kind: "label_selector".into(),
            label_selector: Some(SelectorRef {
                selector: selector.into(),
            }),
            ..FirewallTarget::default()
        }
    }
}

/// A firewall.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Firewall {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
    /// Rules.
    pub rules: Vec<FirewallRule>,
    /// Targets.
    pub applied_to: Vec<FirewallTarget>,
}

/// An SSH public key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SshKey {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// MD5 fingerprint.
    pub fingerprint: String,
    /// OpenSSH public key.
    pub public_key: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
}

/// A placement group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlacementGroup {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Always `spread`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Creation time.
    pub created: String,
    /// Member servers.
    pub servers: Vec<Id>,
}

/// Pagination metadata of list responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pagination {
    /// This page.
    pub page: i64,
    /// Page size.
    pub per_page: i64,
    /// Previous page.
    pub previous_page: Option<i64>,
    /// Next page, null on the last.
    pub next_page: Option<i64>,
    /// Last page.
    pub last_page: Option<i64>,
    /// Total entries.
    pub total_entries: Option<i64>,
}

/// `meta` of list responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    /// Pagination.
    pub pagination: Pagination,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_do_not_break_decoding() {
        let s: Server =
            serde_json::from_str(r#"{"id": 9007199254740991, "status": "hibernating"}"#).unwrap();
        assert_eq!(s.id, 9_007_199_254_740_991);
        assert_eq!(s.status, ServerStatus::Unknown("hibernating".into()));
        assert_eq!(serde_json::to_value(&s.status).unwrap(), "hibernating");
    }

    #[test]
    fn missing_and_deprecated_fields_default() {
        let st: ServerType =
            serde_json::from_str(r#"{"name": "cpx22", "deprecated": true, "datacenter": "x"}"#)
                .unwrap();
        assert!(st.deprecation.is_none());
        assert!(st.locations.is_empty());
    }

    #[test]
    fn nulls_are_serialised_for_required_nullable_fields() {
        let a = serde_json::to_value(Action::default()).unwrap();
        assert!(a.get("finished").unwrap().is_null());
        assert!(a.get("error").unwrap().is_null());
    }
}
