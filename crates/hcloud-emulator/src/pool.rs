//! The public address pool must never shadow a network this machine uses:
//! a later step routes Primary IPs inside test network namespaces.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// IPv4 routes of this host (destination networks), from `/proc/net/route`.
pub fn host_routes() -> Vec<Ipv4Net> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(cols.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(cols.get(7)?, 16).ok()?;
            // /proc prints them in host (little-endian) byte order.
            let dest = Ipv4Addr::from(dest.swap_bytes());
            let prefix = mask.count_ones() as u8;
            Ipv4Net::new(dest, prefix)
                .ok()
                .filter(|n| n.prefix_len() > 0)
        })
        .collect()
}

/// Refuses pools that overlap a route of this host (the default route aside)
/// or 192.0.2.0/24 (a documentation range some hosts use for their own network).
pub fn check_against_host(pool: &Ipv4Net) -> Result<(), String> {
    let forbidden: Ipv4Net = Ipv4Net::new(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap_or_default();
    for net in host_routes().into_iter().chain([forbidden]) {
        if net.contains(pool) || pool.contains(&net) || net.contains(&pool.network()) {
            return Err(format!(
                "--ipv4-pool {pool} overlaps {net}, a network this machine uses; pick another range (100.64.0.0/10 sub-ranges usually work)"
            ));
        }
    }
    if pool.prefix_len() > 30 {
        return Err(format!("--ipv4-pool {pool} is too small"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_range_is_refused_and_cgnat_range_accepted_here() {
        assert!(check_against_host(&"192.0.2.0/25".parse().unwrap()).is_err());
        assert!(
            check_against_host(&"100.64.0.0/16".parse().unwrap()).is_ok(),
            "routes: {:?}",
            host_routes()
        );
    }
}
