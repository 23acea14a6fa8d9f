//! The API base URL. The token travels in every request, so the endpoint
//! must be `https://`; plain `http://` is accepted only on loopback
//! (`127.0.0.0/8`, `localhost`, `[::1]`), where a local cloud listens.

use std::net::{Ipv4Addr, Ipv6Addr};

use reqwest::Url;

/// Why an endpoint was refused. Messages show at most the scheme, host and
/// port: never a path, query or credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not parseable as an absolute URL.
    #[error("the Hetzner Cloud endpoint is not a valid URL ({reason}); expected https://host/path")]
    NotAUrl {
        /// What the URL parser said (it does not repeat the input).
        reason: String,
    },
    /// A scheme other than http or https.
    #[error("the Hetzner Cloud endpoint must be an https:// URL, not {scheme}://")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// Plain http to a host that is not loopback.
    #[error(
        "the Hetzner Cloud endpoint {origin} must use https:// (plain http:// is allowed only on loopback: 127.0.0.0/8, localhost, [::1])"
    )]
    InsecureHttp {
        /// Scheme, host and port.
        origin: String,
    },
    /// User name or password inside the URL.
    #[error(
        "the Hetzner Cloud endpoint {origin} must not carry credentials; use an https:// URL without user or password (the token is sent separately)"
    )]
    Credentials {
        /// Scheme, host and port.
        origin: String,
    },
    /// A query or fragment, which request paths cannot be appended to.
    #[error(
        "the Hetzner Cloud endpoint {origin} must be a plain https:// base URL without ?query or #fragment"
    )]
    QueryOrFragment {
        /// Scheme, host and port.
        origin: String,
    },
}

/// A checked API base URL, without a trailing slash.
///
/// ```
/// let e = hcloud::Endpoint::parse("https://api.hetzner.cloud/v1/").unwrap();
/// assert_eq!(e.as_str(), "https://api.hetzner.cloud/v1");
/// assert_eq!(e.origin(), "https://api.hetzner.cloud");
/// assert!(hcloud::Endpoint::parse("http://127.0.0.1:8080/v1").is_ok());
/// assert!(hcloud::Endpoint::parse("http://api.example.com/v1").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
    base: String,
}

impl Endpoint {
    /// Checks `s`: https anywhere, http on loopback only; no credentials,
    /// query or fragment.
    pub fn parse(s: &str) -> Result<Endpoint, EndpointError> {
        let url = Url::parse(s.trim()).map_err(|e| EndpointError::NotAUrl {
            reason: e.to_string(),
        })?;
        let origin = origin_of(&url);
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err(EndpointError::InsecureHttp { origin }),
            other => {
                return Err(EndpointError::UnsupportedScheme {
                    scheme: other.to_owned(),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::Credentials { origin });
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(EndpointError::QueryOrFragment { origin });
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(Endpoint { url, base })
    }

    /// The base URL that request paths are appended to (no trailing slash).
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// Scheme, host and port only: what logs and messages may show.
    pub fn origin(&self) -> String {
        origin_of(&self.url)
    }

    /// True when the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.url)
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Endpoint").field(&self.base).finish()
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(s)
    }
}

// The URL parser has already normalised the host: lower-case names, dotted
// IPv4, bracketed and compressed IPv6.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host == "localhost" {
        return true;
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return ip.is_loopback();
    }
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<Ipv6Addr>().ok())
        .is_some_and(|ip| ip == Ipv6Addr::LOCALHOST)
}

fn origin_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_accepted_anywhere_and_trailing_slashes_go() {
        let e = Endpoint::parse("https://api.hetzner.cloud/v1/").unwrap();
        assert_eq!(e.as_str(), "https://api.hetzner.cloud/v1");
        assert_eq!(e.origin(), "https://api.hetzner.cloud");
        assert!(!e.is_loopback());
        let e = Endpoint::parse("https://10.1.2.3:8443/v1").unwrap();
        assert_eq!(e.origin(), "https://10.1.2.3:8443");
    }

    #[test]
    fn plain_http_is_accepted_on_loopback_only() {
        for ok in [
            "http://127.0.0.1:9/v1",
            "http://127.45.6.7/v1",
            "http://localhost:8080/v1",
            "http://LOCALHOST/v1",
            "http://[::1]:8080/v1",
        ] {
            let e = Endpoint::parse(ok).unwrap_or_else(|err| panic!("{ok}: {err}"));
            assert!(e.is_loopback(), "{ok}");
        }
        assert_eq!(
            Endpoint::parse("http://[::1]:8080/v1").unwrap().origin(),
            "http://[::1]:8080"
        );
        for refused in [
            "http://api.example.invalid/v1",
            "http://api.hetzner.cloud/v1",
            "http://10.0.0.1/v1",
            "http://128.0.0.1/v1",
            "http://[::ffff:127.0.0.1]/v1",
            "http://[::2]/v1",
            "http://localhost.example.com/v1",
            "http://127.0.0.1.nip.io/v1",
            "http://127.0.0.1@api.example.invalid/v1",
        ] {
            let err = Endpoint::parse(refused).unwrap_err();
            assert!(
                matches!(err, EndpointError::InsecureHttp { .. }),
                "{refused}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains("must use https://"), "{refused}: {msg}");
            assert!(!msg.contains("/v1"), "{refused}: path in {msg}");
        }
    }

    #[test]
    fn other_schemes_and_non_urls_are_refused_naming_https() {
        let cases = [
            ("ftp://x/v1", "UnsupportedScheme"),
            ("api.hetzner.cloud/v1", "NotAUrl"),
            ("", "NotAUrl"),
            ("https://", "NotAUrl"),
        ];
        for (input, kind) in cases {
            let err = Endpoint::parse(input).unwrap_err();
            assert!(format!("{err:?}").starts_with(kind), "{input:?}: {err:?}");
            assert!(err.to_string().contains("https://"), "{input:?}: {err}");
        }
    }

    #[test]
    fn credentials_query_and_fragment_are_refused_without_echoing_them() {
        let err = Endpoint::parse("https://user:hunter2@api.hetzner.cloud/v1").unwrap_err();
        assert!(matches!(err, EndpointError::Credentials { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        let err = Endpoint::parse("http://user@127.0.0.1/v1").unwrap_err();
        assert!(matches!(err, EndpointError::Credentials { .. }), "{err:?}");
        for input in [
            "https://api.hetzner.cloud/v1?x=1",
            "https://api.hetzner.cloud/v1#top",
        ] {
            let err = Endpoint::parse(input).unwrap_err();
            assert!(
                matches!(err, EndpointError::QueryOrFragment { .. }),
                "{err:?}"
            );
        }
    }
}
