//! The retirement watcher: empties the critical repo again once a fix has
//! reached the regular updates repositories.
//!
//! Owns: the pure decision [`caught_up`] (rpm version comparison of the live
//! packages against the regular repo's), reading a regular repo's repomd.xml and
//! primary (gz, zst or plain; bounded sizes, timeouts, checksum checked), and the
//! loop that retires a live advisory exactly as `POST
//! /api/v1/advisories/{id}/retire` does, with the actor `retirement-watcher`.
//!
//! It must not know how repodata is written or published: it only flips the
//! advisory's state and queues a routine publish. A fetch that fails never
//! retires anything; it is logged and tried again at the next interval.
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Read};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sha2::Digest;

use crate::core::rpm::deps::rpmvercmp;
use crate::origin::app::App;
use crate::origin::config::RetirementConfig;

/// The actor written to the audit log and the events.
pub const ACTOR: &str = "retirement-watcher";

/// A repomd.xml is a few kilobytes; anything this big is not one.
const REPOMD_BYTES_MAX: usize = 1024 * 1024;
/// Fedora's largest compressed primary is a few tens of MiB.
const PRIMARY_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Decompressed primary of Fedora's largest repos is well under this.
const PRIMARY_XML_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
const REDIRECTS_MAX: usize = 5;

/// One package's identity as the comparison needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evra {
    pub name: String,
    /// Empty reads as `0`.
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
}

/// rpm's EVR order: epoch (missing = 0), then version, then release.
pub fn evr_cmp(a: &Evra, b: &Evra) -> Ordering {
    let epoch = |e: &str| if e.is_empty() { "0" } else { e }.to_owned();
    rpmvercmp(&epoch(&a.epoch), &epoch(&b.epoch))
        .then_with(|| rpmvercmp(&a.version, &b.version))
        .then_with(|| rpmvercmp(&a.release, &b.release))
}

/// True when every live package is in `regular`, or a newer EVR of the same
/// name and arch is; `noarch` on either side matches any arch (packages move
/// between noarch and arch-specific builds). An empty `live` is trivially
/// caught up: callers decide whether that may retire anything.
pub fn caught_up(live: &[Evra], regular: &[Evra]) -> bool {
    live.iter().all(|p| {
        regular.iter().any(|r| {
            r.name == p.name
                && (r.arch == p.arch || r.arch == "noarch" || p.arch == "noarch")
                && evr_cmp(r, p) != Ordering::Less
        })
    })
}

/// The `<revision>` of a repomd.xml, if it has one.
pub fn repomd_revision(repomd: &[u8]) -> anyhow::Result<Option<String>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(repomd);
    let mut buf = Vec::new();
    let mut in_revision = false;
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == b"revision" => in_revision = true,
            Event::Text(t) if in_revision => {
                return Ok(Some(String::from_utf8_lossy(t.as_ref()).trim().to_owned()))
            }
            Event::End(_) => in_revision = false,
            Event::Eof => return Ok(None),
            _ => {}
        }
        buf.clear();
    }
}

/// The packages of a primary.xml whose name is in `names` (everything else is
/// skipped, so memory stays bounded by what is live, not by the repo's size).
pub fn primary_packages(xml: impl BufRead, names: &BTreeSet<String>) -> anyhow::Result<Vec<Evra>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<Evra> = None;
    let mut in_format = false;
    let mut field: Option<&'static str> = None;
    loop {
        let event = reader.read_event_into(&mut buf).with_context(|| {
            format!(
                "primary.xml is not well-formed near byte {}",
                reader.buffer_position()
            )
        })?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"package" => {
                    cur = Some(Evra {
                        name: String::new(),
                        epoch: String::new(),
                        version: String::new(),
                        release: String::new(),
                        arch: String::new(),
                    });
                    in_format = false;
                }
                b"format" => in_format = true,
                b"name" if cur.is_some() && !in_format => field = Some("name"),
                b"arch" if cur.is_some() && !in_format => field = Some("arch"),
                b"version" => read_version(&e, cur.as_mut(), in_format)?,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"version" => {
                read_version(&e, cur.as_mut(), in_format)?
            }
            Event::Text(t) => {
                if let (Some(f), Some(p)) = (field, cur.as_mut()) {
                    let text = String::from_utf8_lossy(t.as_ref());
                    match f {
                        "name" => p.name.push_str(text.trim()),
                        _ => p.arch.push_str(text.trim()),
                    }
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"package" => {
                    if let Some(p) = cur.take() {
                        if names.contains(&p.name) {
                            out.push(p);
                        }
                    }
                }
                b"format" => in_format = false,
                _ => field = None,
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

fn read_version(
    e: &quick_xml::events::BytesStart<'_>,
    cur: Option<&mut Evra>,
    in_format: bool,
) -> anyhow::Result<()> {
    let Some(p) = cur else { return Ok(()) };
    if in_format {
        return Ok(());
    }
    for a in e.attributes() {
        let a = a?;
        let value = a.unescape_value()?.into_owned();
        match a.key.as_ref() {
            b"epoch" => p.epoch = value,
            b"ver" => p.version = value,
            b"rel" => p.release = value,
            _ => {}
        }
    }
    Ok(())
}

/// Decompresses a primary by its magic bytes (gzip, zstd, or plain XML) and
/// reads the packages named in `names`; the decompressed size is bounded.
pub fn decode_primary(bytes: &[u8], names: &BTreeSet<String>) -> anyhow::Result<Vec<Evra>> {
    let reader: Box<dyn Read + '_> = match bytes {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(zstd::stream::read::Decoder::new(bytes)?),
        [b'<', ..] | [0xef, 0xbb, 0xbf, ..] => Box::new(bytes),
        _ => bail!("the primary is neither gzip, zstd nor XML (xz and bzip2 are not read)"),
    };
    let capped = Capped {
        inner: reader,
        left_bytes: PRIMARY_XML_BYTES_MAX,
    };
    primary_packages(std::io::BufReader::new(capped), names)
}

/// Fails the read instead of silently truncating once the bound is passed.
struct Capped<R> {
    inner: R,
    left_bytes: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left_bytes = self.left_bytes.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "decompressed primary larger than {PRIMARY_XML_BYTES_MAX} bytes"
            ))
        })?;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------
// I/O: the loop, fetching, retiring.

/// Starts the watcher when the configuration has a `[retirement]` table.
pub fn spawn(app: Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    let config = app.config.retirement.clone()?;
    Some(tokio::spawn(async move {
        let client = match client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "the retirement watcher cannot start"
                );
                return;
            }
        };
        tracing::info!(
            updates_baseurl = config.updates_baseurl,
            interval_secs = config.interval_secs,
            "retirement watcher started"
        );
        let mut cache = PrimaryCache::default();
        let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = check_once(&app, &config, &client, &mut cache).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the retirement check failed; trying again at the next interval"
                );
            }
        }
    }))
}

fn client() -> anyhow::Result<reqwest::Client> {
    crate::io::http::ClientSpec::new("hotpush-retirement-watcher")
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirects(REDIRECTS_MAX)
        .build()
}

/// What one regular updates repo held when it was read.
#[derive(Debug, Clone)]
struct RegularRepo {
    url: String,
    revision: String,
    packages: Arc<Vec<Evra>>,
}

/// The last primary read per repo URL: skipped when neither its location nor the
/// names asked for changed (createrepo_c names files by checksum).
#[derive(Default)]
struct PrimaryCache {
    by_url: HashMap<String, CachedPrimary>,
}

struct CachedPrimary {
    /// `href#checksum` of the primary that was read.
    key: String,
    /// The names it was filtered for.
    names: BTreeSet<String>,
    packages: Arc<Vec<Evra>>,
}

/// A live advisory as the watcher sees it.
struct LiveAdvisory {
    id: String,
    releases: Vec<String>,
    /// Binary packages only: source packages have no place in binary repos.
    packages: Vec<Evra>,
}

/// One pass: reads what is live, the regular repos it needs, and retires every
/// advisory whose packages all reached them. Returns the retired ids.
async fn check_once(
    app: &Arc<App>,
    config: &RetirementConfig,
    client: &reqwest::Client,
    cache: &mut PrimaryCache,
) -> anyhow::Result<Vec<String>> {
    let live = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || live_advisories(&app)).await??
    };
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let arches: Vec<String> = app
        .config
        .repos
        .arches
        .iter()
        .filter(|a| a.as_str() != "source")
        .cloned()
        .collect();
    // Which (release, arch) repos each advisory must have reached.
    let mut needs: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for adv in &live {
        let entry = needs.entry(adv.id.as_str()).or_default();
        for release in &adv.releases {
            for arch in &arches {
                if adv.packages.iter().any(|p| takes(arch, &p.arch)) {
                    entry.push((release.clone(), arch.clone()));
                }
            }
        }
        names.extend(adv.packages.iter().map(|p| p.name.clone()));
    }
    let wanted: BTreeSet<(String, String)> = needs.values().flatten().cloned().collect();
    let mut regular: BTreeMap<(String, String), Option<RegularRepo>> = BTreeMap::new();
    for (release, arch) in wanted {
        let url = config.updates_url(&release, &arch);
        let got = match fetch_regular(client, &url, &names, cache).await {
            Ok(repo) => Some(repo),
            Err(e) => {
                tracing::warn!(
                    url,
                    error = format!("{e:#}"),
                    "cannot read the regular updates repo; nothing that needs it is retired, \
                     trying again at the next interval"
                );
                None
            }
        };
        regular.insert((release, arch), got);
    }
    let mut retired = Vec::new();
    for adv in &live {
        let repos = &needs[adv.id.as_str()];
        if repos.is_empty() {
            // Only source packages, or no configured arch takes them: nothing
            // to compare with, so only a person retires it.
            continue;
        }
        let mut seen = Vec::new();
        let mut all = true;
        for key in repos {
            let Some(Some(repo)) = regular.get(key) else {
                all = false;
                break;
            };
            let here: Vec<Evra> = adv
                .packages
                .iter()
                .filter(|p| takes(&key.1, &p.arch))
                .cloned()
                .collect();
            if !caught_up(&here, &repo.packages) {
                all = false;
                break;
            }
            seen.push(format!("{} (revision {})", repo.url, repo.revision));
        }
        if !all {
            continue;
        }
        let reason = format!(
            "every package reached the regular updates: {}",
            seen.join(", ")
        );
        let done = {
            let app = app.clone();
            let id = adv.id.clone();
            let reason = reason.clone();
            tokio::task::spawn_blocking(move || retire(&app, &id, &reason)).await??
        };
        if done {
            retired.push(adv.id.clone());
        }
    }
    Ok(retired)
}

/// Whether a binary repo of `repo_arch` carries a package of `pkg_arch`.
fn takes(repo_arch: &str, pkg_arch: &str) -> bool {
    pkg_arch == repo_arch || pkg_arch == "noarch"
}

fn live_advisories(app: &App) -> anyhow::Result<Vec<LiveAdvisory>> {
    let configured = &app.config.repos.releases;
    let advisories: BTreeMap<String, _> = app
        .store
        .advisories()?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut out: BTreeMap<String, LiveAdvisory> = BTreeMap::new();
    for (id, p) in app.store.live_packages()? {
        let Some(adv) = advisories.get(&id) else {
            continue;
        };
        let entry = out.entry(id.clone()).or_insert_with(|| LiveAdvisory {
            id: id.clone(),
            releases: configured
                .iter()
                .filter(|r| adv.releases.is_empty() || adv.releases.contains(r))
                .cloned()
                .collect(),
            packages: Vec::new(),
        });
        if p.arch == "src" {
            continue;
        }
        let record = crate::origin::jobs::record_for(app, &p.sha256, &p.file_name, p.time_file)?;
        let evra = Evra {
            name: record.name,
            epoch: record.epoch,
            version: record.version,
            release: record.release,
            arch: record.arch,
        };
        if !entry.packages.contains(&evra) {
            entry.packages.push(evra);
        }
    }
    Ok(out.into_values().collect())
}

/// Retires `id` if it is still live, as the API does; false when someone else
/// retired it meanwhile.
fn retire(app: &App, id: &str, reason: &str) -> anyhow::Result<bool> {
    match app.store.advisory(id)? {
        Some(adv) if adv.state == "live" => {}
        _ => return Ok(false),
    }
    crate::origin::jobs::retire(app, id, ACTOR, "reached the regular updates")?;
    app.store.audit(ACTOR, "retire", id, true, reason, "-")?;
    Ok(true)
}

async fn fetch_regular(
    client: &reqwest::Client,
    url: &str,
    names: &BTreeSet<String>,
    cache: &mut PrimaryCache,
) -> anyhow::Result<RegularRepo> {
    let repomd_url = format!("{url}repodata/repomd.xml");
    let repomd = fetch_capped(client, &repomd_url, REPOMD_BYTES_MAX).await?;
    let revision = repomd_revision(&repomd)
        .with_context(|| format!("`{repomd_url}` is not a repomd.xml"))?
        .unwrap_or_else(|| "none".to_owned());
    let entries = crate::origin::publish::index_entries(&repomd)
        .with_context(|| format!("`{repomd_url}` is not a repomd.xml"))?;
    let Some(primary) = entries.into_iter().find(|e| e.kind == "primary") else {
        bail!("`{repomd_url}` lists no primary");
    };
    if primary.href.is_empty() || primary.href.contains("..") || primary.href.contains("://") {
        bail!(
            "`{repomd_url}` has a primary location `{}` outside the repo",
            primary.href
        );
    }
    let key = format!("{}#{}", primary.href, primary.sha256);
    if let Some(cached) = cache.by_url.get(url) {
        if cached.key == key && cached.names == *names {
            return Ok(RegularRepo {
                url: url.to_owned(),
                revision,
                packages: cached.packages.clone(),
            });
        }
    }
    let primary_url = format!("{url}{}", primary.href);
    let bytes = fetch_capped(client, &primary_url, PRIMARY_BYTES_MAX).await?;
    let expected = primary.sha256.to_ascii_lowercase();
    let actual = match expected.len() {
        64 => Some(hex::encode(sha2::Sha256::digest(&bytes))),
        128 => Some(hex::encode(sha2::Sha512::digest(&bytes))),
        _ => None,
    };
    if let Some(actual) = actual {
        if actual != expected {
            bail!(
                "`{primary_url}` does not match the checksum in repomd.xml (a mirror in the \
                 middle of a sync?)"
            );
        }
    }
    let wanted = names.clone();
    let packages = tokio::task::spawn_blocking(move || decode_primary(&bytes, &wanted))
        .await?
        .with_context(|| format!("cannot read `{primary_url}`"))?;
    let packages = Arc::new(packages);
    cache.by_url.insert(
        url.to_owned(),
        CachedPrimary {
            key,
            names: names.clone(),
            packages: packages.clone(),
        },
    );
    Ok(RegularRepo {
        url: url.to_owned(),
        revision,
        packages,
    })
}

/// GETs `url` into memory, failing on a non-200 status or more than `max_bytes`.
async fn fetch_capped(
    client: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> anyhow::Result<Vec<u8>> {
    crate::io::http::fetch_capped(client, url, max_bytes as u64)
        .await
        .with_context(|| format!("cannot GET `{url}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, epoch: &str, version: &str, release: &str, arch: &str) -> Evra {
        Evra {
            name: name.into(),
            epoch: epoch.into(),
            version: version.into(),
            release: release.into(),
            arch: arch.into(),
        }
    }

    #[test]
    fn caught_up_needs_the_same_or_a_newer_evr_of_the_same_name_and_arch() {
        let live = [p("openssl", "1", "3.2.1", "2.fc43", "x86_64")];
        // Older release, other arch, other name: not caught up.
        assert!(!caught_up(
            &live,
            &[p("openssl", "1", "3.2.1", "1.fc43", "x86_64")]
        ));
        assert!(!caught_up(
            &live,
            &[p("openssl", "1", "3.2.1", "2.fc43", "i686")]
        ));
        assert!(!caught_up(
            &live,
            &[p("openssl-libs", "1", "3.2.1", "2.fc43", "x86_64")]
        ));
        assert!(!caught_up(&live, &[]));
        // A missing epoch is 0, which is older than 1.
        assert!(!caught_up(
            &live,
            &[p("openssl", "", "3.2.2", "1.fc43", "x86_64")]
        ));
        // Same, or newer in any of epoch, version (numeric, not lexical), release.
        assert!(caught_up(
            &live,
            &[p("openssl", "1", "3.2.1", "2.fc43", "x86_64")]
        ));
        assert!(caught_up(
            &live,
            &[p("openssl", "1", "3.10.0", "1.fc43", "x86_64")]
        ));
        assert!(caught_up(
            &live,
            &[p("openssl", "1", "3.2.1", "10.fc43", "x86_64")]
        ));
        assert!(caught_up(&live, &[p("openssl", "2", "0.1", "1", "x86_64")]));
        // A tilde pre-release sorts before the release.
        assert!(!caught_up(
            &live,
            &[p("openssl", "1", "3.2.1~rc1", "2.fc43", "x86_64")]
        ));
    }

    #[test]
    fn noarch_matches_any_arch_and_every_package_must_be_there() {
        let live = [
            p("tzdata", "0", "2026a", "1", "noarch"),
            p("glibc", "0", "2.40", "5", "x86_64"),
        ];
        let only_glibc = [p("glibc", "0", "2.40", "5", "x86_64")];
        assert!(!caught_up(&live, &only_glibc));
        let both = [
            p("glibc", "0", "2.40", "6", "x86_64"),
            p("tzdata", "0", "2026a", "1", "x86_64"),
        ];
        assert!(caught_up(&live, &both));
        let glibc_noarch = [
            p("glibc", "0", "2.40", "5", "noarch"),
            p("tzdata", "", "2026b", "1", "noarch"),
        ];
        assert!(caught_up(&live, &glibc_noarch));
    }

    #[test]
    fn primary_is_read_for_the_names_asked_only() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>hello</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="1.0" rel="2"/>
  <format><rpm:provides><rpm:entry name="hello" flags="EQ" epoch="0" ver="9" rel="9"/></rpm:provides></format>
</package>
<package type="rpm">
  <name>other</name>
  <arch>noarch</arch>
  <version epoch="3" ver="1" rel="1"/>
</package>
</metadata>"#;
        let names: BTreeSet<String> = ["hello".to_owned()].into();
        let got = decode_primary(xml, &names).unwrap();
        assert_eq!(got, vec![p("hello", "0", "1.0", "2", "x86_64")]);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, xml).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode_primary(&gz, &names).unwrap(), got);
        let zst = zstd::encode_all(&xml[..], 3).unwrap();
        assert_eq!(decode_primary(&zst, &names).unwrap(), got);

        let err = decode_primary(b"\xfd7zXZ\0", &names).unwrap_err();
        assert!(err.to_string().contains("neither gzip"), "{err}");
        assert!(decode_primary(b"<metadata><package><name>hello</x>", &names).is_err());
    }

    #[test]
    fn repomd_revision_is_read() {
        let repomd = b"<repomd xmlns=\"http://linux.duke.edu/metadata/repo\"><revision>1762000000</revision><data type=\"primary\"/></repomd>";
        assert_eq!(
            repomd_revision(repomd).unwrap().as_deref(),
            Some("1762000000")
        );
        assert_eq!(repomd_revision(b"<repomd/>").unwrap(), None);
    }
}
