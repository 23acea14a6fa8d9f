//! The go-plugin side: magic cookie, protocol negotiation, AutoMTLS, the
//! handshake line, side services (controller, broker, health), and prompt
//! exit when Terraform says so.

use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::plugin;
use crate::resource::Provider;
use crate::service::ProviderService;

/// Terraform's go-plugin magic cookie.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Its expected value.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The protocol major version this library speaks.
pub const PROTOCOL_VERSION: u32 = 6;
/// gRPC message limit, both ways (schemas and states can be large).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Why the plugin server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Started by hand rather than by Terraform.
    #[error(
        "This binary is a Terraform plugin. It is not meant to be run directly: \
         Terraform starts it when a configuration uses the provider."
    )]
    NotStartedByTerraform,
    /// Terraform offered no protocol version we speak.
    #[error(
        "Terraform offered plugin protocol versions {offered:?}; this provider needs version 6 (Terraform 1.0 or later)"
    )]
    NoCommonVersion {
        /// What `PLUGIN_PROTOCOL_VERSIONS` said.
        offered: String,
    },
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Listening or writing the handshake failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(String),
}

/// What the environment tells a plugin at start-up.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `TF_PLUGIN_MAGIC_COOKIE`
    pub cookie: Option<String>,
    /// `PLUGIN_PROTOCOL_VERSIONS`
    pub protocol_versions: Option<String>,
    /// `PLUGIN_CLIENT_CERT`
    pub client_cert: Option<String>,
    /// `PLUGIN_MIN_PORT` / `PLUGIN_MAX_PORT`
    pub port_range: Option<(u16, u16)>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let port = |k: &str| var(k).and_then(|v| v.parse::<u16>().ok());
        Env {
            cookie: var(MAGIC_COOKIE_KEY),
            protocol_versions: var("PLUGIN_PROTOCOL_VERSIONS"),
            client_cert: var("PLUGIN_CLIENT_CERT"),
            port_range: port("PLUGIN_MIN_PORT").zip(port("PLUGIN_MAX_PORT")),
        }
    }

    /// Checks the cookie and picks protocol 6.
    pub fn negotiate(&self) -> Result<u32, ServeError> {
        if self.cookie.as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(ServeError::NotStartedByTerraform);
        }
        let offered = self.protocol_versions.clone().unwrap_or_default();
        // go-plugin hosts that predate negotiation send nothing: they expect
        // the plugin's own version.
        if offered.is_empty()
            || offered
                .split(',')
                .any(|v| v.trim() == PROTOCOL_VERSION.to_string())
        {
            Ok(PROTOCOL_VERSION)
        } else {
            Err(ServeError::NoCommonVersion { offered })
        }
    }
}

/// The single line go-plugin reads from stdout.
pub fn handshake_line(version: u32, addr: SocketAddr, cert_der: Option<&[u8]>) -> String {
    let cert = cert_der
        .map(|c| base64::engine::general_purpose::STANDARD_NO_PAD.encode(c))
        .unwrap_or_default();
    format!("1|{version}|tcp|{addr}|grpc|{cert}\n")
}

async fn bind(range: Option<(u16, u16)>) -> std::io::Result<TcpListener> {
    if let Some((lo, hi)) = range {
        for port in lo..=hi {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
                return Ok(l);
            }
        }
    }
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// Runs `provider` as a Terraform plugin until Terraform shuts it down.
/// Logging must be set up by the caller ([`crate::log::init`]).
pub async fn serve<P: Provider>(provider: P, env: Env) -> Result<(), ServeError> {
    let version = env.negotiate()?;
    let listener = bind(env.port_range).await?;
    let addr = listener.local_addr()?;
    let shutdown = Arc::new(Notify::new());
    ignore_interrupts();

    let tls = match &env.client_cert {
        Some(pem) => {
            let id = crate::tls::generate_identity()?;
            let cfg = crate::tls::server_config(&id, crate::tls::parse_client_cert(pem)?)?;
            Some((id.cert_der, tokio_rustls::TlsAcceptor::from(Arc::new(cfg))))
        }
        None => {
            tracing::warn!(
                "PLUGIN_CLIENT_CERT not set: serving without TLS (host did not request AutoMTLS)"
            );
            None
        }
    };

    let (health, health_svc) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let provider_svc = crate::proto::tfplugin6::provider_server::ProviderServer::new(
        ProviderService::new(provider),
    )
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let router = tonic::transport::Server::builder()
        .add_service(provider_svc)
        .add_service(plugin::grpc_controller_server::GrpcControllerServer::new(
            Controller(shutdown.clone()),
        ))
        .add_service(plugin::grpc_broker_server::GrpcBrokerServer::new(Broker))
        .add_service(health_svc);

    // Everything is ready: announce ourselves. Nothing else ever goes to stdout.
    let line = handshake_line(version, addr, tls.as_ref().map(|(c, _)| c.as_slice()));
    {
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes())?;
        out.flush()?;
    }
    tracing::debug!(%addr, tls = tls.is_some(), "plugin server listening");

    let stop = {
        let shutdown = shutdown.clone();
        async move { shutdown.notified().await }
    };
    let served = match tls {
        Some((_, acceptor)) => {
            router
                .serve_with_incoming_shutdown(tls_incoming(listener, acceptor), stop)
                .await
        }
        None => {
            let incoming = tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |c| {
                    c.inspect(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    })
                },
            );
            router.serve_with_incoming_shutdown(incoming, stop).await
        }
    };
    served.map_err(|e| ServeError::Transport(e.to_string()))
}

fn tls_incoming(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> ReceiverStream<std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            // gRPC sends small frames; without this, delayed ACKs add ~40 ms per call.
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Terraform forwards Ctrl-C as StopProvider and shuts plugins down itself;
/// a terminal's SIGINT to the whole process group must not kill us first.
fn ignore_interrupts() {
    if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                tracing::debug!("interrupt received; waiting for Terraform to stop the provider");
            }
        });
    }
}

struct Controller(Arc<Notify>);

#[tonic::async_trait]
impl plugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<plugin::Empty>) -> Result<Response<plugin::Empty>, Status> {
        tracing::debug!("shutdown requested by Terraform");
        self.0.notify_one();
        // In-flight streams would hold graceful shutdown open; Terraform
        // kills plugins that linger, so leave on our own shortly after.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            std::process::exit(0);
        });
        Ok(Response::new(plugin::Empty {}))
    }
}

struct Broker;

type BrokerStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<plugin::ConnInfo, Status>> + Send>>;

#[tonic::async_trait]
impl plugin::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = BrokerStream;

    /// Providers open no extra connections: accept the host's stream and
    /// hold it open without offering anything.
    async fn start_stream(
        &self,
        req: Request<Streaming<plugin::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut inbound = req.into_inner();
        let out =
            async_stream_empty(async move { while let Ok(Some(_)) = inbound.message().await {} });
        Ok(Response::new(out))
    }
}

/// A response stream that yields nothing and ends when `until` completes.
fn async_stream_empty(
    until: impl std::future::Future<Output = ()> + Send + 'static,
) -> BrokerStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<plugin::ConnInfo, Status>>(1);
    tokio::spawn(async move {
        until.await;
        drop(tx);
    });
    Box::pin(ReceiverStream::new(rx))
}

/// Runs `provider` as a plugin binary's whole `main`: sets up logging under
/// `module` (e.g. `provider.terraform-provider-example`), serves, and turns
/// errors into a message on stderr and exit status 1.
pub fn main<P: Provider>(module: &str, provider: P) -> std::process::ExitCode {
    let env = Env::from_process();
    if let Err(e) = env.negotiate() {
        let _ = writeln!(std::io::stderr(), "{e}");
        return std::process::ExitCode::FAILURE;
    }
    crate::log::init(module);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(provider, env)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin server failed");
            let _ = writeln!(std::io::stderr(), "{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(cookie: Option<&str>, versions: Option<&str>) -> Env {
        Env {
            cookie: cookie.map(Into::into),
            protocol_versions: versions.map(Into::into),
            ..Env::default()
        }
    }

    #[test]
    fn refuses_to_run_without_the_magic_cookie() {
        let err = env(None, Some("6")).negotiate().unwrap_err();
        assert!(err.to_string().contains("is a Terraform plugin"), "{err}");
        assert!(env(Some("wrong"), Some("6")).negotiate().is_err());
    }

    #[test]
    fn picks_version_six_from_the_offer() {
        assert_eq!(
            env(Some(MAGIC_COOKIE_VALUE), Some("5,6"))
                .negotiate()
                .unwrap(),
            6
        );
        let err = env(Some(MAGIC_COOKIE_VALUE), Some("4,5"))
            .negotiate()
            .unwrap_err();
        assert!(err.to_string().contains("\"4,5\""), "{err}");
    }

    #[test]
    fn handshake_line_has_unpadded_base64_certificate() {
        let addr: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let line = handshake_line(6, addr, Some(&[0xde, 0xad]));
        assert_eq!(line, "1|6|tcp|127.0.0.1:4242|grpc|3q0\n");
        assert_eq!(
            handshake_line(6, addr, None),
            "1|6|tcp|127.0.0.1:4242|grpc|\n"
        );
    }
}
