//! The per-run test CA of the stand-in internet and its serving
//! certificate (one certificate naming every served host). Both live in the
//! run's private folder; only the CA certificate goes into VMs.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use super::{HOSTS, InetError, io};

/// The CA certificate's file name in the folder.
pub const CA_CERT: &str = "ca.crt";
/// The serving certificate's file name.
pub const SERVER_CERT: &str = "server.crt";
/// The serving key's file name (0600).
pub const SERVER_KEY: &str = "server.key";

fn pki(e: rcgen::Error) -> InetError {
    InetError::Pki(e.to_string())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(
        DnType::OrganizationName,
        "k3strading local cloud (STAND-IN)",
    );
    dn
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InetError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))
}

/// Makes a fresh CA and a serving certificate for [`HOSTS`] in `dir`;
/// returns the CA certificate (PEM). The CA's key is never stored.
pub fn issue(dir: &Path) -> Result<String, InetError> {
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("k3strading local cloud test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(pki)?;
    let ca_pem = ca.self_signed(&ca_key).map_err(pki)?.pem();
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(HOSTS.map(str::to_owned).to_vec()).map_err(pki)?;
    leaf.distinguished_name = name(HOSTS[0]);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(pki)?;
    let leaf_pem = leaf.signed_by(&leaf_key, &issuer).map_err(pki)?.pem();

    write(
        &dir.join(SERVER_KEY),
        leaf_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write(&dir.join(SERVER_CERT), leaf_pem.as_bytes(), 0o644)?;
    write(&dir.join(CA_CERT), ca_pem.as_bytes(), 0o644)?;
    Ok(ca_pem)
}
