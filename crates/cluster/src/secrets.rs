//! Secrets generated for a cluster: the K3s join token and the SSH key pair
//! used to reach the servers.

use aws_lc_rs::rand::SecureRandom as _;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;

use crate::Error;

/// A random K3s token (256 bits, hex).
pub fn k3s_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Random("the K3s token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An Ed25519 key pair.
pub struct SshKeyPair {
    /// The private key (PKCS#8, base64).
    pub private: String,
    /// The public key in OpenSSH one-line format.
    pub public: String,
}

impl std::fmt::Debug for SshKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshKeyPair")
            .field("private", &"(redacted)")
            .field("public", &self.public)
            .finish()
    }
}

impl SshKeyPair {
    /// A new key pair; `comment` ends the public key line.
    pub fn generate(comment: &str) -> Result<SshKeyPair, Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| Error::Random("the SSH key"))?;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| Error::Random("the SSH key"))?;
        Ok(SshKeyPair {
            private: base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref()),
            public: openssh_ed25519(pair.public_key().as_ref(), comment),
        })
    }
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
    fn public_keys_are_in_openssh_format_and_debug_hides_the_private_half() {
        let pair = SshKeyPair::generate("k3strading").unwrap();
        assert!(
            pair.public
                .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"),
            "{}",
            pair.public
        );
        assert!(pair.public.ends_with(" k3strading"));
        assert!(!pair.private.is_empty());
        assert!(!format!("{pair:?}").contains(&pair.private));
    }
}
