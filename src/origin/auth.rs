//! API tokens and secret files: making a token, hashing it for storage, reading
//! it back from a file, and refusing secret files that others can read.
//!
//! Tokens are never stored or logged in clear: the store holds their sha256.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The group that may read the audit log and the admin views.
pub const ADMIN_GROUP: &str = "admin";

/// A new random token: `hp_` and 64 hex digits (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("hp_{}", hex::encode(bytes))
}

/// What the store keeps of a token.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digest_ignores_surrounding_whitespace() {
        let t = new_token();
        assert!(t.starts_with("hp_") && t.len() == 67);
        assert_eq!(token_digest(&t), token_digest(&format!("{t}\n")));
        assert_ne!(token_digest(&t), token_digest(&new_token()));
    }
}
