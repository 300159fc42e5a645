//! The `-repos` RPM (`hotpush repofile --rpm DIR`): a small noarch package that
//! installs the client `.repo` file as `%config(noreplace)` and the public keys
//! that verify the repository (repo-signing key) and its packages (the trusted
//! package-signing keys) under `/etc/pki/rpm-gpg/`. In the packaged `.repo`,
//! `gpgkey=` names those installed `file://` paths, not the origin, so clients
//! verify even while the origin is down.
//!
//! It also ships the critical check (`repo-templates/critical-check/`): the
//! script, its systemd timer and service, a preset that enables the timer, its
//! `%config(noreplace)` configuration and state directory, and scriptlets that
//! enable the timer (through the preset) on the first install and on the
//! upgrade from an earlier package, and start it where systemd runs the system.
//!
//! [`build`] is pure (values in, RPM bytes out) and deterministic: every
//! timestamp is the caller's `source_date`. [`run`] fetches the status and the
//! keys from the origin and writes the file. Knows nothing of the store or tree.

use minijinja::{context, Environment};
use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;

use crate::core::api::StatusView;
use crate::logging::user_error;

/// The RPM description template shipped in the binary.
pub const DESCRIPTION_TEMPLATE: &str =
    include_str!("../../repo-templates/repos-rpm-description.j2");
/// Where the keys are installed.
pub const KEY_DIR: &str = "/etc/pki/rpm-gpg";
/// Where dnf reads `.repo` files.
pub const REPOS_DIR: &str = "/etc/yum.repos.d";
/// Where zypper reads `.repo` files (openSUSE, SLES).
pub const ZYPP_REPOS_DIR: &str = "/etc/zypp/repos.d";
/// An armored key from the origin is a few kilobytes; more is not a key file.
const KEY_BYTES_MAX: usize = 1024 * 1024;
/// Package names and versions: what rpm accepts without quoting trouble.
const NAME_CHARS_MAX: usize = 64;

/// The critical check and where the package installs its parts.
pub const CHECK_SCRIPT: &str = include_str!("../../repo-templates/critical-check/critical-check");
pub const CHECK_PATH: &str = "/usr/libexec/hotpush/critical-check";
pub const CHECK_SERVICE: &str =
    include_str!("../../repo-templates/critical-check/hotpush-critical-check.service");
pub const CHECK_SERVICE_PATH: &str = "/usr/lib/systemd/system/hotpush-critical-check.service";
pub const CHECK_TIMER: &str =
    include_str!("../../repo-templates/critical-check/hotpush-critical-check.timer");
pub const CHECK_TIMER_PATH: &str = "/usr/lib/systemd/system/hotpush-critical-check.timer";
pub const CHECK_PRESET: &str =
    include_str!("../../repo-templates/critical-check/90-hotpush.preset");
pub const CHECK_PRESET_PATH: &str = "/usr/lib/systemd/system-preset/90-hotpush.preset";
pub const CHECK_CONF: &str =
    include_str!("../../repo-templates/critical-check/critical-check.conf");
pub const CHECK_CONF_PATH: &str = "/etc/hotpush/critical-check.conf";
/// The check's state; also holds the scriptlets' "timer enabled once" marker.
pub const CHECK_STATE_DIR: &str = "/var/lib/hotpush/critical-check";
const SCRIPT_POST: &str = include_str!("../../repo-templates/critical-check/post.sh");
const SCRIPT_POSTTRANS: &str = include_str!("../../repo-templates/critical-check/posttrans.sh");
const SCRIPT_PREUN: &str = include_str!("../../repo-templates/critical-check/preun.sh");
/// The line of [`CHECK_CONF`] that names the `.repo` file the check reads.
const CONF_REPO_FILE_LINE: &str = "repo_file = /etc/yum.repos.d/critical-updates.repo";

/// Path of the installed repo-signing public key.
pub fn repo_key_path(channel: &str) -> String {
    format!("{KEY_DIR}/RPM-GPG-KEY-hotpush-{channel}")
}

/// Path of the installed package-signing public keys.
pub fn package_keys_path(channel: &str) -> String {
    format!("{KEY_DIR}/RPM-GPG-KEY-hotpush-{channel}-packages")
}

/// Path of the installed `.repo` file.
pub fn repo_file_path(channel: &str) -> String {
    format!("{REPOS_DIR}/{channel}-updates.repo")
}

/// Path of the installed zypper `.repo` file (same alias as the dnf one).
pub fn zypper_repo_file_path(channel: &str) -> String {
    format!("{ZYPP_REPOS_DIR}/{channel}-updates.repo")
}

/// Everything the package is made of.
#[derive(Debug, Clone)]
pub struct ReposRpm<'a> {
    /// Package name, e.g. `critical-repos`.
    pub name: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    /// The origin's status: channel, URLs, partners.
    pub status: &'a StatusView,
    /// Pins `$releasever` in the `.repo` file.
    pub pin_release: Option<&'a str>,
    /// `/keys/repo.asc`.
    pub repo_key: &'a str,
    /// `/keys/packages.asc` (may hold several keys; empty when the origin does
    /// not check package signatures).
    pub package_keys: &'a str,
    /// Build time and every file time, seconds since the epoch.
    pub source_date_secs: u32,
}

/// What [`build`] made.
#[derive(Debug, Clone)]
pub struct Built {
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// The `.repo` text inside the package.
    pub repo_text: String,
    /// Installed file paths, in package order.
    pub files: Vec<String>,
}

fn check_name(field: &str, value: &str, extra: &[char]) -> anyhow::Result<()> {
    let ok = !value.is_empty()
        && value.len() <= NAME_CHARS_MAX
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c));
    if ok {
        Ok(())
    } else {
        Err(user_error(
            format!("`--{field} {value}` is not usable in an RPM {field}"),
            format!(
                "use 1 to {NAME_CHARS_MAX} characters: letters, digits and {}",
                extra
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ))
    }
}

/// Checks that `text` holds `min..` armored OpenPGP public keys; returns their fingerprints.
pub fn key_fingerprints(what: &str, text: &str) -> anyhow::Result<Vec<String>> {
    if text.len() > KEY_BYTES_MAX {
        return Err(user_error(
            format!("{what} is {} bytes, not a key file", text.len()),
            "check that `--server` points at a hotpush origin",
        ));
    }
    let (keys, _) = SignedPublicKey::from_string_many(text).map_err(|e| {
        user_error(
            format!("{what} is not an ASCII-armored OpenPGP public key: {e}"),
            "check that `--server` points at a hotpush origin",
        )
    })?;
    let mut out = Vec::new();
    for key in keys {
        let key = key.map_err(|e| {
            user_error(
                format!("{what} holds a key that cannot be read: {e}"),
                "check the origin's key files",
            )
        })?;
        out.push(format!("{:X}", key.primary_key.fingerprint()));
    }
    Ok(out)
}

/// Builds the package. Pure and deterministic.
pub fn build(spec: &ReposRpm<'_>) -> anyhow::Result<Built> {
    check_name("name", spec.name, &['-', '_', '.', '+'])?;
    check_name("version", spec.version, &['.', '_', '+', '~'])?;
    check_name("release", spec.release, &['.', '_', '+', '~'])?;
    let channel = &spec.status.channel;
    let repo_key_file = repo_key_path(channel);
    let package_keys_file = package_keys_path(channel);
    let mut key_files = vec![repo_key_file.clone()];
    if !spec.package_keys.trim().is_empty() {
        key_files.push(package_keys_file.clone());
    }
    let gpgkeys: Vec<String> = key_files.iter().map(|k| format!("file://{k}")).collect();
    let repo_text =
        crate::core::repofile::render_with_keys(spec.status, spec.pin_release, Some(&gpgkeys))?;
    let repo_file = repo_file_path(channel);
    let zypper_text =
        crate::core::repofile::render_zypper(spec.status, spec.pin_release, Some(&gpgkeys))?;
    let zypper_file = zypper_repo_file_path(channel);

    let mut env = Environment::new();
    env.add_template("description", DESCRIPTION_TEMPLATE)?;
    let description = env.get_template("description")?.render(context! {
        channel => channel,
        public_url => spec.status.public_url.trim_end_matches('/'),
        repo_file => &repo_file,
        zypper_repo_file => &zypper_file,
        keys => &key_files,
    })?;

    let config = rpm::BuildConfig::v4()
        .source_date(spec.source_date_secs)
        .compression(rpm::CompressionType::Gzip);
    let mut builder = rpm::PackageBuilder::new(
        spec.name,
        spec.version,
        "MIT",
        "noarch",
        &format!("Repository configuration and keys for {channel} security updates"),
    );
    builder
        .using_config(config)
        .release(spec.release)
        .url(spec.status.public_url.trim_end_matches('/'))
        .description(description.trim_end())
        .vendor("hotpush")
        .build_host("hotpush")
        .group("System Environment/Base");
    let mut files = Vec::new();
    builder.with_file_contents(
        repo_text.clone(),
        rpm::FileOptions::new(repo_file.clone())
            .permissions(0o644)
            .config()
            .noreplace(),
    )?;
    files.push(repo_file);
    // The same repository for zypper, where the critical check (dnf only)
    // does nothing. The directory stays libzypp's: not owned here.
    builder.with_file_contents(
        zypper_text,
        rpm::FileOptions::new(zypper_file.clone())
            .permissions(0o644)
            .config()
            .noreplace(),
    )?;
    files.push(zypper_file);
    builder.with_file_contents(
        normalise_key(spec.repo_key),
        rpm::FileOptions::new(repo_key_file.clone()).permissions(0o644),
    )?;
    files.push(repo_key_file);
    if !spec.package_keys.trim().is_empty() {
        builder.with_file_contents(
            normalise_key(spec.package_keys),
            rpm::FileOptions::new(package_keys_file.clone()).permissions(0o644),
        )?;
        files.push(package_keys_file);
    }
    add_critical_check(&mut builder, &mut files, channel)?;
    let package = builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the -repos RPM: {e}"))?;
    let mut bytes = Vec::new();
    package
        .write(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot serialise the -repos RPM: {e}"))?;
    Ok(Built {
        file_name: format!("{}-{}-{}.noarch.rpm", spec.name, spec.version, spec.release),
        bytes,
        repo_text,
        files,
    })
}

/// The critical check's files, directories, scriptlets and its one weak
/// dependency (curl: present on every Fedora system, but not a hard
/// requirement of a package that must install into a bare root).
fn add_critical_check(
    builder: &mut rpm::PackageBuilder,
    files: &mut Vec<String>,
    channel: &str,
) -> anyhow::Result<()> {
    for dir in [
        "/etc/hotpush",
        "/usr/libexec/hotpush",
        "/var/lib/hotpush",
        CHECK_STATE_DIR,
    ] {
        builder.with_dir_entry(rpm::FileOptions::dir(dir).permissions(0o755))?;
        files.push(dir.to_owned());
    }
    builder.with_file_contents(
        CHECK_SCRIPT,
        rpm::FileOptions::new(CHECK_PATH).permissions(0o755),
    )?;
    files.push(CHECK_PATH.to_owned());
    for (text, path) in [
        (CHECK_SERVICE, CHECK_SERVICE_PATH),
        (CHECK_TIMER, CHECK_TIMER_PATH),
        (CHECK_PRESET, CHECK_PRESET_PATH),
    ] {
        builder.with_file_contents(text, rpm::FileOptions::new(path).permissions(0o644))?;
        files.push(path.to_owned());
    }
    builder.with_file_contents(
        check_conf(channel),
        rpm::FileOptions::new(CHECK_CONF_PATH)
            .permissions(0o644)
            .config()
            .noreplace(),
    )?;
    files.push(CHECK_CONF_PATH.to_owned());
    // /bin/sh scriptlets (the rpm crate adds the `Requires(post): /bin/sh`
    // and so on): rpm-ostree runs no Lua scriptlets, and the package must
    // layer on rpm-ostree systems too (where the check is a no-op).
    builder
        .post_install_script(SCRIPT_POST)
        .post_trans_script(SCRIPT_POSTTRANS)
        .pre_uninstall_script(SCRIPT_PREUN)
        .recommends(rpm::Dependency::any("/usr/bin/curl"));
    Ok(())
}

/// The check's configuration, naming this channel's `.repo` file.
pub fn check_conf(channel: &str) -> String {
    CHECK_CONF.replace(
        CONF_REPO_FILE_LINE,
        &format!("repo_file = {}", repo_file_path(channel)),
    )
}

fn normalise_key(text: &str) -> String {
    format!("{}\n", text.trim_end())
}

/// The newest published revision (Unix seconds) of any repository.
pub fn newest_revision(status: &StatusView) -> Option<u64> {
    status.repos.iter().filter_map(|r| r.revision).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api::RepoView;

    fn status() -> StatusView {
        StatusView {
            public_url: "https://updates.example.org/".into(),
            channel: "critical".into(),
            metalink_repo_prefix: "critical-f".into(),
            partners: vec!["https://mirror.example.net/pub".into()],
            package_bytes_max: 0,
            key_fingerprint: String::new(),
            queue_depth: 0,
            repos: vec![RepoView {
                repo: "critical/43/x86_64".into(),
                metalink: String::new(),
                baseurl: String::new(),
                revision: Some(1_700_000_000),
                repomd_sha256: None,
                published_at_ms: None,
                packages: 0,
            }],
            advisories: vec![],
            mirrors: vec![],
        }
    }

    fn spec<'a>(status: &'a StatusView, key: &'a str) -> ReposRpm<'a> {
        ReposRpm {
            name: "critical-repos",
            version: "1",
            release: "1",
            status,
            pin_release: None,
            repo_key: key,
            package_keys: key,
            source_date_secs: 1_700_000_000,
        }
    }

    #[test]
    fn same_inputs_same_bytes_and_installed_key_paths() {
        let key = crate::core::signing::RepoKey::generate("t <t@example.invalid>")
            .unwrap()
            .armored_public();
        let status = status();
        let a = build(&spec(&status, &key)).unwrap();
        let b = build(&spec(&status, &key)).unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.file_name, "critical-repos-1-1.noarch.rpm");
        assert!(a.repo_text.contains(
            "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical \
             file:///etc/pki/rpm-gpg/RPM-GPG-KEY-hotpush-critical-packages\n"
        ));
        assert!(!a.repo_text.contains("/keys/"), "{}", a.repo_text);
        let mut later = spec(&status, &key);
        later.source_date_secs += 1;
        assert_ne!(build(&later).unwrap().bytes, a.bytes);
        assert_eq!(newest_revision(&status), Some(1_700_000_000));
    }

    #[test]
    fn ships_the_critical_check_with_the_channels_repo_file() {
        let key = crate::core::signing::RepoKey::generate("t <t@example.invalid>")
            .unwrap()
            .armored_public();
        let mut status = status();
        let built = build(&spec(&status, &key)).unwrap();
        for path in [
            CHECK_PATH,
            CHECK_SERVICE_PATH,
            CHECK_TIMER_PATH,
            CHECK_PRESET_PATH,
            CHECK_CONF_PATH,
            CHECK_STATE_DIR,
        ] {
            assert!(
                built.files.iter().any(|f| f == path),
                "{path} not in {:?}",
                built.files
            );
        }
        assert!(CHECK_CONF.contains(CONF_REPO_FILE_LINE));
        assert_eq!(check_conf("critical"), CHECK_CONF);
        status.channel = "urgent".into();
        assert!(check_conf(&status.channel)
            .contains("\nrepo_file = /etc/yum.repos.d/urgent-updates.repo\n"));
        assert!(CHECK_SCRIPT.starts_with("#!/bin/sh\n"));
    }

    #[test]
    fn bad_names_and_keys_are_refused() {
        let status = status();
        let mut s = spec(&status, "x");
        s.name = "bad name";
        let err = build(&s).unwrap_err().to_string();
        assert!(err.contains("--name bad name"), "{err}");
        assert!(key_fingerprints("`repo.asc`", "<html>").is_err());
    }
}
