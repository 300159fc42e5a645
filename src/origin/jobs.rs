//! The publisher: one worker draining the durable job queue. Each run takes every
//! queued job at once (security pushes sort first; whatever arrived meanwhile is
//! coalesced into the same revision) together with one snapshot of the store,
//! plans the desired contents of every repository from that snapshot (the pure
//! [`crate::core::plan`]), writes a new revision only where the contents
//! changed, records it, and wakes the fan-out to the partners.
//!
//! Jobs are idempotent: running the same queue twice publishes nothing new.
//! One submitted push's failure never fails another push of the same run: the
//! run publishes the rest and fails that push alone, with its reason.
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::core::plan::{self, AdvisoryFacts, Current, PushedPackage, RepoPlan};
use crate::core::repodata::{self, RepoInput};
use crate::core::rpm::{FileFacts, Package, SignaturePolicy};
use crate::origin::app::{App, Served};
use crate::origin::publish::{self, PlacedPackage, RepoId};
use crate::origin::store::{now_ms, AdvisoryRow, Retry, RevisionRow, Snapshot};

/// Priority of security pushes.
pub const PRIORITY_SECURITY: i64 = 0;
/// Priority of routine work (retirements, re-publication).
pub const PRIORITY_ROUTINE: i64 = 1;

/// Takes an advisory out of every repository: marks it retired, queues a
/// routine publication and wakes the publisher. The one path for the API and
/// the retirement watcher. Returns the job id.
pub fn retire(app: &App, id: &str, actor: &str, why: &str) -> anyhow::Result<i64> {
    app.store.set_advisory_state(id, "retired")?;
    let job = app.store.enqueue_advisory_job(
        "publish",
        PRIORITY_ROUTINE,
        &format!("retire {id} ({why})"),
        Some(id),
    )?;
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
/// Attempts at recording a run's end when the database itself fails (e.g.
/// "database or disk is full"), 100 ms apart and doubling.
const RECORD_ATTEMPTS: u32 = 8;

/// Runs the publisher until the process ends. After a failed run (a full
/// disk) it waits with a doubling backoff, puts back any job the failure left
/// `running`, and tries again: no restart is needed once space is freed.
pub async fn worker(app: Arc<App>) {
    let mut backoff = std::time::Duration::ZERO;
    let mut blobs_swept: Option<std::time::Instant> = None;
    loop {
        if blobs_swept.is_none_or(|t| t.elapsed() >= BLOB_SWEEP_EVERY) {
            blobs_swept = Some(std::time::Instant::now());
            let app = app.clone();
            let swept = tokio::task::spawn_blocking(move || sweep_blobs(&app, BLOB_GRACE)).await;
            match swept {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(files = n, "removed blobs no push needs"),
                Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "cannot sweep blobs"),
                Err(e) => tracing::warn!(error = %e, "the blob sweep stopped"),
            }
        }
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

/// How often the publisher removes the blobs no push needs.
const BLOB_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// How old an unneeded blob must be before it is removed.
pub const BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the blobs of `blobs/` that no push needs (a late-refused upload's,
/// a cancelled push's) and that are older than `grace`; returns how many.
/// The publisher does it at start and every hour.
pub fn sweep_blobs(app: &App, grace: std::time::Duration) -> anyhow::Result<usize> {
    let in_use = app.store.blobs_in_use()?;
    let before = std::time::SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(std::time::UNIX_EPOCH);
    app.tree.sweep_blobs(&in_use, before)
}

/// Cancels staged pushes nobody approved within `[auth] staged_expiry_hours`
/// (the publisher looks at every wake-up, at least every 30 s), audited as
/// the origin's own decision; they are never published.
fn expire_staged(app: &App) {
    let hours = app.config.auth.staged_expiry_hours;
    let before = now_ms() - hours as i64 * 3_600_000;
    let expired = match app.store.staged_before(before) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot look for expired staged pushes"
            );
            return;
        }
    };
    for push_id in expired {
        let reason = format!("expired: not approved within {hours} h");
        match app.store.cancel_push(push_id, &reason) {
            Ok(Ok(advisory)) => {
                let _ = app.store.audit(
                    "hotpush",
                    "push-cancelled",
                    &format!("push {push_id} of {advisory}"),
                    true,
                    &reason,
                    "",
                );
                app.emit(
                    "push-cancelled",
                    format!("push {push_id} of {advisory} {reason}; it will not be published"),
                    Some(push_id),
                    Some(advisory),
                );
            }
            Ok(Err(_)) => {}
            Err(e) => tracing::warn!(
                push_id,
                error = format!("{e:#}"),
                "cannot expire a staged push"
            ),
        }
    }
}

/// Runs jobs until the queue is empty; returns how many runs it made. Tests call
/// this instead of sleeping.
///
/// Each run reads the store once: it claims every queued job and takes a
/// [`Snapshot`] in one transaction, plans every repository from that snapshot
/// ([`crate::core::plan`]), writes and records the repositories the plan
/// changes, and ends its jobs and pushes in one more transaction. A push that
/// cannot be published fails alone, with its reason; the other pushes of the
/// run are published ([`publish_run`]).
pub async fn run_until_idle(app: &Arc<App>) -> anyhow::Result<usize> {
    expire_staged(app);
    let mut runs = 0;
    loop {
        let store = app.store.clone();
        let since = now_ms() - retention_ms(app);
        let claimed = tokio::task::spawn_blocking(move || store.claim_run(since)).await??;
        let Some((jobs, snapshot)) = claimed else {
            return Ok(runs);
        };
        runs += 1;
        let push_ids: Vec<i64> = snapshot.pushes.keys().copied().collect();
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
        let push_advisories: BTreeMap<i64, String> = snapshot
            .pushes
            .iter()
            .map(|(id, p)| (*id, p.advisory_id.clone()))
            .collect();
        let app2 = app.clone();
        let outcome =
            tokio::task::spawn_blocking(move || publish_run(&app2, snapshot, priority)).await?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let ok = outcome.failed.is_empty() && outcome.run_error.is_none();
        app.metrics.observe_publish(elapsed_ms, ok);
        // Errors are shown by the API and the events: paths relative to the
        // data directory; a full disk says so, and is retried.
        let explain = |msg: &str| {
            let mut msg = redact_data_dir(msg, &app.config.data_dir);
            if crate::io::http_error::text_is_disk_full(&msg) {
                msg.push_str(
                    "\nhint: the origin's disk is full; free space in its data directory: \
                     the publication is retried by itself, with backoff",
                );
            }
            msg
        };
        let mut outcome = outcome;
        for (_, msg) in &mut outcome.failed {
            *msg = explain(msg);
        }
        outcome.run_error = outcome.run_error.as_deref().map(explain);
        let retry = Retry {
            pushes: outcome
                .failed
                .iter()
                .filter(|(_, m)| crate::io::http_error::text_is_disk_full(m))
                .map(|(id, _)| *id)
                .collect(),
            run: outcome
                .run_error
                .as_deref()
                .is_some_and(crate::io::http_error::text_is_disk_full),
            priority,
        };
        record_end(app, &jobs, &outcome, &retry).await?;
        for id in &outcome.published {
            app.emit(
                "push-published",
                format!("push {id} is published at the origin"),
                Some(*id),
                push_advisories.get(id).cloned(),
            );
        }
        for (id, msg) in &outcome.failed {
            tracing::error!(push_id = id, error = msg, "push failed");
            app.emit(
                "push-failed",
                format!("push {id} failed: {msg}"),
                Some(*id),
                push_advisories.get(id).cloned(),
            );
        }
        match &outcome.run_error {
            None => app.emit(
                "publish-finished",
                format!(
                    "published {} repo(s) with changes in {elapsed_ms} ms",
                    outcome.changed.len()
                ),
                None,
                None,
            ),
            Some(msg) => tracing::error!(error = msg, "publication failed"),
        }
        if !outcome.changed.is_empty() || outcome.run_error.is_none() {
            crate::origin::sync::worker::after_publish(app, &outcome.changed);
        }
        if !retry.pushes.is_empty() || retry.run {
            // The worker retries after its backoff; returning here keeps
            // this loop from retrying at once.
            anyhow::bail!("publication failed for lack of disk space; retrying with backoff");
        }
    }
}

/// Records the end of a run (and the retries a full disk asks for),
/// retrying when the database itself cannot write: bounded,
/// [`RECORD_ATTEMPTS`] doubling from 100 ms. Past that the error goes to the
/// worker, which requeues the run's jobs after its backoff.
async fn record_end(
    app: &App,
    jobs: &[crate::origin::store::JobRow],
    outcome: &RunOutcome,
    retry: &Retry,
) -> anyhow::Result<()> {
    let mut wait = std::time::Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let recorded = app.store.finish_run_retrying(
            jobs,
            &outcome.published,
            &outcome.failed,
            outcome.run_error.as_deref(),
            retry,
        );
        match recorded {
            Ok(()) => return Ok(()),
            Err(e) if attempt < RECORD_ATTEMPTS => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    attempt,
                    "cannot record the end of the publication run yet"
                );
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e.context("cannot record the end of the publication run")),
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

/// How one run ended.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Repositories that got a new revision.
    pub changed: Vec<RepoId>,
    /// Submitted pushes now published.
    pub published: Vec<i64>,
    /// Submitted pushes that failed, each with its own reason.
    pub failed: Vec<(i64, String)>,
    /// Set when the repositories could not be brought to what the published
    /// pushes need, whatever the submitted ones: the routine jobs fail with it.
    pub run_error: Option<String>,
}

/// Publishes one run's snapshot, one push's failure never failing another:
///
/// 1. every package of each submitted push must be readable and its blob
///    present with its size, or that push fails (nothing of it is written);
/// 2. the rest are published together; if that fails and there were several,
///    they are tried one at a time on top of those that succeeded, each that
///    fails failing alone with its reason;
/// 3. after any failure the repositories are published once more with exactly
///    the pushes that succeeded, so nothing of a failed push stays served.
pub fn publish_run(app: &App, mut snapshot: Snapshot, priority: i64) -> RunOutcome {
    // A repo-key switch waits for this run, and this run for a switch.
    let _signing = app.publish_lock.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = RunOutcome::default();
    let mut records: BTreeMap<String, Package> = BTreeMap::new();
    for sp in &snapshot.packages {
        if records.contains_key(&sp.package.sha256) {
            continue;
        }
        let p = &sp.package;
        let submitted = snapshot.pushes.contains_key(&sp.push_id);
        let read =
            check_blob(app, p).and_then(|()| record_for(app, &p.sha256, &p.file_name, p.time_file));
        match read {
            Ok(r) => {
                records.insert(p.sha256.clone(), r);
            }
            Err(e) if submitted => {
                if !out.failed.iter().any(|(id, _)| *id == sp.push_id) {
                    out.failed.push((
                        sp.push_id,
                        format!(
                            "package `{}` cannot be published: {e:#}; upload it again in a new push",
                            p.file_name
                        ),
                    ));
                }
            }
            Err(e) => {
                // A package that is already published is unreadable: no
                // repository can be built, whichever push is in the run.
                let msg = format!("{e:#}");
                out.failed = snapshot
                    .pushes
                    .keys()
                    .map(|id| (*id, msg.clone()))
                    .collect();
                out.run_error = Some(msg);
                return out;
            }
        }
    }
    let candidates: Vec<i64> = snapshot
        .pushes
        .keys()
        .copied()
        .filter(|id| !out.failed.iter().any(|(f, _)| f == id))
        .collect();
    let mut any_failure = !out.failed.is_empty();
    match publish_with(
        app,
        &mut snapshot,
        &records,
        &candidates,
        priority,
        &mut out.changed,
    ) {
        Ok(()) => out.published = candidates,
        Err(e) if candidates.len() <= 1 => {
            let msg = format!("{e:#}");
            match candidates.first() {
                Some(id) => {
                    any_failure = true;
                    out.failed.push((*id, msg));
                }
                // A run without submitted pushes: nothing to leave out and
                // try again without.
                None => out.run_error = Some(msg),
            }
        }
        Err(e) => {
            any_failure = true;
            tracing::warn!(
                error = format!("{e:#}"),
                pushes = candidates.len(),
                "publishing the run's pushes together failed; trying them one at a time"
            );
            for id in candidates {
                let mut with = out.published.clone();
                with.push(id);
                match publish_with(
                    app,
                    &mut snapshot,
                    &records,
                    &with,
                    priority,
                    &mut out.changed,
                ) {
                    Ok(()) => out.published.push(id),
                    Err(e) => out.failed.push((id, format!("{e:#}"))),
                }
            }
        }
    }
    if any_failure {
        let published = out.published.clone();
        if let Err(e) = publish_with(
            app,
            &mut snapshot,
            &records,
            &published,
            priority,
            &mut out.changed,
        ) {
            // What succeeded was written, but the tree could not be brought
            // back to exactly it: fail everything rather than claim success.
            let msg = format!("{e:#}");
            for id in std::mem::take(&mut out.published) {
                out.failed.push((id, msg.clone()));
            }
            out.run_error = Some(msg);
        }
    }
    out.failed.sort();
    out
}

/// The blob of a package is there with the size it was uploaded with.
fn check_blob(app: &App, p: &crate::origin::store::PushPackage) -> anyhow::Result<()> {
    let blob = app.tree.blob_path(&p.sha256);
    let meta = fs_err::metadata(&blob).context("the stored package is missing")?;
    if meta.len() != p.size {
        anyhow::bail!(
            "the stored package `{}` has {} bytes, not the {} uploaded",
            blob.display(),
            meta.len(),
            p.size
        );
    }
    Ok(())
}

/// The advisories as the plan must see them with the submitted pushes
/// `included`: each of those pushes makes its advisory live and, in push order,
/// gives it the texts it proposes (what [`crate::origin::store::Store::finish_run`]
/// records once they are published).
fn advisories_with(snapshot: &Snapshot, included: &[i64]) -> Vec<AdvisoryFacts> {
    snapshot
        .advisories
        .iter()
        .map(|a| {
            let mut facts = advisory_facts(a);
            for (id, push) in &snapshot.pushes {
                if push.advisory_id != a.id || !included.contains(id) {
                    continue;
                }
                facts.live = true;
                if let Some(t) = &push.proposal {
                    facts.severity = t.severity.clone();
                    facts.summary = t.summary.clone();
                    facts.description = t.description.clone();
                    facts.cves = t.cves.clone();
                    facts.releases = t.releases.clone();
                }
                facts.updated = facts.updated.max(push.accepted_at_ms.unwrap_or(0) / 1000);
            }
            facts
        })
        .collect()
}

/// Publishes every repository whose desired contents, with the published
/// pushes and the submitted pushes `included`, differ from what is live,
/// reading nothing from the store but `snapshot` (whose current revisions it
/// keeps up to date with what it writes). Every changed repository is built,
/// signed and passed by the pre-publication hooks before the first one is
/// written, so a build or hook failure writes nothing; then each is written,
/// recorded, served, followed by the post-publication hooks and swept.
fn publish_with(
    app: &App,
    snapshot: &mut Snapshot,
    records: &BTreeMap<String, Package>,
    included: &[i64],
    priority: i64,
    changed: &mut Vec<RepoId>,
) -> anyhow::Result<()> {
    let advisories = advisories_with(snapshot, included);
    let packages: Vec<PushedPackage> = snapshot
        .packages
        .iter()
        .filter(|sp| !snapshot.pushes.contains_key(&sp.push_id) || included.contains(&sp.push_id))
        .filter_map(|sp| {
            let record = records.get(&sp.package.sha256)?;
            Some(PushedPackage {
                advisory_id: sp.advisory_id.clone(),
                file_name: sp.package.file_name.clone(),
                arch: sp.package.arch.clone(),
                size: sp.package.size,
                record: record.clone(),
            })
        })
        .collect();
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
        security_contact: &app.config.security_contact(),
        now_secs: (now_ms() / 1000) as u64,
    });
    let mut prepared = Vec::new();
    for p in plans {
        let Some(revision) = p.publish else {
            continue;
        };
        prepared.push(prepare_repo(app, p, revision, priority)?);
    }
    for r in prepared {
        let row = write_repo(app, snapshot, &r, priority)?;
        if let Some(old) = snapshot.current.insert(row.repo.clone(), row.clone()) {
            snapshot.retained.push(RevisionRow {
                superseded_at_ms: Some(row.published_at_ms),
                ..old
            });
        }
        snapshot.retained.push(row);
        if !changed.contains(&r.plan.repo) {
            changed.push(r.plan.repo.clone());
        }
    }
    Ok(())
}

/// A repository revision built, signed and passed by the pre-publication hooks.
struct Prepared {
    plan: RepoPlan,
    revision: u64,
    files: repodata::RepoFiles,
    asc: String,
}

fn prepare_repo(app: &App, p: RepoPlan, revision: u64, priority: i64) -> anyhow::Result<Prepared> {
    let files = repodata::build(&RepoInput {
        packages: &p.packages,
        advisories: &p.advisories,
        revision,
        compression: app.config.publish.compression,
    });
    let asc = app.repo_key().sign_detached(&files.repomd)?;
    crate::origin::hooks::run_pre(app, &p.repo, revision, priority, &p.advisories)?;
    Ok(Prepared {
        plan: p,
        revision,
        files,
        asc,
    })
}

/// Writes, records and serves one prepared revision, with the
/// post-publication hooks and the sweep; returns what it recorded.
fn write_repo(
    app: &App,
    snapshot: &Snapshot,
    r: &Prepared,
    priority: i64,
) -> anyhow::Result<RevisionRow> {
    let (p, revision, files) = (&r.plan, r.revision, &r.files);
    let repo = &p.repo;
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
    let needed = publish::write_revision(&app.tree, repo, files, r.asc.as_bytes(), &placed)
        .with_context(|| format!("cannot publish `{}`", repo.path()))?;
    let published_at_ms = now_ms();
    let row = RevisionRow {
        repo: repo.path(),
        revision,
        content_key: p.content_key.clone(),
        repomd_sha256: hex::encode(Sha256::digest(&files.repomd)),
        files: needed.clone(),
        published_at_ms,
        superseded_at_ms: None,
    };
    app.store.record_revision(&row)?;
    let served = Served {
        revision,
        metalink: crate::origin::sync::worker::metalink_body(
            app,
            repo,
            &files.repomd,
            revision,
            &[],
        ),
        repomd: files.repomd.clone().into(),
        asc: r.asc.clone().into_bytes().into(),
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
    Ok(row)
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
mod redact_tests {
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
