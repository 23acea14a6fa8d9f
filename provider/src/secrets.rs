//! Secrets the provider generates: the K3s join token and the SSH key pair
//! the provider itself uses to reach the servers.

use aws_lc_rs::rand::SecureRandom as _;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;

/// Why a secret could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("could not generate {0}: the system random source failed")]
pub struct SecretError(&'static str);

/// A random K3s token (256 bits, hex).
pub fn k3s_token() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SecretError("the K3s token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An Ed25519 key pair: (PKCS#8 private key, base64; OpenSSH public key).
pub fn ssh_key_pair(comment: &str) -> Result<(String, String), SecretError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| SecretError("the SSH key"))?;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| SecretError("the SSH key"))?;
    let public = openssh_ed25519(pair.public_key().as_ref(), comment);
    Ok((
        base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref()),
        public,
    ))
}

/// `ssh-ed25519 <base64 of string "ssh-ed25519" + string key> comment`.
pub fn openssh_ed25519(key: &[u8], comment: &str) -> String {
    let mut blob = Vec::with_capacity(51);
    for part in [b"ssh-ed25519".as_slice(), key] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {} {comment}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (k3s_token().unwrap(), k3s_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn public_keys_are_in_openssh_format() {
        let (private, public) = ssh_key_pair("k3strading").unwrap();
        assert!(
            public.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"),
            "{public}"
        );
        assert!(public.ends_with(" k3strading"));
        assert!(!private.is_empty());
    }
}
