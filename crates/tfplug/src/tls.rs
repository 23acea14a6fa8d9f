//! go-plugin AutoMTLS: a fresh self-signed server certificate per process,
//! and a client verifier pinned to the exact certificate Terraform announced
//! in `PLUGIN_CLIENT_CERT`.
//!
//! Terraform's client certificate is ECDSA P-521 / SHA-512 and marked as a
//! CA, which WebPKI-style verifiers refuse as an end-entity certificate. We
//! therefore verify by pinning: the presented certificate must be byte-for-byte
//! the announced one, and the TLS handshake signature is checked with the
//! aws-lc-rs provider, which (unlike *ring*) supports P-521.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` held no certificate.
    #[error("PLUGIN_CLIENT_CERT does not contain a PEM certificate")]
    NoClientCert,
    /// The announced certificate did not parse.
    #[error("PLUGIN_CLIENT_CERT is not a valid PEM certificate: {0}")]
    BadClientCert(String),
    /// Generating the server certificate failed.
    #[error("could not generate the server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A server certificate and key for one process.
#[derive(Debug)]
pub struct ServerIdentity {
    /// DER of the certificate (goes into the handshake line).
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// Generates a P-256 certificate for `localhost`, valid as its own root (the
/// host adds it to its root pool), usable for server and client auth.
pub fn generate_identity() -> Result<ServerIdentity, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "k3strading tfplug");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(30)).into();
    params.not_after = (now + std::time::Duration::from_secs(30 * 24 * 3600)).into();
    let cert = params.self_signed(&key)?;
    Ok(ServerIdentity {
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

/// Parses the PEM Terraform passes in `PLUGIN_CLIENT_CERT`.
pub fn parse_client_cert(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let mut certs = CertificateDer::pem_slice_iter(pem.as_bytes());
    match certs.next() {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(TlsError::BadClientCert(e.to_string())),
        None => Err(TlsError::NoClientCert),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls server configuration: our identity, ALPN h2 (gRPC clients
/// insist on it), and mandatory client auth pinned to `client_cert`.
pub fn server_config(
    id: &ServerIdentity,
    client_cert: CertificateDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = provider();
    let verifier = PinnedClientCert {
        cert: client_cert,
        algs: provider.signature_verification_algorithms,
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone()));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![CertificateDer::from(id.cert_der.clone())], key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

#[derive(Debug)]
struct PinnedClientCert {
    cert: CertificateDer<'static>,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "client certificate is not the one announced by Terraform".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_offers_p521_signatures() {
        let algs = provider().signature_verification_algorithms;
        assert!(
            algs.supported_schemes()
                .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
        );
    }

    #[test]
    fn only_the_announced_certificate_is_accepted() {
        let a = generate_identity().unwrap();
        let b = generate_identity().unwrap();
        let v = PinnedClientCert {
            cert: CertificateDer::from(a.cert_der.clone()),
            algs: provider().signature_verification_algorithms,
        };
        let now = UnixTime::now();
        assert!(
            v.verify_client_cert(&CertificateDer::from(a.cert_der.clone()), &[], now)
                .is_ok()
        );
        assert!(
            v.verify_client_cert(&CertificateDer::from(b.cert_der), &[], now)
                .is_err()
        );
        assert!(v.client_auth_mandatory());
    }

    #[test]
    fn client_cert_pem_parses_and_garbage_is_rejected() {
        let id = generate_identity().unwrap();
        let pem = rcgen::CertifiedKey {
            cert: rcgen::CertificateParams::new(vec!["x".into()])
                .unwrap()
                .self_signed(&rcgen::KeyPair::generate().unwrap())
                .unwrap(),
            signing_key: rcgen::KeyPair::generate().unwrap(),
        }
        .cert
        .pem();
        assert!(parse_client_cert(&pem).is_ok());
        assert!(matches!(
            parse_client_cert("nope"),
            Err(TlsError::NoClientCert)
        ));
        assert!(server_config(&id, parse_client_cert(&pem).unwrap()).is_ok());
    }
}
