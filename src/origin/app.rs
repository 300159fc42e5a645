//! The origin's shared state: configuration, store, signing key, the tree on
//! disk, what is being served right now (repomd.xml, .asc and metalink per repo,
//! swapped as one value), the parsed-record cache and the event channel.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{broadcast, Notify};

use crate::core::rpm::{Package, SignaturePolicy};
use crate::core::signing::RepoKey;
use crate::origin::config::Config;
use crate::origin::keys::TrustedSet;
use crate::origin::publish::{RepoId, Tree};
use crate::origin::repo_keys::RepoKeyRing;
use crate::origin::store::Store;

/// What one repository serves at this instant; replaced as a whole, so a reader
/// always gets a repomd.xml and the .asc that signs it.
#[derive(Debug, Clone)]
pub struct Served {
    pub revision: u64,
    pub repomd: bytes::Bytes,
    pub asc: bytes::Bytes,
    pub metalink: ServedMetalink,
    pub published_at_ms: i64,
}

/// The metalink of one repository: the hosts it may list (the origin and the
/// partners verified at exactly this repomd), from which each request takes
/// those passing the health probes, in an order drawn by weight
/// (`http::pubtree::metalink`).
#[derive(Debug, Clone)]
pub struct ServedMetalink {
    pub facts: crate::core::metalink::RepomdFacts,
    /// The origin first, then the verified partners in `mirrors.toml` order.
    pub hosts: Vec<MetalinkHost>,
    /// The document listing every host in that order: the copy pushed to
    /// partners and what the API shows.
    pub bytes: bytes::Bytes,
    /// The documents and ETags already rendered from these hosts, by order
    /// and by listed set (`sync::spread`): a request looks one up instead of
    /// rendering. A new revision or host list comes with a new, empty one.
    pub rendered: Arc<crate::origin::sync::spread::Rendered>,
}

/// One host of a metalink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetalinkHost {
    /// `origin`, or the partner's name in `mirrors.toml`.
    pub name: String,
    /// The full URL of this repository's repomd.xml at the host.
    pub url: String,
    pub weight: u32,
    pub origin: bool,
}

/// Which listed hosts failed their last health probe (`sync::health`), by
/// host name; empty until a probe fails.
#[derive(Debug, Default)]
pub struct HostHealth {
    failing: RwLock<std::collections::BTreeSet<String>>,
}

impl HostHealth {
    pub fn is_failing(&self, name: &str) -> bool {
        let failing = self.failing.read().unwrap_or_else(|p| p.into_inner());
        !failing.is_empty() && failing.contains(name)
    }

    /// Records a probe's outcome; true when that changed the host's state.
    pub fn set(&self, name: &str, healthy: bool) -> bool {
        let mut failing = self.failing.write().unwrap_or_else(|p| p.into_inner());
        if healthy {
            failing.remove(name)
        } else {
            failing.insert(name.to_owned())
        }
    }
}

/// Something the dashboard and followers want to hear about.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: String,
    pub message: String,
    pub push_id: Option<i64>,
    pub advisory: Option<String>,
    pub at_ms: i64,
}

pub struct App {
    pub config: Config,
    pub store: Store,
    /// The repo-signing keys (the one that signs, a prepared next one, the
    /// previous one still served), swapped as one value by a rotation
    /// (`origin::repo_keys`); read with [`App::repo_keys`] / [`App::repo_key`].
    pub repo_keys: RwLock<Arc<RepoKeyRing>>,
    /// Held by each publisher run and by a repo-key change, so no revision is
    /// signed by a key that stopped signing while it was built.
    pub publish_lock: Mutex<()>,
    pub tree: Tree,
    /// The trusted package-signing keys and the policy they make, swapped as
    /// one value when `hotpush keys add|remove` changes them (read with
    /// [`App::policy`] / [`App::trusted`]).
    pub trusted: RwLock<Arc<TrustedSet>>,
    /// Serialises changes of the trusted keys (each reloads them from disk).
    pub keys_lock: Mutex<()>,
    pub mirrors: Vec<crate::origin::mirrors::Mirror>,
    /// Keyed by repo path (`critical/43/x86_64`).
    pub served: RwLock<HashMap<String, Arc<Served>>>,
    /// Parsed records of accepted packages, by sha256.
    pub records: Mutex<HashMap<String, Package>>,
    /// Wakes the publisher.
    pub wake: Notify,
    /// Wakes the build-system trigger's fetch worker (`origin::trigger`).
    pub trigger_wake: Notify,
    pub events: broadcast::Sender<Event>,
    pub metrics: crate::origin::http::metrics::Metrics,
    /// Serialises fan-outs to the partners (after a publish, and catch-up).
    pub fanout_lock: tokio::sync::Mutex<()>,
    /// Wakes the fan-out worker after a publish.
    pub fanout_wake: Notify,
    /// Every repository of the configuration, computed once.
    pub repo_list: Vec<RepoId>,
    /// `repo_list[i].path()`, computed once (the serving hot path looks these up).
    pub repo_paths: Vec<String>,
    /// Until when (Unix seconds) the metalink tells every critical check to
    /// stand still (`PUT /api/v1/check-hold`); 0 = no hold. In memory: a
    /// restart clears it.
    pub check_hold_until_secs: std::sync::atomic::AtomicU64,
    /// Hosts dropped from the metalinks until their health probe passes again.
    pub health: HostHealth,
    /// `/pub` files other than repomd.xml + .asc (those are in `served`),
    /// kept in memory once read (`io::pub_files::FileCache::hot`).
    pub pub_cache: crate::io::pub_files::FileCache,
    /// Refused authentications per network (`[server] bad_auth_max`).
    pub auth_limit: crate::io::auth_limit::AuthLimiter,
}

impl App {
    /// Writes one audit row per network whose rate-limit window has closed
    /// with requests refused past the limit (`now_secs` is an input so tests
    /// can close windows without waiting).
    pub fn flush_auth_audit(&self, now_secs: u64) -> anyhow::Result<()> {
        self.audit_folded(self.auth_limit.take_closed(now_secs))
    }

    /// Writes the 429s folded in every window, closed or still open: at
    /// shutdown, when no later request would flush them.
    pub fn flush_auth_audit_all(&self) -> anyhow::Result<()> {
        self.audit_folded(self.auth_limit.take_all())
    }

    fn audit_folded(&self, folded: Vec<crate::io::auth_limit::Folded>) -> anyhow::Result<()> {
        for f in folded {
            self.store.audit(
                "-",
                "rate-limited",
                "-",
                false,
                &format!(
                    "{} requests refused with 429 after too many bad tokens, in the {} s window from {}",
                    f.refused,
                    f.window_secs,
                    chrono::DateTime::from_timestamp(f.window_start_secs as i64, 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default()
                ),
                &f.network,
            )?;
        }
        Ok(())
    }

    /// Every repository the configuration defines, in a stable order.
    pub fn repos(&self) -> Vec<RepoId> {
        self.repo_list.clone()
    }

    /// The repo-signing keys right now.
    pub fn repo_keys(&self) -> Arc<RepoKeyRing> {
        self.repo_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The key that signs right now.
    pub fn repo_key(&self) -> RepoKey {
        self.repo_keys().current.clone()
    }

    /// Replaces the repo-signing keys (after a change on disk).
    pub fn set_repo_keys(&self, ring: RepoKeyRing) {
        *self.repo_keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
    }

    /// The signature policy uploads are checked against right now.
    pub fn policy(&self) -> Arc<SignaturePolicy> {
        self.trusted().policy.clone()
    }

    /// The trusted keys right now.
    pub fn trusted(&self) -> Arc<TrustedSet> {
        self.trusted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the trusted keys (after a change on disk).
    pub fn set_trusted(&self, set: TrustedSet) {
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }

    /// What the repository with this metalink id and arch serves right now.
    pub fn served_by_metalink(&self, repo: &str, arch: &str) -> Option<Arc<Served>> {
        let release = repo.strip_prefix(&self.config.metalink_repo_prefix)?;
        let i = self
            .repo_list
            .iter()
            .position(|r| r.release == release && r.arch == arch)?;
        self.served(&self.repo_paths[i])
    }

    pub fn metalink_id(&self, repo: &RepoId) -> String {
        format!("{}{}", self.config.metalink_repo_prefix, repo.release)
    }

    pub fn served(&self, repo_path: &str) -> Option<Arc<Served>> {
        self.served
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(repo_path)
            .cloned()
    }

    pub fn set_served(&self, repo_path: &str, served: Served) {
        self.served
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo_path.to_owned(), Arc::new(served));
    }

    pub fn emit(
        &self,
        kind: &str,
        message: String,
        push_id: Option<i64>,
        advisory: Option<String>,
    ) {
        tracing::info!(event = kind, push_id, advisory, "{message}");
        let at_ms = crate::origin::store::now_ms();
        crate::origin::webhooks::enqueue(self, kind, &message, push_id, advisory.as_deref(), at_ms);
        let _ = self.events.send(Event {
            kind: kind.to_owned(),
            message,
            push_id,
            advisory,
            at_ms,
        });
    }
}

/// Every repository of a configuration: releases × arches.
pub fn repos_of(config: &Config) -> Vec<RepoId> {
    let mut out = Vec::new();
    for release in &config.repos.releases {
        for arch in &config.repos.arches {
            out.push(RepoId {
                channel: config.repos.channel.clone(),
                release: release.clone(),
                arch: arch.clone(),
            });
        }
    }
    out
}

/// Groups of repo paths to their served state, for status views.
pub fn served_snapshot(app: &App) -> BTreeMap<String, Arc<Served>> {
    app.served
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
