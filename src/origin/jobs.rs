//! The publisher: one worker draining the durable job queue. Each run takes every
//! queued job at once (security pushes sort first; whatever arrived meanwhile is
//! coalesced into the same revision) together with one snapshot of the store,
//! plans the desired contents of every repository from that snapshot (the pure
//! [`crate::core::plan`]), writes a new revision only where the contents
//! changed, records it, and wakes the fan-out to the partners.
//!
//! Jobs are idempotent: running the same queue twice publishes nothing new.
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::core::plan::{self, AdvisoryFacts, Current, PushedPackage, RepoPlan};
use crate::core::repodata::{self, RepoInput};
use crate::core::rpm::{FileFacts, Package, SignaturePolicy};
use crate::origin::app::{App, Served};
use crate::origin::publish::{self, PlacedPackage, RepoId};
use crate::origin::store::{now_ms, AdvisoryRow, RevisionRow, Snapshot};

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

/// The first wait before a failed run is tried again; it doubles up to
/// [`RETRY_BACKOFF_MAX`].
pub const RETRY_BACKOFF_MIN: std::time::Duration = std::time::Duration::from_secs(1);
pub const RETRY_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(300);
/// Attempts at recording a failed run when the database itself fails (e.g.
/// "database or disk is full"), 100 ms apart and doubling.
const RECORD_ATTEMPTS: u32 = 8;

/// Runs the publisher until the process ends. After a failed run (a full
/// disk) it waits with a doubling backoff, puts back any job the failure left
/// `running`, and tries again: no restart is needed once space is freed.
pub async fn worker(app: Arc<App>) {
    let mut backoff = std::time::Duration::ZERO;
    loop {
        match run_until_idle(&app).await {
            Ok(_) => backoff = std::time::Duration::ZERO,
            Err(e) => {
                backoff = (backoff * 2).clamp(RETRY_BACKOFF_MIN, RETRY_BACKOFF_MAX);
                tracing::error!(
                    error = format!("{e:#}"),
                    retry_in_secs = backoff.as_secs(),
                    "publisher run failed"
                );
                tokio::time::sleep(backoff).await;
                // Only this worker claims jobs, and it is between runs.
                if let Err(e) = app.store.requeue_interrupted() {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot requeue the interrupted jobs yet"
                    );
                }
                continue;
            }
        }
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
        }
    }
}

/// Runs jobs until the queue is empty; returns how many runs it made. Tests call
/// this instead of sleeping.
///
/// Each run reads the store once: it claims every queued job and takes a
/// [`Snapshot`] in one transaction, plans every repository from that snapshot
/// ([`crate::core::plan`]), writes and records the repositories the plan
/// changes, and ends its jobs and pushes in one more transaction.
pub async fn run_until_idle(app: &Arc<App>) -> anyhow::Result<usize> {
    let mut runs = 0;
    loop {
        let store = app.store.clone();
        let since = now_ms() - retention_ms(app);
        let claimed = tokio::task::spawn_blocking(move || store.claim_run(since)).await??;
        let Some((jobs, snapshot)) = claimed else {
            return Ok(runs);
        };
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
        let push_advisories = snapshot.push_advisories.clone();
        let app2 = app.clone();
        let result =
            tokio::task::spawn_blocking(move || publish_all(&app2, &snapshot, priority)).await?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        app.metrics.observe_publish(elapsed_ms, result.is_ok());
        match result {
            Ok(changed) => {
                app.store.finish_run(&ids, &push_ids, None)?;
                for id in &push_ids {
                    app.emit(
                        "push-published",
                        format!("push {id} is published at the origin"),
                        Some(*id),
                        push_advisories.get(id).cloned(),
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
                let disk_full = crate::io::http_error::chain_is_disk_full(&e);
                let mut msg = redact_data_dir(&format!("{e:#}"), &app.config.data_dir);
                if disk_full {
                    msg.push_str(
                        "\nhint: the origin's disk is full; free space in its data directory: \
                         the publication is retried by itself, with backoff",
                    );
                }
                tracing::error!(error = msg, "publication failed");
                record_failure(app, &ids, &push_ids, priority, &msg, disk_full).await?;
                for id in &push_ids {
                    app.emit(
                        "push-failed",
                        format!("push {id} failed: {msg}"),
                        Some(*id),
                        None,
                    );
                }
                if disk_full {
                    // The worker retries after its backoff; returning here
                    // keeps this loop from retrying at once.
                    anyhow::bail!(
                        "publication failed for lack of disk space; retrying with backoff"
                    );
                }
            }
        }
    }
}

/// Records a failed run, retrying when the database itself cannot write
/// (bounded: [`RECORD_ATTEMPTS`], doubling from 100 ms). A run failed by a
/// full disk queues its retry in the same transaction.
async fn record_failure(
    app: &App,
    ids: &[i64],
    push_ids: &[i64],
    priority: i64,
    msg: &str,
    retry: bool,
) -> anyhow::Result<()> {
    let mut wait = std::time::Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let recorded = if retry {
            app.store.fail_run_retrying(ids, push_ids, priority, msg)
        } else {
            app.store.finish_run(ids, push_ids, Some(msg))
        };
        match recorded {
            Ok(()) => return Ok(()),
            Err(e) if attempt < RECORD_ATTEMPTS => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    attempt,
                    "cannot record the failed publication yet"
                );
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e.context("cannot record the failed publication")),
        }
    }
}

/// `text` with the data directory's absolute path taken out: paths inside it
/// read as relative names (`pub/critical/43/x86_64/...`), for errors that API
/// answers and events show.
pub fn redact_data_dir(text: &str, data_dir: &std::path::Path) -> String {
    let dir = data_dir.display().to_string();
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return text.to_owned();
    }
    text.replace(&format!("{dir}/"), "")
        .replace(dir, "DATA_DIR")
}

fn retention_ms(app: &App) -> i64 {
    (app.config.retention_hours as i64).saturating_mul(3_600_000)
}

/// Publishes every repository whose desired contents differ from what is live,
/// reading nothing from the store but `snapshot`: loads the package records,
/// plans ([`plan::plan`]), then for each repository the plan changes builds,
/// signs, runs the pre-publication hooks, writes, records, serves, runs the
/// post-publication hooks and sweeps. Returns the repositories that got a new
/// revision.
pub fn publish_all(app: &App, snapshot: &Snapshot, priority: i64) -> anyhow::Result<Vec<RepoId>> {
    let advisories: Vec<AdvisoryFacts> = snapshot.advisories.iter().map(advisory_facts).collect();
    let packages = snapshot
        .live_packages
        .iter()
        .map(|(advisory_id, p)| {
            Ok(PushedPackage {
                advisory_id: advisory_id.clone(),
                file_name: p.file_name.clone(),
                arch: p.arch.clone(),
                size: p.size,
                record: record_for(app, &p.sha256, &p.file_name, p.time_file)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let repos = app.repos();
    let current: BTreeMap<String, Current> = repos
        .iter()
        .filter_map(|repo| {
            let row = snapshot.current.get(&repo.path())?;
            let on_disk = app.tree.repo_dir(repo).join("repodata/repomd.xml").exists();
            Some((
                repo.path(),
                Current {
                    revision: row.revision,
                    content_key: row.content_key.clone(),
                    intact: on_disk && app.served(&repo.path()).is_some(),
                },
            ))
        })
        .collect();
    let plans = plan::plan(&plan::Inputs {
        repos: &repos,
        advisories: &advisories,
        packages: &packages,
        current: &current,
        collection_prefix: &app.config.metalink_repo_prefix,
        now_secs: (now_ms() / 1000) as u64,
    });
    let mut changed = Vec::new();
    for p in plans {
        let Some(revision) = p.publish else {
            continue;
        };
        publish_repo(app, snapshot, &p, revision, priority)?;
        changed.push(p.repo);
    }
    Ok(changed)
}

/// Writes, records and serves one planned revision, with its hooks and sweep.
fn publish_repo(
    app: &App,
    snapshot: &Snapshot,
    p: &RepoPlan,
    revision: u64,
    priority: i64,
) -> anyhow::Result<()> {
    let repo = &p.repo;
    let files = repodata::build(&RepoInput {
        packages: &p.packages,
        advisories: &p.advisories,
        revision,
        compression: app.config.publish.compression,
    });
    let asc = app.key.sign_detached(&files.repomd)?;
    crate::origin::hooks::run_pre(app, repo, revision, priority, &p.advisories)?;
    let placed: Vec<PlacedPackage> = p
        .files
        .iter()
        .map(|f| PlacedPackage {
            href: f.href.clone(),
            blob: app.tree.blob_path(&f.sha256),
            sha256: f.sha256.clone(),
            size: f.size,
        })
        .collect();
    let needed = publish::write_revision(&app.tree, repo, &files, asc.as_bytes(), &placed)
        .with_context(|| format!("cannot publish `{}`", repo.path()))?;
    let published_at_ms = now_ms();
    app.store.record_revision(&RevisionRow {
        repo: repo.path(),
        revision,
        content_key: p.content_key.clone(),
        repomd_sha256: hex::encode(Sha256::digest(&files.repomd)),
        files: needed.clone(),
        published_at_ms,
        superseded_at_ms: None,
    })?;
    let served = Served {
        revision,
        metalink: crate::origin::sync::worker::metalink_body(
            app,
            repo,
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
    crate::origin::hooks::run_post(app, repo, revision, priority, &p.advisories);
    // Files of this revision, and of every revision the snapshot says is still
    // retained (the one just superseded among them).
    let path = repo.path();
    let keep = plan::keep_files(
        &needed,
        snapshot
            .retained
            .iter()
            .filter(|r| r.repo == path)
            .map(|r| r.files.as_slice()),
    );
    let removed = publish::sweep(&app.tree, repo, &keep)?;
    if removed > 0 {
        tracing::info!(repo = path, removed, "removed files past retention");
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

fn advisory_facts(a: &AdvisoryRow) -> AdvisoryFacts {
    AdvisoryFacts {
        id: a.id.clone(),
        severity: a.severity.clone(),
        summary: a.summary.clone(),
        description: a.description.clone(),
        cves: a.cves.clone(),
        releases: a.releases.clone(),
        live: a.state == "live",
        issued: a.issued,
        updated: a.updated,
        created_by: a.created_by.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_directory_is_redacted_to_relative_names() {
        let dir = std::path::Path::new("/srv/hotpush/data");
        assert_eq!(
            redact_data_dir(
                "cannot publish: failed to copy `/srv/hotpush/data/blobs/ab/cd` to `/srv/hotpush/data/pub/x.rpm`: No space left",
                dir
            ),
            "cannot publish: failed to copy `blobs/ab/cd` to `pub/x.rpm`: No space left"
        );
        assert_eq!(redact_data_dir("in /srv/hotpush/data", dir), "in DATA_DIR");
        assert_eq!(redact_data_dir("/srv/other/file", dir), "/srv/other/file");
    }
}
