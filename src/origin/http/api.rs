//! `/api/v1`: pushes (create, upload packages, submit), advisories (retire),
//! status, audit log, activity and events.
//!
//! Every state-changing request is authenticated by a bearer token and
//! authorised by group; every decision, allowed or refused, is written to the
//! audit log with the caller's address.
//!
//! Embargo: every read answers in a [`Scope`]. Without a token it is
//! [`Scope::Public`]: only what clients can already see (advisories with a
//! published push, the packages of published pushes, published pushes, and
//! events and jobs about nothing else); anything else answers exactly as an
//! unknown id does. A push-group token gives [`Scope::Full`].
//!
//! The handlers stay thin: who may do what is `access`, the upload half of the
//! intake is `intake`, and the read models are `views`.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::{Stream, StreamExt};

use crate::core::api::*;
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::auth::ADMIN_GROUP;
use crate::origin::jobs::PRIORITY_SECURITY;
use crate::origin::store::{now_ms, AcceptRefusal, AdvisoryText};

pub use crate::origin::http::access::Scope;
pub(crate) use crate::origin::http::access::{authorize, check_token, rate_limited, read_scope};
pub(crate) use crate::origin::http::views::{
    advisory_views, checklist_view, mirror_views, push_view, status_view,
};

type ApiResult<T> = Result<T, ApiError>;

/// A 400 for an advisory field that breaks the text rules (`core::advisory`).
fn bad_advisory_text(e: crate::core::advisory::TextError) -> ApiError {
    let (code, hint) = match e.field.as_str() {
        "id" => (
            "bad_advisory",
            "use letters, digits, `-`, `_`, `.` and `:` only, at most 64 characters, e.g. `FEDORA-2026-0001`",
        ),
        "severity" => (
            "bad_severity",
            "use one of `critical`, `important`, `moderate`, `low`",
        ),
        "summary" => (
            "bad_summary",
            "pass a one-line `--summary TEXT` without control characters (paste plain text, not terminal output)",
        ),
        "description" => (
            "bad_description",
            "plain text only: tab, line feed and carriage return are the only control characters allowed",
        ),
        _ => ("bad_cve", "CVE ids look like `CVE-2026-12345`"),
    };
    ApiError::bad_request(code, e.to_string(), hint)
}

/// A push's advisory fields checked (`core::advisory`'s rules, served
/// releases) and turned into the texts the push proposes; shared by
/// `POST /api/v1/pushes` and the build-system trigger.
pub(crate) fn push_text(app: &App, req: &NewPush) -> ApiResult<AdvisoryText> {
    let severity = crate::core::advisory::check_advisory(&req.into())
        .map_err(bad_advisory_text)?
        .to_owned();
    if let Some(r) = req
        .releases
        .iter()
        .find(|r| !app.config.repos.releases.contains(r))
    {
        return Err(ApiError::bad_request(
            "bad_release",
            format!(
                "`releases`: release `{}` is not served here",
                r.escape_debug()
            ),
            format!(
                "configured releases: {}",
                app.config.repos.releases.join(", ")
            ),
        ));
    }
    Ok(AdvisoryText {
        severity,
        summary: req.summary.clone(),
        description: req.description.clone(),
        cves: req.cves.clone(),
        releases: req.releases.clone(),
    })
}

/// `POST /api/v1/pushes`: declares an advisory and opens a push for its packages.
#[utoipa::path(
    post,
    path = "/api/v1/pushes",
    operation_id = "createPush",
    summary = "Declare an advisory and open a push for its packages",
    security(("bearer" = [])),
    request_body = NewPush,
    responses(
        (status = 201, description = "push opened", body = PushView),
        (status = 400, description = "error", body = ErrorEnvelope),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
    )
)]
pub async fn create_push(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    // Authenticate before reading the body: a caller without a valid token
    // makes the origin read nothing (the connection is closed after the 401).
    let owner = check_token(
        &app,
        &headers,
        &remote,
        "push",
        "",
        &app.config.auth.push_group,
    )?;
    let limit = app.config.server.json_body_bytes_max;
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the push request is larger than {limit} bytes, or was interrupted"),
            "send only the advisory's fields; packages go up with `PUT .../packages/{file}`",
        )
    })?;
    let target = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["advisory"].as_str().map(str::to_owned))
        .unwrap_or_default();
    app.store.audit(
        &owner.user,
        "push",
        &target,
        true,
        "allowed",
        &remote.ip().to_string(),
    )?;
    let req: NewPush = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!("the push request is not valid JSON for this API: {e}"),
            "send {\"advisory\", \"severity\", \"summary\", \"cves\", \"description\", \"releases\"}",
        )
    })?;
    let text = push_text(&app, &req)?;
    // The texts stay on the push: the advisory changes when it is published.
    let id = app.store.open_push(&req.advisory, &text, &owner.user)?;
    app.emit(
        "push-created",
        format!("{} opened push {id} for {}", owner.user, req.advisory),
        Some(id),
        Some(req.advisory.clone()),
    );
    Ok((StatusCode::CREATED, Json(push_view(&app, id, Scope::Full)?)))
}

/// `PUT /api/v1/pushes/{id}/packages/{file_name}`: streams one RPM to disk (size
/// bounded), then parses it and checks its signature and arch.
#[utoipa::path(
    put,
    path = "/api/v1/pushes/{id}/packages/{file}",
    operation_id = "uploadPackage",
    summary = "Upload one signed RPM into an open push (body: the RPM bytes)",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "push id"), ("file" = String, Path, description = "file name ending in `.rpm`")),
    request_body(
        content = inline(crate::origin::http::openapi::RpmFile),
        content_type = "application/x-rpm"
    ),
    responses(
        (status = 201, description = "package verified and stored", body = PushPackageView),
        (status = 400, description = "error", body = ErrorEnvelope),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 409, description = "error", body = ErrorEnvelope),
        (status = 413, description = "error", body = ErrorEnvelope),
        (status = 422, description = "error", body = ErrorEnvelope),
    )
)]
pub async fn upload_package(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path((push_id, file_name)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let owner = authorize(
        &app,
        &headers,
        &remote,
        "upload",
        &format!("push {push_id}: {file_name}"),
        &app.config.auth.push_group,
    )?;
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let view = crate::origin::http::intake::upload(
        &app, &owner, &remote, push_id, file_name, announced, body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `POST /api/v1/pushes/{id}/submit`: accepts the push. Once this answers 202 the
/// push is durable and will end published or visibly failed.
#[utoipa::path(
    post,
    path = "/api/v1/pushes/{id}/submit",
    operation_id = "submitPush",
    summary = "Accept the push; from here on it ends published or visibly failed",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "push id")),
    responses(
        (status = 202, description = "accepted", body = PushView),
        (status = 400, description = "error", body = ErrorEnvelope),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 409, description = "error", body = ErrorEnvelope),
    )
)]
pub async fn submit_push(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(push_id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let owner = authorize(
        &app,
        &headers,
        &remote,
        "submit",
        &format!("push {push_id}"),
        &app.config.auth.push_group,
    )?;
    // The two-person rule: the push waits, staged, for a second member.
    if app.config.auth.approvals_required > 1 {
        let digest = push_digest(&app, push_id)?;
        return match app.store.stage_push(push_id, &owner.user, &digest)? {
            Ok(()) => {
                let push = app
                    .store
                    .push(push_id)?
                    .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
                app.emit(
                    "push-staged",
                    format!(
                        "{} submitted push {push_id} of {}; staged, waiting for approval by a second member",
                        owner.user, push.advisory_id
                    ),
                    Some(push_id),
                    Some(push.advisory_id.clone()),
                );
                Ok((
                    StatusCode::ACCEPTED,
                    Json(push_view(&app, push_id, Scope::Full)?),
                ))
            }
            Err(AcceptRefusal::NoSuchPush) => Err(ApiError::not_found(format!(
                "push {push_id} does not exist"
            ))),
            Err(AcceptRefusal::NotUploading(state)) => Err(ApiError::conflict(
                format!("push {push_id} is already `{state}`"),
                "follow it with `GET /api/v1/pushes/{id}`",
            )),
            Err(AcceptRefusal::Empty) => Err(ApiError::bad_request(
                "empty_push",
                format!("push {push_id} has no packages"),
                "upload at least one RPM before submitting",
            )),
        };
    }
    // The state check, the package count and the change are one transaction.
    match app.store.accept_push(push_id, PRIORITY_SECURITY)? {
        Ok(_job) => {}
        Err(AcceptRefusal::NoSuchPush) => {
            return Err(ApiError::not_found(format!(
                "push {push_id} does not exist"
            )))
        }
        Err(AcceptRefusal::NotUploading(state)) => {
            return Err(ApiError::conflict(
                format!("push {push_id} is already `{state}`"),
                "follow it with `GET /api/v1/pushes/{id}`",
            ))
        }
        Err(AcceptRefusal::Empty) => {
            return Err(ApiError::bad_request(
                "empty_push",
                format!("push {push_id} has no packages"),
                "upload at least one RPM before submitting",
            ))
        }
    }
    let push = app
        .store
        .push(push_id)?
        .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
    app.emit(
        "push-accepted",
        format!(
            "{} submitted push {push_id} of {}",
            owner.user, push.advisory_id
        ),
        Some(push_id),
        Some(push.advisory_id.clone()),
    );
    app.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(push_view(&app, push_id, Scope::Full)?),
    ))
}

/// `GET /api/v1/pushes/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/pushes/{id}",
    operation_id = "getPush",
    summary = "One push, its packages and partner state",
    security((), ("bearer" = [])),
    params(("id" = i64, Path, description = "push id")),
    responses(
        (status = 200, description = "OK", body = PushView),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn get_push(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(push_id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Json<PushView>> {
    let scope = read_scope(&app, &headers, &remote, &format!("push {push_id}"))?;
    Ok(Json(push_view(&app, push_id, scope)?))
}

/// `GET /api/v1/pushes`.
#[utoipa::path(
    get,
    path = "/api/v1/pushes",
    operation_id = "listPushes",
    summary = "The newest pushes (at most 100), newest first",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = Vec<PushView>),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn list_pushes(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<PushView>>> {
    let scope = read_scope(&app, &headers, &remote, "pushes")?;
    let pushes = app.store.pushes(100)?;
    let mut out = Vec::new();
    for p in pushes {
        if scope == Scope::Full || p.state == "published" {
            out.push(push_view(&app, p.id, scope)?);
        }
    }
    Ok(Json(out))
}

/// `POST /api/v1/advisories/{id}/retire`: takes the advisory's packages out.
#[utoipa::path(
    post,
    path = "/api/v1/advisories/{id}/retire",
    operation_id = "retireAdvisory",
    summary = "Take the advisory's packages out of the critical repositories",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "advisory id, e.g. `FEDORA-2026-0001`")),
    responses(
        (status = 202, description = "retirement queued", body = RetireView),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "error", body = ErrorEnvelope),
    )
)]
pub async fn retire(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let owner = authorize(
        &app,
        &headers,
        &remote,
        "retire",
        &id,
        &app.config.auth.push_group,
    )?;
    if app.store.advisory(&id)?.is_none() {
        return Err(ApiError::not_found(format!(
            "advisory `{id}` does not exist"
        )));
    }
    let job = crate::origin::jobs::retire(&app, &id, &owner.user, "by request")?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RetireView {
            advisory: id,
            state: "retired".into(),
            job,
        }),
    ))
}

/// `POST /api/v1/pushes/{id}/cancel`: abandons a push that is not yet
/// published (`uploading` or `staged`); its packages are published by no one.
#[utoipa::path(
    post,
    path = "/api/v1/pushes/{id}/cancel",
    operation_id = "cancelPush",
    summary = "Abandon a push that is not yet published (uploading, fetching or staged)",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "push id")),
    responses(
        (status = 200, description = "cancelled", body = PushView),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 409, description = "the push is already accepted, published or over", body = ErrorEnvelope),
    )
)]
pub async fn cancel_push(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(push_id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Json<PushView>> {
    let target = format!("push {push_id}");
    let owner = authorize(
        &app,
        &headers,
        &remote,
        "cancel",
        &target,
        &app.config.auth.push_group,
    )?;
    let reason = format!("cancelled by {}", owner.user);
    match app.store.cancel_push(push_id, &reason)? {
        Ok(advisory) => {
            app.store.audit(
                &owner.user,
                "push-cancelled",
                &format!("{target} of {advisory}"),
                true,
                &reason,
                &remote.ip().to_string(),
            )?;
            app.emit(
                "push-cancelled",
                format!("{} cancelled push {push_id} of {advisory}", owner.user),
                Some(push_id),
                Some(advisory),
            );
            Ok(Json(push_view(&app, push_id, Scope::Full)?))
        }
        Err(refusal) => {
            let (error, why) = match refusal {
                crate::origin::store::CancelRefusal::NoSuchPush => (
                    ApiError::not_found(format!("push {push_id} does not exist")),
                    "no such push".to_owned(),
                ),
                crate::origin::store::CancelRefusal::NotCancellable(state) => (
                    ApiError::conflict(
                        format!("push {push_id} is `{state}`; only a push that is uploading, fetching or staged can be cancelled"),
                        if state == "published" || state == "accepted" {
                            "take a published fix out with `hotpush retire ADVISORY`"
                        } else {
                            "the push is already over; nothing to cancel"
                        },
                    ),
                    format!("push is `{state}`"),
                ),
            };
            app.store.audit(
                &owner.user,
                "cancel-refused",
                &target,
                false,
                &why,
                &remote.ip().to_string(),
            )?;
            Err(error)
        }
    }
}

/// sha256 over the push's advisory id, proposed texts and exact packages
/// (sha256 and name, sorted): what an approval is bound to.
pub(crate) fn push_digest(app: &App, push_id: i64) -> ApiResult<String> {
    use sha2::Digest;
    let push = app
        .store
        .push(push_id)?
        .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
    let mut h = sha2::Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(&push.advisory_id);
    if let Some(p) = &push.proposal {
        field(&p.severity);
        field(&p.summary);
        field(&p.description);
        field(&p.cves.join(","));
        field(&p.releases.join(","));
    }
    let mut packages: Vec<(String, String)> = app
        .store
        .push_packages(push_id)?
        .into_iter()
        .map(|p| (p.sha256, p.file_name))
        .collect();
    packages.sort();
    for (sha, name) in &packages {
        field(sha);
        field(name);
    }
    Ok(hex::encode(h.finalize()))
}

/// `POST /api/v1/pushes/{id}/approve`: a member of the push group other than
/// the submitter approves a staged push; with enough distinct approvals it is
/// accepted and queued for publication.
#[utoipa::path(
    post,
    path = "/api/v1/pushes/{id}/approve",
    operation_id = "approvePush",
    summary = "Approve a staged push (two-person rule)",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "push id")),
    request_body = ApprovalRequest,
    responses(
        (status = 200, description = "the approval counted", body = ApprovalView),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 409, description = "not staged, expired, changed, or the submitter's own", body = ErrorEnvelope),
    )
)]
pub async fn approve_push(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(push_id): Path<i64>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> ApiResult<Json<ApprovalView>> {
    let target = format!("push {push_id}");
    let owner = authorize(
        &app,
        &headers,
        &remote,
        "approve",
        &target,
        &app.config.auth.push_group,
    )?;
    let addr = remote.ip().to_string();
    let refuse = |why: String, error: ApiError| -> ApiResult<Json<ApprovalView>> {
        app.store
            .audit(&owner.user, "approval-refused", &target, false, &why, &addr)?;
        Err(error)
    };
    let req: ApprovalRequest = if body.is_empty() {
        ApprovalRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "bad_request",
                format!("the approval is not valid JSON for this API: {e}"),
                "send {} or {\"digest\": \"...\"}",
            )
        })?
    };
    let push = app
        .store
        .push(push_id)?
        .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
    let Some((submitter, staged_digest, staged_at_ms)) = app.store.staged(push_id)? else {
        return refuse(
            format!("push is `{}`", push.state),
            ApiError::conflict(
                format!("push {push_id} is `{}`, not staged", push.state),
                "only a staged push waits for approval",
            ),
        );
    };
    if push.state != "staged" {
        return refuse(
            format!("push is `{}`", push.state),
            ApiError::conflict(
                format!("push {push_id} is `{}`, no longer staged", push.state),
                "follow it with `GET /api/v1/pushes/{id}`",
            ),
        );
    }
    let expiry_ms = app.config.auth.staged_expiry_hours as i64 * 3_600_000;
    if now_ms() > staged_at_ms + expiry_ms {
        let reason = format!(
            "expired: not approved within {} h",
            app.config.auth.staged_expiry_hours
        );
        let _ = app.store.cancel_push(push_id, &reason)?;
        return refuse(
            reason.clone(),
            ApiError::conflict(
                format!("push {push_id} {reason}; it will not be published"),
                "push the fix again and have it approved in time",
            ),
        );
    }
    let digest = push_digest(&app, push_id)?;
    if digest != staged_digest || req.digest.as_ref().is_some_and(|d| *d != digest) {
        return refuse(
            "digest mismatch".into(),
            ApiError::conflict(
                format!("push {push_id} is not what was reviewed (digest `{digest}`)"),
                "review the push again (`GET /api/v1/pushes/{id}`) and approve what it is now",
            ),
        );
    }
    if let Some(reason) = &req.break_glass_reason {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return refuse(
                "break glass without a usable reason".into(),
                ApiError::bad_request(
                    "bad_reason",
                    "breaking glass needs a reason of 1 to 500 characters without control characters",
                    "say why no second member could approve, e.g. `--break-glass \"exploited in the wild, nobody reachable\"`",
                ),
            );
        }
        app.store.audit(
            &owner.user,
            "break-glass",
            &format!("{target} of {} (digest {digest})", push.advisory_id),
            true,
            &format!("published without the required approvals: {reason}"),
            &addr,
        )?;
        if app
            .store
            .accept_staged(push_id, PRIORITY_SECURITY)?
            .is_none()
        {
            return Err(ApiError::conflict(
                format!("push {push_id} is no longer staged"),
                "follow it with `GET /api/v1/pushes/{id}`",
            ));
        }
        tracing::warn!(push_id, user = %owner.user, reason, "break glass: a staged push published without its approvals");
        // Every webhook hears of it; the advisory id stays out (embargo
        // until publication), the reason is in the audit log.
        app.emit(
            "push-break-glass",
            format!(
                "{} broke glass: push {push_id} published without the required approvals; review the audit log",
                owner.user
            ),
            Some(push_id),
            None,
        );
        app.emit(
            "push-accepted",
            format!(
                "push {push_id} of {} accepted by break glass ({}); queued for publication",
                push.advisory_id, owner.user
            ),
            Some(push_id),
            Some(push.advisory_id.clone()),
        );
        app.wake.notify_one();
        return Ok(Json(ApprovalView {
            push: push_id,
            state: "accepted".into(),
            digest,
            approved_by: vec![submitter.clone()],
            required: app.config.auth.approvals_required,
        }));
    }
    if owner.user == submitter {
        return refuse(
            "the submitter's own approval".into(),
            ApiError::conflict(
                format!(
                    "`{}` submitted push {push_id} and cannot approve it",
                    owner.user
                ),
                "a second member of the push group must approve it (`hotpush approve`)",
            ),
        );
    }
    // A build-system trigger that submitted the push never counts: its push
    // needs `approvals_required` people.
    let approved_by: Vec<String> = app
        .store
        .approve_push(push_id, &owner.user, &digest)?
        .into_iter()
        .filter(|u| !crate::origin::trigger::is_trigger_actor(u))
        .collect();
    app.store.audit(
        &owner.user,
        "push-approved",
        &format!("{target} of {} (digest {digest})", push.advisory_id),
        true,
        &format!(
            "{} of {} approvals",
            approved_by.len(),
            app.config.auth.approvals_required
        ),
        &addr,
    )?;
    let mut state = "staged".to_owned();
    if approved_by.len() as u32 >= app.config.auth.approvals_required
        && app
            .store
            .accept_staged(push_id, PRIORITY_SECURITY)?
            .is_some()
    {
        state = "accepted".into();
        app.emit(
            "push-accepted",
            format!(
                "push {push_id} of {} approved by {}; queued for publication",
                push.advisory_id,
                approved_by.join(", ")
            ),
            Some(push_id),
            Some(push.advisory_id.clone()),
        );
        app.wake.notify_one();
    } else {
        app.emit(
            "push-approved",
            format!(
                "{} approved push {push_id} of {} ({} of {} approvals)",
                owner.user,
                push.advisory_id,
                approved_by.len(),
                app.config.auth.approvals_required
            ),
            Some(push_id),
            Some(push.advisory_id.clone()),
        );
    }
    Ok(Json(ApprovalView {
        push: push_id,
        state,
        digest,
        approved_by,
        required: app.config.auth.approvals_required,
    }))
}

/// The longest hold a check honours (the client caps it too).
pub const CHECK_HOLD_SECS_MAX: u64 = 86_400;

/// Seconds left of the hold on every critical check (0: none).
pub fn check_hold_remaining_secs(app: &App) -> u64 {
    let until = app
        .check_hold_until_secs
        .load(std::sync::atomic::Ordering::Relaxed);
    until.saturating_sub(now_ms().max(0) as u64 / 1000)
}

/// `GET /api/v1/check-hold`.
#[utoipa::path(
    get,
    path = "/api/v1/check-hold",
    operation_id = "getCheckHold",
    summary = "How long every critical check still stands still (0: no hold)",
    responses((status = 200, description = "the hold", body = CheckHold))
)]
pub async fn get_check_hold(State(app): State<Arc<App>>) -> Json<CheckHold> {
    Json(CheckHold {
        seconds: check_hold_remaining_secs(&app),
    })
}

/// `PUT /api/v1/check-hold`: every critical check stands still (no dnf, no
/// request) for `seconds`, from its next metalink request on; 0 lifts it.
#[utoipa::path(
    put,
    path = "/api/v1/check-hold",
    operation_id = "putCheckHold",
    summary = "Hold every critical check for some seconds (0 lifts the hold)",
    security(("bearer" = [])),
    request_body = CheckHold,
    responses(
        (status = 200, description = "the hold now in force", body = CheckHold),
        (status = 400, description = "error", body = ErrorEnvelope),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
    )
)]
pub async fn put_check_hold(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    // Read before the token so that a refusal is audited with the hold it
    // asked for; bounded by `[server] json_body_bytes_max` (the router's
    // body limit), so an unauthenticated caller makes the origin read at
    // most that much.
    Json(req): Json<CheckHold>,
) -> ApiResult<Json<CheckHold>> {
    authorize(
        &app,
        &headers,
        &remote,
        "hold the critical checks",
        &format!("{} s", req.seconds),
        &app.config.auth.push_group,
    )?;
    if req.seconds > CHECK_HOLD_SECS_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("a hold of {} s is longer than clients honour", req.seconds),
            format!("pass at most {CHECK_HOLD_SECS_MAX} seconds and renew the hold"),
        ));
    }
    let until = if req.seconds == 0 {
        0
    } else {
        now_ms().max(0) as u64 / 1000 + req.seconds
    };
    app.check_hold_until_secs
        .store(until, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(
        hold_secs = req.seconds,
        "critical checks told to hold (0: hold lifted)"
    );
    Ok(Json(CheckHold {
        seconds: check_hold_remaining_secs(&app),
    }))
}

/// `GET /api/v1/advisories`.
#[utoipa::path(
    get,
    path = "/api/v1/advisories",
    operation_id = "listAdvisories",
    summary = "Every advisory",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = Vec<AdvisoryView>),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn list_advisories(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<AdvisoryView>>> {
    let scope = read_scope(&app, &headers, &remote, "advisories")?;
    Ok(Json(advisory_views(&app, scope)?))
}

/// `GET /api/v1/advisories/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/advisories/{id}",
    operation_id = "getAdvisory",
    summary = "One advisory",
    security((), ("bearer" = [])),
    params(("id" = String, Path, description = "advisory id, e.g. `FEDORA-2026-0001`")),
    responses(
        (status = 200, description = "OK", body = AdvisoryView),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn get_advisory(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<AdvisoryView>> {
    let scope = read_scope(&app, &headers, &remote, &id)?;
    advisory_views(&app, scope)?
        .into_iter()
        .find(|a| a.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("advisory `{id}` does not exist")))
}

/// `GET /api/v1/status`: what is live where.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    operation_id = "status",
    summary = "What is live where: repositories, advisories, partner mirrors",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = StatusView),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn status(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<StatusView>> {
    let scope = read_scope(&app, &headers, &remote, "status")?;
    Ok(Json(status_view(&app, scope)?))
}

/// `GET /api/v1/audit` (admin group): the newest audit entries.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "audit",
    summary = "The newest audit log entries (admin group)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = Vec<AuditView>),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
    )
)]
pub async fn audit(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<AuditView>>> {
    authorize(&app, &headers, &remote, "read-audit", "audit", ADMIN_GROUP)?;
    Ok(Json(
        app.store
            .audit_entries(1000)?
            .into_iter()
            .map(|a| AuditView {
                id: a.id,
                at_ms: a.at_ms,
                actor: a.actor,
                action: a.action,
                target: a.target,
                allowed: a.allowed,
                reason: a.reason,
                remote_addr: a.remote_addr,
            })
            .collect(),
    ))
}

/// `GET /api/v1/webhooks/deliveries` (push group): the newest outbound webhook
/// messages and how their delivery stands.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/deliveries",
    operation_id = "webhook_deliveries",
    summary = "The newest outbound webhook messages and their delivery state (push group)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = Vec<WebhookDeliveryView>),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
    )
)]
pub async fn webhook_deliveries(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<WebhookDeliveryView>>> {
    authorize(
        &app,
        &headers,
        &remote,
        "read-webhook-deliveries",
        "webhooks",
        &app.config.auth.push_group,
    )?;
    Ok(Json(
        app.store
            .webhook_log(500)?
            .into_iter()
            .map(|m| WebhookDeliveryView {
                state: if m.delivered_at_ms.is_some() {
                    "delivered"
                } else if m.given_up() {
                    "given-up"
                } else {
                    "pending"
                }
                .to_owned(),
                id: m.id,
                webhook: m.webhook,
                kind_type: m.kind_type,
                attempts: m.attempts,
                next_attempt_ms: m.next_attempt_ms,
                delivered_at_ms: m.delivered_at_ms,
                last_error: m.last_error,
            })
            .collect(),
    ))
}

/// `GET /api/v1/activity`: every job's start, end, outcome, duration and error.
#[utoipa::path(
    get,
    path = "/api/v1/activity",
    operation_id = "activity",
    summary = "The newest jobs: start, end, outcome, duration, error",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "OK", body = Vec<JobView>),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn activity(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<JobView>>> {
    let scope = read_scope(&app, &headers, &remote, "activity")?;
    let public = app.store.published_advisories()?;
    let published_pushes: std::collections::BTreeSet<i64> = match scope {
        Scope::Full => Default::default(),
        Scope::Public => app
            .store
            .pushes(1000)?
            .into_iter()
            .filter(|p| p.state == "published")
            .map(|p| p.id)
            .collect(),
    };
    Ok(Json(
        app.store
            .jobs(200)?
            .into_iter()
            .filter(|j| {
                scope == Scope::Full
                    || (j.push_id.is_none_or(|id| published_pushes.contains(&id))
                        && j.advisory_id.as_ref().is_none_or(|a| public.contains(a)))
            })
            .map(|j| JobView {
                duration_ms: match (j.started_at_ms, j.finished_at_ms) {
                    (Some(s), Some(f)) => Some(f - s),
                    _ => None,
                },
                id: j.id,
                kind: j.kind,
                priority: j.priority,
                state: j.state,
                push_id: j.push_id,
                reason: j.reason,
                created_at_ms: j.created_at_ms,
                started_at_ms: j.started_at_ms,
                finished_at_ms: j.finished_at_ms,
                error: j.error,
            })
            .collect(),
    ))
}

/// `GET /api/v1/events`: server-sent events as they happen.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    operation_id = "events",
    summary = "Server-sent events as things happen; the SSE event name is the kind, the data an EventView",
    security((), ("bearer" = [])),
    responses(
        (
            status = 200,
            description = "an endless text/event-stream of EventView JSON objects",
            body = String,
            content_type = "text/event-stream"
        ),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn events(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, std::convert::Infallible>>>> {
    let scope = read_scope(&app, &headers, &remote, "events")?;
    let rx = app.events.subscribe();
    let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |e| {
        let app = app.clone();
        async move {
            let e = e.ok()?;
            if scope == Scope::Public && !event_is_public(&app, &e) {
                return None;
            }
            let view = EventView {
                kind: e.kind.clone(),
                message: e.message,
                push_id: e.push_id,
                advisory: e.advisory,
                at_ms: e.at_ms,
            };
            let data = serde_json::to_string(&view).ok()?;
            Some(Ok(SseEvent::default().event(e.kind).data(data)))
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// An event the public stream carries: about no push or a published one, and
/// about no advisory or one with a published push. Decided when it is
/// delivered (an unpublished push cannot become public in between, only the
/// reverse); a store error hides it.
fn event_is_public(app: &App, e: &crate::origin::app::Event) -> bool {
    let push_ok = match e.push_id {
        None => true,
        Some(id) => matches!(app.store.push(id), Ok(Some(p)) if p.state == "published"),
    };
    let advisory_ok = match &e.advisory {
        None => true,
        Some(a) => matches!(app.store.published_advisories(), Ok(set) if set.contains(a)),
    };
    push_ok && advisory_ok
}

/// `GET /api/v1/pushes/{id}/checklist`: the emergency procedure's steps for this
/// push, ticked from what the store and the served metalinks say.
#[utoipa::path(
    get,
    path = "/api/v1/pushes/{id}/checklist",
    operation_id = "pushChecklist",
    summary = "The emergency procedure's steps for this push, ticked as they happen",
    security((), ("bearer" = [])),
    params(("id" = i64, Path, description = "push id")),
    responses(
        (status = 200, description = "OK", body = ChecklistView),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn push_checklist(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(push_id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Json<ChecklistView>> {
    let scope = read_scope(&app, &headers, &remote, &format!("push {push_id}"))?;
    Ok(Json(checklist_view(&app, push_id, scope)?))
}

/// `GET /api/v1/advisories/{id}/announcement`: the announcement email, as text.
#[utoipa::path(
    get,
    path = "/api/v1/advisories/{id}/announcement",
    operation_id = "advisoryAnnouncement",
    summary = "The announcement email (Subject line, CVEs, packages, the dnf command)",
    security((), ("bearer" = [])),
    params(("id" = String, Path, description = "advisory id, e.g. `FEDORA-2026-0001`")),
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/plain"),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 401, description = "a token was sent and is not valid", body = ErrorEnvelope),
        (status = 403, description = "the token is not of the push group", body = ErrorEnvelope),
    )
)]
pub async fn announcement(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let scope = read_scope(&app, &headers, &remote, &id)?;
    let text = announcement_text(&app, scope, &id)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    ))
}

/// The announcement of `id` as `scope` may see it. Its issue time is the
/// advisory's first publication (not when it was declared or first refused);
/// it names the keys that signed its packages and the repo key.
fn announcement_text(app: &App, scope: Scope, id: &str) -> ApiResult<String> {
    let adv = advisory_views(app, scope)?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found(format!("advisory `{id}` does not exist")))?;
    let mut first_published_ms: Option<i64> = None;
    let mut package_keys: Vec<String> = Vec::new();
    for p in app.store.pushes(1000)? {
        if p.advisory_id != id || p.state == "cancelled" {
            continue;
        }
        if let Some(at) = p.published_at_ms {
            first_published_ms = Some(first_published_ms.map_or(at, |f| f.min(at)));
        }
        if scope == Scope::Public && p.state != "published" {
            continue;
        }
        for pkg in app.store.push_packages(p.id)? {
            if let Some(key) = pkg.signed_by {
                if !package_keys.contains(&key) {
                    package_keys.push(key);
                }
            }
        }
    }
    package_keys.sort();
    let public_url = app.config.public_url.trim_end_matches('/').to_owned();
    let metalinks: Vec<String> = app
        .repos()
        .into_iter()
        .filter(|r| adv.releases.is_empty() || adv.releases.contains(&r.release))
        .filter(|r| r.arch != "source")
        .map(|r| {
            format!(
                "{public_url}/metalink?repo={}&arch={}",
                app.metalink_id(&r),
                r.arch
            )
        })
        .collect();
    let fingerprint = app.repo_key().fingerprint();
    let repo_id = format!("{}-updates", app.config.repos.channel);
    Ok(crate::core::announce::render(
        &crate::core::announce::Notice {
            advisory: &adv.id,
            severity: &adv.severity,
            summary: &adv.summary,
            description: &adv.description,
            cves: &adv.cves,
            packages: &adv.packages,
            releases: &adv.releases,
            issued_unix: first_published_ms.map_or(adv.issued, |ms| ms / 1000),
            public_url: &public_url,
            repo_id: &repo_id,
            metalinks: &metalinks,
            key_fingerprint: &fingerprint,
            package_key_fingerprints: &package_keys,
        },
    ))
}

/// `POST /api/v1/advisories/{id}/announcement/send`: mails the announcement.
#[utoipa::path(
    post,
    path = "/api/v1/advisories/{id}/announcement/send",
    operation_id = "sendAdvisoryAnnouncement",
    summary = "Mail the announcement through `[announce]` (published advisories only; audited)",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "advisory id, e.g. `FEDORA-2026-0001`")),
    responses(
        (status = 200, description = "handed to the mail server", body = AnnouncementSentView),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "error", body = ErrorEnvelope),
        (status = 409, description = "not published yet (under embargo), or `[announce]` cannot send", body = ErrorEnvelope),
        (status = 502, description = "the mail server refused or failed", body = ErrorEnvelope),
    )
)]
pub async fn send_announcement(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<AnnouncementSentView>> {
    let owner = authorize(
        &app,
        &headers,
        &remote,
        "announce",
        &id,
        &app.config.auth.push_group,
    )?;
    if app.store.advisory(&id)?.is_none() {
        return Err(ApiError::not_found(format!(
            "advisory `{id}` does not exist"
        )));
    }
    let cfg = &app.config.announce;
    if let Some(missing) = crate::origin::mail::not_configured(cfg) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "announce_not_configured",
            format!("the origin cannot mail announcements: {missing}"),
            "set `smtp_url`, `from` and `to` in `[announce]` of the origin's configuration and restart it, or send the draft by hand",
        ));
    }
    if !app.store.published_advisories()?.contains(&id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_published",
            format!("advisory `{id}` is not published: it is under embargo until then"),
            "send the announcement once `hotpush status` shows the push published",
        ));
    }
    // What goes out is what the public can already see.
    let text = announcement_text(&app, Scope::Public, &id)?;
    let (subject_line, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let subject = subject_line
        .strip_prefix("Subject: ")
        .unwrap_or(subject_line)
        .to_owned();
    let ip = remote.ip().to_string();
    let server = crate::origin::mail::redact(cfg.smtp_url.as_deref().unwrap_or_default());
    if let Err(e) = crate::origin::mail::send(cfg, &subject, body).await {
        let reason = format!("{e:#}");
        app.store
            .audit(&owner.user, "announce-sent", &id, false, &reason, &ip)?;
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "mail_failed",
            format!("the announcement of `{id}` was not sent: {reason}"),
            crate::logging::hint_of(&e).unwrap_or_else(|| format!("check that the mail server at `{server}` is up and accepts mail from `[announce] from`, then send again")),
        ));
    }
    let sent_at_ms = now_ms();
    app.store.audit(
        &owner.user,
        "announce-sent",
        &id,
        true,
        &format!("mailed via {server} to {}", cfg.to.join(", ")),
        &ip,
    )?;
    Ok(Json(AnnouncementSentView {
        advisory: id,
        subject,
        from: cfg.from.clone().unwrap_or_default(),
        to: cfg.to.clone(),
        sent_at_ms,
    }))
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    summary = "This document",
    responses((status = 200, description = "OK", body = Object))
)]
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::origin::http::openapi::openapi_json(),
    )
}
