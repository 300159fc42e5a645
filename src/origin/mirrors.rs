//! `mirrors.toml`: the partner mirrors the origin pushes to. Owns the raw
//! `deny_unknown_fields` wire struct and the validated [`Mirror`] list built from it
//! (order kept: it is the order mirrors appear in the metalink after the origin).
//!
//! Must not know how a push is carried out (that is `push::`); it only checks that
//! what a push will need is there: a well-formed URL per method, and secret files that
//! exist and are not world-readable.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::logging::user_error;

/// One validated partner mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub name: String,
    /// Where clients read the `/pub` tree, without a trailing slash, e.g. `https://[::1]:8443/pub`.
    pub public_url: String,
    pub method: PushMethod,
    /// The receiver's base URL (`https`) or the rsync target `ssh://user@host[:port]/path` (`rsync`).
    pub push_url: String,
    /// HMAC secret (`https`) or ssh private key (`rsync`); resolved against the file's directory.
    pub secret_file: PathBuf,
    /// PEM certificate(s) to trust for this mirror's TLS, e.g. the receiver's self-signed
    /// certificate; used for the push and for the public verification.
    pub ca_file: Option<PathBuf>,
    /// `rsync` only: a pinned `known_hosts` file (host keys are then checked strictly).
    pub known_hosts_file: Option<PathBuf>,
    /// Relative share of clients sent to this mirror first (and so of package
    /// bytes), once enough partners are verified (`[metalink]
    /// spread_min_partners`); default 1, 0 = listed last.
    pub weight: u32,
}

/// How the origin pushes to a mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMethod {
    /// `hotpush receive` over HTTPS, HMAC-signed requests.
    Https,
    /// Two `rsync` passes over ssh.
    Rsync,
}

impl PushMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PushMethod::Https => "https",
            PushMethod::Rsync => "rsync",
        }
    }
}

/// The most mirrors a file may list: pushes fan out to all of them at once.
pub const MIRRORS_MAX: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFile {
    #[serde(default)]
    mirror: Vec<WireMirror>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMirror {
    name: String,
    public_url: String,
    method: String,
    push_url: String,
    secret_file: PathBuf,
    ca_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
    weight: Option<u32>,
}

/// Largest accepted `weight`.
pub const WEIGHT_MAX: u32 = 1000;

/// Reads and validates `mirrors.toml`. Relative file names are resolved against the
/// directory holding `path`.
pub fn load_mirrors(path: &Path) -> anyhow::Result<Vec<Mirror>> {
    let text = fs_err::read_to_string(path).map_err(|e| {
        user_error(
            format!("cannot read the mirrors file `{}`: {e}", path.display()),
            "pass an existing `mirrors.toml` with `--mirrors FILE`",
        )
    })?;
    parse_mirrors(path, &text)
}

/// Validates the text of a mirrors file; `path` names it in errors and anchors relative paths.
pub fn parse_mirrors(path: &Path, text: &str) -> anyhow::Result<Vec<Mirror>> {
    let shown = path.display();
    let wire: WireFile = toml::from_str(text).map_err(|e| {
        user_error(
            format!("`{shown}` is not a valid mirrors file: {e}"),
            "each partner is a `[[mirror]]` table with `name`, `public_url`, `method`, `push_url`, `secret_file` (and optionally `ca_file`, `known_hosts_file`, `weight`)",
        )
    })?;
    if wire.mirror.len() > MIRRORS_MAX {
        return Err(user_error(
            format!(
                "`{shown}` lists {} mirrors, more than {MIRRORS_MAX}",
                wire.mirror.len()
            ),
            "push to a few high-bandwidth partners; others can sync from them",
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut seen = HashSet::new();
    let mut mirrors = Vec::with_capacity(wire.mirror.len());
    for (index, raw) in wire.mirror.into_iter().enumerate() {
        let at = format!("`{shown}`, mirror #{} (`{}`)", index + 1, raw.name);
        let mirror = validate(&at, base, raw)?;
        if !seen.insert(mirror.name.clone()) {
            return Err(user_error(
                format!("{at}: field `name`: `{}` is used twice", mirror.name),
                "give every mirror a unique name",
            ));
        }
        mirrors.push(mirror);
    }
    Ok(mirrors)
}

fn validate(at: &str, base: &Path, raw: WireMirror) -> anyhow::Result<Mirror> {
    let field = |name: &str, reason: String, hint: &str| {
        user_error(format!("{at}: field `{name}`: {reason}"), hint)
    };
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= 64
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !name_ok {
        return Err(field(
            "name",
            format!("`{}` is not a usable name", raw.name),
            "use 1 to 64 characters from a-z, A-Z, 0-9, `-`, `_`, `.`",
        ));
    }
    let public_url = raw.public_url.trim_end_matches('/').to_string();
    if !(public_url.starts_with("https://") || public_url.starts_with("http://"))
        || reqwest::Url::parse(&public_url).is_err()
    {
        return Err(field(
            "public_url",
            format!("`{}` is not an http(s) URL", raw.public_url),
            "write the base of the partner's `/pub` tree, e.g. `https://[2001:db8::10]/pub`",
        ));
    }
    let method = match raw.method.as_str() {
        "https" => PushMethod::Https,
        "rsync" => PushMethod::Rsync,
        other => {
            return Err(field(
                "method",
                format!("`{other}` is not a push method"),
                "use `https` (a `hotpush receive` partner) or `rsync` (rsync over ssh)",
            ))
        }
    };
    let push_url = raw.push_url.trim_end_matches('/').to_string();
    match method {
        PushMethod::Https => {
            let ok = push_url.starts_with("https://")
                && reqwest::Url::parse(&push_url)
                    .map(|u| u.host().is_some())
                    .unwrap_or(false);
            if !ok {
                return Err(field(
                    "push_url",
                    format!("`{}` is not an https URL", raw.push_url),
                    "write the receiver's address, e.g. `https://[2001:db8::10]:8443`",
                ));
            }
        }
        PushMethod::Rsync => {
            crate::origin::sync::rsync::RsyncTarget::parse(&raw.push_url).map_err(|reason| {
                field(
                    "push_url",
                    reason,
                    crate::origin::sync::rsync::PUSH_URL_HINT,
                )
            })?;
        }
    }
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let secret_file = resolve(&raw.secret_file);
    crate::io::secret::check(&secret_file).map_err(|r| field("secret_file", r.reason, &r.hint))?;
    let ca_file = raw.ca_file.as_deref().map(resolve);
    if let Some(ca) = &ca_file {
        if !ca.is_file() {
            return Err(field(
                "ca_file",
                format!("`{}` does not exist", ca.display()),
                "copy the receiver's certificate (`tls/cert.pem` in its data directory) here",
            ));
        }
    }
    let known_hosts_file = raw.known_hosts_file.as_deref().map(resolve);
    if known_hosts_file.is_some() && method != PushMethod::Rsync {
        return Err(field(
            "known_hosts_file",
            "only applies to `method = \"rsync\"`".into(),
            "remove it, or use `ca_file` to trust an https receiver",
        ));
    }
    let weight = raw.weight.unwrap_or(1);
    if weight > WEIGHT_MAX {
        return Err(field(
            "weight",
            format!("`{weight}` is more than {WEIGHT_MAX}"),
            "weights are relative shares: use small numbers such as 1, 2 or 3",
        ));
    }
    Ok(Mirror {
        name: raw.name,
        public_url,
        method,
        push_url,
        secret_file,
        ca_file,
        known_hosts_file,
        weight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir_with_secret(mode: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "0123456789abcdef0123").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    fn err_text(e: anyhow::Error) -> String {
        let hint = e
            .chain()
            .find_map(|c| c.downcast_ref::<crate::logging::UserError>())
            .and_then(|u| u.hint.clone())
            .unwrap_or_default();
        format!("{e} / hint: {hint}")
    }

    #[test]
    fn loads_both_methods_in_order_and_resolves_paths() {
        let dir = dir_with_secret(0o600);
        let path = dir.path().join("mirrors.toml");
        let text = r#"
[[mirror]]
name = "b"
public_url = "https://[::1]:8443/pub/"
method = "https"
push_url = "https://[::1]:8443"
secret_file = "secret"

[[mirror]]
name = "a"
public_url = "http://127.0.0.1:8081/pub"
method = "rsync"
push_url = "ssh://mirror@[::1]:2222/srv/pub"
secret_file = "secret"
"#;
        let mirrors = parse_mirrors(&path, text).unwrap();
        assert_eq!(
            mirrors.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(mirrors[0].public_url, "https://[::1]:8443/pub");
        assert_eq!(mirrors[0].secret_file, dir.path().join("secret"));
        assert_eq!(mirrors[1].method, PushMethod::Rsync);
    }

    #[test]
    fn refuses_world_readable_secret_unknown_field_duplicates_and_bad_urls() {
        let dir = dir_with_secret(0o640);
        let path = dir.path().join("mirrors.toml");
        let one = |extra: &str, method: &str, push: &str| {
            format!(
                "[[mirror]]\nname = \"p\"\npublic_url = \"https://[::1]/pub\"\nmethod = \"{method}\"\npush_url = \"{push}\"\nsecret_file = \"secret\"\n{extra}"
            )
        };
        let e =
            err_text(parse_mirrors(&path, &one("", "https", "https://[::1]:8443")).unwrap_err());
        assert!(
            e.contains("secret_file")
                && e.contains("can be read by others (mode 640)")
                && e.contains("chmod 600"),
            "{e}"
        );

        std::fs::set_permissions(
            dir.path().join("secret"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let e = err_text(
            parse_mirrors(&path, &one("colour = 1", "https", "https://[::1]:8443")).unwrap_err(),
        );
        assert!(e.contains("mirrors.toml") && e.contains("colour"), "{e}");
        let e = err_text(parse_mirrors(&path, &one("", "ftp", "https://[::1]:8443")).unwrap_err());
        assert!(e.contains("field `method`"), "{e}");
        let e = err_text(parse_mirrors(&path, &one("", "https", "http://[::1]:8443")).unwrap_err());
        assert!(e.contains("field `push_url`"), "{e}");
        let e = err_text(parse_mirrors(&path, &one("", "rsync", "rsync://[::1]/x")).unwrap_err());
        assert!(
            e.contains("field `push_url`") && e.contains("ssh://"),
            "{e}"
        );
        let twice = format!(
            "{}\n{}",
            one("", "https", "https://[::1]:1"),
            one("", "https", "https://[::1]:2")
        );
        let e = err_text(parse_mirrors(&path, &twice).unwrap_err());
        assert!(e.contains("used twice"), "{e}");
        let e = err_text(
            parse_mirrors(
                &path,
                &one("", "https", "https://[::1]:1").replace("\"secret\"", "\"nope\""),
            )
            .unwrap_err(),
        );
        assert!(e.contains("nope") && e.contains("secret_file"), "{e}");
    }
}
