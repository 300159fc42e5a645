//! `hotpush.toml`: the raw `deny_unknown_fields` wire struct and the validated
//! `Config` built from it, with the defaults `docs/configuration.md` lists.
//!
//! Owns: reading the file, defaults, validation, and resolving relative paths
//! against the file's directory. It does not open the files the configuration
//! names (keys, data directory): their owners do, and report their own errors.
//! `mirrors.toml` is not read here.
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::core::repodata::Compression;
use crate::logging::user_error;

/// The configuration file is small; anything bigger is a mistake.
const CONFIG_BYTES_MAX: u64 = 1024 * 1024;
/// Bounds that keep typos from turning into absurd values.
const RETENTION_HOURS_MAX: u64 = 24 * 366;
const NAME_CHARS_MAX: usize = 64;
const LIST_ENTRIES_MAX: usize = 64;

/// The validated configuration. Relative paths are already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// State (SQLite), blobs, keys, published tree.
    pub data_dir: PathBuf,
    pub listen: Vec<SocketAddr>,
    /// How clients reach this origin; `http(s)://host[:port][/path]`, no trailing slash.
    pub public_url: String,
    /// Keep old metadata and packages at least this long.
    pub retention_hours: u64,
    /// Metalink repo id = prefix + release, e.g. `critical-f43`.
    pub metalink_repo_prefix: String,
    pub repos: ReposConfig,
    pub intake: IntakeConfig,
    pub auth: AuthConfig,
    pub publish: PublishConfig,
    pub metalink: MetalinkConfig,
    /// The retirement watcher; `None` (no `[retirement]` table) turns it off.
    pub retirement: Option<RetirementConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReposConfig {
    pub channel: String,
    pub releases: Vec<String>,
    /// May include `source` for src.rpm.
    pub arches: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeConfig {
    /// OpenPGP public key files; every package must be signed by one of them.
    pub trusted_keys: Vec<PathBuf>,
    pub require_signed_packages: bool,
    pub package_bytes_max: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Only members of this group may push or retire.
    pub push_group: String,
    /// How many distinct members of the push group must stand behind a push
    /// before it is published: 1 = the submitter alone; 2 = a second member
    /// must approve it (`hotpush approve`), the submitter never counting twice.
    pub approvals_required: u32,
    /// A staged push not approved within this many hours expires.
    pub staged_expiry_hours: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishConfig {
    /// Codec of the metadata files: `zst` (default) or `gz`.
    pub compression: Compression,
    /// How long one fan-out to the partners may take before the publisher stops
    /// waiting for a slow or dead partner (it keeps catching up in the background).
    pub partner_deadline_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetalinkConfig {
    /// How long a previous repomd stays listed as `mm0:alternate` after a publish;
    /// 0 (the default) never lists alternates. Never used while a security
    /// advisory is live.
    pub alternates_minutes: u64,
}

/// `[retirement]`: where the regular updates repositories are, and how often
/// the watcher looks at them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirementConfig {
    /// `http(s)://…/updates/{release}/{arch}/`, always ending with `/`;
    /// `{release}` and `{arch}` are replaced per repository.
    pub updates_baseurl: String,
    pub interval_secs: u64,
}

impl RetirementConfig {
    /// The base URL of the regular updates repo of one release and arch.
    pub fn updates_url(&self, release: &str, arch: &str) -> String {
        self.updates_baseurl
            .replace("{release}", release)
            .replace("{arch}", arch)
    }
}

impl Default for Config {
    /// The defaults of `docs/configuration.md`; `data_dir` is relative to the current directory.
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("hotpush-data"),
            listen: vec![SocketAddr::from(([0u16; 8], 8080))],
            public_url: "http://[::1]:8080".to_owned(),
            retention_hours: 48,
            metalink_repo_prefix: "critical-f".to_owned(),
            repos: ReposConfig {
                channel: "critical".to_owned(),
                releases: vec!["43".to_owned()],
                arches: vec!["x86_64".to_owned(), "aarch64".to_owned()],
            },
            intake: IntakeConfig {
                trusted_keys: Vec::new(),
                require_signed_packages: true,
                package_bytes_max: 2_147_483_648,
            },
            auth: AuthConfig {
                push_group: "security".to_owned(),
                approvals_required: 1,
                staged_expiry_hours: 24,
            },
            publish: PublishConfig {
                compression: Compression::Zst,
                partner_deadline_secs: 60,
            },
            metalink: MetalinkConfig {
                alternates_minutes: 0,
            },
            retirement: None,
        }
    }
}

impl Config {
    /// Reads `path`, or with `None` returns the embedded defaults with `data_dir`
    /// resolved against the current directory.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else {
            let mut config = Config::default();
            if let Ok(cwd) = std::env::current_dir() {
                config.data_dir = cwd.join(&config.data_dir);
            }
            return Ok(config);
        };
        let shown = path.display();
        let metadata = fs_err::metadata(path).map_err(|e| {
            user_error(
                format!("cannot read the configuration `{shown}`: {}", io_reason(&e)),
                "pass an existing file with `--config FILE`, or leave `--config` out to use the embedded defaults",
            )
        })?;
        if metadata.len() > CONFIG_BYTES_MAX {
            return Err(user_error(
                format!(
                    "the configuration `{shown}` is {} bytes, more than the {CONFIG_BYTES_MAX} accepted",
                    metadata.len()
                ),
                "pass the `hotpush.toml` file, not a data file",
            ));
        }
        let text = fs_err::read_to_string(path).map_err(|e| {
            user_error(
                format!("cannot read the configuration `{shown}`: {}", io_reason(&e)),
                "the file must be readable UTF-8 TOML",
            )
        })?;
        let source = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        Config::from_toml(&text, &source)
    }

    /// Parses and validates `text`; `source` names the file in messages, and its
    /// directory is where relative paths resolve.
    pub fn from_toml(text: &str, source: &Path) -> anyhow::Result<Config> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().to_owned();
            let hint = if message.starts_with("unknown field") {
                "remove the key or fix its spelling: the keys accepted there are listed after `expected`"
            } else {
                "fix the TOML at the position shown"
            };
            user_error(
                format!(
                    "invalid configuration `{}`: {}",
                    source.display(),
                    e.to_string().trim_end()
                ),
                hint,
            )
        })?;
        let base = source.parent().unwrap_or(Path::new(""));
        raw.validate(&Ctx { source, base })
    }

    /// The metalink repo id of a release, e.g. `critical-f43`.
    pub fn repo_id(&self, release: &str) -> String {
        format!("{}{release}", self.metalink_repo_prefix)
    }

    /// The configured release named by a metalink repo id, if any.
    pub fn release_of_repo_id(&self, repo_id: &str) -> Option<&str> {
        let release = repo_id.strip_prefix(&self.metalink_repo_prefix)?;
        self.repos
            .releases
            .iter()
            .find(|r| r.as_str() == release)
            .map(String::as_str)
    }
}

// ---------------------------------------------------------------------------
// The wire format.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    listen: Option<Vec<String>>,
    public_url: Option<String>,
    retention_hours: Option<u64>,
    metalink_repo_prefix: Option<String>,
    repos: Option<RawRepos>,
    intake: Option<RawIntake>,
    auth: Option<RawAuth>,
    publish: Option<RawPublish>,
    metalink: Option<RawMetalink>,
    retirement: Option<RawRetirement>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepos {
    channel: Option<String>,
    releases: Option<Vec<String>>,
    arches: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntake {
    trusted_keys: Option<Vec<PathBuf>>,
    require_signed_packages: Option<bool>,
    package_bytes_max: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    push_group: Option<String>,
    approvals_required: Option<u32>,
    staged_expiry_hours: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    compression: Option<String>,
    partner_deadline_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetalink {
    alternates_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetirement {
    updates_baseurl: Option<String>,
    interval_secs: Option<u64>,
}

/// Where a configuration came from, for messages and relative paths.
struct Ctx<'a> {
    source: &'a Path,
    base: &'a Path,
}

impl Ctx<'_> {
    fn invalid(&self, field: &str, value: &str, reason: &str, hint: &str) -> anyhow::Error {
        user_error(
            format!(
                "invalid configuration `{}`: `{field}` = `{value}`: {reason}",
                self.source.display()
            ),
            hint,
        )
    }

    fn resolve(&self, path: PathBuf) -> PathBuf {
        if path.is_absolute() {
            path
        } else {
            self.base.join(path)
        }
    }
}

impl RawConfig {
    fn validate(self, ctx: &Ctx<'_>) -> anyhow::Result<Config> {
        let defaults = Config::default();

        let data_dir = match self.data_dir {
            Some(dir) if dir.as_os_str().is_empty() => return Err(ctx.invalid(
                "data_dir",
                "",
                "the data directory cannot be empty",
                "name a directory, e.g. `hotpush-data` (relative to this file) or an absolute path",
            )),
            Some(dir) => ctx.resolve(dir),
            None => ctx.resolve(defaults.data_dir),
        };

        let listen = match self.listen {
            None => defaults.listen,
            Some(list) => validate_listen(ctx, &list)?,
        };

        let public_url = match self.public_url {
            None => defaults.public_url,
            Some(url) => validate_public_url(ctx, &url)?,
        };

        let retention_hours = self.retention_hours.unwrap_or(defaults.retention_hours);
        if retention_hours == 0 || retention_hours > RETENTION_HOURS_MAX {
            return Err(ctx.invalid(
                "retention_hours",
                &retention_hours.to_string(),
                &format!("must be between 1 and {RETENTION_HOURS_MAX}"),
                "keep old metadata at least as long as clients' `metadata_expire` (dnf's default is 48 hours)",
            ));
        }

        let metalink_repo_prefix = self
            .metalink_repo_prefix
            .unwrap_or(defaults.metalink_repo_prefix);
        check_name(ctx, "metalink_repo_prefix", &metalink_repo_prefix)?;

        let raw_repos = self.repos.unwrap_or_default();
        let channel = raw_repos.channel.unwrap_or(defaults.repos.channel);
        check_name(ctx, "repos.channel", &channel)?;
        let releases = raw_repos.releases.unwrap_or(defaults.repos.releases);
        check_list(
            ctx,
            "repos.releases",
            &releases,
            "list at least one release, e.g. `releases = [\"43\"]`",
        )?;
        let arches = raw_repos.arches.unwrap_or(defaults.repos.arches);
        check_list(
            ctx,
            "repos.arches",
            &arches,
            "list at least one arch, e.g. `arches = [\"x86_64\", \"source\"]`",
        )?;
        for (index, arch) in arches.iter().enumerate() {
            let field = format!("repos.arches[{index}]");
            match arch.as_str() {
                "noarch" => {
                    return Err(ctx.invalid(
                        &field,
                        arch,
                        "`noarch` is not a repository",
                        "noarch packages go into every arch repo of their release: list only real arches",
                    ))
                }
                "src" => {
                    return Err(ctx.invalid(
                        &field,
                        arch,
                        "the source repository is called `source`",
                        "write `source` to publish src.rpm packages",
                    ))
                }
                _ => {}
            }
        }

        let raw_intake = self.intake.unwrap_or_default();
        let trusted_keys: Vec<PathBuf> = raw_intake
            .trusted_keys
            .unwrap_or_default()
            .into_iter()
            .map(|p| ctx.resolve(p))
            .collect();
        if trusted_keys.len() > LIST_ENTRIES_MAX {
            return Err(ctx.invalid(
                "intake.trusted_keys",
                &format!("{} files", trusted_keys.len()),
                &format!("at most {LIST_ENTRIES_MAX} keys are accepted"),
                "list only the distribution's package-signing keys",
            ));
        }
        if trusted_keys
            .iter()
            .any(|p| p.as_os_str().is_empty() || p == ctx.base)
        {
            return Err(ctx.invalid(
                "intake.trusted_keys",
                "",
                "a key file name is empty",
                "name each OpenPGP public key file, e.g. `keys/fedora-43.asc`",
            ));
        }
        let require_signed_packages = raw_intake
            .require_signed_packages
            .unwrap_or(defaults.intake.require_signed_packages);
        let package_bytes_max = raw_intake
            .package_bytes_max
            .unwrap_or(defaults.intake.package_bytes_max);
        if package_bytes_max == 0 {
            return Err(ctx.invalid(
                "intake.package_bytes_max",
                "0",
                "no package would fit",
                "set the largest accepted RPM in bytes, e.g. `2147483648` (2 GiB)",
            ));
        }

        let raw_auth = self.auth.unwrap_or_default();
        let push_group = raw_auth.push_group.unwrap_or(defaults.auth.push_group);
        check_name(ctx, "auth.push_group", &push_group)?;
        let approvals_required = raw_auth
            .approvals_required
            .unwrap_or(defaults.auth.approvals_required);
        if !(1..=5).contains(&approvals_required) {
            return Err(ctx.invalid(
                "auth.approvals_required",
                &approvals_required.to_string(),
                "must be between 1 and 5",
                "1 = the submitter alone; 2 = a second member of the push group approves",
            ));
        }
        let staged_expiry_hours = raw_auth
            .staged_expiry_hours
            .unwrap_or(defaults.auth.staged_expiry_hours);
        if !(1..=720).contains(&staged_expiry_hours) {
            return Err(ctx.invalid(
                "auth.staged_expiry_hours",
                &staged_expiry_hours.to_string(),
                "must be between 1 and 720",
                "how long a staged push waits for approval, e.g. `24`",
            ));
        }

        let raw_publish = self.publish.unwrap_or_default();
        let partner_deadline_secs = raw_publish
            .partner_deadline_secs
            .unwrap_or(defaults.publish.partner_deadline_secs);
        if !(1..=3600).contains(&partner_deadline_secs) {
            return Err(ctx.invalid(
                "publish.partner_deadline_secs",
                &partner_deadline_secs.to_string(),
                "out of range",
                "use between 1 and 3600 seconds",
            ));
        }
        let compression = match raw_publish.compression.as_deref() {
            None => defaults.publish.compression,
            Some("zst") => Compression::Zst,
            Some("gz") => Compression::Gz,
            Some(other) => {
                return Err(ctx.invalid(
                    "publish.compression",
                    other,
                    "unknown codec",
                    "write `zst` (dnf 4.14 and later) or `gz` (every client)",
                ))
            }
        };

        let alternates_minutes = self
            .metalink
            .unwrap_or_default()
            .alternates_minutes
            .unwrap_or(defaults.metalink.alternates_minutes);
        if alternates_minutes > retention_hours * 60 {
            return Err(ctx.invalid(
                "metalink.alternates_minutes",
                &alternates_minutes.to_string(),
                &format!(
                    "longer than the retention of old metadata ({retention_hours} hours), so clients \
                     would be sent to files that are gone"
                ),
                "lower `metalink.alternates_minutes` or raise `retention_hours`",
            ));
        }

        let retirement = match self.retirement {
            None => None,
            Some(raw) => Some(validate_retirement(ctx, raw)?),
        };

        Ok(Config {
            data_dir,
            listen,
            public_url,
            retention_hours,
            metalink_repo_prefix,
            repos: ReposConfig {
                channel,
                releases,
                arches,
            },
            intake: IntakeConfig {
                trusted_keys,
                require_signed_packages,
                package_bytes_max,
            },
            auth: AuthConfig {
                push_group,
                approvals_required,
                staged_expiry_hours,
            },
            publish: PublishConfig {
                compression,
                partner_deadline_secs,
            },
            metalink: MetalinkConfig { alternates_minutes },
            retirement,
        })
    }
}

fn validate_listen(ctx: &Ctx<'_>, list: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    let hint = "write an address with a port, e.g. `[::]:8080` (dual-stack) or `127.0.0.1:8080`";
    if list.is_empty() {
        return Err(ctx.invalid("listen", "[]", "no address to listen on", hint));
    }
    if list.len() > LIST_ENTRIES_MAX {
        return Err(ctx.invalid(
            "listen",
            &format!("{} addresses", list.len()),
            &format!("at most {LIST_ENTRIES_MAX} are accepted"),
            hint,
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (index, text) in list.iter().enumerate() {
        let field = format!("listen[{index}]");
        let addr: SocketAddr = text
            .trim()
            .parse()
            .map_err(|_| ctx.invalid(&field, text, "not an IP address with a port", hint))?;
        if !seen.insert(addr) {
            return Err(ctx.invalid(&field, text, "listed twice", "list each address once"));
        }
        out.push(addr);
    }
    Ok(out)
}

fn validate_public_url(ctx: &Ctx<'_>, text: &str) -> anyhow::Result<String> {
    let hint = "write how clients reach this origin, e.g. `https://updates.example.org` or `http://[::1]:8080`";
    let trimmed = text.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| ctx.invalid("public_url", text, &format!("not a URL ({e})"), hint))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ctx.invalid(
            "public_url",
            text,
            "the scheme must be `http` or `https`",
            hint,
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ctx.invalid("public_url", text, "the URL has no host", hint));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ctx.invalid(
            "public_url",
            text,
            "the URL carries credentials, which would be published in every metalink",
            hint,
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ctx.invalid(
            "public_url",
            text,
            "the URL has a query or fragment; paths are appended to it",
            hint,
        ));
    }
    Ok(trimmed.to_owned())
}

/// The default of `retirement.interval_secs`.
const RETIREMENT_INTERVAL_SECS_DEFAULT: u64 = 300;
const RETIREMENT_INTERVAL_SECS_MAX: u64 = 86_400;

fn validate_retirement(ctx: &Ctx<'_>, raw: RawRetirement) -> anyhow::Result<RetirementConfig> {
    let hint = "write the regular updates repository with placeholders, e.g. \
                `updates_baseurl = \"https://dl.example.org/updates/{release}/{arch}/\"`, \
                or remove the `[retirement]` table to turn the watcher off";
    let field = "retirement.updates_baseurl";
    let Some(text) = raw.updates_baseurl else {
        return Err(ctx.invalid(
            field,
            "",
            "missing: the watcher needs to know where the regular updates are",
            hint,
        ));
    };
    let trimmed = text.trim();
    // Only the two placeholders are allowed; anything else in braces is a typo.
    let mut rest = trimmed.replace("{release}", "").replace("{arch}", "");
    rest.retain(|c| c == '{' || c == '}');
    if !rest.is_empty() {
        return Err(ctx.invalid(
            field,
            &text,
            "only `{release}` and `{arch}` may appear in braces",
            hint,
        ));
    }
    if !trimmed.contains("{arch}") {
        return Err(ctx.invalid(
            field,
            &text,
            "no `{arch}` placeholder: every arch has its own updates repository",
            hint,
        ));
    }
    let probe = trimmed
        .replace("{release}", "43")
        .replace("{arch}", "x86_64");
    let url = reqwest::Url::parse(&probe)
        .map_err(|e| ctx.invalid(field, &text, &format!("not a URL ({e})"), hint))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ctx.invalid(field, &text, "the scheme must be `http` or `https`", hint));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ctx.invalid(field, &text, "the URL has no host", hint));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ctx.invalid(
            field,
            &text,
            "the URL has a query or fragment; `repodata/repomd.xml` is appended to it",
            hint,
        ));
    }
    let mut updates_baseurl = trimmed.to_owned();
    if !updates_baseurl.ends_with('/') {
        updates_baseurl.push('/');
    }
    let interval_secs = raw
        .interval_secs
        .unwrap_or(RETIREMENT_INTERVAL_SECS_DEFAULT);
    if !(1..=RETIREMENT_INTERVAL_SECS_MAX).contains(&interval_secs) {
        return Err(ctx.invalid(
            "retirement.interval_secs",
            &interval_secs.to_string(),
            "out of range",
            &format!(
                "use between 1 and {RETIREMENT_INTERVAL_SECS_MAX} seconds (the default is \
                 {RETIREMENT_INTERVAL_SECS_DEFAULT})"
            ),
        ));
    }
    Ok(RetirementConfig {
        updates_baseurl,
        interval_secs,
    })
}

/// Names that become path segments, repo ids or group names.
fn check_name(ctx: &Ctx<'_>, field: &str, value: &str) -> anyhow::Result<()> {
    let hint = "use letters, digits, `.`, `_`, `+` and `-` only, at most 64 characters, not starting with `.`";
    if value.is_empty() {
        return Err(ctx.invalid(field, value, "cannot be empty", hint));
    }
    if value.contains('/') {
        return Err(ctx.invalid(
            field,
            value,
            "cannot contain `/` (it becomes one path segment)",
            hint,
        ));
    }
    if value.starts_with('.')
        || value.chars().count() > NAME_CHARS_MAX
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
    {
        return Err(ctx.invalid(field, value, "not a valid name", hint));
    }
    Ok(())
}

fn check_list(
    ctx: &Ctx<'_>,
    field: &str,
    values: &[String],
    hint_empty: &str,
) -> anyhow::Result<()> {
    if values.is_empty() {
        return Err(ctx.invalid(field, "[]", "the list is empty", hint_empty));
    }
    if values.len() > LIST_ENTRIES_MAX {
        return Err(ctx.invalid(
            field,
            &format!("{} entries", values.len()),
            &format!("at most {LIST_ENTRIES_MAX} are accepted"),
            hint_empty,
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, value) in values.iter().enumerate() {
        let entry = format!("{field}[{index}]");
        check_name(ctx, &entry, value)?;
        if !seen.insert(value.as_str()) {
            return Err(ctx.invalid(&entry, value, "listed twice", "list each value once"));
        }
    }
    Ok(())
}

fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::from_toml(text, Path::new("/etc/hotpush/hotpush.toml"))
    }

    fn hint_of(err: &anyhow::Error) -> String {
        err.chain()
            .find_map(|e| e.downcast_ref::<crate::logging::UserError>())
            .and_then(|u| u.hint.clone())
            .unwrap_or_default()
    }

    #[test]
    fn empty_file_is_the_defaults_resolved_against_the_file() {
        let config = parse("").unwrap();
        let expected = Config {
            data_dir: PathBuf::from("/etc/hotpush/hotpush-data"),
            ..Config::default()
        };
        assert_eq!(config, expected);
    }

    #[test]
    fn repo_ids_map_both_ways() {
        let config = Config::default();
        assert_eq!(config.repo_id("43"), "critical-f43");
        assert_eq!(config.release_of_repo_id("critical-f43"), Some("43"));
        assert_eq!(config.release_of_repo_id("critical-f42"), None);
        assert_eq!(config.release_of_repo_id("other-f43"), None);
    }

    #[test]
    fn retirement_is_off_by_default_and_validated_when_present() {
        assert_eq!(parse("").unwrap().retirement, None);
        let config = parse(
            "[retirement]\nupdates_baseurl = \"https://dl.example.org/updates/{release}/{arch}\"\n",
        )
        .unwrap();
        let r = config.retirement.unwrap();
        assert_eq!(r.interval_secs, 300);
        assert_eq!(
            r.updates_url("43", "aarch64"),
            "https://dl.example.org/updates/43/aarch64/"
        );
        for (text, field, why) in [
            ("[retirement]\n", "retirement.updates_baseurl", "missing"),
            (
                "[retirement]\nupdates_baseurl = \"ftp://x/{arch}/\"\n",
                "retirement.updates_baseurl",
                "scheme",
            ),
            (
                "[retirement]\nupdates_baseurl = \"http://x/{release}/\"\n",
                "retirement.updates_baseurl",
                "{arch}",
            ),
            (
                "[retirement]\nupdates_baseurl = \"http://x/{releasever}/{arch}/\"\n",
                "retirement.updates_baseurl",
                "braces",
            ),
            (
                "[retirement]\nupdates_baseurl = \"http://x/{arch}/\"\ninterval_secs = 0\n",
                "retirement.interval_secs",
                "out of range",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{text}: {err}");
            assert!(err.contains(why), "{text}: {err}");
        }
        let err = parse("[retirement]\nupdates_baseurl = \"http://x/{arch}/\"\nintervall = 5\n")
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn names_with_a_slash_are_refused_with_the_field() {
        let err = parse("[repos]\nchannel = \"a/b\"\n").unwrap_err();
        assert!(err.to_string().contains("`repos.channel`"), "{err}");
        assert!(err.to_string().contains("`/`"), "{err}");
        assert!(!hint_of(&err).is_empty());
    }
}
