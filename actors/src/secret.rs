//! Secrets (verifyKey, access tokens): compared in constant time, never printed, and the
//! HMAC-SHA1 keyed by one that OneBot signatures, served openids and access tokens use.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// HMAC-SHA1 under `key` of `parts`, one after the other.
pub fn hmac_sha1(key: &str, parts: &[&[u8]]) -> [u8; 20] {
    // HMAC takes keys of any length, so the slice constructor never fails; the fixed-size
    // one stands in to keep this total.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha1> as KeyInit>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether two byte strings are equal, compared in constant time.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A configured secret. Its `Debug` output is redacted so it cannot reach a log line.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Whether `candidate` equals the secret, compared in time independent of where they
    /// differ (the length may still leak, which reveals nothing useful about the content).
    pub fn matches(&self, candidate: &str) -> bool {
        same_bytes(self.0.as_bytes(), candidate.as_bytes())
    }

    /// Whether no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret itself, for the few places that must send it (outbound auth headers).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn matches_only_the_exact_value_and_never_prints_it() {
        let s = Secret::new("1234567890");
        assert!(s.matches("1234567890"));
        assert!(!s.matches("1234567891"));
        assert!(!s.matches("123456789"));
        assert!(!s.matches(""));
        assert!(!format!("{s:?}").contains("1234"));
    }
}
