//! The publisher: one worker draining the durable job queue. Each run takes every
//! queued job at once (security pushes sort first; whatever arrived meanwhile is
//! coalesced into the same revision), computes the desired contents of every
//! repository from the store, and publishes a new revision only where the
//! contents changed. Then it fans the new revisions out to the partners.
//!
//! Jobs are idempotent: running the same queue twice publishes nothing new.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::core::repodata::{self, Advisory, AdvisoryPackage, RepoInput};
use crate::core::rpm::{FileFacts, Package, SignaturePolicy};
use crate::origin::app::{App, Served};
use crate::origin::publish::{self, PlacedPackage, RepoId};
use crate::origin::store::{now_ms, AdvisoryRow, RevisionRow};

/// Priority of security pushes.
pub const PRIORITY_SECURITY: i64 = 0;
/// Priority of routine work (retirements, re-publication).
pub const PRIORITY_ROUTINE: i64 = 1;

/// Takes an advisory out of every repository: marks it retired, queues a
/// routine publication and wakes the publisher. The one path for the API and
/// the retirement watcher. Returns the job id.
pub fn retire(app: &App, id: &str, actor: &str, why: &str) -> anyhow::Result<i64> {
    app.store.set_advisory_state(id, "retired")?;
    let job =
        app.store
            .enqueue_job("publish", PRIORITY_ROUTINE, &format!("retire {id} ({why})"))?;
    app.emit(
        "advisory-retired",
        format!("{actor} retired {id}: {why}"),
        None,
        Some(id.to_owned()),
    );
    app.wake.notify_one();
    Ok(job)
}

/// Runs the publisher until the process ends.
pub async fn worker(app: Arc<App>) {
    loop {
        match run_until_idle(&app).await {
            Ok(_) => {}
            Err(e) => tracing::error!(error = format!("{e:#}"), "publisher run failed"),
        }
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
        }
    }
}

/// Runs jobs until the queue is empty; returns how many runs it made. Tests call
/// this instead of sleeping.
pub async fn run_until_idle(app: &Arc<App>) -> anyhow::Result<usize> {
    let mut runs = 0;
    loop {
        let store = app.store.clone();
        let jobs = tokio::task::spawn_blocking(move || store.claim_queued()).await??;
        if jobs.is_empty() {
            return Ok(runs);
        }
        runs += 1;
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let push_ids: Vec<i64> = jobs.iter().filter_map(|j| j.push_id).collect();
        let priority = jobs
            .iter()
            .map(|j| j.priority)
            .min()
            .unwrap_or(PRIORITY_ROUTINE);
        let started = std::time::Instant::now();
        app.emit(
            "publish-started",
            format!("publishing {} job(s), priority {priority}", jobs.len()),
            push_ids.first().copied(),
            None,
        );
        let app2 = app.clone();
        let result = tokio::task::spawn_blocking(move || publish_all(&app2, priority)).await?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        app.metrics.observe_publish(elapsed_ms, result.is_ok());
        match result {
            Ok(changed) => {
                app.store.mark_pushes_published(&push_ids)?;
                app.store.finish_jobs(&ids, None)?;
                for id in &push_ids {
                    let advisory = app.store.push(*id)?.map(|p| p.advisory_id);
                    app.emit(
                        "push-published",
                        format!("push {id} is published at the origin"),
                        Some(*id),
                        advisory,
                    );
                }
                app.emit(
                    "publish-finished",
                    format!(
                        "published {} repo(s) with changes in {elapsed_ms} ms",
                        changed.len()
                    ),
                    None,
                    None,
                );
                crate::origin::sync::worker::after_publish(app, &changed);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                tracing::error!(error = msg, "publication failed");
                app.store.mark_pushes_failed(&push_ids, &msg)?;
                app.store.finish_jobs(&ids, Some(&msg))?;
                for id in &push_ids {
                    app.emit(
                        "push-failed",
                        format!("push {id} failed: {msg}"),
                        Some(*id),
                        None,
                    );
                }
            }
        }
    }
}

/// Publishes every repository whose desired contents differ from what is live.
/// Returns the repositories that got a new revision.
pub fn publish_all(app: &App, priority: i64) -> anyhow::Result<Vec<RepoId>> {
    let live = app.store.live_packages()?;
    let advisories: BTreeMap<String, AdvisoryRow> = app
        .store
        .advisories()?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut changed = Vec::new();
    for repo in app.repos() {
        let mut packages: Vec<Package> = Vec::new();
        let mut placed = Vec::new();
        let mut by_advisory: BTreeMap<String, Vec<AdvisoryPackage>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (advisory_id, p) in &live {
            let Some(adv) = advisories.get(advisory_id) else {
                continue;
            };
            let release_ok = adv.releases.is_empty() || adv.releases.contains(&repo.release);
            if !release_ok || !repo.takes_arch(&p.arch) {
                continue;
            }
            let record = record_for(app, &p.sha256, &p.file_name, p.time_file)?;
            by_advisory
                .entry(advisory_id.clone())
                .or_default()
                .push(AdvisoryPackage {
                    name: record.name.clone(),
                    epoch: record.epoch.clone(),
                    version: record.version.clone(),
                    release: record.release.clone(),
                    arch: record.arch.clone(),
                    src: record.sourcerpm.clone(),
                    filename: record.file_name(),
                    sha256: record.sha256.clone(),
                });
            if seen.insert(p.sha256.clone()) {
                placed.push(PlacedPackage {
                    href: record.location_href.clone(),
                    blob: app.tree.blob_path(&p.sha256),
                    sha256: p.sha256.clone(),
                    size: p.size,
                });
                packages.push(record);
            }
        }
        let repo_advisories: Vec<Advisory> = by_advisory
            .into_iter()
            .filter_map(|(id, pkgs)| {
                advisories
                    .get(&id)
                    .map(|a| to_repodata_advisory(app, &repo, a, pkgs))
            })
            .collect();
        let content_key = content_key(&packages, &repo_advisories);
        let current = app.store.current_revision(&repo.path())?;
        let on_disk = app
            .tree
            .repo_dir(&repo)
            .join("repodata/repomd.xml")
            .exists();
        if let Some(cur) = &current {
            if cur.content_key == content_key && on_disk && app.served(&repo.path()).is_some() {
                continue;
            }
        }
        let now_s = (now_ms() / 1000) as u64;
        let revision = match &current {
            Some(cur) if cur.content_key == content_key => cur.revision,
            Some(cur) => now_s.max(cur.revision + 1),
            None => now_s,
        };
        let files = repodata::build(&RepoInput {
            packages: &packages,
            advisories: &repo_advisories,
            revision,
            compression: app.config.publish.compression,
        });
        let asc = app.key.sign_detached(&files.repomd)?;
        crate::origin::hooks::run_pre(app, &repo, revision, priority, &repo_advisories)?;
        let needed = publish::write_revision(&app.tree, &repo, &files, asc.as_bytes(), &placed)
            .with_context(|| format!("cannot publish `{}`", repo.path()))?;
        let published_at_ms = now_ms();
        app.store.record_revision(&RevisionRow {
            repo: repo.path(),
            revision,
            content_key,
            repomd_sha256: hex::encode(Sha256::digest(&files.repomd)),
            files: needed,
            published_at_ms,
            superseded_at_ms: None,
        })?;
        let served = Served {
            revision,
            metalink: crate::origin::sync::worker::metalink_body(
                app,
                &repo,
                &files.repomd,
                revision,
                &[],
            ),
            repomd: files.repomd.into(),
            asc: asc.into_bytes().into(),
            published_at_ms,
        };
        app.set_served(&repo.path(), served);
        app.emit(
            "repo-published",
            format!("{} revision {revision} is live at the origin", repo.path()),
            None,
            None,
        );
        crate::origin::hooks::run_post(app, &repo, revision, priority, &repo_advisories);
        changed.push(repo.clone());
        sweep_repo(app, &repo)?;
    }
    Ok(changed)
}

/// Removes files that neither the current revision nor any revision superseded
/// within `retention_hours` needs.
fn sweep_repo(app: &App, repo: &RepoId) -> anyhow::Result<()> {
    let since = now_ms() - app.config.retention_hours as i64 * 3_600_000;
    let keep: BTreeSet<String> = app
        .store
        .retained_revisions(&repo.path(), since)?
        .into_iter()
        .flat_map(|r| r.files)
        .collect();
    let removed = publish::sweep(&app.tree, repo, &keep)?;
    if removed > 0 {
        tracing::info!(repo = repo.path(), removed, "removed files past retention");
    }
    Ok(())
}

/// The parsed record of an accepted package, from the cache or its blob.
pub fn record_for(
    app: &App,
    sha256: &str,
    file_name: &str,
    time_file: u64,
) -> anyhow::Result<Package> {
    if let Some(p) = app
        .records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(sha256)
    {
        return Ok(p.clone());
    }
    let blob = app.tree.blob_path(sha256);
    let file = fs_err::File::open(&blob)?;
    let read = crate::core::rpm::read_package(
        std::io::BufReader::new(file),
        FileFacts {
            location_href: publish::package_href(file_name),
            time_file,
        },
        &SignaturePolicy::Ignore,
    )
    .with_context(|| format!("cannot read the stored package `{}`", blob.display()))?;
    let record = read.package;
    app.records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(sha256.to_owned(), record.clone());
    Ok(record)
}

fn to_repodata_advisory(
    app: &App,
    repo: &RepoId,
    a: &AdvisoryRow,
    packages: Vec<AdvisoryPackage>,
) -> Advisory {
    Advisory {
        id: a.id.clone(),
        kind: "security".into(),
        severity: capitalise(&a.severity),
        title: a.summary.clone(),
        summary: a.summary.clone(),
        description: if a.description.is_empty() {
            a.summary.clone()
        } else {
            a.description.clone()
        },
        issued: a.issued as u64,
        updated: a.updated.max(a.issued) as u64,
        release_name: format!("{} {}", app.config.repos.channel, repo.release),
        collection: app.metalink_id(repo),
        from: a.created_by.clone(),
        cves: a.cves.clone(),
        packages,
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(|c| c.to_lowercase()))
            .collect(),
        None => String::new(),
    }
}

/// A digest of everything that goes into a repository's repodata except the
/// revision: equal keys mean a publish would change nothing.
fn content_key(packages: &[Package], advisories: &[Advisory]) -> String {
    let mut h = Sha256::new();
    let mut sums: Vec<&str> = packages.iter().map(|p| p.sha256.as_str()).collect();
    sums.sort_unstable();
    for s in sums {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    for a in advisories {
        h.update(format!("{a:?}").as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_capitalised() {
        assert_eq!(capitalise("critical"), "Critical");
        assert_eq!(capitalise("IMPORTANT"), "Important");
        assert_eq!(capitalise(""), "");
    }
}
