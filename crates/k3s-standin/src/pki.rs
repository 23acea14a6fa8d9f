//! The cluster's CAs and certificates, laid out as K3s lays them out under
//! `<data-dir>/server/tls`. CAs and the admin certificate survive restarts;
//! the serving certificate is issued anew on every start so a changed
//! tls-san list takes effect, as it does in K3s.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::Error;
use crate::paths::{read_file, write_file};

/// Common name of the CA that signs serving certificates.
const SERVER_CA_CN: &str = "k3s-server-ca";
/// Common name of the CA that signs client certificates.
const CLIENT_CA_CN: &str = "k3s-client-ca";

/// PEM material the server needs at run time.
#[derive(Clone)]
pub struct Pki {
    /// The server CA certificate: what `/cacerts` serves, byte for byte.
    pub server_ca_pem: String,
    /// The client CA certificate, trusted for client certificates.
    pub client_ca_pem: String,
    /// The API server's certificate.
    pub serving_cert_pem: String,
    /// Its private key.
    pub serving_key_pem: String,
    /// The admin client certificate (CN system:admin, O system:masters).
    pub admin_cert_pem: String,
    /// Its private key.
    pub admin_key_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

/// Loads or creates everything under `tls_dir`; `sans` are the serving
/// certificate's names and addresses.
pub fn ensure(tls_dir: &Path, sans: &[String]) -> Result<Pki, Error> {
    let (server_ca_pem, server_ca) = ensure_ca(tls_dir, "server-ca", SERVER_CA_CN)?;
    let (client_ca_pem, client_ca) = ensure_ca(tls_dir, "client-ca", CLIENT_CA_CN)?;

    let mut serving = CertificateParams::new(sans.to_vec())?;
    serving.distinguished_name = name("k3s");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_key = KeyPair::generate()?;
    let serving_cert = serving.signed_by(&serving_key, &server_ca)?;
    let serving_cert_pem = serving_cert.pem();
    let serving_key_pem = serving_key.serialize_pem();
    write_file(
        &tls_dir.join("serving-kube-apiserver.crt"),
        serving_cert_pem.as_bytes(),
        0o644,
    )?;
    write_file(
        &tls_dir.join("serving-kube-apiserver.key"),
        serving_key_pem.as_bytes(),
        0o600,
    )?;

    let admin_crt = tls_dir.join("client-admin.crt");
    let admin_key = tls_dir.join("client-admin.key");
    let (admin_cert_pem, admin_key_pem) = if admin_crt.exists() && admin_key.exists() {
        (read_file(&admin_crt)?, read_file(&admin_key)?)
    } else {
        let mut admin = CertificateParams::new(Vec::<String>::new())?;
        admin.distinguished_name = name("system:admin");
        admin
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = admin.signed_by(&key, &client_ca)?;
        let pair = (cert.pem(), key.serialize_pem());
        write_file(&admin_crt, pair.0.as_bytes(), 0o644)?;
        write_file(&admin_key, pair.1.as_bytes(), 0o600)?;
        pair
    };

    Ok(Pki {
        server_ca_pem,
        client_ca_pem,
        serving_cert_pem,
        serving_key_pem,
        admin_cert_pem,
        admin_key_pem,
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// The CA's PEM and an issuer for it. A stored CA is reused: its fixed
/// subject and stored key are all an issuer needs, so no certificate parser
/// is required to sign with it again.
fn ensure_ca(
    dir: &Path,
    stem: &str,
    common_name: &str,
) -> Result<(String, Issuer<'static, KeyPair>), Error> {
    let crt = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    if crt.exists() && key_path.exists() {
        let key = KeyPair::from_pem(&read_file(&key_path)?)?;
        return Ok((read_file(&crt)?, Issuer::new(ca_params(common_name), key)));
    }
    let params = ca_params(common_name);
    let key = KeyPair::generate()?;
    let pem = params.self_signed(&key)?.pem();
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&crt, pem.as_bytes(), 0o644)?;
    Ok((pem, Issuer::new(params, key)))
}
