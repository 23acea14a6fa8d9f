//! A string that must never reach logs, error messages or process arguments.

use std::fmt;

use zeroize::Zeroizing;

/// Replacement text wherever a secret would have appeared.
pub const REDACTED: &str = "<redacted>";

/// Secret text (K3s token, private key, kubeconfig); `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps secret text; the memory is wiped when the value is dropped.
    pub fn new(text: impl Into<String>) -> Self {
        Self(Zeroizing::new(text.into()))
    }

    /// The secret text itself, for sending it over stdin or into a 0600 file.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of this secret replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        // An empty secret would match everywhere and hide nothing worth hiding.
        if self.0.is_empty() {
            return text.to_owned();
        }
        text.replace(self.0.as_str(), REDACTED)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_text() {
        let s = Secret::new("K10abc::server:hunter2");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{s:#?}").contains("hunter2"));
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        let s = Secret::new("tok3n");
        assert_eq!(s.redact("a tok3n b tok3n"), "a <redacted> b <redacted>");
        assert_eq!(Secret::new("").redact("abc"), "abc");
    }
}
