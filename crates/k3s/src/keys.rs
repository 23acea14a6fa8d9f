//! Ed25519 key pairs in OpenSSH formats, and their SHA256 fingerprints.
//!
//! One pair per server as its host key (delivered through cloud-init, pinned by the client),
//! and login keys for the operator.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding};
use russh::keys::{PrivateKey, PublicKey};

use crate::secret::Secret;

/// Errors from generating or parsing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system random generator failed.
    #[error("could not draw random bytes for a new key")]
    Random,
    /// Encoding a key in OpenSSH format failed.
    #[error("could not encode the {what} key in OpenSSH format: {source}")]
    Encode {
        /// "private" or "public".
        what: &'static str,
        /// The encoder's error.
        source: russh::keys::ssh_key::Error,
    },
    /// A public key line did not parse.
    #[error("not an OpenSSH public key line ({line_start}…): {source}")]
    ParsePublic {
        /// The first characters of the offending line (public data only).
        line_start: String,
        /// The parser's error.
        source: russh::keys::ssh_key::Error,
    },
    /// Not an Ed25519 private key in PKCS#8 DER.
    #[error("not an Ed25519 private key in PKCS#8 form")]
    NotPkcs8Ed25519,
    /// A private key did not parse (its text is never shown).
    #[error("not an unencrypted OpenSSH private key: {source}")]
    ParsePrivate {
        /// The parser's error.
        source: russh::keys::ssh_key::Error,
    },
}

/// An Ed25519 key pair: OpenSSH private key text (secret) and one-line public key.
#[derive(Debug, Clone)]
pub struct KeyPair {
    private_openssh: Secret,
    public_openssh: String,
}

impl KeyPair {
    /// Generates a fresh Ed25519 pair; `comment` ends up in both encodings.
    pub fn generate(comment: &str) -> Result<Self, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| KeyError::Random)?;
        Self::from_seed(&seed, comment)
    }

    /// The same Ed25519 key, given as PKCS#8 DER (RFC 8410, v1 or v2), in
    /// OpenSSH formats: for state written before keys were kept as OpenSSH text.
    pub fn from_pkcs8_ed25519(der: &[u8], comment: &str) -> Result<Self, KeyError> {
        // The private key is an OCTET STRING (04 20 + 32-byte seed) wrapped in
        // the OCTET STRING (04 22) of the PKCS#8 privateKey field.
        let seed = der
            .windows(4)
            .position(|w| w == [0x04, 0x22, 0x04, 0x20])
            .and_then(|at| der.get(at + 4..at + 36))
            .ok_or(KeyError::NotPkcs8Ed25519)?;
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(seed);
        let pair = Self::from_seed(&bytes, comment)?;
        // The document's own public key, when present (v2), must be the one derived.
        let check = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| KeyError::NotPkcs8Ed25519)?;
        let derived = parse_public(&pair.public_openssh)?;
        let ours = derived
            .key_data()
            .ed25519()
            .map(|k| k.0.to_vec())
            .unwrap_or_default();
        use aws_lc_rs::signature::KeyPair as _;
        if check.public_key().as_ref() != ours.as_slice() {
            return Err(KeyError::NotPkcs8Ed25519);
        }
        Ok(pair)
    }

    fn from_seed(seed: &[u8; 32], comment: &str) -> Result<Self, KeyError> {
        let mut private = PrivateKey::from(Ed25519Keypair::from_seed(seed));
        private.set_comment(comment);
        let pem = private
            .to_openssh(LineEnding::LF)
            .map_err(|source| KeyError::Encode {
                what: "private",
                source,
            })?;
        let public = private
            .public_key()
            .to_openssh()
            .map_err(|source| KeyError::Encode {
                what: "public",
                source,
            })?;
        let mut text = String::with_capacity(pem.len() + 1);
        text.push_str(&pem);
        // `ssh -i` and ssh-keygen refuse a key file whose last line has no newline.
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(Self {
            private_openssh: Secret::new(text),
            public_openssh: public,
        })
    }

    /// The OpenSSH private key text, ending in a newline.
    pub fn private_openssh(&self) -> &Secret {
        &self.private_openssh
    }

    /// The one-line OpenSSH public key (`ssh-ed25519 AAAA… comment`).
    pub fn public_openssh(&self) -> &str {
        &self.public_openssh
    }

    /// The public key's fingerprint (see [`fingerprint`]).
    pub fn fingerprint(&self) -> Result<String, KeyError> {
        fingerprint(&self.public_openssh)
    }
}

/// The one-line OpenSSH public key of an unencrypted OpenSSH private key.
pub fn public_of(private_openssh: &Secret) -> Result<String, KeyError> {
    parse_private(private_openssh)?
        .public_key()
        .to_openssh()
        .map_err(|source| KeyError::Encode {
            what: "public",
            source,
        })
}

/// SHA256 of the key blob, unpadded base64url (43 characters).
///
/// The same digest as `ssh-keygen -lf` shows after `SHA256:`, which uses the standard alphabet.
pub fn fingerprint(openssh_public_line: &str) -> Result<String, KeyError> {
    Ok(fingerprint_of(&parse_public(openssh_public_line)?))
}

/// Parses a one-line OpenSSH public key.
pub(crate) fn parse_public(line: &str) -> Result<PublicKey, KeyError> {
    PublicKey::from_openssh(line.trim()).map_err(|source| KeyError::ParsePublic {
        line_start: line.chars().take(24).collect(),
        source,
    })
}

/// Parses an unencrypted OpenSSH private key.
pub(crate) fn parse_private(text: &Secret) -> Result<PrivateKey, KeyError> {
    PrivateKey::from_openssh(text.expose()).map_err(|source| KeyError::ParsePrivate { source })
}

/// Fingerprint of an already parsed key.
pub(crate) fn fingerprint_of(key: &PublicKey) -> String {
    URL_SAFE_NO_PAD.encode(key.fingerprint(HashAlg::Sha256).as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn the_public_half_is_derived_from_the_private_text() {
        let pair = KeyPair::generate("me").unwrap();
        let derived = public_of(pair.private_openssh()).unwrap();
        assert_eq!(fingerprint(&derived).unwrap(), pair.fingerprint().unwrap());
        let err = public_of(&Secret::new("not a key"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("not a key"), "{err}");
    }

    #[test]
    fn pkcs8_keys_convert_to_the_same_openssh_key() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ring_pub = {
            use aws_lc_rs::signature::KeyPair as _;
            aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(der.as_ref())
                .unwrap()
                .public_key()
                .as_ref()
                .to_vec()
        };
        let pair = KeyPair::from_pkcs8_ed25519(der.as_ref(), "old").unwrap();
        let key = parse_public(pair.public_openssh()).unwrap();
        assert_eq!(key.key_data().ed25519().unwrap().0.to_vec(), ring_pub);
        assert!(
            pair.private_openssh()
                .expose()
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        );
        assert!(matches!(
            KeyPair::from_pkcs8_ed25519(b"not a key", "x"),
            Err(KeyError::NotPkcs8Ed25519)
        ));
    }

    #[test]
    fn generated_pair_is_ed25519_with_matching_halves() {
        let pair = KeyPair::generate("node-1").unwrap();
        assert!(pair.public_openssh().starts_with("ssh-ed25519 AAAA"));
        assert!(pair.public_openssh().ends_with(" node-1"));
        let pem = pair.private_openssh().expose();
        assert!(pem.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
        let private = parse_private(pair.private_openssh()).unwrap();
        assert_eq!(
            private.public_key().to_openssh().unwrap(),
            pair.public_openssh()
        );
        assert_eq!(pair.fingerprint().unwrap().len(), 43);
    }

    #[test]
    fn fingerprint_uses_the_url_safe_alphabet() {
        // ssh-keygen -lf printed SHA256:iEkApzYtwprCCIg1hmPnMsrhQnrmmmOHz7bZUV/cNjQ for this key.
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICD2LcpT+W0ICO27taWOQpzHNZoPRFBK+ddpZCw1Ifox vec";
        assert_eq!(
            fingerprint(line).unwrap(),
            "iEkApzYtwprCCIg1hmPnMsrhQnrmmmOHz7bZUV_cNjQ"
        );
    }

    #[test]
    fn two_pairs_differ() {
        let a = KeyPair::generate("a").unwrap();
        let b = KeyPair::generate("a").unwrap();
        assert_ne!(a.public_openssh(), b.public_openssh());
    }

    #[test]
    fn fingerprint_ignores_the_comment_and_rejects_garbage() {
        let pair = KeyPair::generate("one").unwrap();
        let blob = pair.public_openssh().rsplit_once(' ').unwrap().0;
        assert_eq!(
            fingerprint(&format!("{blob} other")).unwrap(),
            pair.fingerprint().unwrap()
        );
        assert!(matches!(
            fingerprint("ssh-ed25519 nope"),
            Err(KeyError::ParsePublic { .. })
        ));
    }
}
