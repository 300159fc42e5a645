//! Spreading the bytes over healthy hosts (DESIGN "Order spreads the load"):
//! which of a metalink's hosts each request lists (those that pass the health
//! probes), in which order (drawn by weight per request, the origin first
//! only while fewer than `[metalink] spread_min_partners` partners are
//! listed), the document and its ETag (over the set of hosts, never their
//! order), and the health probes themselves: every `probe_interval_secs` a
//! conditional GET of each listed host's repomd.xml, bounded by the
//! interval; a host that fails leaves every metalink until it passes again.
//!
//! Never lists no host at all: when every host fails its probe, all stay
//! listed (a client then tries each in turn, which beats an empty document).
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};

use crate::core::metalink::{self, MetalinkDoc, SpreadHost};
use crate::io::etag;
use crate::origin::app::{App, MetalinkHost, ServedMetalink};

/// The health-probe name of the origin (never a valid mirror name).
pub const ORIGIN_HOST: &str = "(origin)";

/// The hosts one answer lists: those not failing their probe, or all of
/// them when every one fails.
pub fn listed<'a>(app: &App, m: &'a ServedMetalink) -> Vec<&'a MetalinkHost> {
    let healthy: Vec<&MetalinkHost> = m
        .hosts
        .iter()
        .filter(|h| !app.health.is_failing(&h.name))
        .collect();
    if healthy.is_empty() {
        m.hosts.iter().collect()
    } else {
        healthy
    }
}

/// The ETag of the metalink as it is answered now: the repomd hash and the
/// set of listed hosts.
pub fn etag_of(app: &App, m: &ServedMetalink) -> HeaderValue {
    let urls: Vec<&str> = listed(app, m).iter().map(|h| h.url.as_str()).collect();
    etag::metalink_etag(&m.facts.sha256, &urls)
}

/// The copy a partner serves (a static document, so no per-request order):
/// the listed hosts in their order, the origin first. Pushed again whenever a
/// probe changes which hosts are listed.
pub fn render_copy(app: &App, m: &ServedMetalink) -> String {
    let urls: Vec<String> = listed(app, m).iter().map(|h| h.url.clone()).collect();
    metalink::render(&MetalinkDoc {
        repomd: &m.facts,
        alternates: &[],
        urls: &urls,
        pubdate_unix: m.facts.timestamp,
    })
}

/// The document for one request: the listed hosts in an order drawn by
/// weight (see [`metalink::spread_order`]).
pub fn render_for_request(app: &App, m: &ServedMetalink) -> String {
    let hosts = listed(app, m);
    let partners = hosts.iter().filter(|h| !h.origin).count();
    let origin_first = partners < app.config.metalink.spread_min_partners as usize;
    let spread: Vec<SpreadHost> = hosts
        .iter()
        .map(|h| SpreadHost {
            weight: h.weight,
            origin: h.origin,
        })
        .collect();
    let order = metalink::spread_order(&spread, origin_first, rand::random::<f64>);
    let urls: Vec<String> = order.into_iter().map(|i| hosts[i].url.clone()).collect();
    metalink::render(&MetalinkDoc {
        repomd: &m.facts,
        alternates: &[],
        urls: &urls,
        pubdate_unix: m.facts.timestamp,
    })
}

/// Starts the health probes (none with `probe_interval_secs = 0`).
pub fn spawn_probes(app: Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    let interval_secs = app.config.metalink.probe_interval_secs;
    if interval_secs == 0 {
        return None;
    }
    let interval = Duration::from_secs(interval_secs);
    Some(tokio::spawn(async move {
        let clients = match Clients::build(&app, interval) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "health probes not started: no HTTP client"
                );
                return;
            }
        };
        loop {
            tokio::time::sleep(interval).await;
            probe_round(&app, &clients).await;
        }
    }))
}

/// One probe client per host (a partner may come with its own CA).
struct Clients {
    by_host: BTreeMap<String, reqwest::Client>,
}

impl Clients {
    fn build(app: &App, interval: Duration) -> anyhow::Result<Clients> {
        let timeout = probe_timeout(interval);
        let spec = |ca: Option<&std::path::Path>| {
            crate::io::http::ClientSpec::new("hotpush-probe")
                .connect_timeout(timeout)
                .timeout(timeout)
                .redirects(0)
                .no_proxy()
                .ca_file(ca)
                .build()
        };
        let mut by_host = BTreeMap::new();
        by_host.insert(ORIGIN_HOST.to_owned(), spec(None)?);
        for m in &app.mirrors {
            by_host.insert(m.name.clone(), spec(m.ca_file.as_deref())?);
        }
        Ok(Clients { by_host })
    }
}

/// A probe must end well before the next one starts: half the interval,
/// between 1 and 3 seconds.
fn probe_timeout(interval: Duration) -> Duration {
    (interval / 2).clamp(Duration::from_secs(1), Duration::from_secs(3))
}

/// Probes every host every repository lists (all at once), then records
/// each host's health: healthy when every repository's repomd.xml it should
/// hold answers 304 to its hash, or 200 with exactly those bytes.
async fn probe_round(app: &Arc<App>, clients: &Clients) {
    let mut probes = Vec::new();
    for repo in app.repo_paths.iter() {
        let Some(served) = app.served(repo) else {
            continue;
        };
        for host in &served.metalink.hosts {
            let Some(client) = clients.by_host.get(&host.name).cloned() else {
                continue;
            };
            let url = host.url.clone();
            let sha256 = served.metalink.facts.sha256.clone();
            let name = host.name.clone();
            probes.push(async move {
                let outcome = probe(&client, &url, &sha256).await;
                (name, url, outcome)
            });
        }
    }
    let mut by_host: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    for (name, url, outcome) in futures_util::future::join_all(probes).await {
        let entry = by_host.entry(name).or_insert(Ok(()));
        if let (Ok(()), Err(e)) = (&*entry, outcome) {
            *entry = Err(format!("{url}: {e}"));
        }
    }
    let mut changed = false;
    for (name, outcome) in by_host {
        let healthy = outcome.is_ok();
        if app.health.set(&name, healthy) {
            changed = true;
            let message = match &outcome {
                Ok(()) => format!("{name}: passes its health probe again; listed in the metalink"),
                Err(e) => format!("{name}: failed its health probe ({e}); dropped from the metalink until it passes"),
            };
            app.emit(
                if healthy {
                    "host-healthy"
                } else {
                    "host-unhealthy"
                },
                message,
                None,
                None,
            );
        }
    }
    if changed {
        // The partners' metalink copies must drop (or list again) the host too.
        // In its own task: a slow receiver must not hold up the next probe.
        let app = app.clone();
        tokio::spawn(async move {
            crate::origin::sync::worker::push_metalinks(&app, &app.mirrors).await;
        });
    }
}

/// One conditional GET of a host's repomd.xml.
async fn probe(client: &reqwest::Client, url: &str, sha256: &str) -> Result<(), String> {
    let mut resp = client
        .get(url)
        .header(header::IF_NONE_MATCH, format!("\"{sha256}\""))
        .send()
        .await
        .map_err(|e| crate::io::http::describe(&e))?;
    match resp.status() {
        StatusCode::NOT_MODIFIED => Ok(()),
        StatusCode::OK => {
            let body = crate::io::http::read_capped(&mut resp, url, 1024 * 1024)
                .await
                .map_err(|e| e.to_string())?;
            use sha2::Digest as _;
            let got = hex::encode(sha2::Sha256::digest(&body));
            if got == sha256 {
                Ok(())
            } else {
                Err(format!("serves a repomd.xml with sha256 `{got}`"))
            }
        }
        other => Err(format!("answered {other}")),
    }
}
