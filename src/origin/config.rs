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
    /// `[announce]`: the security contact (updateinfo's `from`) and where
    /// announcements are mailed.
    pub announce: AnnounceConfig,
    /// HTTPS terminated by the origin itself; `None` (no `[tls]` table): plain HTTP only.
    pub tls: Option<TlsConfig>,
    /// `[server]`: connection and request limits of every listener.
    pub server: ServerConfig,
    /// `[[webhook]]`: outbound, signed notifications of events.
    pub webhooks: Vec<WebhookConfig>,
    /// `[[trigger]]`: build systems allowed to start pushes (signed requests).
    pub triggers: Vec<TriggerConfig>,
}

/// One `[[trigger]]`: a build system that may start pushes through
/// `POST /api/v1/triggers/{name}`, signed Standard Webhooks style with the
/// secret in `secret_file`; packages are fetched from under `fetch_base` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerConfig {
    /// The `{name}` of the URL; the push's submitter is `trigger:{name}`.
    pub name: String,
    /// Holds `whsec_<base64>`; checked at start, read again for every request
    /// (so a new secret needs no restart).
    pub secret_file: PathBuf,
    /// Normalised with a trailing `/` (`core::trigger::parse_base`).
    pub fetch_base: String,
    /// Whether a triggered push is staged until approved by
    /// `[auth] approvals_required` members of the push group (the trigger
    /// never counts); the default follows `approvals_required` (> 1: staged).
    pub approval_required: bool,
    /// The largest request body.
    pub body_bytes_max: usize,
    /// Bound on fetching all of one trigger's packages.
    pub fetch_timeout_secs: u64,
    /// A PEM bundle trusted for `fetch_base` besides the system CA store.
    pub ca_file: Option<PathBuf>,
}

/// Defaults of `[[trigger]]`.
pub const TRIGGER_BODY_BYTES_MAX_DEFAULT: usize = 262_144;
pub const TRIGGER_FETCH_TIMEOUT_SECS_DEFAULT: u64 = 600;

/// One `[[webhook]]`: where events are POSTed, signed Standard Webhooks style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The identity in the outbox and the delivery log (`name`, default the URL).
    pub name: String,
    pub url: String,
    /// Holds `whsec_<base64>`; read (and checked private) when the origin starts.
    pub secret_file: PathBuf,
    /// Dotted event types; `None` = every public type (pre-publication types only when named).
    pub events: Option<Vec<String>>,
    /// Attempts per message before it is given up (1 to 100; default 20, which
    /// with `core::webhook::backoff_ms` spans more than a day).
    pub attempts_max: u32,
}

/// `[server]`: what one client may hold of the listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// A request head must arrive within this long (also the keep-alive wait
    /// of HTTP/1 between two requests).
    pub header_read_timeout_secs: u64,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout_secs: u64,
    /// Open connections per listener; at the cap the longest-idle one is closed.
    pub connections_max: usize,
    /// The largest JSON request body (every route but the package upload).
    pub json_body_bytes_max: usize,
    /// Refused authentications per address (IPv4 /32, IPv6 /64) within
    /// `bad_auth_window_secs` before the API answers 429.
    pub bad_auth_max: u32,
    pub bad_auth_window_secs: u64,
}

impl ServerConfig {
    /// The listeners' connection limits.
    pub fn conn_limits(&self) -> crate::io::serve::ConnLimits {
        crate::io::serve::ConnLimits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            connections_max: self.connections_max,
        }
    }
}

/// `[announce]`. `from` is the distribution's security contact: the sender of
/// announcements and updateinfo's `from` (zypper shows it as the patch's
/// vendor). `smtp_url` and `to` are read and checked for `hotpush announce
/// --send`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceConfig {
    pub from: Option<String>,
    pub smtp_url: Option<String>,
    pub to: Vec<String>,
    /// A PEM bundle trusted for the mail server besides the system store.
    pub ca_file: Option<PathBuf>,
}

/// `[tls]`: the origin serves HTTPS (rustls) on `listen`, besides plain HTTP
/// on the top-level `listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain; re-read when it changes on disk.
    pub cert_file: PathBuf,
    /// PEM private key; re-read with the certificate.
    pub key_file: PathBuf,
    /// The HTTPS addresses (default `[::]:8443`).
    pub listen: Vec<SocketAddr>,
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
    /// The origin's relative share of first places in the metalink (see
    /// `mirrors.toml` `weight`); default 1, 0 = listed after the partners.
    pub origin_weight: u32,
    /// While fewer partners than this are verified (and healthy) the origin
    /// is listed first; from then on every host is ordered by weight per
    /// request. Default 2.
    pub spread_min_partners: u32,
    /// How often every listed host is probed (a conditional GET of its
    /// repomd.xml, bounded by the interval); a failing host leaves the
    /// metalink until it passes again. Default 5; 0 = no probes.
    pub probe_interval_secs: u64,
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

impl Config {
    /// updateinfo's `from`: `[announce] from`, or without it the origin's
    /// `public_url` (who published the advisory), never a pusher's user name.
    pub fn security_contact(&self) -> String {
        self.announce
            .from
            .clone()
            .unwrap_or_else(|| self.public_url.clone())
    }
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
                origin_weight: 1,
                spread_min_partners: 2,
                probe_interval_secs: 5,
            },
            retirement: None,
            announce: AnnounceConfig::default(),
            tls: None,
            server: ServerConfig {
                header_read_timeout_secs: 10,
                idle_timeout_secs: 60,
                connections_max: 4096,
                json_body_bytes_max: 65536,
                bad_auth_max: 10,
                bad_auth_window_secs: 60,
            },
            webhooks: Vec::new(),
            triggers: Vec::new(),
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
    announce: Option<RawAnnounce>,
    tls: Option<RawTls>,
    server: Option<RawServer>,
    webhook: Option<Vec<RawWebhook>>,
    trigger: Option<Vec<RawTrigger>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    name: Option<String>,
    secret_file: Option<PathBuf>,
    fetch_base: Option<String>,
    approval: Option<String>,
    body_bytes_max: Option<usize>,
    fetch_timeout_secs: Option<u64>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: Option<String>,
    url: Option<String>,
    secret_file: Option<PathBuf>,
    events: Option<Vec<String>>,
    attempts_max: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    listen: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    header_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    connections_max: Option<usize>,
    json_body_bytes_max: Option<usize>,
    bad_auth_max: Option<u32>,
    bad_auth_window_secs: Option<u64>,
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
    origin_weight: Option<u32>,
    spread_min_partners: Option<u32>,
    probe_interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnounce {
    from: Option<String>,
    smtp_url: Option<String>,
    to: Option<Vec<String>>,
    ca_file: Option<PathBuf>,
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

        let raw_metalink = self.metalink.unwrap_or_default();
        let alternates_minutes = raw_metalink
            .alternates_minutes
            .unwrap_or(defaults.metalink.alternates_minutes);
        let origin_weight = raw_metalink
            .origin_weight
            .unwrap_or(defaults.metalink.origin_weight);
        if origin_weight > 1000 {
            return Err(ctx.invalid(
                "metalink.origin_weight",
                &origin_weight.to_string(),
                "more than 1000",
                "weights are relative shares: use small numbers such as 1, 2 or 3",
            ));
        }
        let spread_min_partners = raw_metalink
            .spread_min_partners
            .unwrap_or(defaults.metalink.spread_min_partners);
        let probe_interval_secs = raw_metalink
            .probe_interval_secs
            .unwrap_or(defaults.metalink.probe_interval_secs);
        if probe_interval_secs > 3600 {
            return Err(ctx.invalid(
                "metalink.probe_interval_secs",
                &probe_interval_secs.to_string(),
                "more than an hour, so a dead partner would stay listed that long",
                "use a few seconds (default 5), or 0 to turn the probes off",
            ));
        }
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
        let announce = validate_announce(ctx, self.announce.unwrap_or_default())?;

        let tls = match self.tls {
            None => None,
            Some(raw) => Some(validate_tls(ctx, raw, &listen)?),
        };
        let server = validate_server(ctx, self.server.unwrap_or_default(), defaults.server)?;
        let webhooks = validate_webhooks(ctx, self.webhook.unwrap_or_default())?;
        let triggers =
            validate_triggers(ctx, self.trigger.unwrap_or_default(), approvals_required)?;

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
            metalink: MetalinkConfig {
                alternates_minutes,
                origin_weight,
                spread_min_partners,
                probe_interval_secs,
            },
            retirement,
            announce,
            tls,
            server,
            webhooks,
            triggers,
        })
    }
}

fn validate_triggers(
    ctx: &Ctx<'_>,
    raw: Vec<RawTrigger>,
    approvals_required: u32,
) -> anyhow::Result<Vec<TriggerConfig>> {
    if raw.len() > LIST_ENTRIES_MAX {
        return Err(ctx.invalid(
            "trigger",
            &format!("{} tables", raw.len()),
            &format!("at most {LIST_ENTRIES_MAX} triggers"),
            "one [[trigger]] per build system",
        ));
    }
    let mut out: Vec<TriggerConfig> = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("trigger[{i}].{f}");
        let Some(name) = t.name else {
            return Err(ctx.invalid(
                &field("name"),
                "",
                "missing",
                "name the build system, e.g. `name = \"koji\"` (the URL becomes /api/v1/triggers/koji)",
            ));
        };
        check_name(ctx, &field("name"), &name)?;
        if out.iter().any(|o| o.name == name) {
            return Err(ctx.invalid(
                &field("name"),
                &name,
                "two triggers have this name",
                "give each [[trigger]] its own `name`",
            ));
        }
        let Some(secret_file) = t.secret_file.filter(|p| !p.as_os_str().is_empty()) else {
            return Err(ctx.invalid(
                &field("secret_file"),
                "",
                "missing or empty",
                "name a file (mode 0600) holding `whsec_` followed by base64 of 24 to 64 random bytes, shared with the build system",
            ));
        };
        let Some(fetch_base) = t.fetch_base else {
            return Err(ctx.invalid(
                &field("fetch_base"),
                "",
                "missing",
                "name where the build system serves its signed packages, e.g. `https://kojipkgs.example.org`",
            ));
        };
        let fetch_base = crate::core::trigger::parse_base(&fetch_base)
            .map_err(|reason| {
                ctx.invalid(
                    &field("fetch_base"),
                    &fetch_base,
                    &reason,
                    "write an http:// or https:// URL with a host and no user, query or fragment, e.g. `https://kojipkgs.example.org`",
                )
            })?
            .to_string();
        let approval_required = match t.approval.as_deref() {
            None => approvals_required > 1,
            Some("required") => true,
            Some("none") if approvals_required > 1 => {
                return Err(ctx.invalid(
                    &field("approval"),
                    "none",
                    &format!(
                        "`[auth] approvals_required` is {approvals_required}: a trigger cannot skip the two-person rule"
                    ),
                    "leave `approval` out or write `required`",
                ))
            }
            Some("none") => false,
            Some(other) => {
                return Err(ctx.invalid(
                    &field("approval"),
                    other,
                    "unknown value",
                    "write `required` (staged until members of the push group approve) or `none`",
                ))
            }
        };
        let body_bytes_max = t.body_bytes_max.unwrap_or(TRIGGER_BODY_BYTES_MAX_DEFAULT);
        if !(1024..=4 * 1024 * 1024).contains(&body_bytes_max) {
            return Err(ctx.invalid(
                &field("body_bytes_max"),
                &body_bytes_max.to_string(),
                "must be between 1024 and 4194304",
                "the default 262144 fits a full advisory text and 256 packages",
            ));
        }
        let fetch_timeout_secs = t
            .fetch_timeout_secs
            .unwrap_or(TRIGGER_FETCH_TIMEOUT_SECS_DEFAULT);
        if !(1..=86_400).contains(&fetch_timeout_secs) {
            return Err(ctx.invalid(
                &field("fetch_timeout_secs"),
                &fetch_timeout_secs.to_string(),
                "must be between 1 and 86400",
                "how long fetching all of one trigger's packages may take, e.g. `600`",
            ));
        }
        out.push(TriggerConfig {
            name,
            secret_file: ctx.resolve(secret_file),
            fetch_base,
            approval_required,
            body_bytes_max,
            fetch_timeout_secs,
            ca_file: t
                .ca_file
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| ctx.resolve(p)),
        });
    }
    Ok(out)
}

/// The most attempts `[[webhook]] attempts_max` allows (at the 6 h backoff cap,
/// about three weeks of retries).
const WEBHOOK_ATTEMPTS_MAX: u32 = 100;

fn validate_webhooks(ctx: &Ctx<'_>, raw: Vec<RawWebhook>) -> anyhow::Result<Vec<WebhookConfig>> {
    if raw.len() > LIST_ENTRIES_MAX {
        return Err(ctx.invalid(
            "webhook",
            &format!("{} tables", raw.len()),
            &format!("at most {LIST_ENTRIES_MAX} webhooks"),
            "send to a relay that fans out further",
        ));
    }
    let mut out: Vec<WebhookConfig> = Vec::new();
    for (i, w) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("webhook[{i}].{f}");
        let Some(url) = w.url else {
            return Err(ctx.invalid(
                &field("url"),
                "",
                "missing",
                "add `url = \"https://receiver.example.org/hooks/hotpush\"` to this [[webhook]]",
            ));
        };
        let parsed = reqwest::Url::parse(&url).ok();
        let ok = parsed
            .as_ref()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            && !url.chars().any(|c| c.is_control() || c.is_whitespace());
        if !ok {
            return Err(ctx.invalid(
                &field("url"),
                &url,
                "not an http:// or https:// URL with a host",
                "write the receiver's URL, e.g. `https://chat.example.org/hooks/hotpush`",
            ));
        }
        let Some(secret_file) = w.secret_file.filter(|p| !p.as_os_str().is_empty()) else {
            return Err(ctx.invalid(
                &field("secret_file"),
                "",
                "missing or empty",
                "name a file (mode 0600) holding `whsec_` followed by base64 of 24 to 64 random bytes",
            ));
        };
        let name = w.name.unwrap_or_else(|| url.clone());
        if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
            return Err(ctx.invalid(
                &field("name"),
                &name,
                "must be 1 to 256 characters without control characters",
                "name the receiver, e.g. `chat`",
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(ctx.invalid(
                &field("name"),
                &name,
                "two webhooks have this name (the default name is the URL)",
                "give each [[webhook]] its own `name`",
            ));
        }
        if let Some(events) = &w.events {
            if events.len() > LIST_ENTRIES_MAX {
                return Err(ctx.invalid(
                    &field("events"),
                    &format!("{} entries", events.len()),
                    &format!("at most {LIST_ENTRIES_MAX}"),
                    "leave `events` out to get every public event",
                ));
            }
            for e in events {
                if !crate::core::webhook::ALL_TYPES.contains(&e.as_str()) {
                    return Err(ctx.invalid(
                        &field("events"),
                        e,
                        "not an event type",
                        &format!(
                            "use some of: {}",
                            crate::core::webhook::ALL_TYPES.join(", ")
                        ),
                    ));
                }
            }
        }
        let attempts_max = w.attempts_max.unwrap_or(crate::core::webhook::MAX_ATTEMPTS);
        if !(1..=WEBHOOK_ATTEMPTS_MAX).contains(&attempts_max) {
            return Err(ctx.invalid(
                &field("attempts_max"),
                &attempts_max.to_string(),
                &format!("must be between 1 and {WEBHOOK_ATTEMPTS_MAX}"),
                "leave it out for 20 attempts (retries over more than a day); fewer give up sooner",
            ));
        }
        out.push(WebhookConfig {
            name,
            url,
            secret_file: ctx.resolve(secret_file),
            events: w.events,
            attempts_max,
        });
    }
    Ok(out)
}

fn validate_server(ctx: &Ctx<'_>, raw: RawServer, d: ServerConfig) -> anyhow::Result<ServerConfig> {
    let s = ServerConfig {
        header_read_timeout_secs: raw
            .header_read_timeout_secs
            .unwrap_or(d.header_read_timeout_secs),
        idle_timeout_secs: raw.idle_timeout_secs.unwrap_or(d.idle_timeout_secs),
        connections_max: raw.connections_max.unwrap_or(d.connections_max),
        json_body_bytes_max: raw.json_body_bytes_max.unwrap_or(d.json_body_bytes_max),
        bad_auth_max: raw.bad_auth_max.unwrap_or(d.bad_auth_max),
        bad_auth_window_secs: raw.bad_auth_window_secs.unwrap_or(d.bad_auth_window_secs),
    };
    let range = |field: &str, value: u64, lo: u64, hi: u64, hint: &str| {
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(ctx.invalid(
                field,
                &value.to_string(),
                &format!("must be between {lo} and {hi}"),
                hint,
            ))
        }
    };
    range(
        "server.header_read_timeout_secs",
        s.header_read_timeout_secs,
        1,
        600,
        "a client sends its request head within seconds; 10 is the default",
    )?;
    range(
        "server.idle_timeout_secs",
        s.idle_timeout_secs,
        1,
        3600,
        "idle keep-alive connections only hold descriptors; 60 is the default",
    )?;
    range(
        "server.connections_max",
        s.connections_max as u64,
        16,
        1_000_000,
        "open connections per listener; 4096 is the default",
    )?;
    range(
        "server.json_body_bytes_max",
        s.json_body_bytes_max as u64,
        1024,
        16 * 1024 * 1024,
        "JSON requests are small; 65536 is the default (packages have `intake.package_bytes_max`)",
    )?;
    range(
        "server.bad_auth_max",
        u64::from(s.bad_auth_max),
        1,
        1_000_000,
        "refused tokens per address and window before 429; 10 is the default",
    )?;
    range(
        "server.bad_auth_window_secs",
        s.bad_auth_window_secs,
        1,
        86_400,
        "the window of `server.bad_auth_max`; 60 is the default",
    )?;
    Ok(s)
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

/// An e-mail address as `[announce]` takes it: `local@domain` or `Name
/// <local@domain>`, on one line, without control characters.
fn is_mail_address(text: &str) -> bool {
    let addr = match (text.find('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        (None, None) => text,
        _ => return false,
    };
    let Some((local, domain)) = addr.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && !text.chars().any(char::is_control)
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>')
}

fn validate_announce(ctx: &Ctx<'_>, raw: RawAnnounce) -> anyhow::Result<AnnounceConfig> {
    if let Some(from) = &raw.from {
        if !is_mail_address(from) {
            return Err(ctx.invalid(
                "announce.from",
                from,
                "not an e-mail address",
                "write the security team's address, e.g. `security@example.org` or `Security Team <security@example.org>`",
            ));
        }
    }
    if let Some(url) = &raw.smtp_url {
        if let Err(reason) = crate::origin::mail::parse_smtp_url(url) {
            return Err(ctx.invalid(
                "announce.smtp_url",
                &crate::origin::mail::redact(url).replace(char::is_control, "?"),
                &reason,
                "write the mail server's URL, e.g. `smtps://mail.example.org`, `smtp://mail.example.org:587` (STARTTLS required) or `smtp://[::1]:25?tls=none` (a relay on loopback)",
            ));
        }
    }
    let ca_file = raw
        .ca_file
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| ctx.resolve(p));
    if let Some(ca) = &ca_file {
        if let Err(e) = crate::io::http::read_ca_file(ca) {
            let hint = crate::logging::hint_of(&e).unwrap_or_default();
            return Err(ctx.invalid(
                "announce.ca_file",
                &ca.display().to_string(),
                &format!("{e}"),
                &format!("{hint} (the CA that signed the mail server's certificate)"),
            ));
        }
    }
    let to = raw.to.unwrap_or_default();
    if to.len() > LIST_ENTRIES_MAX {
        return Err(ctx.invalid(
            "announce.to",
            &format!("{} entries", to.len()),
            &format!("more than {LIST_ENTRIES_MAX} addresses"),
            "send to a mailing list address instead",
        ));
    }
    if let Some(bad) = to.iter().find(|a| !is_mail_address(a)) {
        return Err(ctx.invalid(
            "announce.to",
            bad,
            "not an e-mail address",
            "list the addresses announcements go to, e.g. `[\"security-announce@example.org\"]`",
        ));
    }
    Ok(AnnounceConfig {
        from: raw.from,
        smtp_url: raw.smtp_url,
        to,
        ca_file,
    })
}

/// The default of `retirement.interval_secs`.
const RETIREMENT_INTERVAL_SECS_DEFAULT: u64 = 300;
const RETIREMENT_INTERVAL_SECS_MAX: u64 = 86_400;

fn validate_tls(ctx: &Ctx<'_>, raw: RawTls, plain: &[SocketAddr]) -> anyhow::Result<TlsConfig> {
    let file = |field: &str, value: Option<PathBuf>, example: &str| match value {
        Some(p) if !p.as_os_str().is_empty() => Ok(ctx.resolve(p)),
        _ => Err(ctx.invalid(
            field,
            "",
            "missing: `[tls]` needs a certificate and its key",
            &format!("name the PEM file, e.g. `{example}`, or remove the `[tls]` table"),
        )),
    };
    let cert_file = file("tls.cert_file", raw.cert_file, "tls/origin.crt")?;
    let key_file = file("tls.key_file", raw.key_file, "tls/origin.key")?;
    let listen = match raw.listen {
        None => vec![SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 8443))],
        Some(list) => validate_listen(ctx, &list)?,
    };
    if let Some(both) = listen.iter().find(|a| plain.contains(a)) {
        return Err(ctx.invalid(
            "tls.listen",
            &both.to_string(),
            "also in the plain-HTTP `listen`",
            "give HTTPS its own port, e.g. `listen = [\"[::]:8443\"]` under `[tls]`",
        ));
    }
    Ok(TlsConfig {
        cert_file,
        key_file,
        listen,
    })
}

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
    fn triggers_are_validated_naming_the_field() {
        let ok = "[[trigger]]\nname = \"koji\"\nsecret_file = \"secrets/koji\"\nfetch_base = \"https://kojipkgs.example.org\"\n";
        let config = parse(ok).unwrap();
        let t = &config.triggers[0];
        assert_eq!(t.fetch_base, "https://kojipkgs.example.org/");
        assert_eq!(t.secret_file, PathBuf::from("/etc/hotpush/secrets/koji"));
        assert!(!t.approval_required, "follows approvals_required = 1");
        let two = parse(&format!("[auth]\napprovals_required = 2\n{ok}")).unwrap();
        assert!(two.triggers[0].approval_required);
        assert_eq!(
            parse(&format!("{ok}ca_file = \"ca/koji.pem\"\n"))
                .unwrap()
                .triggers[0]
                .ca_file,
            Some(PathBuf::from("/etc/hotpush/ca/koji.pem"))
        );
        assert!(
            parse(&format!("{ok}approval = \"required\"\n"))
                .unwrap()
                .triggers[0]
                .approval_required
        );
        for (text, field) in [
            (
                format!("[auth]\napprovals_required = 2\n{ok}approval = \"none\"\n"),
                "trigger[0].approval",
            ),
            (format!("{ok}approval = \"maybe\"\n"), "trigger[0].approval"),
            (
                ok.replace(
                    "https://kojipkgs.example.org",
                    "https://u:p@kojipkgs.example.org",
                ),
                "trigger[0].fetch_base",
            ),
            (
                ok.replace("https://kojipkgs.example.org", "ftp://kojipkgs.example.org"),
                "trigger[0].fetch_base",
            ),
            (
                ok.replace(
                    "https://kojipkgs.example.org",
                    "https://kojipkgs.example.org/?q",
                ),
                "trigger[0].fetch_base",
            ),
            (ok.replace("name = \"koji\"\n", ""), "trigger[0].name"),
            (ok.replace("koji\"\n", "ko/ji\"\n"), "trigger[0].name"),
            (
                ok.replace("secret_file = \"secrets/koji\"\n", ""),
                "trigger[0].secret_file",
            ),
            (
                ok.replace("fetch_base = \"https://kojipkgs.example.org\"\n", ""),
                "trigger[0].fetch_base",
            ),
            (
                format!("{ok}body_bytes_max = 10\n"),
                "trigger[0].body_bytes_max",
            ),
            (
                format!("{ok}fetch_timeout_secs = 0\n"),
                "trigger[0].fetch_timeout_secs",
            ),
            (format!("{ok}{ok}"), "trigger[1].name"),
        ] {
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(err.contains(field), "{field}: {err}");
        }
        assert!(parse(&format!("{ok}secret = \"x\"\n")).is_err());
    }

    #[test]
    fn webhooks_are_validated_naming_the_field() {
        assert!(parse("").unwrap().webhooks.is_empty());
        let config = parse(
            "[[webhook]]\nurl = \"https://chat.example.org/hooks/hotpush\"\nsecret_file = \"secrets/chat\"\nevents = [\"push.published\", \"partner.failed\", \"advisory.retired\"]\n",
        )
        .unwrap();
        let w = &config.webhooks[0];
        assert_eq!(w.name, "https://chat.example.org/hooks/hotpush");
        assert_eq!(w.secret_file, PathBuf::from("/etc/hotpush/secrets/chat"));
        assert_eq!(w.events.as_ref().unwrap().len(), 3);
        assert_eq!(w.attempts_max, crate::core::webhook::MAX_ATTEMPTS);
        let ok_url = "url = \"http://[::1]:9/h\"\n";
        let ok_secret = "secret_file = \"s\"\n";
        for n in [1, 2, 100] {
            let config = parse(&format!(
                "[[webhook]]\n{ok_url}{ok_secret}attempts_max = {n}\n"
            ))
            .unwrap();
            assert_eq!(config.webhooks[0].attempts_max, n);
        }
        for bad in ["0", "101", "4294967295"] {
            let err = parse(&format!(
                "[[webhook]]\n{ok_url}{ok_secret}attempts_max = {bad}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("`webhook[0].attempts_max` = `"),
                "{bad}: {err}"
            );
            assert!(err.contains("between 1 and 100"), "{bad}: {err}");
        }
        for (body, field, value) in [
            (ok_secret.to_owned(), "webhook[0].url", ""),
            (
                format!("url = \"ftp://x/h\"\n{ok_secret}"),
                "webhook[0].url",
                "ftp://x/h",
            ),
            (
                format!("url = \"https://\"\n{ok_secret}"),
                "webhook[0].url",
                "https://",
            ),
            (
                format!("url = \"https://a b/\"\n{ok_secret}"),
                "webhook[0].url",
                "https://a b/",
            ),
            (ok_url.to_owned(), "webhook[0].secret_file", ""),
            (
                format!("{ok_url}secret_file = \"\"\n"),
                "webhook[0].secret_file",
                "",
            ),
            (
                format!("{ok_url}{ok_secret}events = [\"push-published\"]\n"),
                "webhook[0].events",
                "push-published",
            ),
            (
                format!("{ok_url}{ok_secret}events = [\"nope\"]\n"),
                "webhook[0].events",
                "nope",
            ),
            (
                format!("{ok_url}{ok_secret}name = \"\"\n"),
                "webhook[0].name",
                "",
            ),
        ] {
            let err = parse(&format!("[[webhook]]\n{body}")).unwrap_err();
            let text = format!("{err:#}");
            assert!(
                text.contains(&format!("`{field}` = `{value}`")),
                "{body}: {text}"
            );
            assert!(!hint_of(&err).is_empty(), "{body}");
        }
        let twice = format!("[[webhook]]\n{ok_url}{ok_secret}[[webhook]]\n{ok_url}{ok_secret}");
        let err = format!("{:#}", parse(&twice).unwrap_err());
        assert!(err.contains("webhook[1].name"), "{err}");
        let err = format!(
            "{:#}",
            parse(&format!("[[webhook]]\n{ok_url}{ok_secret}secret = \"x\"\n")).unwrap_err()
        );
        assert!(err.contains("unknown field `secret`"), "{err}");
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
    fn announce_from_is_the_security_contact_and_is_validated() {
        let config = parse("").unwrap();
        assert_eq!(config.security_contact(), config.public_url);
        let config =
            parse("[announce]\nfrom = \"Security Team <security@example.org>\"\n").unwrap();
        assert_eq!(
            config.security_contact(),
            "Security Team <security@example.org>"
        );
        for (text, field) in [
            ("[announce]\nfrom = \"alice\"\n", "announce.from"),
            ("[announce]\nfrom = \"a@b\\nBcc: x@y\"\n", "announce.from"),
            ("[announce]\nfrom = \"<a@b\"\n", "announce.from"),
            ("[announce]\nfrom = \"a b@c\"\n", "announce.from"),
            ("[announce]\nsmtp_url = \"http://x\"\n", "announce.smtp_url"),
            ("[announce]\nto = [\"nobody\"]\n", "announce.to"),
            (
                "[announce]\nsmtp_url = \"smtp://x?tls=maybe\"\n",
                "announce.smtp_url",
            ),
            (
                "[announce]\nsmtp_url = \"smtp://x?tls=none&tls=required\"\n",
                "announce.smtp_url",
            ),
            (
                "[announce]\nsmtp_url = \"smtp://x?starttls=no\"\n",
                "announce.smtp_url",
            ),
            (
                "[announce]\nsmtp_url = \"smtps://x?tls=none\"\n",
                "announce.smtp_url",
            ),
            (
                "[announce]\nsmtp_url = \"smtp://x/ehlo\"\n",
                "announce.smtp_url",
            ),
            ("[announce]\nsmtp_url = \"smtp://\"\n", "announce.smtp_url"),
            (
                "[announce]\nsmtp_url = \"smtp://u:pw@x?tls=none\"\n",
                "announce.smtp_url",
            ),
            (
                "[announce]\nsmtp_url = \"smtp://u:pw@x?tls=opportunistic\"\n",
                "announce.smtp_url",
            ),
            (
                "[announce]\nca_file = \"/nonexistent/ca.pem\"\n",
                "announce.ca_file",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{text}: {err}");
            assert!(!err.contains("pw@"), "a password is shown: {err}");
        }
        for ok in [
            "smtp://[::1]:2525",
            "smtp://mail.example.org:587?tls=required",
            "smtp://[::1]:25?tls=none",
            "smtp://relay?tls=opportunistic",
            "smtps://u:pw@mail.example.org",
            "smtp://u:pw@mail.example.org:587",
        ] {
            let config = parse(&format!("[announce]\nsmtp_url = {ok:?}\n"));
            assert!(config.is_ok(), "{ok}: {config:?}");
        }
    }

    #[test]
    fn announce_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = parse(&format!(
            "[announce]\nca_file = {:?}\n",
            empty.display().to_string()
        ))
        .unwrap_err();
        assert!(err.to_string().contains("`announce.ca_file`"), "{err}");
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
        let cert = rcgen::generate_simple_self_signed(vec!["relay.example.org".to_owned()])
            .unwrap()
            .cert
            .pem();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, cert).unwrap();
        let config = parse(&format!(
            "[announce]\nca_file = {:?}\n",
            good.display().to_string()
        ))
        .unwrap();
        assert_eq!(config.announce.ca_file.as_deref(), Some(good.as_path()));
    }

    #[test]
    fn names_with_a_slash_are_refused_with_the_field() {
        let err = parse("[repos]\nchannel = \"a/b\"\n").unwrap_err();
        assert!(err.to_string().contains("`repos.channel`"), "{err}");
        assert!(err.to_string().contains("`/`"), "{err}");
        assert!(!hint_of(&err).is_empty());
    }

    #[test]
    fn server_limits_have_defaults_and_bounds_named_by_field() {
        let c = parse("").unwrap();
        assert_eq!(c.server, Config::default().server);
        let c = parse("[server]\nidle_timeout_secs = 5\nconnections_max = 100\n").unwrap();
        assert_eq!(
            (c.server.idle_timeout_secs, c.server.connections_max),
            (5, 100)
        );
        for (key, value) in [
            ("header_read_timeout_secs", "0"),
            ("idle_timeout_secs", "100000"),
            ("connections_max", "1"),
            ("json_body_bytes_max", "10"),
            ("bad_auth_max", "0"),
            ("bad_auth_window_secs", "0"),
        ] {
            let err = parse(&format!("[server]\n{key} = {value}\n")).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`server.{key}`")),
                "{err}"
            );
            assert!(!hint_of(&err).is_empty());
        }
        assert!(parse("[server]\nkeepalive = 1\n").is_err());
    }
}
