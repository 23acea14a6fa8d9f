//! K3s join tokens.
//!
//! Secure format: `K10<ca-hash>::<user>:<secret>`. For a self-signed cluster
//! CA, K3s hashes the literal bytes of the CA bundle as `/cacerts` serves it
//! (the PEM file on disk): hex SHA-256, whitespace included. (Bundles of more
//! than one certificate are hashed over the DER of their root instead; the
//! stand-in only ever serves one self-signed certificate.) The short format
//! is the bare secret.

use crate::Error;

/// A parsed token. Its `Debug` output hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The CA hash pinned by a secure token.
    pub ca_hash: Option<String>,
    /// The user part (`server` for server tokens).
    pub username: String,
    /// The shared secret.
    pub secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("ca_hash", &self.ca_hash)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Token {
    /// Parses a secure or short token.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Token("the token is empty"));
        }
        let Some(rest) = text.strip_prefix("K10") else {
            return Ok(Self {
                ca_hash: None,
                username: "server".to_string(),
                secret: text.to_string(),
            });
        };
        let (hash, credentials) = rest.split_once("::").ok_or(Error::Token(
            "a K10 token has the form K10<ca-hash>::<user>:<secret>",
        ))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Token("the CA hash of a K10 token is 64 hex digits"));
        }
        let (username, secret) = credentials.split_once(':').ok_or(Error::Token(
            "a K10 token's credentials have the form <user>:<secret>",
        ))?;
        if username.is_empty() || secret.is_empty() {
            return Err(Error::Token("a K10 token needs a user and a secret"));
        }
        Ok(Self {
            ca_hash: Some(hash.to_ascii_lowercase()),
            username: username.to_string(),
            secret: secret.to_string(),
        })
    }

    /// The secure server token for `secret` and the CA bundle `ca_pem`.
    pub fn secure(ca_pem: &[u8], secret: &str) -> String {
        format!("K10{}::server:{secret}", ca_hash(ca_pem))
    }
}

/// Hex SHA-256 of the CA bundle bytes, as K3s computes it for one certificate.
pub fn ca_hash(ca_pem: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ca_pem);
    hex(digest.as_ref())
}

/// A fresh random secret: 16 random bytes as hex.
pub fn random_secret() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Token("no randomness available"))?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
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
    fn secure_token_round_trips_and_pins_the_sha256_of_the_bundle_bytes() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let text = Token::secure(pem, "s3cret");
        // sha256 of the bytes above, computed independently with sha256sum.
        let expected = "7cc358aa45100f42d57b76e9b235253bfc6fc830b3e45858d2bc473657aae3f7";
        assert_eq!(ca_hash(pem), expected);
        let token = Token::parse(&text).unwrap();
        assert_eq!(token.ca_hash.as_deref(), Some(expected));
        assert_eq!(token.username, "server");
        assert_eq!(token.secret, "s3cret");
        assert!(text.starts_with("K10") && text.ends_with("::server:s3cret"));
    }

    #[test]
    fn short_tokens_pin_nothing_and_malformed_secure_tokens_are_rejected() {
        let short = Token::parse("justasecret\n").unwrap();
        assert_eq!(short.ca_hash, None);
        assert_eq!(short.secret, "justasecret");
        assert!(Token::parse("K10abc::server:x").is_err());
        assert!(Token::parse(&format!("K10{}server:x", "a".repeat(64))).is_err());
        assert!(Token::parse(&format!("K10{}::nocolon", "a".repeat(64))).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = Token::parse("topsecretvalue").unwrap();
        assert!(!format!("{token:?}").contains("topsecretvalue"));
    }
}
