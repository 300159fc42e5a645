//! The receiver's settings: `receive.toml`, the command-line overrides, the defaults and their validation.
use super::*;

/// Default data directory, relative to the working directory.
pub const DATA_DIR_DEFAULT: &str = "hotpush-receive-data";
pub const LISTEN_DEFAULT: &str = "[::]:8443";
pub const RETENTION_HOURS_DEFAULT: u64 = 48;
/// Largest blob accepted: the origin's default `package_bytes_max`.
pub const BLOB_BYTES_MAX_DEFAULT: u64 = 2 * 1024 * 1024 * 1024;
/// Largest JSON request (a commit naming many files).
pub const JSON_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Refused requests (bad or missing signature) per IPv4 address or IPv6 /64
/// within [`BAD_AUTH_WINDOW_SECS`] before the push protocol answers 429.
pub const BAD_AUTH_MAX: u32 = 10;
pub const BAD_AUTH_WINDOW_SECS: u64 = 60;
/// Largest repomd.xml or .asc a commit may carry.
pub const REPOMD_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Largest metalink copy.
pub const METALINK_BYTES_MAX: usize = 1024 * 1024;
/// Most files one retention sweep deletes; the next sweep continues.
pub const SWEEP_DELETIONS_MAX: usize = 10_000;
/// How often the retention sweep runs besides after each commit.
pub const SWEEP_INTERVAL_SECS: u64 = 3600;
/// Uploads in flight older than this are removed by the sweep.
pub const TMP_AGE_MAX_SECS: u64 = 6 * 3600;

/// The validated settings of one receiver.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: Vec<SocketAddr>,
    pub public_listen: Vec<SocketAddr>,
    pub secret_file: PathBuf,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub retention_secs: u64,
    pub blob_bytes_max: u64,
    /// Header-read and idle timeouts and the connection cap of every listener.
    pub conn: crate::io::serve::ConnLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireConfig {
    pub(super) data_dir: Option<PathBuf>,
    pub(super) listen: Option<Vec<String>>,
    pub(super) public_listen: Option<Vec<String>>,
    pub(super) secret_file: Option<PathBuf>,
    pub(super) tls_cert_file: Option<PathBuf>,
    pub(super) tls_key_file: Option<PathBuf>,
    pub(super) retention_hours: Option<u64>,
    pub(super) blob_bytes_max: Option<u64>,
    pub(super) header_read_timeout_secs: Option<u64>,
    pub(super) idle_timeout_secs: Option<u64>,
    pub(super) connections_max: Option<usize>,
}

/// What the command line may override; `None`/empty means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Vec<String>,
    pub public_listen: Vec<String>,
    pub secret_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub retention_hours: Option<u64>,
}

impl Settings {
    /// Flags override `receive.toml`, which overrides the defaults.
    pub fn load(args: &Overrides) -> anyhow::Result<Settings> {
        let (wire, base) = match &args.config {
            Some(path) => {
                let text = fs_err::read_to_string(path).map_err(|e| {
                    user_error(
                        format!(
                            "cannot read the receiver configuration `{}`: {e}",
                            path.display()
                        ),
                        "pass an existing file with `--config FILE`",
                    )
                })?;
                let wire: WireConfig = toml::from_str(&text).map_err(|e| {
                    user_error(
                        format!("`{}` is not a valid receiver configuration: {e}", path.display()),
                        "known keys: data_dir, listen, public_listen, secret_file, tls_cert_file, tls_key_file, retention_hours, blob_bytes_max, header_read_timeout_secs, idle_timeout_secs, connections_max",
                    )
                })?;
                (
                    wire,
                    path.parent().map(Path::to_path_buf).unwrap_or_default(),
                )
            }
            None => (WireConfig::default(), PathBuf::new()),
        };
        let from_file =
            |p: Option<PathBuf>| p.map(|p| if p.is_absolute() { p } else { base.join(p) });
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| from_file(wire.data_dir))
            .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT));
        let listen = if args.listen.is_empty() {
            wire.listen.unwrap_or_else(|| vec![LISTEN_DEFAULT.into()])
        } else {
            args.listen.clone()
        };
        let public_listen = if args.public_listen.is_empty() {
            wire.public_listen.unwrap_or_default()
        } else {
            args.public_listen.clone()
        };
        let secret_file = args
            .secret_file
            .clone()
            .or_else(|| from_file(wire.secret_file))
            .ok_or_else(|| {
                user_error(
                    "`hotpush receive` needs the secret shared with the origin",
                    "pass `--secret-file FILE` (or set `secret_file` in `--config`)",
                )
            })?;
        let tls_cert_file = args
            .tls_cert_file
            .clone()
            .or_else(|| from_file(wire.tls_cert_file));
        let tls_key_file = args
            .tls_key_file
            .clone()
            .or_else(|| from_file(wire.tls_key_file));
        if tls_cert_file.is_some() != tls_key_file.is_some() {
            return Err(user_error(
                "a TLS certificate needs its key and the other way round",
                "set both `tls_cert_file` and `tls_key_file`, or neither",
            ));
        }
        let parse_addrs = |what: &str, addrs: &[String]| -> anyhow::Result<Vec<SocketAddr>> {
            addrs
                .iter()
                .map(|a| {
                    a.parse::<SocketAddr>().map_err(|_| {
                        user_error(
                            format!("`{what}`: `{a}` is not an address with a port"),
                            "write e.g. `[::1]:8443` or `127.0.0.1:8443`",
                        )
                    })
                })
                .collect()
        };
        let mut listen = parse_addrs("listen", &listen)?;
        let mut public_listen = parse_addrs("public_listen", &public_listen)?;
        if listen.is_empty() {
            return Err(user_error(
                "no `listen` address",
                "give at least one, e.g. `--listen [::]:8443`",
            ));
        }
        // IPv6 first: bind (and report) v6 listeners before v4 ones.
        listen.sort_by_key(|a| !a.is_ipv6());
        public_listen.sort_by_key(|a| !a.is_ipv6());
        let retention_hours = args
            .retention_hours
            .or(wire.retention_hours)
            .unwrap_or(RETENTION_HOURS_DEFAULT);
        let d = crate::io::serve::ConnLimits::default();
        let secs = |key: &str, v: Option<u64>, default: Duration, max: u64| match v {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(Duration::from_secs(n)),
            Some(n) => Err(user_error(
                format!("`{key}` = `{n}` is out of range"),
                format!("use between 1 and {max} seconds"),
            )),
        };
        let conn = crate::io::serve::ConnLimits {
            header_read_timeout: secs(
                "header_read_timeout_secs",
                wire.header_read_timeout_secs,
                d.header_read_timeout,
                600,
            )?,
            idle_timeout: secs(
                "idle_timeout_secs",
                wire.idle_timeout_secs,
                d.idle_timeout,
                3600,
            )?,
            connections_max: match wire.connections_max {
                None => d.connections_max,
                Some(n) if (16..=1_000_000).contains(&n) => n,
                Some(n) => {
                    return Err(user_error(
                        format!("`connections_max` = `{n}` is out of range"),
                        "use between 16 and 1000000 open connections per listener",
                    ))
                }
            },
        };
        Ok(Settings {
            conn,
            data_dir,
            listen,
            public_listen,
            secret_file,
            tls_cert_file,
            tls_key_file,
            retention_secs: retention_hours.saturating_mul(3600),
            blob_bytes_max: wire.blob_bytes_max.unwrap_or(BLOB_BYTES_MAX_DEFAULT),
        })
    }
}
