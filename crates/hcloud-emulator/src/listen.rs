//! Where `serve` may listen. The local cloud accepts one well-known token
//! and scripts faults for whoever holds it, so it stays on loopback unless
//! the operator explicitly asks for more.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// `--listen` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address did not resolve.
    #[error("--listen {addr}: cannot resolve it: {reason}")]
    Resolve {
        /// What was given.
        addr: String,
        /// Why.
        reason: std::io::Error,
    },
    /// The address resolved to nothing.
    #[error("--listen {addr}: resolves to no address")]
    Empty {
        /// What was given.
        addr: String,
    },
    /// The address is (or resolves to) a non-loopback address.
    #[error(
        "--listen {addr}: {ip} is not a loopback address; the local cloud listens on 127.0.0.0/8 or ::1 only (e.g. 127.0.0.1:0 or localhost:0), unless --allow-non-loopback is given"
    )]
    NotLoopback {
        /// What was given.
        addr: String,
        /// The first offending address.
        ip: IpAddr,
    },
}

/// True for 127.0.0.0/8 and ::1 (also written as `::ffff:127.x.y.z`).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Resolves `addr` (`host:port`) and, unless `allow_non_loopback`, refuses
/// it when any address it resolves to is not loopback. The caller binds to
/// the returned addresses, so the name is not resolved twice.
pub fn resolve(addr: &str, allow_non_loopback: bool) -> Result<Vec<SocketAddr>, ListenError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|reason| ListenError::Resolve {
            addr: addr.to_owned(),
            reason,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ListenError::Empty {
            addr: addr.to_owned(),
        });
    }
    if !allow_non_loopback && let Some(bad) = addrs.iter().find(|a| !is_loopback(a.ip())) {
        return Err(ListenError::NotLoopback {
            addr: addr.to_owned(),
            ip: bad.ip(),
        });
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_and_localhost_are_accepted() {
        for addr in ["127.0.0.1:0", "127.9.8.7:8080", "[::1]:0", "localhost:0"] {
            let got = resolve(addr, false).unwrap();
            assert!(got.iter().all(|a| is_loopback(a.ip())), "{addr}: {got:?}");
        }
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn other_addresses_are_refused_naming_both_flags_unless_allowed() {
        for addr in [
            "0.0.0.0:0",
            "[::]:0",
            "10.1.2.3:80",
            "128.0.0.1:0",
            "[::2]:0",
        ] {
            let err = resolve(addr, false).unwrap_err();
            assert!(matches!(err, ListenError::NotLoopback { .. }), "{addr}");
            let text = err.to_string();
            assert!(
                text.contains("--listen") && text.contains("--allow-non-loopback"),
                "{text}"
            );
            assert_eq!(resolve(addr, true).unwrap().len(), 1, "{addr}");
        }
    }

    #[test]
    fn unresolvable_addresses_are_errors() {
        assert!(matches!(
            resolve("no-port-here", false),
            Err(ListenError::Resolve { .. })
        ));
    }
}
