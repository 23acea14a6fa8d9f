//! Talks to a provider binary the way Terraform's go-plugin client does:
//! environment, handshake line, mutual TLS with a P-521 client certificate,
//! and gRPC over HTTP/2. Used by protocol tests and the protocol benchmark.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use tfplug::proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplug::proto::tfplugin6::provider_client::ProviderClient;

/// A client certificate like the one Terraform makes: ECDSA P-521, self-signed CA.
#[derive(Debug)]
pub struct ClientIdentity {
    /// PEM for `PLUGIN_CLIENT_CERT`.
    pub cert_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl ClientIdentity {
    /// A fresh identity.
    pub fn generate() -> Result<ClientIdentity> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key)?;
        Ok(ClientIdentity {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }

    /// The same certificate (identical DER) with `other`'s private key: a
    /// client that can show this certificate but cannot sign for it.
    pub fn with_key_of(&self, other: &ClientIdentity) -> ClientIdentity {
        ClientIdentity {
            cert_pem: self.cert_pem.clone(),
            cert_der: self.cert_der.clone(),
            key_der: other.key_der.clone(),
        }
    }

    /// The certificate, DER-encoded.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }
}

/// A running provider process and what its handshake said.
#[derive(Debug)]
pub struct Plugin {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its server certificate (DER).
    pub server_cert: Vec<u8>,
    /// Start to handshake line.
    pub handshake_time: Duration,
    /// The full handshake line.
    pub line: String,
}

impl Plugin {
    /// Starts `bin` as Terraform would, offering protocol versions 5 and 6.
    pub fn start(bin: &Path, id: &ClientIdentity) -> Result<Plugin> {
        let start = Instant::now();
        let mut child = Command::new(bin)
            .env("TF_PLUGIN_MAGIC_COOKIE", tfplug::server::MAGIC_COOKIE_VALUE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
            .env("PLUGIN_CLIENT_CERT", &id.cert_pem)
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PROVIDER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let handshake_time = start.elapsed();
        let parts: Vec<&str> = line.trim_end().split('|').collect();
        let [core, proto, net, addr, kind, cert] = parts.as_slice() else {
            let _ = child.kill();
            bail!("malformed handshake line {line:?}");
        };
        if (*core, *proto, *net, *kind) != ("1", "6", "tcp", "grpc") {
            let _ = child.kill();
            bail!("unexpected handshake line {line:?}");
        }
        let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD.decode(cert)?;
        Ok(Plugin {
            child,
            addr: addr.parse()?,
            server_cert,
            handshake_time,
            line,
        })
    }

    /// Opens a tfplugin6 connection presenting `id` (or no certificate).
    pub async fn connect(&self, id: Option<&ClientIdentity>) -> Result<Grpc> {
        let svc = connect(self.addr, &self.server_cert, id).await?;
        Ok(ProviderClient::with_origin(svc, origin()?)
            .max_decoding_message_size(tfplug::server::MAX_MESSAGE_BYTES))
    }

    /// Completes a TLS handshake presenting `id` (or no certificate) and
    /// waits for the server's first HTTP/2 bytes. When the server refuses the
    /// client, the error carries its TLS alert (e.g. `DecryptError` for a
    /// handshake signature that does not verify).
    pub async fn tls_answer(&self, id: Option<&ClientIdentity>) -> Result<()> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut tls = tls(self.addr, &self.server_cert, id).await?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
        tls.flush().await?;
        let mut first = [0u8; 9];
        let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut first))
            .await
            .context("no answer within 10 s")??;
        if n == 0 {
            bail!("the server closed the connection without an answer");
        }
        Ok(())
    }

    /// Opens a connection for go-plugin's controller service.
    pub async fn controller(
        &self,
        id: &ClientIdentity,
    ) -> Result<GrpcControllerClient<ClientService>> {
        let svc = connect(self.addr, &self.server_cert, Some(id)).await?;
        Ok(GrpcControllerClient::with_origin(svc, origin()?))
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The generated tfplugin6 client over our own TLS + HTTP/2 connection.
pub type Grpc = ProviderClient<ClientService>;

/// The tower service that carries gRPC requests over one HTTP/2 connection.
#[derive(Clone, Debug)]
pub struct ClientService(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

impl tower::Service<http::Request<tonic::body::Body>> for ClientService {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

async fn tls(
    addr: SocketAddr,
    server_cert: &[u8],
    id: Option<&ClientIdentity>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key_provider = provider.key_provider;
    let verifier = Arc::new(PinnedServer {
        cert: server_cert.to_vec(),
        algs: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    // Certificate and key are paired without rustls' consistency check, so a
    // mismatched pair (see `with_key_of`) reaches the server as it is.
    let mut cfg = match id {
        Some(id) => {
            let key = key_provider.load_private_key(PrivateKeyDer::Pkcs8(
                PrivatePkcs8KeyDer::from(id.key_der.clone()),
            ))?;
            let certified = CertifiedKey::new(vec![CertificateDer::from(id.cert_der.clone())], key);
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?)
}

async fn connect(
    addr: SocketAddr,
    server_cert: &[u8],
    id: Option<&ClientIdentity>,
) -> Result<ClientService> {
    let tls = tls(addr, server_cert, id).await?;
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    Ok(ClientService(send))
}

fn origin() -> Result<http::Uri> {
    Ok("https://localhost".parse()?)
}

/// Trusts exactly the certificate from the handshake line, as go-plugin does.
#[derive(Debug)]
struct PinnedServer {
    cert: Vec<u8>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "server certificate differs from the handshake".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}
