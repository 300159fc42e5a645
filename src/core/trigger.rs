//! The build-system trigger's rules (`POST /api/v1/triggers/{name}`), pure:
//! `fetch_base` parsed and normalised, each requested package turned into one
//! [`FetchItem`] (the URL to fetch, the sha256 when given, and the file name
//! `N-V-R.ARCH.rpm` the fetched package must turn out to be), every path part
//! checked with `rpm::identity` before a URL is built, and every URL checked on
//! its parsed form to stay under `fetch_base` (scheme, host, port, no user
//! information, path prefix, no query, no percent-encoded bytes); the bounded
//! retry rule of a transient fetch failure (`retry_wait`).
//!
//! Never fetches anything, never reads the clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::core::api::{TriggerBuild, TriggerUrl};
use crate::core::rpm::identity::check_identity;

/// At most this many packages per trigger.
pub const ITEMS_MAX: usize = 256;
/// The longest URL accepted in `urls`.
pub const URL_BYTES_MAX: usize = 2048;

/// How many times one package is tried at most, the first try included.
pub const FETCH_ATTEMPTS_MAX: u32 = 4;
/// The first wait before a retry; each later one doubles it.
pub const RETRY_FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait before a retry, also for a server's `Retry-After`.
pub const RETRY_WAIT_MAX: Duration = Duration::from_secs(60);

/// The wait before trying a package again after a transient failure (a
/// connection error, a timeout, a 5xx, a 429), or why it is not tried again.
/// `attempts_done` counts the tries so far (1 after the first);
/// `retry_after` is the server's `Retry-After` header, honoured in its
/// delta-seconds form up to [`RETRY_WAIT_MAX`] (an HTTP date falls back to
/// the backoff); `remaining` is what is left of `fetch_timeout_secs`. A wait
/// that would not leave the retry any time is not taken.
pub fn retry_wait(
    attempts_done: u32,
    retry_after: Option<&str>,
    remaining: Duration,
) -> Result<Duration, String> {
    if attempts_done >= FETCH_ATTEMPTS_MAX {
        return Err(format!("gave up after {attempts_done} attempts"));
    }
    let backoff = RETRY_FIRST_WAIT
        .saturating_mul(1 << attempts_done.saturating_sub(1).min(16))
        .min(RETRY_WAIT_MAX);
    let wait = match retry_after.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(secs)) if Duration::from_secs(secs) > RETRY_WAIT_MAX => {
            return Err(format!(
                "the server asked to retry after {secs} s (Retry-After), longer than the {} s hotpush waits",
                RETRY_WAIT_MAX.as_secs()
            ))
        }
        Some(Ok(secs)) => Duration::from_secs(secs),
        _ => backoff,
    };
    if wait >= remaining {
        return Err(format!(
            "no retry: waiting {} s would pass fetch_timeout_secs",
            wait.as_secs()
        ));
    }
    Ok(wait)
}

/// One package a trigger asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchItem {
    /// Absolute, under `fetch_base`.
    pub url: String,
    /// Lowercase hex, when the trigger gave it.
    pub sha256: Option<String>,
    /// `N-V-R.ARCH.rpm`: what the fetched package's own header must name.
    pub file_name: String,
    /// Its arch (the last part of the file name before `.rpm`).
    pub arch: String,
}

/// A refused request: the JSON field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for TriggerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.reason)
    }
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> TriggerError {
    TriggerError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Parses `fetch_base`: `http://` or `https://` with a host, no user
/// information, query or fragment; the path gets a trailing `/`, so that
/// joining a relative path never replaces its last segment.
pub fn parse_base(text: &str) -> Result<Url, String> {
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("contains white space or a control character".into());
    }
    let mut url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme `{}` is not http or https",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries a user name or password; hotpush fetches without credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("carries a query or fragment".into());
    }
    if url.path().contains('%') {
        return Err("its path holds percent-encoded bytes".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Checks that `url` lies under `base`: the same scheme, host and port, no
/// user information, a path that starts with the base's path and goes on
/// below it in plain segments (no empty, `.` or `..` segment, nothing
/// percent-encoded, which a server might decode into `/` or `..`), no query
/// and no fragment.
pub fn check_under_base(base: &Url, url: &Url) -> Result<(), String> {
    if url.scheme() != base.scheme() {
        return Err(format!(
            "the scheme `{}` is not fetch_base's `{}`",
            url.scheme(),
            base.scheme()
        ));
    }
    if url.host_str() != base.host_str() {
        return Err(format!(
            "the host `{}` is not fetch_base's `{}`",
            url.host_str().unwrap_or(""),
            base.host_str().unwrap_or("")
        ));
    }
    if url.port_or_known_default() != base.port_or_known_default() {
        return Err(format!(
            "the port {} is not fetch_base's {}",
            url.port_or_known_default().unwrap_or(0),
            base.port_or_known_default().unwrap_or(0)
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries a user name or password".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it carries a query or fragment".into());
    }
    let Some(rest) = url.path().strip_prefix(base.path()) else {
        return Err(format!(
            "the path `{}` is not under fetch_base's `{}`",
            url.path(),
            base.path()
        ));
    };
    if rest.is_empty() {
        return Err("it names no file under fetch_base".into());
    }
    if rest.contains('%') {
        return Err("its path holds percent-encoded bytes".into());
    }
    if rest
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("its path has an empty, `.` or `..` segment".into());
    }
    Ok(())
}

/// Splits `name-version-release` at its last two `-` (version and release
/// never hold one).
pub fn split_nvr(nvr: &str) -> Option<(&str, &str, &str)> {
    let mut parts = nvr.rsplitn(3, '-');
    let release = parts.next()?;
    let version = parts.next()?;
    let name = parts.next()?;
    Some((name, version, release))
}

/// Splits `name-version-release.arch.rpm` into its four parts.
pub fn split_file_name(file: &str) -> Option<(&str, &str, &str, &str)> {
    let stem = file.strip_suffix(".rpm")?;
    let (nvr, arch) = stem.rsplit_once('.')?;
    let (name, version, release) = split_nvr(nvr)?;
    Some((name, version, release, arch))
}

/// A file name `N-V-R.ARCH.rpm` whose every part passes `rpm::identity`:
/// (name, version, release, arch).
fn checked_file_name<'a>(
    field: &str,
    file: &'a str,
) -> Result<(&'a str, &'a str, &'a str, &'a str), TriggerError> {
    let Some((n, v, r, a)) = split_file_name(file) else {
        return Err(err(
            field,
            format!(
                "`{}` is not a package file name `NAME-VERSION-RELEASE.ARCH.rpm`",
                file.escape_debug()
            ),
        ));
    };
    check_identity(n, v, r, a).map_err(|e| err(field, e))?;
    Ok((n, v, r, a))
}

fn check_sha256(field: &str, sha: &str) -> Result<String, TriggerError> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(
            field,
            format!(
                "`{}` is not a sha256 (64 hex digits)",
                sha.chars().take(80).collect::<String>().escape_debug()
            ),
        ));
    }
    Ok(sha.to_ascii_lowercase())
}

/// Every package of a trigger request, as URLs under `base` (from
/// [`parse_base`]) with the file name each must turn out to be. Refuses,
/// naming the field: no package at all, more than [`ITEMS_MAX`], a path part
/// that breaks `rpm::identity`, a file whose version or release is not its
/// build's, a sigkey that is not lowercase hex, a URL outside `base`, a bad
/// sha256, and the same file name twice.
pub fn fetch_items(
    base: &Url,
    builds: &[TriggerBuild],
    urls: &[TriggerUrl],
) -> Result<Vec<FetchItem>, TriggerError> {
    let mut items: Vec<FetchItem> = Vec::new();
    if let Some(i) = builds.iter().position(|b| b.rpms.is_empty()) {
        return Err(err(
            format!("builds[{i}].rpms"),
            "lists no package of this build",
        ));
    }
    let total: usize = builds.iter().map(|b| b.rpms.len()).sum::<usize>() + urls.len();
    if total == 0 {
        return Err(err(
            "builds",
            "the trigger names no package: give `builds` (Koji NVRs with their rpms) or `urls`",
        ));
    }
    if total > ITEMS_MAX {
        return Err(err(
            "builds",
            format!("{total} packages; at most {ITEMS_MAX} per trigger"),
        ));
    }
    for (i, b) in builds.iter().enumerate() {
        let field = format!("builds[{i}].nvr");
        let Some((bn, bv, br)) = split_nvr(&b.nvr) else {
            return Err(err(
                field,
                format!("`{}` is not `NAME-VERSION-RELEASE`", b.nvr.escape_debug()),
            ));
        };
        check_identity(bn, bv, br, "noarch").map_err(|e| err(&field, e))?;
        let key_field = format!("builds[{i}].sigkey");
        let key_ok = (8..=40).contains(&b.sigkey.len())
            && b.sigkey
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        if !key_ok {
            return Err(err(
                key_field,
                format!(
                    "`{}` is not a key id in lowercase hex (8 to 40 digits), as Koji files signed copies, e.g. `aa50bb30`",
                    b.sigkey.chars().take(80).collect::<String>().escape_debug()
                ),
            ));
        }
        for (j, file) in b.rpms.iter().enumerate() {
            let field = format!("builds[{i}].rpms[{j}]");
            let (_, v, r, a) = checked_file_name(&field, file)?;
            if v != bv || r != br {
                return Err(err(
                    field,
                    format!("`{file}` is version-release `{v}-{r}`, not the build's `{bv}-{br}`"),
                ));
            }
            let relative = format!(
                "packages/{bn}/{bv}/{br}/data/signed/{}/{a}/{file}",
                b.sigkey
            );
            let url = base
                .join(&relative)
                .map_err(|e| err(&field, format!("cannot build its URL: {e}")))?;
            check_under_base(base, &url).map_err(|e| err(&field, format!("{url}: {e}")))?;
            if url.path() != format!("{}{relative}", base.path()) {
                return Err(err(
                    field,
                    format!("its URL `{url}` is not fetch_base + `{relative}`"),
                ));
            }
            push_item(
                &mut items,
                &field,
                FetchItem {
                    url: url.to_string(),
                    sha256: None,
                    file_name: file.clone(),
                    arch: a.to_owned(),
                },
            )?;
        }
    }
    for (i, u) in urls.iter().enumerate() {
        let field = format!("urls[{i}].url");
        if u.url.len() > URL_BYTES_MAX {
            return Err(err(
                field,
                format!("{} bytes; at most {URL_BYTES_MAX}", u.url.len()),
            ));
        }
        if u.url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(err(field, "contains white space or a control character"));
        }
        let url = Url::parse(&u.url).map_err(|e| err(&field, format!("not a URL: {e}")))?;
        check_under_base(base, &url).map_err(|e| {
            err(
                &field,
                format!(
                    "`{}` is outside fetch_base `{base}`: {e}",
                    u.url.escape_debug()
                ),
            )
        })?;
        let file = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("")
            .to_owned();
        let (_, _, _, a) = checked_file_name(&field, &file)?;
        let arch = a.to_owned();
        let sha256 = match &u.sha256 {
            Some(s) => Some(check_sha256(&format!("urls[{i}].sha256"), s)?),
            None => None,
        };
        push_item(
            &mut items,
            &field,
            FetchItem {
                url: url.to_string(),
                sha256,
                file_name: file,
                arch,
            },
        )?;
    }
    Ok(items)
}

fn push_item(items: &mut Vec<FetchItem>, field: &str, item: FetchItem) -> Result<(), TriggerError> {
    if items.iter().any(|i| i.file_name == item.file_name) {
        return Err(err(field, format!("`{}` is listed twice", item.file_name)));
    }
    items.push(item);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn retry_waits_are_bounded_and_honour_retry_after() {
        use super::{retry_wait, FETCH_ATTEMPTS_MAX, RETRY_WAIT_MAX};
        use std::time::Duration;
        let long = Duration::from_secs(3600);
        // Doubling backoff from 1 s.
        let waits: Vec<_> = (1..FETCH_ATTEMPTS_MAX)
            .map(|n| retry_wait(n, None, long).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4]);
        // Never more attempts than the bound, whatever the time left.
        assert!(retry_wait(FETCH_ATTEMPTS_MAX, None, long).is_err());
        assert!(retry_wait(u32::MAX, None, long).is_err());
        // Retry-After in seconds is honoured, a date falls back to the backoff,
        // garbage too; beyond the maximum it is a refusal, not a long sleep.
        assert_eq!(retry_wait(1, Some("7"), long).unwrap().as_secs(), 7);
        assert_eq!(retry_wait(1, Some(" 0 "), long).unwrap().as_secs(), 0);
        assert_eq!(
            retry_wait(2, Some("Wed, 21 Oct 2015 07:28:00 GMT"), long).unwrap(),
            Duration::from_secs(2)
        );
        assert_eq!(retry_wait(1, Some("-3"), long).unwrap().as_secs(), 1);
        let max = RETRY_WAIT_MAX.as_secs();
        assert_eq!(
            retry_wait(1, Some(&max.to_string()), long).unwrap(),
            RETRY_WAIT_MAX
        );
        let e = retry_wait(1, Some(&(max + 1).to_string()), long).unwrap_err();
        assert!(e.contains("Retry-After"), "{e}");
        assert!(retry_wait(1, Some("18446744073709551615"), long).is_err());
        // A wait that eats the rest of fetch_timeout_secs is not taken.
        let e = retry_wait(1, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("fetch_timeout_secs"), "{e}");
        assert!(retry_wait(1, Some("5"), Duration::from_secs(4)).is_err());
        assert!(retry_wait(1, None, Duration::from_millis(1001)).is_ok());
    }

    use super::*;

    const BASE: &str = "https://koji.example.org/kojifiles";

    fn build(nvr: &str, key: &str, rpms: &[&str]) -> TriggerBuild {
        TriggerBuild {
            nvr: nvr.into(),
            sigkey: key.into(),
            rpms: rpms.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn url(u: &str) -> TriggerUrl {
        TriggerUrl {
            url: u.into(),
            sha256: None,
        }
    }

    #[test]
    fn koji_builds_become_urls_in_kojis_layout() {
        let base = parse_base(BASE).unwrap();
        assert_eq!(base.as_str(), "https://koji.example.org/kojifiles/");
        let items = fetch_items(
            &base,
            &[build(
                "libfoo-1.2-3.fc43",
                "aa50bb30",
                &[
                    "libfoo-1.2-3.fc43.x86_64.rpm",
                    "libfoo-devel-1.2-3.fc43.x86_64.rpm",
                    "libfoo-1.2-3.fc43.src.rpm",
                ],
            )],
            &[],
        )
        .unwrap();
        assert_eq!(
            items[1].url,
            "https://koji.example.org/kojifiles/packages/libfoo/1.2/3.fc43/data/signed/aa50bb30/x86_64/libfoo-devel-1.2-3.fc43.x86_64.rpm"
        );
        assert_eq!(items[1].file_name, "libfoo-devel-1.2-3.fc43.x86_64.rpm");
        assert_eq!(items[2].arch, "src");
        // Characters rpm allows in versions survive the join unchanged.
        let items = fetch_items(
            &base,
            &[build(
                "gcc-c++-14.2.1~rc1^git1-0.1.fc43",
                "aa50bb30",
                &["gcc-c++-14.2.1~rc1^git1-0.1.fc43.aarch64.rpm"],
            )],
            &[],
        )
        .unwrap();
        assert!(items[0].url.ends_with("/packages/gcc-c++/14.2.1~rc1^git1/0.1.fc43/data/signed/aa50bb30/aarch64/gcc-c++-14.2.1~rc1^git1-0.1.fc43.aarch64.rpm"), "{}", items[0].url);
    }

    #[test]
    fn hostile_path_parts_are_refused_naming_the_field() {
        let base = parse_base(BASE).unwrap();
        let ok = "libfoo-1.2-3.fc43.x86_64.rpm";
        for (b, field) in [
            (build("../../etc-1-1", "aa50bb30", &[ok]), "builds[0].nvr"),
            (build("libfoo-1.2", "aa50bb30", &[ok]), "builds[0].nvr"),
            (
                build("lib/foo-1.2-3.fc43", "aa50bb30", &[ok]),
                "builds[0].nvr",
            ),
            (
                build("libfoo-1.2-3.fc43%2f", "aa50bb30", &[ok]),
                "builds[0].nvr",
            ),
            (build("libfoo-1.2-..", "aa50bb30", &[ok]), "builds[0].nvr"),
            (
                build("libfoo-1.2-3.fc43", "../x", &[ok]),
                "builds[0].sigkey",
            ),
            (
                build("libfoo-1.2-3.fc43", "AA50BB30", &[ok]),
                "builds[0].sigkey",
            ),
            (
                build("libfoo-1.2-3.fc43", "aa50", &[ok]),
                "builds[0].sigkey",
            ),
            (build("libfoo-1.2-3.fc43", "", &[ok]), "builds[0].sigkey"),
            (
                build("libfoo-1.2-3.fc43", "aa50bb30", &[]),
                "builds[0].rpms",
            ),
            (
                build(
                    "libfoo-1.2-3.fc43",
                    "aa50bb30",
                    &["../libfoo-1.2-3.fc43.x86_64.rpm"],
                ),
                "builds[0].rpms[0]",
            ),
            (
                build(
                    "libfoo-1.2-3.fc43",
                    "aa50bb30",
                    &["libfoo-1.2-3.fc43.x86_64"],
                ),
                "builds[0].rpms[0]",
            ),
            (
                build(
                    "libfoo-1.2-3.fc43",
                    "aa50bb30",
                    &["libfoo-1.2-3.fc43.x/86.rpm"],
                ),
                "builds[0].rpms[0]",
            ),
            (
                build(
                    "libfoo-1.2-3.fc43",
                    "aa50bb30",
                    &["libfoo-1.2-3.fc43.x86_64.rpm?x=1"],
                ),
                "builds[0].rpms[0]",
            ),
            (
                build(
                    "libfoo-1.2-3.fc43",
                    "aa50bb30",
                    &["libfoo-1.2-4.fc43.x86_64.rpm"],
                ),
                "builds[0].rpms[0]",
            ),
            (
                build(
                    "libfoo-1.2-3.fc43",
                    "aa50bb30",
                    &["libfoo-1.3-3.fc43.x86_64.rpm"],
                ),
                "builds[0].rpms[0]",
            ),
            (
                build(
                    "libfoo-1.2-3.fc43",
                    "aa50bb30",
                    &["%2e%2e-1.2-3.fc43.x86_64.rpm"],
                ),
                "builds[0].rpms[0]",
            ),
            (
                build("libfoo-1.2-3.fc43", "aa50bb30", &[ok, ok]),
                "builds[0].rpms[1]",
            ),
        ] {
            let e = fetch_items(&base, &[b], &[]).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
        let e = fetch_items(&base, &[], &[]).unwrap_err();
        assert_eq!(e.field, "builds");
    }

    #[test]
    fn urls_outside_fetch_base_are_refused() {
        let base = parse_base(BASE).unwrap();
        let file = "libfoo-1.2-3.fc43.x86_64.rpm";
        let good = format!("{BASE}/packages/libfoo/1.2/3.fc43/data/signed/aa50bb30/x86_64/{file}");
        let items = fetch_items(&base, &[], &[url(&good)]).unwrap();
        assert_eq!(items[0].file_name, file);
        assert_eq!(items[0].arch, "x86_64");
        for bad in [
            format!("{BASE}/../{file}"),
            format!("{BASE}/%2e%2e/{file}"),
            format!("{BASE}/%2E%2E/%2e%2e/{file}"),
            format!("{BASE}/a/..%2f{file}"),
            format!("{BASE}/a%2f..%2f/{file}"),
            format!("{BASE}/a//{file}"),
            format!("https://evil.example.org/kojifiles/{file}"),
            format!("https://koji.example.org.evil.example.org/kojifiles/{file}"),
            format!("https://user@koji.example.org/kojifiles/{file}"),
            format!("https://user:pw@koji.example.org/kojifiles/{file}"),
            format!("https://koji.example.org:8443/kojifiles/{file}"),
            format!("http://koji.example.org/kojifiles/{file}"),
            format!("https://koji.example.org/kojifilesX/{file}"),
            format!("https://koji.example.org/{file}"),
            format!("{BASE}/{file}?x=1"),
            format!("{BASE}/{file}#frag"),
            format!("file:///kojifiles/{file}"),
            format!("{BASE}/ {file}"),
            format!("{BASE}/x/not-a-package.txt"),
            format!("{BASE}/"),
            BASE.to_owned(),
            "not a url".to_owned(),
        ] {
            let e = fetch_items(&base, &[], &[url(&bad)]).unwrap_err();
            assert_eq!(e.field, "urls[0].url", "{bad}: {e}");
        }
        // The default port written out is the same port.
        let explicit = format!("https://koji.example.org:443/kojifiles/{file}");
        fetch_items(&base, &[], &[url(&explicit)]).unwrap();
        let bad_sha = TriggerUrl {
            url: good.clone(),
            sha256: Some("abc".into()),
        };
        assert_eq!(
            fetch_items(&base, &[], &[bad_sha]).unwrap_err().field,
            "urls[0].sha256"
        );
        let sha = TriggerUrl {
            url: good,
            sha256: Some("AB".repeat(32)),
        };
        assert_eq!(
            fetch_items(&base, &[], &[sha]).unwrap()[0]
                .sha256
                .as_deref(),
            Some("ab".repeat(32).as_str())
        );
    }

    #[test]
    fn fetch_base_is_parsed_strictly() {
        assert_eq!(
            parse_base("http://[::1]:8080").unwrap().as_str(),
            "http://[::1]:8080/"
        );
        for bad in [
            "ftp://koji.example.org/",
            "https://u:p@koji.example.org/",
            "https://koji.example.org/?x",
            "https://koji.example.org/#x",
            "https://koji.example.org/a%2fb/",
            "koji.example.org",
            "https:// koji.example.org/",
        ] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn too_many_packages_are_refused() {
        let base = parse_base(BASE).unwrap();
        let rpms: Vec<String> = (0..=ITEMS_MAX)
            .map(|i| format!("p{i}-1-1.x86_64.rpm"))
            .collect();
        let refs: Vec<&str> = rpms.iter().map(String::as_str).collect();
        let e = fetch_items(&base, &[build("p-1-1", "aa50bb30", &refs)], &[]).unwrap_err();
        assert!(e.reason.contains("at most"), "{e}");
    }
}
