//! The origin's side of partner sync: after a publish, push every repository's
//! current revision to the partners (through [`crate::origin::sync::stages`]: stage 1
//! data, stage 2 repomd.xml + .asc, then verification over each partner's public
//! URL), record what each partner provably holds, and rebuild the metalinks so
//! that they list the origin and then only partners verified at exactly
//! the current revision (ordered per request by `sync::spread`). Partners that fall behind are retried in the background
//! with bounded backoff until they catch up.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::core::metalink::{self, MetalinkDoc, RepomdFacts};
use crate::origin::app::{App, MetalinkHost, Served, ServedMetalink};
use crate::origin::mirrors::Mirror;
use crate::origin::publish::{self, RepoId};
use crate::origin::store::{now_ms, MirrorStateRow};
use crate::origin::sync::{FanoutEvent, FanoutOptions, MirrorOutcome, RepoRevision, TreeFile};

/// Backoff bounds of the background catch-up.
const CATCH_UP_BACKOFF_MIN: Duration = Duration::from_secs(2);
const CATCH_UP_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The metalink of `repo` at `revision`: the origin first, then the
/// partners (public base URLs of their `/pub` trees) verified to hold exactly
/// this repomd.xml, each with its weight. Never alternates: a stale partner
/// must not hand out pre-fix metadata. Each request then lists those that
/// pass the health probes, in an order drawn by weight (`sync::spread`).
pub fn metalink_body(
    app: &App,
    repo: &RepoId,
    repomd: &[u8],
    revision: u64,
    verified_partners: &[Mirror],
) -> ServedMetalink {
    let facts = RepomdFacts::of(repomd, revision);
    let mut hosts = vec![MetalinkHost {
        name: crate::origin::sync::spread::ORIGIN_HOST.to_owned(),
        url: format!(
            "{}/pub/{}/repodata/repomd.xml",
            app.config.public_url,
            repo.path()
        ),
        weight: app.config.metalink.origin_weight,
        origin: true,
    }];
    for m in verified_partners {
        hosts.push(MetalinkHost {
            name: m.name.clone(),
            url: format!(
                "{}/{}/repodata/repomd.xml",
                m.public_url.trim_end_matches('/'),
                repo.path()
            ),
            weight: m.weight,
            origin: false,
        });
    }
    let urls: Vec<String> = hosts.iter().map(|h| h.url.clone()).collect();
    let doc = MetalinkDoc {
        repomd: &facts,
        alternates: &[],
        urls: &urls,
        pubdate_unix: revision,
    };
    let bytes = metalink::render(&doc).into();
    ServedMetalink {
        facts,
        hosts,
        bytes,
        rendered: Default::default(),
    }
}

/// The partners verified to hold `revision` of `repo`, in `mirrors.toml`
/// order.
pub fn verified_partners(app: &App, repo: &RepoId, revision: u64) -> anyhow::Result<Vec<Mirror>> {
    let states = app.store.mirror_states()?;
    Ok(app
        .mirrors
        .iter()
        .filter(|m| {
            states.iter().any(|s| {
                s.mirror == m.name && s.repo == repo.path() && s.verified && s.revision == revision
            })
        })
        .cloned()
        .collect())
}

/// Asks the fan-out worker to push the current revisions to every partner.
/// Returns at once: the publisher never waits on a partner, so a security push
/// that arrives during a slow fan-out is published at the origin without delay.
/// Requests made while a fan-out runs coalesce into one more run.
pub fn after_publish(app: &Arc<App>, changed: &[RepoId]) {
    if app.mirrors.is_empty() || changed.is_empty() {
        return;
    }
    app.fanout_wake.notify_one();
}

/// The fan-out worker: one fan-out of every repository's current revision to
/// every partner each time the publisher asks, until the process ends.
pub fn spawn_fanout_worker(app: Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.mirrors.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            app.fanout_wake.notified().await;
            let mirrors = app.mirrors.clone();
            if let Err(e) = sync(&app, &mirrors).await {
                tracing::error!(error = format!("{e:#}"), "partner fan-out failed");
            }
        }
    }))
}

/// Partners that do not hold the current revision of every repository.
fn behind(app: &App) -> anyhow::Result<Vec<Mirror>> {
    let states = app.store.mirror_states()?;
    let repos = app.repos();
    Ok(app
        .mirrors
        .iter()
        .filter(|m| {
            repos.iter().any(|r| {
                let Some(served) = app.served(&r.path()) else {
                    return false;
                };
                !states.iter().any(|s| {
                    s.mirror == m.name
                        && s.repo == r.path()
                        && s.verified
                        && s.revision == served.revision
                })
            })
        })
        .cloned()
        .collect())
}

/// Retries partners that are behind, with backoff between 2 s and 60 s, until
/// the process ends.
pub fn spawn_catch_up(app: Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.mirrors.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut backoff = CATCH_UP_BACKOFF_MIN;
        loop {
            tokio::time::sleep(backoff).await;
            match catch_up(&app).await {
                Ok(outcomes) if outcomes.iter().all(|o| o.verified) => {
                    backoff = CATCH_UP_BACKOFF_MIN;
                }
                Ok(_) => backoff = (backoff * 2).min(CATCH_UP_BACKOFF_MAX),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "partner catch-up failed");
                    backoff = (backoff * 2).min(CATCH_UP_BACKOFF_MAX);
                }
            }
        }
    }))
}

/// One catch-up round: decides which partners are behind only once it holds the
/// fan-out lock, so that a fan-out in flight (after a publish) is not repeated in
/// full as soon as it finishes.
async fn catch_up(app: &Arc<App>) -> anyhow::Result<Vec<MirrorOutcome>> {
    let _guard = app.fanout_lock.lock().await;
    let lagging = behind(app)?;
    if lagging.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = lagging.iter().map(|m| m.name.as_str()).collect();
    tracing::info!(
        partners = names.join(","),
        "catching up partners that are behind"
    );
    sync_locked(app, &lagging).await
}

/// One fan-out of every repository's current revision to `mirrors`, serialised
/// with every other fan-out; records the outcome and rebuilds the metalinks.
async fn sync(app: &Arc<App>, mirrors: &[Mirror]) -> anyhow::Result<Vec<MirrorOutcome>> {
    let _guard = app.fanout_lock.lock().await;
    sync_locked(app, mirrors).await
}

/// [`sync`] for a caller that already holds `app.fanout_lock`.
async fn sync_locked(app: &Arc<App>, mirrors: &[Mirror]) -> anyhow::Result<Vec<MirrorOutcome>> {
    let revisions = current_revisions(app)?;
    if revisions.is_empty() {
        return Ok(Vec::new());
    }
    let repo_paths: Vec<String> = revisions.iter().map(|r| r.repo_path.clone()).collect();
    for m in mirrors {
        app.store.mirror_attempt_started(&m.name, &repo_paths)?;
    }
    let sink_app = app.clone();
    let key = app.repo_key();
    let opts = FanoutOptions {
        deadline: Duration::from_secs(app.config.publish.partner_deadline_secs),
        repo_public_key: key.armored_public(),
        ssh_state_dir: Some(app.config.data_dir.join("ssh")),
        on_event: Some(Arc::new(move |e: &FanoutEvent| {
            record_progress(&sink_app, e);
            let (kind, msg) = match e {
                FanoutEvent::DataDone { mirror, uploaded } => (
                    "partner-data",
                    format!("{mirror}: holds every data file ({uploaded} uploaded)"),
                ),
                FanoutEvent::Committed { mirror } => (
                    "partner-committed",
                    format!("{mirror}: repomd.xml and .asc in place"),
                ),
                FanoutEvent::Verified { mirror } => (
                    "partner-verified",
                    format!("{mirror}: verified over its public URL"),
                ),
                FanoutEvent::Retrying {
                    mirror,
                    stage,
                    attempt,
                    error,
                } => (
                    "partner-retrying",
                    format!("{mirror}: {stage} attempt {attempt} failed: {error}"),
                ),
                FanoutEvent::Failed {
                    mirror,
                    stage,
                    error,
                } => (
                    "partner-failed",
                    format!("{mirror}: gave up at {stage}: {error}"),
                ),
                FanoutEvent::DataStageOver { .. } | FanoutEvent::CommitStageOver { .. } => return,
            };
            sink_app.emit(kind, msg, None, None);
        })),
        ..FanoutOptions::default()
    };
    let started = std::time::Instant::now();
    let outcomes = crate::origin::sync::fanout(mirrors, &revisions, &opts).await;
    record_outcomes(app, &outcomes, &revisions, &key.fingerprint())?;
    tracing::info!(
        partners = outcomes.len(),
        verified = outcomes.iter().filter(|o| o.verified).count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partner fan-out finished"
    );
    // Count every partner the metalinks list now, not only those of this run (a
    // catch-up run carries only the partners that were behind).
    let listed = app.mirrors.len() - behind(app)?.len();
    app.emit(
        "metalink-updated",
        format!(
            "metalink lists the origin and {listed} of {} partner(s)",
            app.mirrors.len()
        ),
        None,
        None,
    );
    // Every partner that serves copies gets the new metalink, not only those
    // of this run: a catch-up run that verifies one partner changes the host
    // list the copies at the others carry. Partners behind are left out (a
    // down one would only cost timeouts; its copy is refused anyway).
    let lagging: Vec<String> = behind(app)?.into_iter().map(|m| m.name).collect();
    let copies: Vec<Mirror> = app
        .mirrors
        .iter()
        .filter(|m| !lagging.contains(&m.name) || mirrors.iter().any(|r| r.name == m.name))
        .cloned()
        .collect();
    push_metalinks(app, &copies).await;
    Ok(outcomes)
}

/// Records how far the attempt in flight on a partner got, so that `GET
/// /api/v1/pushes/{id}` (and `hotpush push`) can show it live. Best effort: a
/// store error here must not stop the fan-out.
fn record_progress(app: &App, event: &FanoutEvent) {
    let result = match event {
        FanoutEvent::DataDone { mirror, .. } => {
            app.store.mirror_progress(mirror, "commit", None, None)
        }
        FanoutEvent::Committed { mirror } => {
            app.store.mirror_progress(mirror, "verify", None, None)
        }
        FanoutEvent::Verified { mirror } => {
            app.store.mirror_progress(mirror, "verified", None, None)
        }
        FanoutEvent::Retrying {
            mirror,
            stage,
            attempt,
            error,
        } => app.store.mirror_progress(
            mirror,
            stage,
            Some(*attempt),
            Some(&format!("{stage}: {error}")),
        ),
        FanoutEvent::Failed {
            mirror,
            stage,
            error,
        } => app.store.mirror_progress(mirror, stage, None, Some(error)),
        FanoutEvent::DataStageOver { .. } | FanoutEvent::CommitStageOver { .. } => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = format!("{e:#}"), "partner progress not recorded");
    }
}

/// Records what each partner now holds and rebuilds every metalink from it, all
/// under the served-state write lock: an API reader that sees a partner as
/// current also sees a metalink that lists it. Outcomes verified with a
/// repo key (`key_fingerprint`) that no longer signs count as not verified
/// (a switch happened during the fan-out), and the fan-out is asked again.
fn record_outcomes(
    app: &App,
    outcomes: &[MirrorOutcome],
    revisions: &[RepoRevision],
    key_fingerprint: &str,
) -> anyhow::Result<()> {
    let mut map = app.served.write().unwrap_or_else(|p| p.into_inner());
    let now = now_ms();
    let previous = app.store.mirror_states()?;
    let key_switched = app.repo_key().fingerprint() != key_fingerprint;
    let switched: Vec<MirrorOutcome>;
    let outcomes = if key_switched {
        switched = outcomes
            .iter()
            .map(|o| MirrorOutcome {
                verified: false,
                error: Some(
                    "the repo-signing key was switched during this attempt; \
                     the re-signed repomd.xml.asc is pushed next"
                        .into(),
                ),
                ..o.clone()
            })
            .collect();
        app.fanout_wake.notify_one();
        &switched[..]
    } else {
        outcomes
    };
    for o in outcomes {
        for rev in revisions {
            let prev = previous
                .iter()
                .find(|s| s.mirror == o.mirror && s.repo == rev.repo_path);
            app.store.set_mirror_state(&MirrorStateRow {
                mirror: o.mirror.clone(),
                repo: rev.repo_path.clone(),
                revision: if o.verified {
                    rev.revision
                } else {
                    prev.map(|p| p.revision).unwrap_or(0)
                },
                verified: o.verified,
                verified_at_ms: if o.verified {
                    Some(now)
                } else {
                    prev.and_then(|p| p.verified_at_ms)
                },
                last_attempt_ms: now,
                last_error: o.error.clone(),
                attempted_revision: rev.revision,
                stage: Some(o.stage.clone()),
                retries: prev.map(|p| p.retries).unwrap_or(0),
            })?;
        }
    }
    for repo in app.repos() {
        let Some(cur) = map.get(&repo.path()).cloned() else {
            continue;
        };
        let verified = verified_partners(app, &repo, cur.revision)?;
        let metalink = metalink_body(app, &repo, &cur.repomd, cur.revision, &verified);
        map.insert(
            repo.path(),
            Arc::new(Served {
                metalink,
                ..(*cur).clone()
            }),
        );
    }
    Ok(())
}

/// Hands a copy of each metalink, listing the hosts that pass their health
/// probes, to the https receivers among `mirrors` that pass theirs (best
/// effort; a receiver refuses a copy naming a repomd it does not hold).
pub(crate) async fn push_metalinks(app: &App, mirrors: &[Mirror]) {
    for repo in app.repos() {
        let Some(cur) = app.served(&repo.path()) else {
            continue;
        };
        let copy = crate::origin::sync::spread::render_copy(app, &cur.metalink);
        for m in mirrors.iter().filter(|m| {
            m.method == crate::origin::mirrors::PushMethod::Https && !app.health.is_failing(&m.name)
        }) {
            if let Err(e) =
                crate::origin::sync::push_metalink(m, &app.metalink_id(&repo), &repo.arch, &copy)
                    .await
            {
                tracing::debug!(
                    mirror = m.name,
                    error = format!("{e:#}"),
                    "metalink copy not delivered"
                );
            }
        }
    }
}

/// Every repository's current revision as the partners must hold it.
fn current_revisions(app: &App) -> anyhow::Result<Vec<RepoRevision>> {
    let sizes: BTreeMap<String, (String, u64)> = app
        .records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .map(|p| (p.location_href.clone(), (p.sha256.clone(), p.size_package)))
        .collect();
    let mut out = Vec::new();
    for repo in app.repos() {
        let Some(served) = app.served(&repo.path()) else {
            continue;
        };
        let Some(row) = app.store.current_revision(&repo.path())? else {
            continue;
        };
        if row.revision != served.revision {
            // A publish is swapping this repo right now; the next fan-out takes it.
            continue;
        }
        let dir = app.tree.repo_dir(&repo);
        let index: BTreeMap<String, (String, u64)> = publish::index_entries(&served.repomd)?
            .into_iter()
            .map(|e| (e.href, (e.sha256, e.size)))
            .collect();
        let mut files = Vec::new();
        for path in &row.files {
            let (sha256, size) = match index.get(path).or_else(|| sizes.get(path)) {
                Some(x) => x.clone(),
                None => {
                    // A package whose record is not cached yet: hash it once.
                    let bytes = fs_err::read(dir.join(path))?;
                    (
                        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                        bytes.len() as u64,
                    )
                }
            };
            files.push(TreeFile {
                path: path.clone(),
                sha256,
                size,
                source: dir.join(path),
            });
        }
        out.push(RepoRevision {
            repo_path: repo.path(),
            revision: served.revision,
            files,
            repomd: served.repomd.to_vec(),
            repomd_asc: served.asc.to_vec(),
            repomd_key: app.repo_keys().armored_publics().into_bytes(),
        });
    }
    Ok(out)
}
