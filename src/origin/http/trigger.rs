//! `POST /api/v1/triggers/{name}`: a build system asks for a push, signed
//! Standard Webhooks style (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`). In this order: an unknown name is 404 before any of
//! the body is read; the body is read under the trigger's `body_bytes_max`;
//! the signature and the timestamp window (± 5 min) are checked; the request
//! is validated (`core::advisory`, `core::trigger`); then, in one transaction,
//! its `webhook-id` is remembered (a replay is 409, also after a restart: the
//! ids stay in the store for twice the window), the push is opened in state
//! `fetching` and its fetch queued. The answer is 202 with the push. Every
//! refusal is audited as `trigger-refused` with its reason.
//!
//! `X-Hub-Signature-256` alone is refused: it signs only the body, so a
//! captured request could be replayed for ever.
//!
//! The fetch itself is `origin::trigger`'s.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use crate::core::api::{NewPush, PushView, TriggerRequest};
use crate::core::webhook;
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::http::access::Scope;
use crate::origin::http::views::push_view;
use crate::origin::store::now_ms;

/// How long a `webhook-id` is remembered: twice the timestamp window, so a
/// request is refused as stale before its id can be forgotten.
pub const REMEMBER_IDS_MS: i64 = 2 * webhook::TOLERANCE_SECS as i64 * 1000;
/// The longest `webhook-id` accepted.
pub const WEBHOOK_ID_BYTES_MAX: usize = 256;

/// `POST /api/v1/triggers/{name}`.
#[utoipa::path(
    post,
    path = "/api/v1/triggers/{name}",
    operation_id = "trigger",
    summary = "A build system starts a push (Standard Webhooks signature; answered at once, fetched asynchronously)",
    security(("webhook_signature" = [])),
    params(
        ("name" = String, Path, description = "the `[[trigger]]` name"),
        ("webhook-id" = String, Header, description = "unique per request; a repeated id is refused"),
        ("webhook-timestamp" = u64, Header, description = "Unix seconds, within 5 minutes of the origin's clock"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, several separated by spaces"),
    ),
    request_body = TriggerRequest,
    responses(
        (status = 202, description = "accepted: the push (state `fetching`) as `GET /api/v1/pushes/{id}` shows it", body = PushView),
        (status = 400, description = "error", body = crate::core::api::ErrorEnvelope),
        (status = 401, description = "missing or bad signature, or a timestamp outside the window", body = crate::core::api::ErrorEnvelope),
        (status = 404, description = "no such trigger", body = crate::core::api::ErrorEnvelope),
        (status = 409, description = "the webhook-id was seen before (a replay)", body = crate::core::api::ErrorEnvelope),
        (status = 413, description = "error", body = crate::core::api::ErrorEnvelope),
    )
)]
pub async fn receive(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let addr = remote.ip().to_string();
    let shown: String = name.chars().take(64).collect::<String>();
    let shown = shown.escape_debug().to_string();
    let actor = crate::origin::trigger::actor(&shown);
    let refuse = |reason: &str, error: ApiError| -> ApiError {
        if let Err(e) = app
            .store
            .audit(&actor, "trigger-refused", &shown, false, reason, &addr)
        {
            tracing::error!(error = format!("{e:#}"), "cannot audit a refused trigger");
        }
        error
    };
    let Some(trigger) = app.config.triggers.iter().find(|t| t.name == name).cloned() else {
        return Err(refuse(
            "no such trigger",
            ApiError::not_found(format!("there is no trigger `{shown}`")),
        ));
    };
    let limit = trigger.body_bytes_max;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the trigger request is larger than {limit} bytes, or was interrupted"),
            "send the advisory fields and the package names only; raise `body_bytes_max` of this [[trigger]] if it is genuine",
        )
    };
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(refuse("body too large", too_large()));
    }
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| refuse("body too large or interrupted", too_large()))?;

    // The signature.
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signature)) = (
        header(webhook::HEADER_ID),
        header(webhook::HEADER_TIMESTAMP),
        header(webhook::HEADER_SIGNATURE),
    ) else {
        let (why, hint) = if headers.contains_key("x-hub-signature-256") {
            (
                "X-Hub-Signature-256 without the Standard Webhooks headers",
                "X-Hub-Signature-256 signs only the body, so a captured request could be replayed; sign with the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature` (docs/configuration.md, [[trigger]])",
            )
        } else {
            (
                "missing signature headers",
                "send `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the trigger's whsec_ secret",
            )
        };
        return Err(refuse(
            why,
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_signature",
                format!("the trigger request is not signed: {why}"),
                hint,
            ),
        ));
    };
    if id.is_empty() || id.len() > WEBHOOK_ID_BYTES_MAX || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(refuse(
            "bad webhook-id",
            ApiError::bad_request(
                "bad_webhook_id",
                format!(
                    "`webhook-id` must be 1 to {WEBHOOK_ID_BYTES_MAX} visible ASCII characters"
                ),
                "send a unique id per request, e.g. `msg_` and a random string",
            ),
        ));
    }
    let key = match crate::origin::trigger::read_key(&trigger) {
        Ok(key) => key,
        Err(e) => {
            tracing::error!(
                trigger = trigger.name,
                error = format!("{e:#}"),
                "cannot read the trigger secret"
            );
            return Err(refuse(
                "the trigger's secret file cannot be read",
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "trigger_unavailable",
                    format!("trigger `{shown}` cannot check signatures right now"),
                    "the origin's operator must fix the trigger's secret_file (see its log)",
                ),
            ));
        }
    };
    let now_secs = now_ms().max(0) as u64 / 1000;
    if let Err(e) = webhook::verify(&key, id, timestamp, signature, &body, now_secs) {
        let (code, why, hint) = match e {
            webhook::VerifyError::NoMatch => (
                "bad_signature",
                "no signature matches".to_owned(),
                "sign `id.timestamp.body` with HMAC-SHA256 under the base64-decoded key after `whsec_`, and send `v1,<base64>`",
            ),
            webhook::VerifyError::BadTimestamp => (
                "stale_timestamp",
                "`webhook-timestamp` is not Unix seconds".to_owned(),
                "send the time of signing in whole seconds since 1970",
            ),
            webhook::VerifyError::TooOld | webhook::VerifyError::TooNew => (
                "stale_timestamp",
                format!(
                    "the timestamp {} is more than {} s from the origin's clock ({now_secs})",
                    timestamp.chars().take(20).collect::<String>().escape_debug(),
                    webhook::TOLERANCE_SECS
                ),
                "sign each request when it is sent, and keep the clocks in sync (NTP)",
            ),
        };
        return Err(refuse(
            &why,
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                code,
                format!("the trigger request is refused: {why}"),
                hint,
            ),
        ));
    }

    // The request.
    let req: TriggerRequest = serde_json::from_slice(&body).map_err(|e| {
        refuse(
            &format!("not valid JSON: {e}"),
            ApiError::bad_request(
                "bad_request",
                format!("the trigger request is not valid JSON for this API: {e}"),
                "send {\"advisory\", \"severity\", \"summary\", \"cves\", \"description\", \"builds\": [{\"nvr\", \"sigkey\", \"rpms\"}] or \"urls\": [{\"url\", \"sha256\"}]}",
            ),
        )
    })?;
    // The advisory fields follow the push API's rules, with its messages.
    let push = NewPush {
        advisory: req.advisory,
        severity: req.severity,
        cves: req.cves,
        summary: req.summary,
        description: req.description,
        releases: req.releases,
    };
    let text = crate::origin::http::api::push_text(&app, &push)
        .map_err(|e| refuse(&e.message.clone(), e))?;
    let base = crate::core::trigger::parse_base(&trigger.fetch_base)
        .map_err(|e| anyhow::anyhow!("fetch_base of trigger `{}`: {e}", trigger.name))?;
    let items = crate::core::trigger::fetch_items(&base, &req.builds, &req.urls).map_err(|e| {
        refuse(
            &e.to_string(),
            ApiError::bad_request(
                "bad_package",
                e.to_string(),
                format!(
                    "name packages as Koji builds (`nvr`, `sigkey`, `rpms` file names) or as URLs under `{}`",
                    trigger.fetch_base
                ),
            ),
        )
    })?;
    if let Some(item) = items
        .iter()
        .find(|i| !app.repos().iter().any(|r| r.takes_arch(&i.arch)))
    {
        return Err(refuse(
            &format!("arch `{}` is not served", item.arch),
            ApiError::bad_request(
                "unknown_arch",
                format!(
                    "`{}` is for arch `{}`, which no repository here takes",
                    item.file_name, item.arch
                ),
                format!(
                    "configured arches: {} (noarch goes to every binary arch, src to `source`)",
                    app.config.repos.arches.join(", ")
                ),
            ),
        ));
    }
    let items_json = serde_json::to_string(&items).map_err(anyhow::Error::from)?;
    let accepted = app.store.accept_trigger(
        &trigger.name,
        id,
        now_ms() - REMEMBER_IDS_MS,
        &push.advisory,
        &text,
        &items_json,
        trigger.approval_required,
    )?;
    let push_id = match accepted {
        Ok(push_id) => push_id,
        Err(seen_ms) => {
            return Err(refuse(
                &format!("replayed webhook-id `{}`", id.escape_debug()),
                ApiError::conflict(
                    format!(
                        "the webhook-id `{}` was already received {} s ago; a request is accepted once",
                        id.escape_debug(),
                        (now_ms() - seen_ms).max(0) / 1000
                    ),
                    "send each new trigger with a new `webhook-id`; the first one is being processed: `GET /api/v1/pushes` (with a push-group token)",
                ),
            ))
        }
    };
    let actor = crate::origin::trigger::actor(&trigger.name);
    app.store.audit(
        &actor,
        "trigger",
        &format!("push {push_id} of {}", push.advisory),
        true,
        &format!(
            "webhook-id {id}: {} package(s) to fetch from {}; then {}",
            items.len(),
            trigger.fetch_base,
            if trigger.approval_required {
                "staged for approval"
            } else {
                "queued for publication"
            }
        ),
        &addr,
    )?;
    app.emit(
        "push-created",
        format!(
            "trigger `{}` opened push {push_id} for {} ({} package(s) to fetch)",
            trigger.name,
            push.advisory,
            items.len()
        ),
        Some(push_id),
        Some(push.advisory.clone()),
    );
    app.trigger_wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(push_view(&app, push_id, Scope::Full)?),
    ))
}
