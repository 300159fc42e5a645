//! The one loader of trusted package-signing key files, used by the origin,
//! `hotpush createrepo` and `hotpush doctor`: each file size-capped, read as
//! text, parsed as OpenPGP public keys, and refused with one message shape
//! that names the file, the reason and where to fix it.

use std::path::{Path, PathBuf};

use crate::core::rpm::TrustedKeys;
use crate::logging::user_error;

/// A key file larger than this is not a public key (a keyring of a few
/// certificates is tens of KB).
pub const KEY_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Reads one key file as text, refusing a missing, oversized or non-UTF-8
/// file. `fix` says where the file is configured (e.g. "fix
/// `intake.trusted_keys` in hotpush.toml").
pub fn read_key_file(path: &Path, fix: &str) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        user_error(
            format!("cannot read the trusted key `{}`: {e}", path.display()),
            format!("put the key file there or {fix}"),
        )
    })?;
    if meta.len() > KEY_FILE_BYTES_MAX {
        return Err(user_error(
            format!(
                "the trusted key `{}` is {} bytes, more than the {KEY_FILE_BYTES_MAX} a public key file may hold",
                path.display(),
                meta.len()
            ),
            format!("export only the public key (`gpg --export --armor KEYID`) or {fix}"),
        ));
    }
    std::fs::read_to_string(path).map_err(|e| {
        user_error(
            format!("cannot read the trusted key `{}`: {e}", path.display()),
            format!("it must be an armored OpenPGP public key (text); {fix}"),
        )
    })
}

/// Loads every file into one [`TrustedKeys`], refusing the first file that is
/// unreadable or holds no usable public key, by name.
pub fn load_trusted(paths: &[PathBuf], fix: &str) -> anyhow::Result<TrustedKeys> {
    let armored = paths
        .iter()
        .map(|p| read_key_file(p, fix))
        .collect::<anyhow::Result<Vec<_>>>()?;
    TrustedKeys::from_armored(armored).map_err(|e| {
        let file = paths
            .get(e.position.saturating_sub(1))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        user_error(
            format!(
                "the trusted key `{file}` is not a usable OpenPGP public key: {}",
                e.reason
            ),
            format!("{}; {fix}", e.hint),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_with_the_fix() {
        let err = load_trusted(
            &[PathBuf::from("/nonexistent/distro.asc")],
            "fix `intake.trusted_keys` in hotpush.toml",
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("/nonexistent/distro.asc"), "{text}");
        let hint = crate::logging::hint_of(&err).unwrap_or_default();
        assert!(hint.contains("intake.trusted_keys"), "{hint}");
    }

    #[test]
    fn a_file_that_is_not_a_key_is_named() {
        let path = std::env::temp_dir().join(format!("hotpush-key-{}.asc", std::process::id()));
        std::fs::write(&path, "hello\n").unwrap();
        let err = load_trusted(std::slice::from_ref(&path), "fix it").unwrap_err();
        std::fs::remove_file(&path).unwrap();
        let text = format!("{err:#}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("not a usable OpenPGP public key"), "{text}");
    }
}
