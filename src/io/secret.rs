//! The one secret-file policy (tokens, partner HMAC secrets, ssh keys, the repo
//! key): the file must exist, be a regular file, and be readable by its owner
//! only (no group or other bits), as ssh and Garage require. Secrets are written
//! with mode 600.
use std::path::Path;

use anyhow::Context;

use crate::logging::user_error;

/// Why a secret file is refused, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub hint: String,
}

/// Checks that `path` is a regular file that neither group nor others can read.
pub fn check(path: &Path) -> Result<(), Refusal> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| Refusal {
        reason: format!("cannot read the secret file `{}`: {e}", path.display()),
        hint: "create the file with the secret in it, readable by this user only (`chmod 600`)"
            .into(),
    })?;
    if !meta.is_file() {
        return Err(Refusal {
            reason: format!("`{}` is not a file", path.display()),
            hint: "point it at the secret file".into(),
        });
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Refusal {
            reason: format!(
                "the secret file `{}` can be read by others (mode {:o})",
                path.display(),
                mode & 0o777
            ),
            hint: format!("run `chmod 600 {}`", path.display()),
        });
    }
    Ok(())
}

/// [`check`] as a user error.
pub fn check_private(path: &Path) -> anyhow::Result<()> {
    check(path).map_err(|r| user_error(r.reason, r.hint))
}

/// Reads a text secret (an API token): the file's first line, trimmed, not empty.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
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

/// Reads a binary secret (an HMAC key) of at least 16 bytes; trailing
/// whitespace is not part of it. `what` names the setting in messages.
pub fn read_bytes(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    check(path).map_err(|r| user_error(format!("{what}: {}", r.reason), r.hint))?;
    let mut bytes = fs_err::read(path).with_context(|| format!("{what}: reading the secret"))?;
    while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
        bytes.pop();
    }
    if bytes.len() < 16 {
        return Err(user_error(
            format!("{what}: `{}` holds fewer than 16 bytes", path.display()),
            "generate a long secret, e.g. `openssl rand -hex 32 > FILE; chmod 600 FILE`",
        ));
    }
    Ok(bytes)
}

/// Writes a secret file readable by its owner only, and syncs it.
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
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn group_or_world_readable_secrets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        write_private(&path, b"0123456789abcdef0123\n").unwrap();
        assert_eq!(read_bytes(&path, "x").unwrap(), b"0123456789abcdef0123");
        assert_eq!(read_text(&path).unwrap(), "0123456789abcdef0123");
        for mode in [0o640, 0o604, 0o644, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let r = check(&path).unwrap_err();
            assert!(
                r.reason.contains("can be read by others"),
                "{mode:o}: {r:?}"
            );
            assert!(r.hint.contains("chmod 600"), "{r:?}");
            assert!(read_bytes(&path, "x").is_err());
            assert!(read_text(&path).is_err());
        }
        assert!(check(dir.path()).unwrap_err().reason.contains("not a file"));
        assert!(check(&dir.path().join("missing")).is_err());
    }
}
