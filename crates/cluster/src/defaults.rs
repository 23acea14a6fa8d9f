//! Every default, in one place; front ends take theirs from here.

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

/// Hetzner location.
pub const LOCATION: &str = "fsn1";
/// Private network range.
pub const NETWORK_CIDR: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 1, 0), 24);
/// Server type of every server (2 vCPU, 4 GB; the seed's CPX21 is deprecated).
pub const SERVER_TYPE: &str = "cpx22";
/// System image.
pub const IMAGE: &str = "ubuntu-24.04";
/// The control plane's fixed private address.
pub const CONTROL_PLANE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
/// Logical names of the persistent Primary IPs.
pub const PRIMARY_IPS: [&str; 2] = ["control", "kafka"];
/// The Primary IP the control plane uses.
pub const CONTROL_PLANE_PRIMARY_IP: &str = "control";
/// Who may reach SSH on public addresses.
pub const SSH_ALLOWED_CIDRS: [&str; 1] = ["0.0.0.0/0"];
/// Kafka NodePort range opened on public addresses.
pub const KAFKA_NODEPORTS: &str = "31090-31095";
/// Pinned K3s release.
pub const K3S_VERSION: &str = "v1.34.1+k3s1";
/// How long a create may take.
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long an update may take.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long a delete may take.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// [`PRIMARY_IPS`] as owned strings.
pub fn primary_ips() -> Vec<String> {
    PRIMARY_IPS.iter().map(|s| (*s).to_owned()).collect()
}
