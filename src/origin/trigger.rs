//! The build-system trigger's fetch worker: for each accepted trigger (a push
//! in state `fetching`, queued durably by `http::trigger`), fetch every package
//! from under the trigger's `fetch_base` (redirects not followed, at most
//! `[intake] package_bytes_max` bytes each, all of them within
//! `fetch_timeout_secs`, sha256 checked when given), run the normal intake on
//! it (signature against the live trusted keys, header checks, a known arch,
//! one name one content) and check that it is the package the trigger
//! declared (`N-V-R.ARCH`). A transient failure (connection error, timeout,
//! 5xx, 429) is tried again after a bounded backoff (`core::trigger::
//! retry_wait`, honouring `Retry-After`), each retry audited
//! (`trigger-retry`); a 4xx, a redirect, an oversize file or a refused
//! package is never retried. Then the push is staged for approval or queued for
//! publication; on any failure it ends `failed` with the reason, and nothing of
//! it is published.
//!
//! A restart between the 202 and the end of the fetch starts the fetch again
//! from the beginning: the queue is in the store.
//!
//! Never decides what a trigger may ask for (`core::trigger`), never answers HTTP.
use std::sync::Arc;
use std::time::Duration;

use crate::core::rpm::IntakeError;
use crate::core::trigger::{retry_wait, FetchItem, FETCH_ATTEMPTS_MAX};
use crate::io::fs::StreamStop;
use crate::origin::app::App;
use crate::origin::config::TriggerConfig;
use crate::origin::intake::{admit, Incoming, Refusal};
use crate::origin::jobs::PRIORITY_SECURITY;
use crate::origin::store::{now_ms, TriggerFetchRow, TriggerOutcome};

/// The submitter of a trigger's push: `trigger:{name}`. Token user names
/// cannot hold `:`, so no person can be it (and its approval never counts).
pub fn actor(name: &str) -> String {
    format!("trigger:{name}")
}

/// Whether a user name is a trigger's, not a person's.
pub fn is_trigger_actor(user: &str) -> bool {
    user.starts_with("trigger:")
}

/// Connecting to the build system's file server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest idle wait before the queue is looked at again.
const IDLE_WAIT: Duration = Duration::from_secs(30);

/// Reads a trigger's key from its secret file (mode 0600, `whsec_<base64>`).
pub fn read_key(trigger: &TriggerConfig) -> anyhow::Result<Vec<u8>> {
    let text = crate::io::secret::read_text(&trigger.secret_file).map_err(|e| {
        crate::logging::user_error(
            format!("trigger `{}`: secret_file: {e:#}", trigger.name),
            format!("run `chmod 600 {}` and put `whsec_` followed by base64 of 24 to 64 random bytes in it", trigger.secret_file.display()),
        )
    })?;
    crate::core::webhook::decode_secret(&text).map_err(|reason| {
        crate::logging::user_error(
            format!(
                "trigger `{}`: secret_file `{}`: {reason}",
                trigger.name,
                trigger.secret_file.display()
            ),
            "write `whsec_` followed by base64 of 24 to 64 random bytes, e.g. `echo whsec_$(head -c 32 /dev/urandom | base64)`",
        )
    })
}

/// The client a trigger fetches with: no redirect followed, the system CA
/// store plus the trigger's `ca_file`, `fetch_timeout_secs` per request.
fn client(trigger: &TriggerConfig) -> anyhow::Result<reqwest::Client> {
    crate::io::http::ClientSpec::new("hotpush-trigger")
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(Duration::from_secs(trigger.fetch_timeout_secs))
        .redirects(0)
        .ca_file(trigger.ca_file.as_deref())
        .build()
        .map_err(|e| e.context(format!("trigger `{}`", trigger.name)))
}

/// Checks every trigger's secret and CA file (a bad one stops the start,
/// naming the file) and starts the fetch worker.
pub fn spawn(app: Arc<App>) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    for t in &app.config.triggers {
        read_key(t)?;
        client(t)?;
    }
    Ok(vec![tokio::spawn(worker(app))])
}

/// How long an ended fetch row is kept (for `GET`s of the push's history
/// there is the push itself and the audit log; the row is only the queue).
pub const FETCH_ROWS_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Deletes the `webhook-id`s past the replay window
/// ([`crate::origin::http::trigger::REMEMBER_IDS_MS`]) and the fetch rows
/// that ended more than [`FETCH_ROWS_KEPT_MS`] before `now_ms`; the worker
/// calls it at each wake-up. Returns how many of each went.
pub fn prune(app: &App, now_ms: i64) -> anyhow::Result<(usize, usize)> {
    let pruned = app.store.prune_trigger_rows(
        now_ms - crate::origin::http::trigger::REMEMBER_IDS_MS,
        now_ms - FETCH_ROWS_KEPT_MS,
    )?;
    if pruned != (0, 0) {
        tracing::debug!(
            webhook_ids = pruned.0,
            fetch_rows = pruned.1,
            "trigger tables pruned"
        );
    }
    Ok(pruned)
}

async fn worker(app: Arc<App>) {
    loop {
        let pruning = app.clone();
        match tokio::task::spawn_blocking(move || prune(&pruning, now_ms())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = format!("{e:#}"), "cannot prune the trigger tables")
            }
            Err(e) => tracing::warn!(error = %e, "pruning the trigger tables stopped"),
        }
        if let Err(e) = run_until_idle(&app).await {
            tracing::error!(error = format!("{e:#}"), "trigger fetch worker failed");
        }
        tokio::select! {
            _ = app.trigger_wake.notified() => {}
            _ = tokio::time::sleep(IDLE_WAIT) => {}
        }
    }
}

/// Fetches every queued trigger push until none is left; returns how many it
/// handled. Tests call this instead of waiting for the worker.
pub async fn run_until_idle(app: &Arc<App>) -> anyhow::Result<usize> {
    let mut handled = 0;
    loop {
        let store = app.store.clone();
        let rows = tokio::task::spawn_blocking(move || store.trigger_fetches_pending()).await??;
        if rows.is_empty() {
            return Ok(handled);
        }
        for row in rows {
            handled += 1;
            process(app, &row).await?;
        }
    }
}

/// One trigger push: fetch, check and record each package, then stage or
/// queue it; any refusal fails it with the reason. An `Err` is the store's.
async fn process(app: &Arc<App>, row: &TriggerFetchRow) -> anyhow::Result<()> {
    let who = actor(&row.trigger);
    let push_id = row.push_id;
    let Some(trigger) = app
        .config
        .triggers
        .iter()
        .find(|t| t.name == row.trigger)
        .cloned()
    else {
        return fail(
            app,
            row,
            &format!(
                "trigger `{}` is no longer configured; nothing was fetched",
                row.trigger
            ),
        );
    };
    let items: Vec<FetchItem> = match serde_json::from_str(&row.items) {
        Ok(items) => items,
        Err(e) => return fail(app, row, &format!("the queued fetch cannot be read: {e}")),
    };
    let client = match client(&trigger) {
        Ok(c) => c,
        Err(e) => return fail(app, row, &format!("{e:#}")),
    };
    let bound = Duration::from_secs(trigger.fetch_timeout_secs);
    let deadline = tokio::time::Instant::now() + bound;
    let fetched = tokio::time::timeout_at(deadline, async {
        for item in &items {
            match fetch_one(app, &client, row, item, deadline).await? {
                Ok(true) => {}
                // The push was cancelled meanwhile: stop quietly.
                Ok(false) => return Ok(Ok(false)),
                Err(reason) => {
                    return Ok(Err(format!(
                        "`{}` ({}): {reason}",
                        item.file_name, item.url
                    )))
                }
            }
        }
        anyhow::Ok(Ok(true))
    })
    .await;
    let fetched = match fetched {
        Ok(r) => r?,
        Err(_) => Err(format!(
            "fetching the {} package(s) took longer than fetch_timeout_secs = {}",
            items.len(),
            trigger.fetch_timeout_secs
        )),
    };
    match fetched {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(reason) => return fail(app, row, &reason),
    }
    // Exactly the declared packages, nothing added by hand meanwhile.
    let packages = app.store.push_packages(push_id)?;
    let mut got: Vec<&str> = packages.iter().map(|p| p.file_name.as_str()).collect();
    let mut want: Vec<&str> = items.iter().map(|i| i.file_name.as_str()).collect();
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        return fail(
            app,
            row,
            &format!(
                "the push holds {} instead of the declared {}",
                got.join(", "),
                want.join(", ")
            ),
        );
    }
    let digest = crate::origin::http::api::push_digest(app, push_id)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let outcome =
        app.store
            .finish_trigger_fetch(push_id, &who, &digest, row.staged, PRIORITY_SECURITY)?;
    match outcome {
        None => {}
        Some(TriggerOutcome::Staged) => {
            let required = app.config.auth.approvals_required;
            app.store.audit(
                &who,
                "trigger-staged",
                &format!("push {push_id} of {} (digest {digest})", row.advisory_id),
                true,
                &format!(
                    "{} package(s) fetched and verified; waiting for {required} approval(s) by members of `{}`",
                    items.len(),
                    app.config.auth.push_group
                ),
                "",
            )?;
            app.emit(
                "push-staged",
                format!(
                    "trigger `{}` pushed {} package(s) for {} as push {push_id}; staged, waiting for approval by {required} member(s) of `{}` (`hotpush approve {push_id}`)",
                    row.trigger,
                    items.len(),
                    row.advisory_id,
                    app.config.auth.push_group
                ),
                Some(push_id),
                Some(row.advisory_id.clone()),
            );
        }
        Some(TriggerOutcome::Accepted(job)) => {
            app.store.audit(
                &who,
                "trigger-accepted",
                &format!("push {push_id} of {}", row.advisory_id),
                true,
                &format!(
                    "{} package(s) fetched and verified; queued for publication (job {job})",
                    items.len()
                ),
                "",
            )?;
            app.emit(
                "push-accepted",
                format!(
                    "trigger `{}` pushed {} package(s) for {} as push {push_id}; queued for publication",
                    row.trigger,
                    items.len(),
                    row.advisory_id
                ),
                Some(push_id),
                Some(row.advisory_id.clone()),
            );
            app.wake.notify_one();
        }
    }
    Ok(())
}

/// Ends the push `failed` with `reason`, audited and announced.
fn fail(app: &App, row: &TriggerFetchRow, reason: &str) -> anyhow::Result<()> {
    let push_id = row.push_id;
    let reason = crate::origin::jobs::redact_data_dir(reason, &app.config.data_dir);
    tracing::warn!(
        push_id,
        trigger = row.trigger,
        reason,
        "trigger push failed"
    );
    let failed = app.store.fail_trigger_fetch(push_id, &reason)?;
    app.store.audit(
        &actor(&row.trigger),
        "trigger-failed",
        &format!("push {push_id} of {}", row.advisory_id),
        false,
        &reason,
        "",
    )?;
    if failed.is_some() {
        app.emit(
            "push-failed",
            format!("push {push_id} of {} failed: {reason}", row.advisory_id),
            Some(push_id),
            Some(row.advisory_id.clone()),
        );
    }
    Ok(())
}

/// Fetches and records one package. `Ok(Ok(true))`: recorded; `Ok(Ok(false))`:
/// the push no longer takes packages; `Ok(Err(reason))`: refused.
async fn fetch_one(
    app: &Arc<App>,
    client: &reqwest::Client,
    row: &TriggerFetchRow,
    item: &FetchItem,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Result<bool, String>> {
    let push_id = row.push_id;
    let limit = app.config.intake.package_bytes_max;
    let mut attempts: u32 = 0;
    let (partial, size, sha256) = loop {
        let partial = Incoming::new(app, &format!("trigger-{push_id}"));
        attempts += 1;
        let failure = match download(client, &item.url, partial.path(), limit).await? {
            Ok((size, sha256)) => break (partial, size, sha256),
            Err(failure) => failure,
        };
        // The part fetched so far goes now, before any wait.
        drop(partial);
        if !failure.transient {
            return Ok(Err(failure.reason));
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let wait = match retry_wait(attempts, failure.retry_after.as_deref(), remaining) {
            Ok(wait) => wait,
            Err(why) => return Ok(Err(format!("{} ({why})", failure.reason))),
        };
        tracing::warn!(
            push_id,
            trigger = row.trigger,
            url = item.url,
            attempt = attempts,
            wait_ms = wait.as_millis() as u64,
            reason = failure.reason,
            "trigger fetch failed; retrying"
        );
        app.store.audit(
            &actor(&row.trigger),
            "trigger-retry",
            &format!("push {push_id}: {}", item.file_name),
            false,
            &format!(
                "attempt {attempts} of {FETCH_ATTEMPTS_MAX} failed: {}; trying again in {} s",
                crate::origin::jobs::redact_data_dir(&failure.reason, &app.config.data_dir),
                wait.as_secs()
            ),
            "",
        )?;
        tokio::time::sleep(wait).await;
        // A push cancelled during the wait is not fetched again.
        let state = app.store.push(push_id)?.map(|p| p.state);
        if state.as_deref() != Some("fetching") {
            return Ok(Ok(false));
        }
    };
    if let Some(want) = &item.sha256 {
        if *want != sha256 {
            return Ok(Err(format!(
                "sha256 mismatch: the trigger declared `{want}`, the file fetched is `{sha256}`"
            )));
        }
    }
    // The normal intake: the same reader, signature policy, arch rule and
    // one-name-one-content rule as an upload, and exactly the declared package.
    let admitted = admit(
        app,
        push_id,
        partial,
        size,
        &item.file_name,
        Some(&item.file_name),
        "fetching",
    )
    .await?;
    let view = match admitted {
        Ok(view) => view,
        Err(Refusal::Closed) => return Ok(Ok(false)),
        Err(refusal) => return Ok(Err(refusal_reason(app, refusal))),
    };
    app.store.audit(
        &actor(&row.trigger),
        "trigger-fetched",
        &format!("push {push_id}: {}", view.file_name),
        true,
        &format!(
            "{} bytes from {}, sha256 {}, signed by {}",
            view.size,
            item.url,
            view.sha256,
            view.signed_by.as_deref().unwrap_or("nobody")
        ),
        "",
    )?;
    app.emit(
        "package-uploaded",
        format!(
            "push {push_id}: {} fetched by trigger `{}` and verified",
            view.nevra, row.trigger
        ),
        Some(push_id),
        Some(row.advisory_id.clone()),
    );
    Ok(Ok(true))
}

/// A refusal of the shared intake as the push's failure reason, with the fix
/// for whoever runs the build system.
fn refusal_reason(app: &App, refusal: Refusal) -> String {
    match refusal {
        Refusal::BadPackage(e) => {
            let hint = match &e {
                IntakeError::UntrustedKey(_) => "\nhint: the build system signed it with a key this origin does not trust: `hotpush keys list` shows the trusted keys, `hotpush keys add FILE` (an admin) trusts another",
                IntakeError::Unsigned => "\nhint: point the trigger at Koji's signed copies (`sigkey`), not the unsigned build output",
                _ => "",
            };
            format!("{e}{hint}")
        }
        Refusal::UnknownArch { arch } => format!(
            "the package is for arch `{arch}`, which no repository here takes (configured: {})",
            app.config.repos.arches.join(", ")
        ),
        Refusal::NotDeclared {
            canonical,
            nevra,
            declared,
        } => format!(
            "the package fetched is `{canonical}` ({nevra}), not the `{declared}` the trigger declared; nothing is pushed"
        ),
        Refusal::Held {
            nevra,
            sha256,
            held,
        } => format!(
            "package `{nevra}` is held by advisory `{}` (push {}, {}) in other bytes (sha256 `{}` there, `{sha256}` here); bump the release and rebuild, or retire `{}` first",
            held.advisory_id, held.push_id, held.push_state, held.sha256, held.advisory_id
        ),
        Refusal::Closed => "the push no longer takes packages".to_owned(),
    }
}

/// Why one download attempt did not give the file.
struct Failure {
    reason: String,
    /// A connection error, a timeout, a broken-off body, a 5xx or a 429:
    /// worth another try. A 4xx, a redirect or an oversize file is not.
    transient: bool,
    /// The server's `Retry-After`, as sent.
    retry_after: Option<String>,
}

impl Failure {
    fn permanent(reason: String) -> Self {
        Failure {
            reason,
            transient: false,
            retry_after: None,
        }
    }

    fn transient(reason: String) -> Self {
        Failure {
            reason,
            transient: true,
            retry_after: None,
        }
    }
}

/// GETs `url` into `path` (no redirect followed, at most `limit` bytes);
/// returns its size and sha256, or why this attempt failed. `Err` is a
/// local I/O error.
async fn download(
    client: &reqwest::Client,
    url: &str,
    path: &std::path::Path,
    limit: u64,
) -> anyhow::Result<Result<(u64, String), Failure>> {
    let response = match client.get(url).send().await {
        Ok(r) => r,
        Err(e) => {
            let reason = crate::io::http::describe(&e);
            // Not a usable URL is ours, not the network's.
            return Ok(Err(if e.is_builder() {
                Failure::permanent(reason)
            } else {
                Failure::transient(reason)
            }));
        }
    };
    let status = response.status();
    if status.is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return Ok(Err(Failure::permanent(format!(
            "HTTP {status}: a redirect to `{}`, which is not followed; fetch_base must name the server that holds the files",
            to.escape_debug()
        ))));
    }
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(64).collect());
        return Ok(Err(Failure {
            reason: format!("HTTP {status}"),
            transient: true,
            retry_after,
        }));
    }
    if status != reqwest::StatusCode::OK {
        return Ok(Err(Failure::permanent(format!("HTTP {status}"))));
    }
    let too_large = || {
        Failure::permanent(format!(
            "larger than intake.package_bytes_max = {limit} bytes; raise it in hotpush.toml if this package is genuine"
        ))
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Ok(Err(too_large()));
    }
    let chunks = futures_util::stream::try_unfold(response, |mut r| async move {
        Ok::<_, reqwest::Error>(r.chunk().await?.map(|c| (c, r)))
    });
    match crate::io::fs::stream_to_file(Box::pin(chunks), path, limit).await {
        Ok(done) => Ok(Ok(done)),
        Err(StreamStop::TooLarge) => Ok(Err(too_large())),
        Err(StreamStop::Source(e)) => Ok(Err(Failure::transient(format!(
            "the download broke off: {}",
            crate::io::http::describe(&e)
        )))),
        Err(StreamStop::Io(e)) => Err(e.into()),
    }
}
