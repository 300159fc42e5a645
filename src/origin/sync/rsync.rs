//! The `rsync` push method: the `push_url` form, the staging tree, the argv of the
//! two passes, and running the real `rsync` over `ssh -i <secret_file>`.
//!
//! `push_url` is `ssh://USER@HOST[:PORT]/PATH`: HOST may be an IPv6 literal in
//! brackets, PORT defaults to 22, PATH is the remote directory that holds the `/pub`
//! tree (with `rrsync` on the partner, it is relative to the directory `rrsync` is
//! confined to). Pass 1 sends every data file (`--delay-updates`, no `--delete`, so
//! old files stay for clients holding old metadata); pass 2 sends only
//! `repodata/repomd.xml` and `.asc`, so a repomd never arrives before its files.
//!
//! Must not know about retries or deadlines (that is `fanout.rs`); killing the
//! child when the future is dropped is how a deadline stops it.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::https::PushError;
use super::RepoRevision;

pub const PUSH_URL_HINT: &str =
    "write `ssh://USER@HOST[:PORT]/PATH`, e.g. `ssh://mirror@[2001:db8::10]:22/srv/mirror/pub`";

/// A parsed rsync `push_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsyncTarget {
    pub user: String,
    /// Without brackets, e.g. `::1`.
    pub host: String,
    pub port: u16,
    /// Remote directory holding the `/pub` tree, without a trailing slash (`/` stays `/`).
    pub path: String,
}

impl RsyncTarget {
    /// Parses and validates a push URL; the error is the reason.
    pub fn parse(url: &str) -> Result<RsyncTarget, String> {
        // The URL parser would quietly resolve `..`: refuse it in the text as written.
        if url.split(['/', '?', '#']).any(|s| s == ".." || s == ".") {
            return Err(format!(
                "`{url}`: the path may not contain `.` or `..` segments"
            ));
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if parsed.scheme() != "ssh" {
            return Err(format!("`{url}` must start with `ssh://`"));
        }
        if parsed.password().is_some() || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "`{url}` may not carry a password, query or fragment (the key is `secret_file`)"
            ));
        }
        let user = parsed.username().to_string();
        let safe = |s: &str, extra: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        };
        if !safe(&user, "._-") {
            return Err(format!(
                "`{url}` needs a user (letters, digits, `.`, `_`, `-`) before `@`"
            ));
        }
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_string(),
            _ => return Err(format!("`{url}` has no host")),
        };
        let path = parsed.path().to_string();
        let path = if path.len() > 1 {
            path.trim_end_matches('/').to_string()
        } else {
            "/".to_string()
        };
        if !safe(&path, "/._-") || path.split('/').any(|s| s == "..") {
            return Err(format!(
                "`{url}`: the path may only use letters, digits, `/`, `.`, `_`, `-`, and no `..`"
            ));
        }
        Ok(RsyncTarget {
            user,
            host,
            port: parsed.port().unwrap_or(22),
            path,
        })
    }

    /// The rsync destination, `user@[host]:/path/`.
    pub fn destination(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let path = if self.path.ends_with('/') {
            self.path.clone()
        } else {
            format!("{}/", self.path)
        };
        format!("{}@{host}:{path}", self.user)
    }
}

/// Everything needed to run the two passes against one partner.
#[derive(Debug, Clone)]
pub struct RsyncPush {
    pub target: RsyncTarget,
    pub key_file: PathBuf,
    pub known_hosts_file: PathBuf,
    /// `true` when `known_hosts_file` is pinned by the operator: unknown keys are refused.
    pub strict_host_key: bool,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
}

/// Which of the two passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Data,
    Repomd,
}

fn quote(path: &Path) -> Result<String, PushError> {
    let text = path.to_string_lossy();
    if text.contains('\'') || text.contains('"') {
        return Err(PushError::Permanent(format!(
            "`{text}` contains a quote, which rsync's `-e` cannot carry"
        )));
    }
    Ok(format!("'{text}'"))
}

impl RsyncPush {
    /// The `-e` command rsync runs to reach the partner.
    pub fn ssh_command(&self) -> Result<String, PushError> {
        Ok(format!(
            "ssh -i {} -p {} -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout={} -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -o UserKnownHostsFile={} -o StrictHostKeyChecking={}{}",
            quote(&self.key_file)?,
            self.target.port,
            self.connect_timeout.as_secs().max(1),
            quote(&self.known_hosts_file)?,
            if self.strict_host_key { "yes" } else { "accept-new" },
            self.control_options()?,
        ))
    }

    /// Connection sharing: the second pass (repomd.xml + .asc, the commit)
    /// reuses the first pass's ssh connection instead of paying a new
    /// handshake. The socket lives beside the known_hosts file (one per origin
    /// state directory and key), and only when its path fits a Unix socket.
    fn control_options(&self) -> Result<String, PushError> {
        let Some(dir) = self.known_hosts_file.parent() else {
            return Ok(String::new());
        };
        let key = self
            .key_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key_tag: String = crate::core::protocol::sha256_hex(key.as_bytes())[..8].to_owned();
        let path = dir.join(format!("cm-{key_tag}-%C"));
        // ssh expands %C to 40 hex digits and binds a temporary name with a
        // 17-character suffix first; sun_path holds 108 bytes with its NUL.
        let bound_len = path.to_string_lossy().len() - 2 + 40 + 17;
        if bound_len > 100 {
            return Ok(String::new());
        }
        Ok(format!(
            " -o ControlMaster=auto -o ControlPath={} -o ControlPersist=30",
            quote(&path)?
        ))
    }

    /// The argv (after `rsync`) of one pass, sending the contents of `staging`.
    pub fn argv(&self, pass: Pass, staging: &Path) -> Result<Vec<String>, PushError> {
        let mut argv = vec![
            "--recursive".to_string(),
            "--copy-links".into(),
            "--times".into(),
            "--delay-updates".into(),
            "--chmod=D755,F644".into(),
            format!("--timeout={}", self.io_timeout.as_secs().max(1)),
            "-e".into(),
            self.ssh_command()?,
        ];
        if pass == Pass::Repomd {
            // Tiny and must always land, even if size and mtime happen to match.
            argv.push("--ignore-times".into());
        }
        argv.push(format!("{}/", staging.display()));
        argv.push(self.target.destination());
        Ok(argv)
    }

    /// Runs one pass; the child dies when the returned future is dropped.
    pub async fn run(&self, pass: Pass, staging: &Path) -> Result<(), PushError> {
        let argv = self.argv(pass, staging)?;
        // ssh keeps known_hosts and the shared-connection socket here.
        if let Some(dir) = self.known_hosts_file.parent() {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        let output = tokio::process::Command::new("rsync")
            .args(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| {
                PushError::Permanent(format!(
                    "cannot run `rsync`: {e}; install rsync and ssh at the origin"
                ))
            })?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        let message = format!(
            "rsync {} pass to `{}` failed with {}: {tail}",
            pass_name(pass),
            self.target.destination(),
            output.status
        );
        // Exit 1-4 are usage or protocol mismatches; everything else (ssh failures,
        // timeouts, I/O) may pass on another attempt.
        Err(match output.status.code() {
            Some(1..=4) => PushError::Permanent(message),
            _ => PushError::Transient(message),
        })
    }
}

fn pass_name(pass: Pass) -> &'static str {
    match pass {
        Pass::Data => "data",
        Pass::Repomd => "repomd",
    }
}

/// The two staging trees of a push: `data/` with a symlink per data file (sent with
/// `--copy-links`), `repomd/` with the repomd.xml + .asc bytes. Removed on drop.
pub struct Staging {
    dir: tempfile::TempDir,
}

impl Staging {
    pub fn build(revisions: &[RepoRevision]) -> Result<Staging, PushError> {
        let io = |what: &str, e: std::io::Error| {
            PushError::Permanent(format!("staging the rsync push: {what}: {e}"))
        };
        let dir = tempfile::Builder::new()
            .prefix("hotpush-rsync-")
            .tempdir()
            .map_err(|e| io("temp dir", e))?;
        for revision in revisions {
            crate::core::protocol::check_relative_path(&revision.repo_path)
                .map_err(PushError::Permanent)?;
            let data_repo = dir.path().join("data").join(&revision.repo_path);
            for file in &revision.files {
                crate::core::protocol::check_relative_path(&file.path)
                    .map_err(PushError::Permanent)?;
                let link = data_repo.join(&file.path);
                fs_err::create_dir_all(link.parent().expect("has a parent"))
                    .map_err(|e| io("mkdir", e))?;
                let source =
                    fs_err::canonicalize(&file.source).map_err(|e| io("source file", e))?;
                std::os::unix::fs::symlink(&source, &link).map_err(|e| io("symlink", e))?;
            }
            let repodata = dir
                .path()
                .join("repomd")
                .join(&revision.repo_path)
                .join("repodata");
            fs_err::create_dir_all(&repodata).map_err(|e| io("mkdir", e))?;
            fs_err::write(repodata.join("repomd.xml"), &revision.repomd)
                .map_err(|e| io("repomd.xml", e))?;
            fs_err::write(repodata.join("repomd.xml.asc"), &revision.repomd_asc)
                .map_err(|e| io("repomd.xml.asc", e))?;
            if !revision.repomd_key.is_empty() {
                fs_err::write(repodata.join("repomd.xml.key"), &revision.repomd_key)
                    .map_err(|e| io("repomd.xml.key", e))?;
            }
        }
        fs_err::create_dir_all(dir.path().join("data")).map_err(|e| io("mkdir", e))?;
        Ok(Staging { dir })
    }

    pub fn path(&self, pass: Pass) -> PathBuf {
        self.dir.path().join(match pass {
            Pass::Data => "data",
            Pass::Repomd => "repomd",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_urls_parse_and_bad_ones_say_why() {
        let t = RsyncTarget::parse("ssh://mirror@[::1]:2222/srv/mirror/pub/").unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port, t.path.as_str()),
            ("mirror", "::1", 2222, "/srv/mirror/pub")
        );
        assert_eq!(t.destination(), "mirror@[::1]:/srv/mirror/pub/");
        let t = RsyncTarget::parse("ssh://m@example.org/").unwrap();
        assert_eq!(
            (t.port, t.destination()),
            (22, "m@example.org:/".to_string())
        );
        for bad in [
            "rsync://m@h/x",
            "ssh://h/x",
            "ssh://m:pw@h/x",
            "ssh://m@h/x?y",
            "ssh://m@h/a b",
            "ssh://m@h/a/../b",
            "ssh://m@h/x;rm",
        ] {
            assert!(RsyncTarget::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn data_pass_never_deletes_and_repomd_pass_always_sends() {
        let push = RsyncPush {
            target: RsyncTarget::parse("ssh://m@[::1]:2222/pub").unwrap(),
            key_file: "/k/id".into(),
            known_hosts_file: "/k/known".into(),
            strict_host_key: false,
            connect_timeout: Duration::from_secs(3),
            io_timeout: Duration::from_secs(20),
        };
        let data = push.argv(Pass::Data, Path::new("/s/data")).unwrap();
        assert!(data.iter().all(|a| !a.starts_with("--delete")));
        assert!(
            data.contains(&"--delay-updates".to_string())
                && !data.contains(&"--ignore-times".to_string())
        );
        assert_eq!(
            data[data.len() - 2..],
            ["/s/data/".to_string(), "m@[::1]:/pub/".to_string()]
        );
        let ssh = push.ssh_command().unwrap();
        assert!(
            ssh.contains("-i '/k/id'")
                && ssh.contains("-p 2222")
                && ssh.contains("StrictHostKeyChecking=accept-new")
                && ssh.contains("BatchMode=yes"),
            "{ssh}"
        );
        assert!(push
            .argv(Pass::Repomd, Path::new("/s/r"))
            .unwrap()
            .contains(&"--ignore-times".to_string()));
    }

    #[test]
    fn shared_connection_only_where_the_socket_path_fits() {
        let push = |dir: &str| RsyncPush {
            target: RsyncTarget::parse("ssh://m@[::1]:2222/pub").unwrap(),
            key_file: "/k/id".into(),
            known_hosts_file: Path::new(dir).join("known"),
            strict_host_key: false,
            connect_timeout: Duration::from_secs(3),
            io_timeout: Duration::from_secs(20),
        };
        let short = push("/tmp/x/ssh").ssh_command().unwrap();
        assert!(short.contains("ControlMaster=auto"), "{short}");
        // 45 characters of directory, as a benchmark's temp dir had: too long
        // once ssh adds the 40-digit %C and its temporary suffix.
        let long = push("/tmp/hotpush-bench.IQpfVq/origin/data/ssh/abc")
            .ssh_command()
            .unwrap();
        assert!(!long.contains("ControlMaster"), "{long}");
    }
}
