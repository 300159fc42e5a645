//! Spreading the bytes over healthy hosts (DESIGN "Order spreads the load"):
//! which of a metalink's hosts each request lists (those that pass the health
//! probes), in which order (drawn by weight per request, the origin first
//! only while fewer than `[metalink] spread_min_partners` partners are
//! listed), the document and its ETag (over the set of hosts, never their
//! order), and the health probes themselves: every `probe_interval_secs` a
//! conditional GET of each listed host's repomd.xml, bounded by the
//! interval; a host that fails leaves every metalink until it passes again.
//!
//! Each order's document and each listed set's ETag is made once per
//! `ServedMetalink` ([`Rendered`]); a request draws an order and looks its
//! document up (the same bytes `metalink::render` gives for that order).
//!
//! Never lists no host at all: when every host fails its probe, all stay
//! listed (a client then tries each in turn, which beats an empty document).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use bytes::Bytes;

use crate::core::metalink::{self, MetalinkDoc, SpreadHost};
use crate::io::etag;
use crate::origin::app::{App, ServedMetalink};

/// The health-probe name of the origin (never a valid mirror name).
pub const ORIGIN_HOST: &str = "(origin)";

/// The hosts one answer lists, as indices into `m.hosts` (ascending): those
/// not failing their probe, or all of them when every one fails.
pub fn listed(app: &App, m: &ServedMetalink) -> Vec<usize> {
    let healthy: Vec<usize> = (0..m.hosts.len())
        .filter(|&i| !app.health.is_failing(&m.hosts[i].name))
        .collect();
    if healthy.is_empty() {
        (0..m.hosts.len()).collect()
    } else {
        healthy
    }
}

/// The ETag of the metalink as it is answered now: the repomd hash and the
/// set of listed hosts.
pub fn etag_of(app: &App, m: &ServedMetalink) -> HeaderValue {
    etag_for(m, &listed(app, m))
}

/// The ETag of `m` listing the hosts `listed` (computed once per set).
pub fn etag_for(m: &ServedMetalink, listed: &[usize]) -> HeaderValue {
    m.rendered.etag(listed, || {
        let urls: Vec<&str> = listed.iter().map(|&i| m.hosts[i].url.as_str()).collect();
        etag::metalink_etag(&m.facts.sha256, &urls)
    })
}

/// The copy a partner serves (a static document, so no per-request order):
/// the listed hosts in their order, the origin first. Pushed again whenever a
/// probe changes which hosts are listed.
pub fn render_copy(app: &App, m: &ServedMetalink) -> Bytes {
    document_in_order(m, &listed(app, m))
}

/// The document for one request: the listed hosts in an order drawn by
/// weight (see [`metalink::spread_order`]).
pub fn render_for_request(app: &App, m: &ServedMetalink) -> Bytes {
    let listed = listed(app, m);
    let partners = listed.iter().filter(|&&i| !m.hosts[i].origin).count();
    let origin_first = partners < app.config.metalink.spread_min_partners as usize;
    document_for(m, &listed, origin_first, rand::random::<f64>)
}

/// The document listing the hosts `listed` in an order drawn by weight with
/// `random`; rendered once per order, then served from [`Rendered`].
pub fn document_for(
    m: &ServedMetalink,
    listed: &[usize],
    origin_first: bool,
    random: impl FnMut() -> f64,
) -> Bytes {
    let spread: Vec<SpreadHost> = listed
        .iter()
        .map(|&i| SpreadHost {
            weight: m.hosts[i].weight,
            origin: m.hosts[i].origin,
        })
        .collect();
    let order: Vec<usize> = metalink::spread_order(&spread, origin_first, random)
        .into_iter()
        .map(|pos| listed[pos])
        .collect();
    document_in_order(m, &order)
}

/// The document listing the hosts `order` (indices into `m.hosts`) in that
/// order; rendered once per order, then served from [`Rendered`].
fn document_in_order(m: &ServedMetalink, order: &[usize]) -> Bytes {
    m.rendered.document(order, || {
        let urls: Vec<String> = order.iter().map(|&i| m.hosts[i].url.clone()).collect();
        metalink::render(&MetalinkDoc {
            repomd: &m.facts,
            alternates: &[],
            urls: &urls,
            pubdate_unix: m.facts.timestamp,
        })
        .into()
    })
}

/// Bound of the documents (or ETags) one metalink keeps rendered: 5 hosts
/// have 120 orders, 6 have 720; past the bound it starts over.
const RENDERED_MAX: usize = 1024;

/// The documents one [`ServedMetalink`] was answered with, by host order
/// (indices into its `hosts`), and its ETags by listed set. Nothing in it
/// depends on anything but the hosts, the facts and the key, so it lives
/// exactly as long as the `ServedMetalink` it belongs to.
#[derive(Debug, Default)]
pub struct Rendered {
    documents: Mutex<HashMap<Vec<usize>, Bytes>>,
    etags: Mutex<HashMap<Vec<usize>, HeaderValue>>,
}

impl Rendered {
    /// The document for `order`, rendered by `render` the first time.
    pub fn document(&self, order: &[usize], render: impl FnOnce() -> Bytes) -> Bytes {
        cached(&self.documents, order, render)
    }

    /// The ETag for the listed set `listed`, computed by `compute` the first time.
    pub fn etag(&self, listed: &[usize], compute: impl FnOnce() -> HeaderValue) -> HeaderValue {
        cached(&self.etags, listed, compute)
    }
}

fn cached<V: Clone>(
    map: &Mutex<HashMap<Vec<usize>, V>>,
    key: &[usize],
    make: impl FnOnce() -> V,
) -> V {
    if let Some(hit) = map.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
        return hit.clone();
    }
    // Made outside the lock; two requests racing on a new key make it twice.
    let value = make();
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= RENDERED_MAX {
        map.clear();
    }
    map.insert(key.to_vec(), value.clone());
    value
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metalink::RepomdFacts;
    use crate::origin::app::MetalinkHost;

    fn served(weights: &[u32]) -> ServedMetalink {
        let hosts: Vec<MetalinkHost> = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| MetalinkHost {
                name: if i == 0 {
                    ORIGIN_HOST.to_owned()
                } else {
                    format!("p{i}")
                },
                url: format!(
                    "http://[::1]:{}/pub/c/43/x86_64/repodata/repomd.xml",
                    8000 + i
                ),
                weight,
                origin: i == 0,
            })
            .collect();
        ServedMetalink {
            facts: RepomdFacts::of(b"repomd", 1_700_000_000),
            hosts,
            bytes: Bytes::new(),
            rendered: Default::default(),
        }
    }

    /// A reproducible stream of numbers in [0, 1).
    fn stream(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn each_answer_is_the_render_of_the_order_drawn_and_is_rendered_once() {
        let m = served(&[1, 3, 0, 2]);
        for listed in [vec![0, 1, 2, 3], vec![0, 1, 3], vec![1, 3], vec![2]] {
            for origin_first in [false, true] {
                let spread: Vec<SpreadHost> = listed
                    .iter()
                    .map(|&i| SpreadHost {
                        weight: m.hosts[i].weight,
                        origin: m.hosts[i].origin,
                    })
                    .collect();
                for seed in 0..200 {
                    let got = document_for(&m, &listed, origin_first, stream(seed));
                    let order = metalink::spread_order(&spread, origin_first, stream(seed));
                    let urls: Vec<String> = order
                        .iter()
                        .map(|&pos| m.hosts[listed[pos]].url.clone())
                        .collect();
                    let want = metalink::render(&MetalinkDoc {
                        repomd: &m.facts,
                        alternates: &[],
                        urls: &urls,
                        pubdate_unix: m.facts.timestamp,
                    });
                    assert_eq!(got, want.as_bytes(), "listed {listed:?} seed {seed}");
                    // The second answer for the same order is the same buffer.
                    let again = document_for(&m, &listed, origin_first, stream(seed));
                    assert_eq!(again.as_ptr(), got.as_ptr());
                }
            }
        }
        // At most one document per order of each listed set: 4! + 3! + 2! + 1!.
        let kept = m.rendered.documents.lock().unwrap().len();
        assert!(kept <= 24 + 6 + 2 + 1, "{kept} documents kept");
    }

    #[test]
    fn the_etag_of_a_listed_set_is_that_of_its_urls_and_differs_between_sets() {
        let m = served(&[1, 1, 1]);
        let all = etag_for(&m, &[0, 1, 2]);
        let urls: Vec<&str> = m.hosts.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(all, etag::metalink_etag(&m.facts.sha256, &urls));
        assert_eq!(etag_for(&m, &[0, 1, 2]), all);
        let two = etag_for(&m, &[0, 2]);
        assert_ne!(two, all);
        assert_eq!(
            two,
            etag::metalink_etag(&m.facts.sha256, &[urls[0], urls[2]])
        );
    }

    #[test]
    fn the_cache_starts_over_at_its_bound() {
        let r = Rendered::default();
        for i in 0..RENDERED_MAX + 10 {
            let key = [i];
            let doc = r.document(&key, || Bytes::from(i.to_string()));
            assert_eq!(doc, i.to_string().as_bytes());
        }
        assert!(r.documents.lock().unwrap().len() <= RENDERED_MAX);
    }
}
