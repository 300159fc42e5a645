//! Package signature policy and the set of trusted OpenPGP public keys.

/// OpenPGP public keys (v4 and v6) that may sign packages.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    /// ASCII-armored public keys, as read from the configured files.
    pub armored: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum SignaturePolicy {
    /// Do not look at signatures (offline createrepo without keys).
    Ignore,
    /// Every package must carry a valid signature by one of these keys.
    Require(TrustedKeys),
}
