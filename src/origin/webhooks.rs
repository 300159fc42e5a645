//! Outbound webhooks: [`enqueue`] turns each origin event into one outbox row per
//! `[[webhook]]` that wants it (in the store, so a restart loses nothing), and one
//! delivery task per webhook POSTs its messages in order, signed with a fresh
//! timestamp on every attempt (the `webhook-id` stays, so receivers drop
//! duplicates), retrying with exponential backoff (`core::webhook::backoff_ms`)
//! up to `[[webhook]] attempts_max` attempts (default 20: more than a day); a
//! message out of attempts is given up (counted, kept in the delivery log). Signing, payloads and the embargo rule live in
//! `core::webhook`; this module only does the I/O.

use std::sync::Arc;
use std::time::Duration;

use crate::core::webhook;
use crate::origin::app::App;
use crate::origin::config::WebhookConfig;
use crate::origin::store::now_ms;

/// Bounds of one delivery attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest idle wait before the outbox is looked at again (events also wake the tasks).
const IDLE_WAIT: Duration = Duration::from_secs(30);
/// Delivered (or given-up) messages stay in the outbox, as the delivery log, this long.
const KEEP_DELIVERED_MS: i64 = 14 * 24 * 3_600_000;
const PRUNE_EVERY_MS: i64 = 3_600_000;
/// How much of a receiver's error answer is kept in `last_error`.
const ERROR_CHARS_MAX: usize = 300;

/// Queues the event for every webhook that wants it. Called by `App::emit` for
/// every event; a store error is logged, never raised (events must not fail the
/// operation that caused them).
pub fn enqueue(
    app: &App,
    kind: &str,
    message: &str,
    push_id: Option<i64>,
    advisory: Option<&str>,
    at_ms: i64,
) {
    if app.config.webhooks.is_empty() {
        return;
    }
    let kind_type = webhook::type_of(kind);
    let body = webhook::payload(&webhook::EventData {
        kind: kind.to_owned(),
        message: message.to_owned(),
        push_id,
        advisory: advisory.map(str::to_owned),
        at_ms,
    });
    let rows: Vec<(String, String, String, u32)> = app
        .config
        .webhooks
        .iter()
        .filter(|w| webhook::wants(w.events.as_deref(), &kind_type))
        .map(|w| {
            (
                w.name.clone(),
                kind_type.clone(),
                body.clone(),
                w.attempts_max,
            )
        })
        .collect();
    if let Err(e) = app.store.webhook_enqueue(&rows) {
        tracing::error!(
            error = format!("{e:#}"),
            event = kind,
            "cannot queue the event for the webhooks"
        );
    }
}

/// Reads every webhook's secret (refusing a missing, malformed or
/// world-readable file) and starts one delivery task per webhook.
pub fn spawn(app: Arc<App>) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for hook in app.config.webhooks.clone() {
        let text = crate::io::secret::read_text(&hook.secret_file)?;
        let key = webhook::decode_secret(&text).map_err(|reason| {
            crate::logging::user_error(
                format!(
                    "webhook `{}`: secret_file `{}`: {reason}",
                    hook.name,
                    hook.secret_file.display()
                ),
                "write `whsec_` followed by base64 of 24 to 64 random bytes, e.g. `echo whsec_$(head -c 32 /dev/urandom | base64)`",
            )
        })?;
        let client = crate::io::http::ClientSpec::new("hotpush-webhook")
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirects(0)
            .build()?;
        tasks.push(tokio::spawn(deliver_loop(app.clone(), hook, key, client)));
    }
    Ok(tasks)
}

async fn deliver_loop(app: Arc<App>, hook: WebhookConfig, key: Vec<u8>, client: reqwest::Client) {
    let mut events = app.events.subscribe();
    tracing::info!(
        webhook = hook.name,
        url = hook.url,
        "webhook delivery started"
    );
    let mut last_prune_ms = 0;
    loop {
        let now = now_ms();
        if now - last_prune_ms > PRUNE_EVERY_MS {
            last_prune_ms = now;
            let store = app.store.clone();
            let name = hook.name.clone();
            let pruned = tokio::task::spawn_blocking(move || {
                store.webhook_prune(&name, now - KEEP_DELIVERED_MS)
            })
            .await;
            if let Ok(Err(e)) = pruned {
                tracing::warn!(
                    error = format!("{e:#}"),
                    webhook = hook.name,
                    "cannot prune the webhook outbox"
                );
            }
        }
        let wait = match deliver_due(&app, &hook, &key, &client).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    webhook = hook.name,
                    "webhook outbox"
                );
                IDLE_WAIT
            }
        };
        // Woken by any event (a new message may be queued) or when the head is due.
        let _ = tokio::time::timeout(wait, events.recv()).await;
    }
}

/// Sends the due messages of one webhook in order; returns how long to wait.
async fn deliver_due(
    app: &App,
    hook: &WebhookConfig,
    key: &[u8],
    client: &reqwest::Client,
) -> anyhow::Result<Duration> {
    loop {
        let store = app.store.clone();
        let name = hook.name.clone();
        let next = tokio::task::spawn_blocking(move || store.webhook_next(&name)).await??;
        let Some(msg) = next else {
            return Ok(IDLE_WAIT);
        };
        let now = now_ms();
        if msg.next_attempt_ms > now {
            return Ok(Duration::from_millis((msg.next_attempt_ms - now) as u64).min(IDLE_WAIT));
        }
        let result = post(hook, key, client, &msg.id, &msg.body).await;
        let store = app.store.clone();
        let done = now_ms();
        app.metrics.observe_webhook(&hook.name, result.is_ok());
        match result {
            Ok(()) => {
                tracing::info!(
                    webhook = hook.name,
                    id = msg.id,
                    r#type = msg.kind_type,
                    "webhook delivered"
                );
                tokio::task::spawn_blocking(move || store.webhook_delivered(msg.seq, done))
                    .await??;
            }
            Err(error) => {
                let attempts = msg.attempts + 1;
                let next_ms = done + webhook::backoff_ms(attempts);
                if attempts >= msg.attempts_max {
                    app.metrics.observe_webhook_given_up(&hook.name);
                    tracing::error!(
                        webhook = hook.name,
                        id = msg.id,
                        error,
                        attempts,
                        "webhook message given up"
                    );
                } else {
                    tracing::warn!(
                        webhook = hook.name,
                        id = msg.id,
                        error,
                        attempts,
                        "webhook delivery failed; will retry"
                    );
                }
                tokio::task::spawn_blocking(move || store.webhook_failed(msg.seq, next_ms, &error))
                    .await??;
                // Keep the order: nothing after a failed message goes out first.
                return Ok(
                    Duration::from_millis(webhook::backoff_ms(attempts) as u64).min(IDLE_WAIT)
                );
            }
        }
    }
}

/// One attempt: signed with the current time; any 2xx is a delivery.
async fn post(
    hook: &WebhookConfig,
    key: &[u8],
    client: &reqwest::Client,
    id: &str,
    body: &str,
) -> Result<(), String> {
    let ts = now_ms().max(0) as u64 / 1000;
    let signature = webhook::sign(key, id, ts, body.as_bytes());
    let response = client
        .post(&hook.url)
        .header(webhook::HEADER_ID, id)
        .header(webhook::HEADER_TIMESTAMP, ts.to_string())
        .header(webhook::HEADER_SIGNATURE, signature)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| crate::io::http::describe(&e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let text: String = text.chars().take(ERROR_CHARS_MAX).collect();
    Err(format!("{status}: {text}"))
}
