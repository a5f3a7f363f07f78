//! Secrets (verifyKey, access tokens): compared in constant time, never printed.

use subtle::ConstantTimeEq;

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
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
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
