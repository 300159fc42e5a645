//! `hotpush verify`: check a published repository end to end through its
//! metalink, the way a `repo_gpgcheck=1` dnf client would, but on every listed
//! host instead of the first that works.
//!
//! Owns: fetching over HTTP(S) with bounded sizes and timeouts, and the per-host
//! report. It does not know how the tree was published or where the origin keeps
//! its files; everything it checks comes from the metalink, repomd.xml and the
//! public key. [`check_host`] is the same check the publisher needs before it
//! lists a host (R4), so it is public.
use std::path::PathBuf;

use clap::Args;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256, Sha512};

use crate::core::metalink::{self, ParsedFacts, METALINK_BYTES_MAX};
use crate::core::repodata::repomd::{parse_repomd, RepomdEntry};
use crate::logging::user_error;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// librepo follows at most 6 redirects; so do we.
const REDIRECTS_MAX: usize = 6;
const REPOMD_BYTES_MAX: u64 = 16 * 1024 * 1024;
const SIGNATURE_BYTES_MAX: u64 = 64 * 1024;
const KEY_BYTES_MAX: u64 = 1024 * 1024;
/// Largest metadata file we are willing to download.
const DATA_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// Runs `hotpush verify`: prints one line per listed host and fails (exit 1)
/// unless every host passes.
pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = match &args.key {
        Some(path) => Some(read_key_file(path)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(verify_metalink(
        &args.metalink,
        key.as_deref(),
        args.ca_file.as_deref(),
    ))?;

    let mut stdout = std::io::stdout().lock();
    for host in &report.hosts {
        writeln!(stdout, "{}", host.line()).context("cannot write the report to stdout")?;
    }
    stdout.flush().ok();

    let failed = report.hosts.iter().filter(|h| !h.ok()).count();
    let untrusted = report.hosts.iter().any(|h| {
        h.problems.iter().any(|p| {
            let p = p.to_ascii_lowercase();
            p.contains("unknownissuer") || p.contains("invalid peer certificate")
        })
    });
    if failed == 0 {
        Ok(ExitCode::SUCCESS)
    } else if untrusted && args.ca_file.is_none() {
        Err(user_error(
            format!(
                "{failed} of {} hosts in `{}` failed verification",
                report.hosts.len(),
                redact(&args.metalink)
            ),
            "a host's certificate is not trusted by the system CA store: if it is a partner \
             with its own CA or a self-signed certificate, pass that certificate with `--ca-file FILE`",
        ))
    } else {
        Err(user_error(
            format!(
                "{failed} of {} hosts in `{}` failed verification",
                report.hosts.len(),
                redact(&args.metalink)
            ),
            "a host that fails must not be listed in the metalink: re-push to it, or drop it \
             until it serves the current repomd.xml, repomd.xml.asc and every file they name",
        ))
    }
}

/// The outcome for every host a metalink lists, in document order.
#[derive(Debug, Clone)]
pub struct Report {
    pub hosts: Vec<HostReport>,
}

/// What was found at one host (one metalink URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReport {
    /// The repomd.xml URL from the metalink.
    pub url: String,
    /// Empty when the host passed.
    pub problems: Vec<String>,
    /// Metadata files (named by repomd.xml) that were fetched and matched.
    pub files_checked: usize,
    pub bytes_checked: u64,
}

impl HostReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// `OK   <url> (...)` or `FAIL <url>: problem; problem`.
    pub fn line(&self) -> String {
        let url = redact(&self.url);
        if self.ok() {
            format!(
                "OK   {url} (repomd.xml, repomd.xml.asc and {} files, {} bytes)",
                self.files_checked, self.bytes_checked
            )
        } else {
            format!("FAIL {url}: {}", self.problems.join("; "))
        }
    }
}

/// A client with the bounded timeouts every check uses, trusting the system CA
/// store, the built-in roots and `ca_file` (a PEM bundle, e.g. a partner's
/// self-signed certificate).
pub fn http_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    crate::io::http::ClientSpec::new("hotpush-verify")
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirects(REDIRECTS_MAX)
        .ca_file(ca_file)
        .build()
}

/// Fetches the metalink and checks every host it lists. `key` is the armored
/// repo-signing public key; `None` fetches `/keys/repo.asc` from the metalink's
/// scheme, host and port. `ca_file` is trusted besides the system CA store.
pub async fn verify_metalink(
    metalink_url: &str,
    key: Option<&str>,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<Report> {
    let client = http_client(ca_file)?;
    let shown = redact(metalink_url);
    let parsed_url = reqwest::Url::parse(metalink_url).map_err(|e| {
        user_error(
            format!("`{shown}` is not a URL: {e}"),
            "pass the metalink URL clients use, e.g. `http://[::1]:8080/metalink?repo=critical-f43&arch=x86_64`",
        )
    })?;
    let body = fetch(&client, metalink_url, METALINK_BYTES_MAX as u64)
        .await
        .map_err(|e| {
            user_error(
                format!("cannot fetch the metalink `{shown}`: {e}"),
                "check the URL and that the origin is up; an unknown repo or arch answers 404",
            )
        })?;
    let text = String::from_utf8(body)
        .map_err(|_| user_error(format!("the metalink `{shown}` is not UTF-8"), ""))?;
    let doc = metalink::parse(&text).map_err(|e| {
        user_error(
            format!("the metalink `{shown}` is not usable: {e:#}"),
            "the URL must answer a MirrorManager metalink with `<file name=\"repomd.xml\">`",
        )
    })?;
    if doc.urls.is_empty() {
        return Err(user_error(
            format!("the metalink `{shown}` lists no hosts"),
            "dnf fails with \"No URLs in metalink\": publish the origin first",
        ));
    }

    let key = match key {
        Some(key) => key.to_owned(),
        None => {
            let mut key_url = parsed_url.clone();
            key_url.set_path("/keys/repo.asc");
            key_url.set_query(None);
            key_url.set_fragment(None);
            let body = fetch(&client, key_url.as_str(), KEY_BYTES_MAX)
                .await
                .map_err(|e| {
                    user_error(
                        format!(
                            "cannot fetch the repo key `{}`: {e}",
                            redact(key_url.as_str())
                        ),
                        "pass the repo-signing public key with `--key FILE`",
                    )
                })?;
            String::from_utf8(body).map_err(|_| {
                user_error(
                    format!("the repo key `{}` is not text", redact(key_url.as_str())),
                    "pass the ASCII-armored public key with `--key FILE`",
                )
            })?
        }
    };

    let mut metalink_problems = Vec::new();
    for kind in ["sha256", "sha512"] {
        if doc.repomd.hash(kind).is_none() {
            metalink_problems.push(format!(
                "the metalink gives no {kind} for repomd.xml (dnf needs sha256 and sha512)"
            ));
        }
    }

    let checks = doc.urls.iter().map(|u| {
        let client = &client;
        let key = key.as_str();
        let doc = &doc;
        async move { check_host(client, &u.url, &doc.repomd, &doc.alternates, key).await }
    });
    let mut hosts = futures_util::future::join_all(checks).await;
    if !metalink_problems.is_empty() {
        for host in &mut hosts {
            host.problems.extend(metalink_problems.iter().cloned());
        }
    }
    Ok(Report { hosts })
}

/// Checks one host: its repomd.xml has the expected hashes (and size, when
/// given), its repomd.xml.asc verifies with `public_key`, and every file repomd.xml
/// names is there with the checksum and size it states.
pub async fn check_host(
    client: &reqwest::Client,
    repomd_url: &str,
    expected: &ParsedFacts,
    alternates: &[ParsedFacts],
    public_key: &str,
) -> HostReport {
    let mut report = HostReport {
        url: repomd_url.to_owned(),
        problems: Vec::new(),
        files_checked: 0,
        bytes_checked: 0,
    };
    let base = match repo_base(repomd_url) {
        Ok(base) => base,
        Err(e) => {
            report.problems.push(e);
            return report;
        }
    };

    let repomd = match fetch(client, repomd_url, REPOMD_BYTES_MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            report.problems.push(format!("repomd.xml: {e}"));
            return report;
        }
    };
    let sha256 = hex::encode(Sha256::digest(&repomd));
    let sha512 = hex::encode(Sha512::digest(&repomd));
    let matches = |facts: &ParsedFacts| {
        let mut any = false;
        for (kind, value) in &facts.hashes {
            let ours = match kind.as_str() {
                "sha256" => &sha256,
                "sha512" => &sha512,
                _ => continue,
            };
            if ours != value {
                return false;
            }
            any = true;
        }
        any
    };
    if !matches(expected) {
        let stale = alternates.iter().find(|a| matches(a));
        let mut problem = match stale {
            Some(alt) => format!(
                "stale repomd.xml: it is the older alternate (timestamp {}), not the current one",
                alt.timestamp
                    .map_or_else(|| "?".to_owned(), |t| t.to_string())
            ),
            None => "stale or wrong repomd.xml: its hashes differ from the metalink's".to_owned(),
        };
        if let Some(want) = expected.hash("sha256") {
            let _ = write!(
                problem,
                " (sha256 `{}`, metalink `{}`)",
                short(&sha256),
                short(want)
            );
        }
        report.problems.push(problem);
    } else if let Some(size) = expected.size {
        if size != repomd.len() as u64 {
            report.problems.push(format!(
                "repomd.xml is {} bytes but the metalink says {size}",
                repomd.len()
            ));
        }
    }

    let asc_url = format!("{repomd_url}.asc");
    match fetch(client, &asc_url, SIGNATURE_BYTES_MAX).await {
        Err(e) => report.problems.push(format!("repomd.xml.asc: {e}")),
        Ok(bytes) => match String::from_utf8(bytes) {
            Err(_) => report
                .problems
                .push("repomd.xml.asc is not text".to_owned()),
            Ok(asc) => {
                if let Err(e) = crate::core::signing::verify_detached_any(public_key, &repomd, &asc)
                {
                    report.problems.push(format!("repomd.xml.asc: {e:#}"));
                }
            }
        },
    }

    let files = match parse_repomd(&repomd) {
        Ok(files) => files,
        Err(e) => {
            report.problems.push(format!("repomd.xml: {e:#}"));
            return report;
        }
    };
    for file in &files {
        match check_file(client, &base, file).await {
            Ok(()) => {
                report.files_checked += 1;
                report.bytes_checked += file.size;
            }
            Err(e) => report.problems.push(format!("{}: {e}", file.href)),
        }
    }
    report
}

/// `…/repodata/repomd.xml` -> `…/` (the directory that holds `repodata/`).
fn repo_base(repomd_url: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(repomd_url).map_err(|e| format!("not a URL: {e}"))?;
    if !url.path().ends_with("/repodata/repomd.xml") || url.query().is_some() {
        return Err("the metalink URL does not end in `/repodata/repomd.xml`".to_owned());
    }
    url.join("../").map_err(|e| format!("not a URL: {e}"))
}

async fn check_file(
    client: &reqwest::Client,
    base: &reqwest::Url,
    entry: &RepomdEntry,
) -> Result<(), String> {
    if entry.href.contains("..") || entry.href.starts_with('/') || entry.href.contains("://") {
        return Err("the location leaves the repository".to_owned());
    }
    let url = base
        .join(&entry.href)
        .map_err(|e| format!("bad location: {e}"))?;
    if entry.size > DATA_FILE_BYTES_MAX {
        return Err(format!(
            "repomd.xml says {} bytes, more than the {DATA_FILE_BYTES_MAX} checked",
            entry.size
        ));
    }
    let mut hasher: Box<dyn sha2::digest::DynDigest + Send> = match entry.checksum_type.as_str() {
        "sha256" => Box::new(Sha256::new()),
        "sha512" => Box::new(Sha512::new()),
        other => return Err(format!("checksum type `{other}` is not supported")),
    };
    let response = get(client, url.as_str()).await?;
    let mut size = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("download broke off: {}", reason(&e)))?;
        size += chunk.len() as u64;
        if size > entry.size {
            return Err(format!(
                "larger than the {} bytes repomd.xml says ({})",
                entry.size,
                redact(url.as_str())
            ));
        }
        hasher.update(&chunk);
    }
    if size != entry.size {
        return Err(format!(
            "{size} bytes, repomd.xml says {} ({})",
            entry.size,
            redact(url.as_str())
        ));
    }
    let digest = hex::encode(hasher.finalize());
    if digest != entry.checksum {
        return Err(format!(
            "{} is `{}`, repomd.xml says `{}` ({})",
            entry.checksum_type,
            short(&digest),
            short(&entry.checksum),
            redact(url.as_str())
        ));
    }
    Ok(())
}

/// GET with a 200 check; the error says what happened, without the URL (callers
/// add the context).
async fn get(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, String> {
    let response = client.get(url).send().await.map_err(|e| reason(&e))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status} from {}", redact(url)));
    }
    Ok(response)
}

/// GET a whole body of at most `bytes_max` bytes.
async fn fetch(client: &reqwest::Client, url: &str, bytes_max: u64) -> Result<Vec<u8>, String> {
    let mut response = get(client, url).await?;
    crate::io::http::read_capped(&mut response, &redact(url), bytes_max)
        .await
        .map_err(|e| match e {
            crate::io::http::FetchError::TooLarge { max, .. } => {
                format!("the answer is larger than {max} bytes")
            }
            other => other.to_string(),
        })
}

fn reason(err: &reqwest::Error) -> String {
    let mut text = crate::io::http::describe(err);
    if let Some(url) = err.url() {
        let _ = write!(text, " ({})", redact(url.as_str()));
    }
    text
}

/// The first 16 hex digits, enough to tell two hashes apart in a report line.
fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

/// Drops `user:password@` from a URL before it is printed.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn read_key_file(path: &std::path::Path) -> anyhow::Result<String> {
    let shown = path.display();
    let metadata = fs_err::metadata(path).map_err(|e| {
        user_error(
            format!("cannot read the key `{shown}`: {e}"),
            "pass the repo-signing public key (ASCII-armored) with `--key FILE`, or leave `--key` out to fetch `/keys/repo.asc`",
        )
    })?;
    if metadata.len() > KEY_BYTES_MAX {
        return Err(user_error(
            format!(
                "the key `{shown}` is {} bytes, too large for a public key",
                metadata.len()
            ),
            "pass the ASCII-armored public key, e.g. the origin's `/keys/repo.asc`",
        ));
    }
    let text = fs_err::read_to_string(path).map_err(|e| {
        user_error(
            format!("cannot read the key `{shown}`: {e}"),
            "pass the ASCII-armored public key (`gpg --armor --export`)",
        )
    })?;
    if !text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return Err(user_error(
            format!("the key `{shown}` is not an ASCII-armored OpenPGP public key"),
            "export it with `gpg --armor --export KEYID`, or fetch the origin's `/keys/repo.asc`",
        ));
    }
    Ok(text)
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub metalink: String,
    /// Repo-signing public key; default: fetched from the origin's `/keys/repo.asc`.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// PEM file of CA certificates trusted besides the system CA store (e.g. a
    /// partner's own CA or self-signed certificate).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_base_strips_repodata() {
        let base = repo_base("http://[::1]:1/pub/critical/43/x86_64/repodata/repomd.xml").unwrap();
        assert_eq!(base.as_str(), "http://[::1]:1/pub/critical/43/x86_64/");
        assert!(repo_base("http://[::1]:1/pub/repomd.xml").is_err());
    }

    #[test]
    fn repomd_records_are_read() {
        let repomd = br#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>7</revision>
  <data type="primary">
    <checksum type="sha256">AB</checksum>
    <open-checksum type="sha256">cd</open-checksum>
    <location href="repodata/ab-primary.xml.zst"/>
    <timestamp>7</timestamp>
    <size>12</size>
    <open-size>40</open-size>
  </data>
  <data type="other">
    <checksum type="sha512">ef</checksum>
    <location href="repodata/ef-other.xml.gz"/>
    <size>3</size>
  </data>
</repomd>"#;
        let entries = parse_repomd(repomd).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kind, "primary");
        assert_eq!(entries[0].checksum, "ab");
        assert_eq!(entries[0].size, 12);
        assert_eq!(entries[0].href, "repodata/ab-primary.xml.zst");
        assert_eq!(entries[1].checksum_type, "sha512");
        assert!(parse_repomd(b"<metalink/>").is_err());
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(redact("https://u:p@h.example/x"), "https://h.example/x");
    }
}
