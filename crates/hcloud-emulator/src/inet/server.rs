//! The stand-in internet's HTTPS server (`k3strading-cloud inet-serve`,
//! run by the cloud inside `<prefix>-inet`). It routes by the `Host`
//! header, logs every request to `<dir>/requests.log` as
//! `METHOD HOST PATH from SOURCE STATUS`, and exits when its standard input
//! closes, which happens when the cloud that started it ends in any way.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncReadExt as _;

use super::pki::{SERVER_CERT, SERVER_KEY};
use super::{INSTALL_SCRIPT, InetError, io};

/// The request log's file name in the folder.
pub const REQUEST_LOG: &str = "requests.log";
/// Where GitHub serves release downloads.
const RELEASES: &str = "/k3s-io/k3s/releases/download/";
/// Where the stand-in's redirects point (GitHub's asset host).
const ASSETS: &str = "/k3s-io/k3s/releases/assets/";

/// The subcommand's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// Folder with the certificate and key; the request log goes there.
    pub dir: PathBuf,
    /// Where to listen (inside the namespace).
    pub listen: SocketAddr,
    /// Release versions served.
    pub versions: Vec<String>,
    /// The K3s STAND-IN binary served as `k3s`.
    pub k3s_binary: Option<PathBuf>,
}

/// Parses `--dir D --listen A [--k3s-version V]… [--k3s-binary P]`.
pub fn parse(args: &[String]) -> Result<Args, InetError> {
    let bad = |m: String| InetError::Serve(m);
    let (mut dir, mut listen, mut versions, mut k3s_binary) = (None, None, Vec::new(), None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| bad(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--listen" => {
                listen = Some(
                    value
                        .parse()
                        .map_err(|_| bad(format!("--listen {value:?}")))?,
                )
            }
            "--k3s-version" => versions.push(value.clone()),
            "--k3s-binary" => k3s_binary = Some(PathBuf::from(value)),
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    Ok(Args {
        dir: dir.ok_or_else(|| bad("--dir is required".into()))?,
        listen: listen.ok_or_else(|| bad("--listen is required".into()))?,
        versions,
        k3s_binary,
    })
}

/// What the server hands out.
#[derive(Debug)]
pub struct Served {
    /// Release versions.
    pub versions: Vec<String>,
    /// The `k3s` asset, if there is one.
    pub k3s: Option<Vec<u8>>,
    /// `sha256sum-amd64.txt` for it.
    pub checksums: String,
}

impl Served {
    /// Serves `k3s` (or no binary) for `versions`.
    pub fn new(versions: Vec<String>, k3s: Option<Vec<u8>>) -> Served {
        let checksums = k3s
            .as_deref()
            .map(|b| format!("{}  k3s\n", sha256_hex(b)))
            .unwrap_or_default();
        Served {
            versions,
            k3s,
            checksums,
        }
    }

    fn asset(&self, version: &str, asset: &str) -> Option<(Vec<u8>, &'static str)> {
        if !self.versions.iter().any(|v| v == version) {
            return None;
        }
        match (asset, &self.k3s) {
            ("k3s", Some(bin)) => Some((bin.clone(), "application/octet-stream")),
            ("sha256sum-amd64.txt", Some(_)) => {
                Some((self.checksums.clone().into_bytes(), "text/plain"))
            }
            _ => None,
        }
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `v1.34.1%2Bk3s1` and `v1.34.1+k3s1` name the same release.
fn version_of(segment: &str) -> String {
    segment.replace("%2B", "+").replace("%2b", "+")
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        body.to_owned(),
    )
        .into_response()
}

/// Answers one request (by host and path).
pub fn answer(served: &Served, host: &str, path: &str) -> Response {
    match host {
        "get.k3s.io" if path == "/" => text(StatusCode::OK, INSTALL_SCRIPT),
        "github.com" => {
            let found = path
                .strip_prefix(RELEASES)
                .and_then(|rest| rest.split_once('/'))
                .filter(|(v, a)| served.asset(&version_of(v), a).is_some());
            match found {
                Some((v, asset)) => {
                    let to = format!(
                        "https://release-assets.githubusercontent.com{ASSETS}{}/{asset}",
                        version_of(v).replace('+', "%2B")
                    );
                    let mut r = text(StatusCode::FOUND, "");
                    if let Ok(loc) = HeaderValue::from_str(&to) {
                        r.headers_mut().insert(header::LOCATION, loc);
                    }
                    r
                }
                None => text(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        "release-assets.githubusercontent.com" => {
            let found = path
                .strip_prefix(ASSETS)
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(v, a)| served.asset(&version_of(v), a));
            match found {
                Some((bytes, kind)) => {
                    (StatusCode::OK, [(header::CONTENT_TYPE, kind)], bytes).into_response()
                }
                None => text(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "Not Found"),
    }
}

#[derive(Clone)]
struct Ctx {
    served: Arc<Served>,
    log: Arc<Mutex<std::fs::File>>,
}

async fn handle(State(ctx): State<Ctx>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let source = req
        .extensions()
        .get::<SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let response =
        if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
            answer(&ctx.served, &host, &path)
        } else {
            text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        };
    let line = format!(
        "{} {host} {path} from {source} {}\n",
        req.method(),
        response.status().as_u16()
    );
    if let Ok(mut f) = ctx.log.lock() {
        let _ = f.write_all(line.as_bytes());
    }
    response
}

fn tls(dir: &Path) -> Result<Arc<rustls::ServerConfig>, InetError> {
    let bad = |what: &str, e: String| InetError::Pki(format!("{what}: {e}"));
    let cert_path = dir.join(SERVER_CERT);
    let key_path = dir.join(SERVER_KEY);
    let cert_pem = std::fs::read(&cert_path).map_err(io(&cert_path))?;
    let key_pem = std::fs::read(&key_path).map_err(io(&key_path))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| bad("key", e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocols", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate", e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Runs the server until standard input closes. Prints `ready` on stdout
/// once it accepts connections.
pub async fn run(args: Args) -> Result<(), InetError> {
    let tls = tokio_rustls::TlsAcceptor::from(tls(&args.dir)?);
    let k3s = match &args.k3s_binary {
        Some(p) => Some(std::fs::read(p).map_err(io(p))?),
        None => None,
    };
    let log_path = args.dir.join(REQUEST_LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(&log_path))?;
    let ctx = Ctx {
        served: Arc::new(Served::new(args.versions, k3s)),
        log: Arc::new(Mutex::new(log)),
    };
    let app: Router = Router::new().fallback(handle).with_state(ctx);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| InetError::Serve(format!("cannot listen on {}: {e}", args.listen)))?;
    println!("ready");
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            n = stdin.read(&mut sink) => {
                if matches!(n, Ok(0) | Err(_)) {
                    return Ok(());
                }
            }
            conn = listener.accept() => {
                let Ok((tcp, remote)) = conn else { continue };
                let (tls, app) = (tls.clone(), app.clone());
                tokio::spawn(async move {
                    // Generous: fifty VMs shake hands at once on two busy cores.
                    let deadline = Duration::from_secs(30);
                    let Ok(Ok(stream)) = tokio::time::timeout(deadline, tls.accept(tcp)).await else {
                        return;
                    };
                    let service = TowerToHyperService::new(app.layer(axum::Extension(remote)));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn served() -> Served {
        Served::new(vec!["v1.34.1+k3s1".into()], Some(b"binary".to_vec()))
    }

    #[test]
    fn release_downloads_redirect_to_the_asset_host_which_serves_the_bytes() {
        let s = served();
        for v in ["v1.34.1+k3s1", "v1.34.1%2Bk3s1"] {
            let r = answer(&s, "github.com", &format!("{RELEASES}{v}/k3s"));
            assert_eq!(r.status(), StatusCode::FOUND);
            let loc = r.headers()[header::LOCATION].to_str().unwrap();
            assert_eq!(
                loc,
                "https://release-assets.githubusercontent.com/k3s-io/k3s/releases/assets/v1.34.1%2Bk3s1/k3s"
            );
        }
        let path = format!("{ASSETS}v1.34.1%2Bk3s1/sha256sum-amd64.txt");
        let r = answer(&s, "release-assets.githubusercontent.com", &path);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            s.checksums,
            format!("{}  k3s\n", sha256_hex(b"binary")),
            "the checksum file names the binary's sha256"
        );
    }

    #[test]
    fn unknown_versions_assets_and_hosts_are_404_and_no_binary_means_404() {
        let s = served();
        for (host, path) in [
            ("github.com", format!("{RELEASES}v1.33.0+k3s1/k3s")),
            ("github.com", format!("{RELEASES}v1.34.1+k3s1/k3s-arm64")),
            ("example.com", "/".to_owned()),
            ("get.k3s.io", "/other".to_owned()),
        ] {
            assert_eq!(
                answer(&s, host, &path).status(),
                StatusCode::NOT_FOUND,
                "{host}{path}"
            );
        }
        let none = Served::new(vec!["v1.34.1+k3s1".into()], None);
        let r = answer(&none, "github.com", &format!("{RELEASES}v1.34.1+k3s1/k3s"));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            answer(&s, "get.k3s.io", "/").status(),
            StatusCode::OK,
            "the installer"
        );
    }
}
