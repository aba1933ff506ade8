//! A string that must never be shown: OAuth access and refresh tokens (D18).

use std::fmt;

use serde::{Deserialize, Serialize};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A token or other credential string.
///
/// `Debug` and `Display` print `[redacted]`, so a secret can sit inside any struct that derives
/// `Debug`, inside an error or a `tracing` field, without leaking. The only way to the text is
/// [`Secret::expose`], which call sites use at the moment they put the token on the wire or on
/// disk.
///
/// `Serialize` writes the plain text: that is what the accounts file needs. Types meant for
/// `--json` output or logs must therefore never contain a `Secret`; they carry labels and ids.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The token itself. Call this only where the token leaves the process (HTTP header, file).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A one-way fingerprint of the token, `sha256:<64 hex digits>`: it identifies a token (a
    /// refresh token known to be dead, one imported before) without revealing it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let digest = Sha256::digest(self.0.as_bytes());
        let mut text = String::with_capacity(7 + 64);
        text.push_str("sha256:");
        for byte in digest {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        text
    }

    /// Whether the token is the empty string (an imported entry without a token, say).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_never_show_the_token() {
        let secret = Secret::new("sk-ant-ort01-very-secret");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret([redacted]))");
        assert_eq!(secret.expose(), "sk-ant-ort01-very-secret");
    }

    #[test]
    fn fingerprints_identify_without_revealing() {
        let secret = Secret::new("abc");
        assert_eq!(
            secret.fingerprint(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(Secret::new("abd").fingerprint(), secret.fingerprint());
    }

    #[test]
    fn serializes_as_a_plain_string_for_the_accounts_file() {
        let secret = Secret::new("tok");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"tok\"");
        let back: Secret = serde_json::from_str("\"tok\"").unwrap();
        assert_eq!(back, secret);
    }
}
