//! `hotpush doctor`: checks an origin's set-up before (or while) it runs and
//! prints one line per check, `ok`, `warn` or `FAIL`, with what to fix. Exit 1
//! on any FAIL.
//!
//! Checks: the configuration loads; the data directory exists, is writable and
//! has free space (`statvfs`); the repo-signing key loads, is private and is not
//! near expiry; each trusted package key loads; each partner's push and public
//! hosts answer a TCP connect on every address family their name resolves to
//! (IPv6 and IPv4); and each `https` partner's clock (the `Date` header of its
//! public URL) is close to ours, since the push protocol refuses requests more
//! than `CLOCK_SKEW_SECS` away.
//!
//! Reads files and the network; changes nothing (the write probe is a temporary
//! file, removed at once). [`render`] and [`key_expiry_secs`] are pure.
use std::path::PathBuf;

use clap::Args;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pgp::composed::{Deserializable, SignedKeyDetails, SignedPublicKey, SignedSecretKey};
use pgp::types::KeyDetails;

use crate::origin::config::Config;
use crate::origin::mirrors::{Mirror, PushMethod};

/// TCP connect timeout per address.
const CONNECT_TIMEOUT_SECS: u64 = 3;
/// Whole GET for the clock check.
const DATE_TIMEOUT_SECS: u64 = 5;
/// Clock difference that deserves a warning (the protocol allows more).
const SKEW_WARN_SECS: u64 = 30;
/// Below this much free space in the data directory, a push cannot be written.
const FREE_FAIL_MIB: u64 = 64;
/// Keys expiring within this many days get a warning.
const EXPIRY_WARN_DAYS: u64 = 30;
/// Addresses tried per host and family.
const ADDRESSES_PER_FAMILY_MAX: usize = 4;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub level: Level,
    /// What was checked, e.g. `trusted key keys/distro.asc`.
    pub what: String,
    /// What was found.
    pub detail: String,
    /// What to do about it (empty for `ok`).
    pub fix: String,
}

impl Check {
    fn ok(what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            level: Level::Ok,
            what: what.into(),
            detail: detail.into(),
            fix: String::new(),
        }
    }
    fn warn(what: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            level: Level::Warn,
            what: what.into(),
            detail: detail.into(),
            fix: fix.into(),
        }
    }
    fn fail(what: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            level: Level::Fail,
            what: what.into(),
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

/// One line per check: `ok   what: detail` / `FAIL what: detail; fix: ...`.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!("{:<4} {}: {}", c.level, c.what, c.detail));
        if !c.fix.is_empty() {
            out.push_str(&format!("; fix: {}", c.fix));
        }
        out.push('\n');
    }
    let fails = checks.iter().filter(|c| c.level == Level::Fail).count();
    let warns = checks.iter().filter(|c| c.level == Level::Warn).count();
    out.push_str(&format!(
        "{} checks: {} ok, {warns} warn, {fails} FAIL\n",
        checks.len(),
        checks.len() - fails - warns
    ));
    out
}

/// `hotpush doctor`.
pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::new();
    let config_name = args
        .config
        .as_ref()
        .map(|p| format!("config {}", p.display()))
        .unwrap_or_else(|| "config (embedded defaults)".to_owned());
    match Config::load(args.config.as_deref()) {
        Ok(config) => {
            checks.push(Check::ok(
                &config_name,
                format!(
                    "loaded; channel `{}`, releases {}, arches {}, public URL {}",
                    config.repos.channel,
                    config.repos.releases.join(","),
                    config.repos.arches.join(","),
                    config.public_url
                ),
            ));
            check_data_dir(&config, args.min_free_mib, &mut checks);
            check_repo_key(&config, &mut checks);
            check_trusted_keys(&config, &mut checks);
            if !config.triggers.is_empty() {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(check_triggers(&config, &mut checks));
            }
        }
        Err(e) => checks.push(Check::fail(
            &config_name,
            one_line(&e),
            "fix the file (docs/configuration.md lists the keys); the checks that need it were skipped",
        )),
    }
    if let Some(path) = &args.mirrors {
        let what = format!("mirrors {}", path.display());
        match crate::origin::mirrors::load_mirrors(path) {
            Ok(mirrors) => {
                checks.push(Check::ok(
                    &what,
                    format!("loaded; {} partner(s)", mirrors.len()),
                ));
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(check_partners(&mirrors, &mut checks));
            }
            Err(e) => checks.push(Check::fail(
                &what,
                one_line(&e),
                "fix the file; the partner checks were skipped",
            )),
        }
    }
    #[allow(clippy::print_stdout)]
    {
        print!("{}", render(&checks));
    }
    Ok(if checks.iter().any(|c| c.level == Level::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The error and its causes on one line, with a user error's hint left out
/// (the check carries its own fix).
fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ")
}

fn check_data_dir(config: &Config, min_free_mib: u64, checks: &mut Vec<Check>) {
    let dir = &config.data_dir;
    let what = format!("data dir {}", dir.display());
    if !dir.exists() {
        let parent = dir.parent().unwrap_or(Path::new("/"));
        if parent.is_dir() {
            checks.push(Check::warn(
                &what,
                "does not exist yet",
                "`hotpush serve` creates it on first start; check the path is the one you mean",
            ));
        } else {
            checks.push(Check::fail(
                &what,
                format!("neither it nor its parent {} exists", parent.display()),
                "create it, or fix `data_dir` in hotpush.toml",
            ));
        }
        return;
    }
    if !dir.is_dir() {
        checks.push(Check::fail(
            &what,
            "is not a directory",
            "fix `data_dir` in hotpush.toml",
        ));
        return;
    }
    match tempfile::Builder::new()
        .prefix(".hotpush-doctor-")
        .tempfile_in(dir)
    {
        Ok(probe) => {
            drop(probe);
            checks.push(Check::ok(&what, "exists and is writable"));
        }
        Err(e) => checks.push(Check::fail(
            &what,
            format!("is not writable: {e}"),
            "run hotpush as the user that owns it, or fix its permissions",
        )),
    }
    match free_bytes(dir) {
        Ok(free) => {
            let mib = free / (1024 * 1024);
            let what = format!("free space in {}", dir.display());
            if mib < FREE_FAIL_MIB {
                checks.push(Check::fail(
                    &what,
                    format!("{mib} MiB free"),
                    "free space now: a push cannot be stored or published",
                ));
            } else if mib < min_free_mib {
                checks.push(Check::warn(
                    &what,
                    format!("{mib} MiB free, less than {min_free_mib} MiB"),
                    "free space or move `data_dir`: every push keeps its packages for `retention_hours`",
                ));
            } else {
                checks.push(Check::ok(&what, format!("{mib} MiB free")));
            }
        }
        Err(e) => checks.push(Check::warn(
            format!("free space in {}", dir.display()),
            format!("cannot be read: {e}"),
            "check the file system by hand (`df`)",
        )),
    }
}

/// Bytes available to an unprivileged user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("the path holds a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // zero-initialised out-parameter that lives across the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// When the key expires (Unix seconds), from its newest self-signature that says
/// so; `None` when it does not expire. Pure.
pub fn key_expiry_secs(created_secs: u32, details: &SignedKeyDetails) -> Option<u64> {
    let newest = details
        .direct_signatures
        .iter()
        .chain(details.users.iter().flat_map(|u| u.signatures.iter()))
        .filter(|s| s.key_expiration_time().is_some())
        .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0))?;
    let validity = std::time::Duration::from(newest.key_expiration_time()?).as_secs();
    (validity > 0).then_some(u64::from(created_secs) + validity)
}

fn expiry_check(what: &str, fingerprint: &str, expiry: Option<u64>, fix: &str) -> Check {
    let now = now_secs();
    match expiry {
        None => Check::ok(what, format!("{fingerprint}, does not expire")),
        Some(at) if at <= now => Check::fail(
            what,
            format!("{fingerprint} expired {} days ago", (now - at) / 86_400),
            fix,
        ),
        Some(at) if at - now < EXPIRY_WARN_DAYS * 86_400 => Check::warn(
            what,
            format!("{fingerprint} expires in {} days", (at - now) / 86_400),
            fix,
        ),
        Some(at) => Check::ok(
            what,
            format!("{fingerprint}, expires in {} days", (at - now) / 86_400),
        ),
    }
}

fn check_repo_key(config: &Config, checks: &mut Vec<Check>) {
    let path = config.data_dir.join("keys/repo-signing.key");
    let what = format!("repo-signing key {}", path.display());
    if !path.exists() {
        checks.push(Check::warn(
            &what,
            "not there yet",
            "`hotpush serve` generates it on first start; restore it from backup if this origin served clients before",
        ));
        return;
    }
    if let Err(e) = crate::io::secret::check_private(&path) {
        checks.push(Check::fail(
            &what,
            one_line(&e),
            format!("run `chmod 600 {}`", path.display()),
        ));
        return;
    }
    let text = match fs_err::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            checks.push(Check::fail(&what, e.to_string(), "check its permissions"));
            return;
        }
    };
    if let Err(e) = crate::core::signing::RepoKey::from_armored_secret(&text) {
        checks.push(Check::fail(
            &what,
            one_line(&e),
            "restore the key from backup (clients trust its fingerprint)",
        ));
        return;
    }
    match SignedSecretKey::from_string(&text) {
        Ok((key, _)) => checks.push(expiry_check(
            &what,
            &format!("{:X}", key.primary_key.fingerprint()),
            key_expiry_secs(key.primary_key.created_at().as_secs(), &key.details),
            "extend the key's expiry and publish the new public key to clients before it lapses",
        )),
        Err(e) => checks.push(Check::fail(&what, e.to_string(), "restore it from backup")),
    }
}

fn check_trusted_keys(config: &Config, checks: &mut Vec<Check>) {
    // The same files the running origin trusts: the configured ones, then the
    // keys added with `hotpush keys add` (`DATA_DIR/keys/trusted/`).
    let config_fix = "fix `intake.trusted_keys` in hotpush.toml".to_owned();
    let mut files: Vec<(PathBuf, String)> = config
        .intake
        .trusted_keys
        .iter()
        .map(|p| (p.clone(), config_fix.clone()))
        .collect();
    files.extend(
        crate::origin::keys::added_files(&config.data_dir)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let fix = format!(
                    "remove it with `hotpush keys remove FINGERPRINT` or delete `{}`",
                    p.display()
                );
                (p, fix)
            }),
    );
    if files.is_empty() {
        if config.intake.require_signed_packages {
            checks.push(Check::fail(
                "trusted package keys",
                "none configured or added, and packages must be signed: every push will be refused",
                "list the distribution's package-signing public keys in `intake.trusted_keys`, or add them to the running origin with `hotpush keys add FILE`",
            ));
        } else {
            checks.push(Check::warn(
                "trusted package keys",
                "package signatures are not checked (`require_signed_packages = false`)",
                "configure `intake.trusted_keys` and turn signature checks on",
            ));
        }
        return;
    }
    for (path, fix) in &files {
        let what = format!("trusted key {}", path.display());
        let text = match crate::io::keys::read_key_file(path, fix)
            .and_then(|t| crate::io::keys::load_trusted(std::slice::from_ref(path), fix).map(|_| t))
        {
            Ok(t) => t,
            Err(e) => {
                checks.push(Check::fail(
                    &what,
                    e.to_string(),
                    crate::logging::hint_of(&e).unwrap_or_else(|| fix.clone()),
                ));
                continue;
            }
        };
        let parsed: Result<Vec<SignedPublicKey>, String> =
            match SignedPublicKey::from_string_many(&text) {
                Ok((iter, _)) => Ok(iter.flatten().collect()),
                Err(e) => Err(e.to_string()),
            };
        match parsed {
            Ok(keys) => {
                for key in keys {
                    checks.push(expiry_check(
                        &what,
                        &format!("{:X}", key.primary_key.fingerprint()),
                        key_expiry_secs(key.primary_key.created_at().as_secs(), &key.details),
                        "get the key with its extended expiry from the package signers",
                    ));
                }
            }
            Err(e) => checks.push(Check::fail(&what, e, fix.clone())),
        }
    }
}

/// Host and port of a partner URL (`https://`, `http://` or `ssh://`).
/// Each `[[trigger]]`: its secret file (private, `whsec_` base64 of 16+
/// bytes, the same reader the origin uses), whether its pushes wait for
/// people, and a TCP connection to its `fetch_base`.
async fn check_triggers(config: &Config, checks: &mut Vec<Check>) {
    for t in &config.triggers {
        let what = format!("trigger {} secret_file", t.name);
        match crate::origin::trigger::read_key(t) {
            Ok(key) => checks.push(Check::ok(
                &what,
                format!(
                    "`{}`: a {}-byte key, readable by this user only",
                    t.secret_file.display(),
                    key.len()
                ),
            )),
            Err(e) => checks.push(Check::fail(
                &what,
                one_line(&e),
                format!(
                    "write `whsec_` and base64 of 24 to 64 random bytes into it and `chmod 600 {}`; give the build system the same secret",
                    t.secret_file.display()
                ),
            )),
        }
        let approvals = format!("trigger {} approval", t.name);
        if t.approval_required {
            checks.push(Check::ok(
                &approvals,
                format!(
                    "its pushes are staged until {} member(s) of `{}` approve (`hotpush approve ID`); the trigger never counts",
                    config.auth.approvals_required, config.auth.push_group
                ),
            ));
        } else {
            checks.push(Check::warn(
                &approvals,
                "its pushes are published without a person approving them",
                "set `approval = \"required\"` in the [[trigger]] for a second pair of eyes",
            ));
        }
        let what = format!("trigger {} fetch_base {}", t.name, t.fetch_base);
        let Some((host, port)) = host_port(&t.fetch_base) else {
            checks.push(Check::fail(&what, "no host and port", "fix fetch_base"));
            continue;
        };
        let connect = tokio::time::timeout(
            Duration::from_secs(CONNECT_TIMEOUT_SECS),
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await;
        match connect {
            Ok(Ok(_)) => checks.push(Check::ok(&what, "reachable")),
            Ok(Err(e)) => checks.push(Check::fail(
                &what,
                format!("unreachable: {e}"),
                "triggered pushes will fail until the build system's file server answers from here; check the URL, DNS and firewall",
            )),
            Err(_) => checks.push(Check::fail(
                &what,
                format!("no answer within {CONNECT_TIMEOUT_SECS} s"),
                "triggered pushes will fail until the build system's file server answers from here; check the URL, DNS and firewall",
            )),
        }
    }
}

fn host_port(url: &str) -> Option<(String, u16)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let port = parsed.port_or_known_default().or(match parsed.scheme() {
        "ssh" => Some(22),
        _ => None,
    })?;
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Some((host, port))
}

async fn check_partners(mirrors: &[Mirror], checks: &mut Vec<Check>) {
    for m in mirrors {
        let mut seen = Vec::new();
        for (field, url) in [("push_url", &m.push_url), ("public_url", &m.public_url)] {
            let Some((host, port)) = host_port(url) else {
                checks.push(Check::fail(
                    format!("partner {} {field}", m.name),
                    format!("`{url}` has no host and port"),
                    "fix it in mirrors.toml",
                ));
                continue;
            };
            if seen.contains(&(host.clone(), port)) {
                continue;
            }
            seen.push((host.clone(), port));
            check_reachable(&m.name, field, &host, port, checks).await;
        }
        if m.method == PushMethod::Https {
            checks.push(check_clock(m).await);
        }
    }
}

async fn check_reachable(name: &str, field: &str, host: &str, port: u16, checks: &mut Vec<Check>) {
    let shown = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    };
    let what = format!("partner {name} {field} {shown}");
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::net::lookup_host((host, port)).await {
            Ok(a) => a.collect(),
            Err(e) => {
                checks.push(Check::fail(
                    &what,
                    format!("the name does not resolve: {e}"),
                    "fix the host name in mirrors.toml or the DNS",
                ));
                return;
            }
        },
    };
    for (family, v6) in [("IPv6", true), ("IPv4", false)] {
        let of_family: Vec<SocketAddr> = addrs
            .iter()
            .copied()
            .filter(|a| a.is_ipv6() == v6)
            .take(ADDRESSES_PER_FAMILY_MAX)
            .collect();
        if of_family.is_empty() {
            continue;
        }
        let mut errors = Vec::new();
        let mut reached = None;
        for addr in &of_family {
            let started = Instant::now();
            match tokio::time::timeout(
                Duration::from_secs(CONNECT_TIMEOUT_SECS),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                Ok(Ok(_)) => {
                    reached = Some((*addr, started.elapsed()));
                    break;
                }
                Ok(Err(e)) => errors.push(format!("{addr}: {e}")),
                Err(_) => errors.push(format!("{addr}: no answer within {CONNECT_TIMEOUT_SECS} s")),
            }
        }
        match reached {
            Some((addr, took)) => checks.push(Check::ok(
                &what,
                format!("{family} {addr} reachable ({} ms)", took.as_millis()),
            )),
            None => checks.push(Check::fail(
                &what,
                format!("{family} unreachable: {}", errors.join(", ")),
                format!(
                    "start the partner's receiver or web server, or open port {port} over {family} in the firewall between you"
                ),
            )),
        }
    }
}

async fn check_clock(m: &Mirror) -> Check {
    let what = format!("partner {} clock", m.name);
    let client = match crate::io::http::ClientSpec::new("hotpush-doctor")
        .timeout(Duration::from_secs(DATE_TIMEOUT_SECS))
        .ca_file(m.ca_file.as_deref())
        .build()
    {
        Ok(c) => c,
        Err(e) => return Check::fail(&what, format!("{e:#}"), "fix `ca_file` in mirrors.toml"),
    };
    let url = format!("{}/", m.public_url);
    let resp = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            return Check::warn(
                &what,
                format!(
                    "cannot be checked, GET {url} failed: {}",
                    one_line(&anyhow::Error::from(e))
                ),
                "make the partner's public URL answer (see the reachability lines above)",
            )
        }
    };
    let local = now_secs();
    let Some(date) = resp
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
    else {
        return Check::warn(
            &what,
            format!("{url} sent no usable Date header"),
            "compare the partner's clock by hand (`date -u` on both)",
        );
    };
    let theirs = date
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let skew = theirs.abs_diff(local);
    let dir = if theirs >= local { "ahead" } else { "behind" };
    let limit = crate::core::protocol::CLOCK_SKEW_SECS;
    if skew > limit {
        Check::fail(
            &what,
            format!("{skew} s {dir} of ours; pushes more than {limit} s off are refused"),
            "run NTP (chrony, systemd-timesyncd) on both hosts",
        )
    } else if skew > SKEW_WARN_SECS {
        Check::warn(
            &what,
            format!("{skew} s {dir} of ours"),
            "run NTP (chrony, systemd-timesyncd) on both hosts",
        )
    } else {
        Check::ok(&what, format!("{skew} s off (Date header of {url})"))
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// `hotpush.toml` to check; default: the embedded defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `mirrors.toml` whose partners to check.
    #[arg(long)]
    pub mirrors: Option<PathBuf>,
    /// Warn when the data directory's file system has less free space than this.
    #[arg(long, default_value_t = 1024)]
    pub min_free_mib: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_and_puts_the_fix_on_the_line() {
        let text = render(&[
            Check::ok("a", "fine"),
            Check::warn("b", "meh", "do x"),
            Check::fail("c", "broken", "do y"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ok   a: fine");
        assert_eq!(lines[1], "warn b: meh; fix: do x");
        assert_eq!(lines[2], "FAIL c: broken; fix: do y");
        assert_eq!(lines[3], "3 checks: 1 ok, 1 warn, 1 FAIL");
    }

    #[test]
    fn host_port_knows_ssh_and_literals() {
        assert_eq!(host_port("ssh://u@[::1]/x"), Some(("::1".into(), 22)));
        assert_eq!(
            host_port("https://mirror.example.net/pub"),
            Some(("mirror.example.net".into(), 443))
        );
        assert_eq!(
            host_port("http://127.0.0.1:8080/pub"),
            Some(("127.0.0.1".into(), 8080))
        );
    }

    #[test]
    fn generated_keys_do_not_expire() {
        let key = crate::core::signing::RepoKey::generate("t <t@example.invalid>").unwrap();
        let (secret, _) = SignedSecretKey::from_string(&key.armored_secret()).unwrap();
        assert_eq!(
            key_expiry_secs(secret.primary_key.created_at().as_secs(), &secret.details),
            None
        );
    }
}
