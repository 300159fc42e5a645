//! API tokens and secret files: making a token, hashing it for storage, reading
//! it back from a file, and refusing secret files that others can read.
//!
//! Tokens are never stored or logged in clear: the store holds their sha256.
use std::path::Path;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::logging::user_error;

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

/// Reads a secret (token, HMAC secret) from a file, refusing a file that group or
/// others can read.
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    check_private(path)?;
    let text = fs_err::read_to_string(path).map_err(|e| {
        user_error(
            format!("cannot read the secret file `{}`: {e}", path.display()),
            "pass the path of an existing file that holds the secret on its first line",
        )
    })?;
    let secret = text.lines().next().unwrap_or("").trim().to_owned();
    if secret.is_empty() {
        return Err(user_error(
            format!("the secret file `{}` is empty", path.display()),
            "put the secret on the file's first line",
        ));
    }
    Ok(secret)
}

/// Refuses a file whose mode lets group or others read it.
pub fn check_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs_err::metadata(path).map_err(|e| {
        user_error(
            format!("cannot read the secret file `{}`: {e}", path.display()),
            "check the path",
        )
    })?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(user_error(
            format!(
                "the secret file `{}` can be read by others (mode {:o})",
                path.display(),
                mode & 0o777
            ),
            format!("run `chmod 600 {}`", path.display()),
        ));
    }
    Ok(())
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    use std::io::Write;
    let mut f = fs_err::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
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
