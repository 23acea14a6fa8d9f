//! Secrets generated for a cluster: the K3s join token and the SSH key pair
//! used to reach the servers.

use aws_lc_rs::rand::SecureRandom as _;

use crate::Error;

/// A random K3s token (256 bits, hex).
pub fn k3s_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Random("the K3s token"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An Ed25519 key pair in OpenSSH formats (login keys and host keys).
pub use k3s::keys::KeyPair;

/// A secret string whose Debug and Display never show it.
pub use k3s::Secret;

/// The public half of an OpenSSH private key given by a user.
pub fn public_of(private_openssh: &Secret) -> Result<String, Error> {
    k3s::keys::public_of(private_openssh).map_err(|source| Error::Key { source })
}

/// A new key pair; `comment` ends the public key line.
pub fn key_pair(comment: &str) -> Result<KeyPair, Error> {
    KeyPair::generate(comment).map_err(|source| Error::Key { source })
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
    fn key_pairs_are_openssh_and_debug_hides_the_private_half() {
        let pair = key_pair("k3strading").unwrap();
        assert!(
            pair.public_openssh()
                .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA")
        );
        assert!(pair.public_openssh().ends_with(" k3strading"));
        let private = pair.private_openssh().expose();
        assert!(private.ends_with('\n'));
        assert!(!format!("{pair:?}").contains(private));
    }
}
