//! The two-stage fan-out of new revisions to every partner mirror, and the public
//! verification that decides whether a mirror may be listed in the metalink.
//!
//! Stage 1 (`data`): every mirror concurrently gets the files it lacks. Stage 2
//! (`commit`): every mirror that passed stage 1 puts repomd.xml + .asc in place.
//! Then (`verify`): each committed mirror's public URL must serve the exact new
//! repomd.xml bytes and a repomd.xml.asc that verifies with the repo key.
//!
//! Bounds: every step of every mirror runs under one deadline (stage 1 must end by
//! 70 % of it and stage 2 by 85 %, so a stalled partner cannot starve the others); transient failures
//! are retried at most `attempts_max` times with doubling backoff, never past the
//! deadline. A bad mirror yields an outcome with `verified: false`, never a panic,
//! and never holds up the others beyond the deadline.
//!
//! Must not know how revisions are built or how the metalink is written.
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, TryStreamExt};
use tokio::time::Instant;

use super::https::{http_client, HttpsClient, PushError};
use super::rsync::{Pass, RsyncPush, RsyncTarget, Staging};
use super::{FanoutEvent, FanoutOptions, MirrorOutcome, RepoRevision, TreeFile};
use crate::origin::mirrors::{Mirror, PushMethod};

enum Transport {
    Https(HttpsClient),
    Rsync(RsyncPush, Arc<Staging>),
}

struct Lane<'a> {
    mirror: &'a Mirror,
    transport: Option<Transport>,
    outcome: MirrorOutcome,
}

/// Pushes `revisions` to every mirror (stage 1: data, stage 2: repomd + .asc), then
/// verifies each through its public URL. Outcomes come back in `mirrors` order.
pub async fn fanout(
    mirrors: &[Mirror],
    revisions: &[RepoRevision],
    opts: &FanoutOptions,
) -> Vec<MirrorOutcome> {
    let started = Instant::now();
    let deadline_at = started + opts.deadline;
    // A stalled partner must not eat the time the healthy ones need to commit and be
    // verified: stage 1 ends by 70 % of the deadline, stage 2 by 85 %.
    let data_deadline_at = started + opts.deadline.mul_f64(0.70);
    let commit_deadline_at = started + opts.deadline.mul_f64(0.85);
    let emit = |event: FanoutEvent| {
        if let Some(sink) = &opts.on_event {
            sink(&event);
        }
    };
    let needs_staging = mirrors.iter().any(|m| m.method == PushMethod::Rsync);
    let staging = if needs_staging {
        // A few symlinks and two small files per repo: quick enough to do inline.
        Some(Staging::build(revisions).map(Arc::new))
    } else {
        None
    };
    let mut lanes: Vec<Lane<'_>> = mirrors
        .iter()
        .map(|mirror| {
            let mut outcome = MirrorOutcome {
                mirror: mirror.name.clone(),
                verified: false,
                stage: "data".into(),
                error: None,
                elapsed_ms: 0,
            };
            let transport = match prepare(mirror, staging.as_ref(), opts) {
                Ok(t) => Some(t),
                Err(e) => {
                    outcome.error = Some(e);
                    None
                }
            };
            Lane {
                mirror,
                transport,
                outcome,
            }
        })
        .collect();
    for lane in &lanes {
        if let Some(error) = &lane.outcome.error {
            emit(FanoutEvent::Failed {
                mirror: lane.mirror.name.clone(),
                stage: "data".into(),
                error: error.clone(),
            });
        }
    }

    // Stage 1: data files to every mirror.
    let results = futures_util::future::join_all(lanes.iter().map(|lane| async {
        let transport = lane.transport.as_ref()?;
        Some(
            retrying(&lane.mirror.name, "data", data_deadline_at, opts, || {
                stage_data(transport, revisions, opts)
            })
            .await,
        )
    }))
    .await;
    for (lane, result) in lanes.iter_mut().zip(results) {
        finish_stage(
            lane,
            result,
            "data",
            "commit",
            started,
            &emit,
            |mirror, uploaded| FanoutEvent::DataDone { mirror, uploaded },
        );
    }
    emit(FanoutEvent::DataStageOver {
        passed: passed(&lanes, "commit"),
    });

    // Stage 2: repomd.xml + .asc on every mirror that holds the data.
    let results = futures_util::future::join_all(lanes.iter().map(|lane| async {
        if lane.outcome.stage != "commit" {
            return None;
        }
        let transport = lane.transport.as_ref()?;
        Some(
            retrying(
                &lane.mirror.name,
                "commit",
                commit_deadline_at,
                opts,
                || stage_commit(transport, revisions),
            )
            .await,
        )
    }))
    .await;
    for (lane, result) in lanes.iter_mut().zip(results) {
        finish_stage(
            lane,
            result,
            "commit",
            "verify",
            started,
            &emit,
            |mirror, _| FanoutEvent::Committed { mirror },
        );
    }
    emit(FanoutEvent::CommitStageOver {
        passed: passed(&lanes, "verify"),
    });

    // Public verification: what clients will actually be served.
    let results = futures_util::future::join_all(lanes.iter().map(|lane| async {
        if lane.outcome.stage != "verify" {
            return None;
        }
        let client = match http_client(
            lane.mirror.ca_file.as_deref(),
            opts.connect_timeout,
            opts.request_timeout,
        ) {
            Ok(c) => c,
            Err(e) => return Some(Err(format!("verify: {e}"))),
        };
        Some(
            retrying(&lane.mirror.name, "verify", deadline_at, opts, || async {
                for revision in revisions {
                    verify_with(&client, lane.mirror, revision, &opts.repo_public_key).await?;
                }
                Ok(0)
            })
            .await,
        )
    }))
    .await;
    for (lane, result) in lanes.iter_mut().zip(results) {
        finish_stage(
            lane,
            result,
            "verify",
            "verified",
            started,
            &emit,
            |mirror, _| FanoutEvent::Verified { mirror },
        );
        lane.outcome.verified = lane.outcome.stage == "verified";
    }
    for lane in &mut lanes {
        if lane.outcome.elapsed_ms == 0 {
            lane.outcome.elapsed_ms = started.elapsed().as_millis() as u64;
        }
    }
    lanes.into_iter().map(|lane| lane.outcome).collect()
}

fn passed(lanes: &[Lane<'_>], stage: &str) -> Vec<String> {
    lanes
        .iter()
        .filter(|l| l.outcome.stage == stage)
        .map(|l| l.mirror.name.clone())
        .collect()
}

fn finish_stage(
    lane: &mut Lane<'_>,
    result: Option<Result<usize, String>>,
    stage: &str,
    next: &str,
    started: Instant,
    emit: &impl Fn(FanoutEvent),
    done: impl Fn(String, usize) -> FanoutEvent,
) {
    match result {
        None => {}
        Some(Ok(count)) => {
            lane.outcome.stage = next.into();
            emit(done(lane.mirror.name.clone(), count));
        }
        Some(Err(error)) => {
            tracing::warn!(mirror = %lane.mirror.name, stage, error = %error, "mirror push failed");
            emit(FanoutEvent::Failed {
                mirror: lane.mirror.name.clone(),
                stage: stage.into(),
                error: error.clone(),
            });
            lane.outcome.error = Some(error);
            lane.outcome.elapsed_ms = started.elapsed().as_millis() as u64;
        }
    }
}

fn prepare(
    mirror: &Mirror,
    staging: Option<&Result<Arc<Staging>, PushError>>,
    opts: &FanoutOptions,
) -> Result<Transport, String> {
    match mirror.method {
        PushMethod::Https => HttpsClient::new(mirror, opts.connect_timeout, opts.request_timeout)
            .map(Transport::Https)
            .map_err(|e| format!("data: {e:#}")),
        PushMethod::Rsync => {
            let staging = match staging {
                Some(Ok(s)) => s.clone(),
                Some(Err(e)) => return Err(format!("data: {e}")),
                None => return Err("data: no staging tree".into()),
            };
            crate::io::secret::check(&mirror.secret_file)
                .map_err(|r| format!("data: ssh key: {}", r.reason))?;
            let target =
                RsyncTarget::parse(&mirror.push_url).map_err(|e| format!("data: push_url: {e}"))?;
            let (known_hosts_file, strict_host_key) = match &mirror.known_hosts_file {
                Some(file) => (file.clone(), true),
                None => {
                    let dir = opts
                        .ssh_state_dir
                        .clone()
                        .unwrap_or_else(std::env::temp_dir);
                    (dir.join(format!("known_hosts-{}", mirror.name)), false)
                }
            };
            Ok(Transport::Rsync(
                RsyncPush {
                    target,
                    key_file: mirror.secret_file.clone(),
                    known_hosts_file,
                    strict_host_key,
                    connect_timeout: opts.connect_timeout,
                    io_timeout: opts.request_timeout,
                },
                staging,
            ))
        }
    }
}

/// Runs `op` until it succeeds, fails for good, runs out of attempts, or the deadline.
async fn retrying<T, F, Fut>(
    mirror: &str,
    stage: &str,
    deadline_at: Instant,
    opts: &FanoutOptions,
    mut op: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PushError>>,
{
    let attempts_max = opts.attempts_max.max(1);
    let mut backoff = opts.backoff_initial;
    let mut attempt = 1;
    loop {
        let error = match tokio::time::timeout_at(deadline_at, op()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) => {
                return Err(format!(
                    "{stage}: the fan-out deadline passed (attempt {attempt})"
                ))
            }
        };
        let room = Instant::now() + backoff < deadline_at;
        if !error.is_transient() || attempt >= attempts_max || !room {
            return Err(format!("{stage}: {error}"));
        }
        tracing::debug!(mirror, stage, attempt, error = %error, "retrying a mirror push step");
        if let Some(sink) = &opts.on_event {
            sink(&FanoutEvent::Retrying {
                mirror: mirror.into(),
                stage: stage.into(),
                attempt,
                error: error.to_string(),
            });
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(opts.backoff_max);
        attempt += 1;
    }
}

/// Stage 1 for one mirror; returns how many files were sent.
async fn stage_data(
    transport: &Transport,
    revisions: &[RepoRevision],
    opts: &FanoutOptions,
) -> Result<usize, PushError> {
    match transport {
        Transport::Https(client) => {
            let mut by_sha: BTreeMap<&str, &TreeFile> = BTreeMap::new();
            for file in revisions.iter().flat_map(|r| &r.files) {
                by_sha.entry(file.sha256.as_str()).or_insert(file);
            }
            let lacking = client
                .lacking(by_sha.keys().map(|s| s.to_string()).collect())
                .await?;
            let mut uploads = Vec::with_capacity(lacking.len());
            for sha in &lacking {
                match by_sha.get(sha.as_str()) {
                    Some(file) => uploads.push(*file),
                    None => {
                        return Err(PushError::Permanent(format!(
                            "the receiver lacks `{sha}`, which was not asked about"
                        )))
                    }
                }
            }
            stream::iter(uploads.into_iter().map(Ok))
                .try_for_each_concurrent(opts.uploads_parallel_max.max(1), |file| {
                    client.upload(file)
                })
                .await?;
            Ok(lacking.len())
        }
        Transport::Rsync(push, staging) => {
            push.run(Pass::Data, &staging.path(Pass::Data)).await?;
            Ok(revisions.iter().map(|r| r.files.len()).sum())
        }
    }
}

/// Stage 2 for one mirror.
async fn stage_commit(
    transport: &Transport,
    revisions: &[RepoRevision],
) -> Result<usize, PushError> {
    match transport {
        Transport::Https(client) => {
            for revision in revisions {
                client.commit(revision).await?;
            }
        }
        Transport::Rsync(push, staging) => {
            push.run(Pass::Repomd, &staging.path(Pass::Repomd)).await?
        }
    }
    Ok(revisions.len())
}

/// The most a partner's public repomd.xml may hold (ours are a few KB).
const PUBLIC_REPOMD_BYTES_MAX: u64 = 1024 * 1024;
/// The most its detached signature may hold.
const PUBLIC_ASC_BYTES_MAX: u64 = 64 * 1024;

/// Fetches repomd.xml and .asc of `revision` from `mirror.public_url` and checks that
/// the bytes are the revision's and the signature verifies with `repo_public_key`.
pub async fn verify_public(
    mirror: &Mirror,
    revision: &RepoRevision,
    repo_public_key: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let client = http_client(mirror.ca_file.as_deref(), timeout, timeout)?;
    verify_with(&client, mirror, revision, repo_public_key).await?;
    Ok(())
}

async fn verify_with(
    client: &reqwest::Client,
    mirror: &Mirror,
    revision: &RepoRevision,
    repo_public_key: &str,
) -> Result<(), PushError> {
    let base = format!(
        "{}/{}/repodata/repomd.xml",
        mirror.public_url, revision.repo_path
    );
    let fetch = |url: String, max: u64| async move {
        crate::io::http::fetch_capped(client, &url, max)
            .await
            .map_err(|e| PushError::Transient(format!("GET {url}: {e}")))
    };
    let repomd = fetch(base.clone(), PUBLIC_REPOMD_BYTES_MAX).await?;
    if repomd.as_slice() != revision.repomd.as_slice() {
        return Err(PushError::Transient(format!(
            "{base} serves other bytes (sha256 {}, expected {})",
            crate::core::protocol::sha256_hex(&repomd),
            crate::core::protocol::sha256_hex(&revision.repomd)
        )));
    }
    let asc = fetch(format!("{base}.asc"), PUBLIC_ASC_BYTES_MAX).await?;
    let asc = std::str::from_utf8(&asc)
        .map_err(|_| PushError::Transient(format!("{base}.asc: not ASCII armor")))?;
    crate::core::signing::verify_detached(repo_public_key, &repomd, asc)
        .map_err(|e| PushError::Transient(format!("{base}.asc: {e:#}")))
}

/// Pushes a copy of a metalink document to an `https` receiver (it serves it at
/// `/metalink?repo=…&arch=…`). Best effort: `rsync` mirrors get none.
pub async fn push_metalink(
    mirror: &Mirror,
    repo_id: &str,
    arch: &str,
    body: &[u8],
) -> anyhow::Result<()> {
    match mirror.method {
        PushMethod::Https => {
            let client = HttpsClient::new(mirror, Duration::from_secs(5), Duration::from_secs(30))?;
            client
                .put_metalink(repo_id, arch, body)
                .await
                .map_err(|e| anyhow::anyhow!("pushing the metalink copy to `{}`: {e}", mirror.name))
        }
        PushMethod::Rsync => Ok(()),
    }
}
