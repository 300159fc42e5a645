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
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::core::api::*;
use crate::core::rpm::{read_package, FileFacts};
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::auth::{token_digest, ADMIN_GROUP};
use crate::origin::jobs::PRIORITY_SECURITY;
use crate::origin::publish::package_href;
use crate::origin::store::{now_ms, AcceptRefusal, AdvisoryText, PushPackage, TokenOwner};

type ApiResult<T> = Result<T, ApiError>;

/// Checks the bearer token and the caller's group, auditing the decision.
pub(crate) fn authorize(
    app: &App,
    headers: &HeaderMap,
    remote: &SocketAddr,
    action: &str,
    target: &str,
    group: &str,
) -> ApiResult<TokenOwner> {
    let owner = check_token(app, headers, remote, action, target, group)?;
    app.store.audit(
        &owner.user,
        action,
        target,
        true,
        "allowed",
        &remote.ip().to_string(),
    )?;
    Ok(owner)
}

/// The seconds since the epoch, for the bad-authentication limit.
fn now_secs() -> u64 {
    now_ms().max(0) as u64 / 1000
}

/// The 429 of a network over the bad-authentication limit.
pub(crate) fn rate_limited(network: &str, retry_after_secs: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many refused tokens from `{network}`; try again in {retry_after_secs} s"),
        "check the token file; `hotpush token create` issues a new token",
    )
}

/// What a reader may see: embargoed advisories and unpublished pushes only
/// with a push-group token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No token: what clients can already see.
    Public,
    /// A push-group token: everything.
    Full,
}

/// The scope of a read: public without an `Authorization` header; with one,
/// the token must be a valid push-group token (a refusal is audited like any
/// other; an allowed read is not, so following a push does not flood the log).
pub(crate) fn read_scope(
    app: &App,
    headers: &HeaderMap,
    remote: &SocketAddr,
    target: &str,
) -> ApiResult<Scope> {
    if !headers.contains_key(axum::http::header::AUTHORIZATION) {
        return Ok(Scope::Public);
    }
    check_token(
        app,
        headers,
        remote,
        "read",
        target,
        &app.config.auth.push_group,
    )?;
    Ok(Scope::Full)
}

/// The bearer token names a user of `group`; refusals are audited and
/// counted against the caller's network: past `server.bad_auth_max` the
/// answer is 429 before any token is hashed, folded into one audit row per
/// window. An allowed request is not audited here.
fn check_token(
    app: &App,
    headers: &HeaderMap,
    remote: &SocketAddr,
    action: &str,
    target: &str,
    group: &str,
) -> ApiResult<TokenOwner> {
    let network = crate::io::auth_limit::network_of(remote.ip());
    let now = now_secs();
    if let Some(retry) = app.auth_limit.limited(&network, now) {
        return Err(rate_limited(&network, retry));
    }
    let remote = remote.ip().to_string();
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        app.flush_auth_audit(now)?;
        app.auth_limit.refused(&network, now);
        app.store
            .audit("-", action, target, false, "no token", &remote)?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this request needs an API token",
            "pass `Authorization: Bearer <token>`; `hotpush token create` issues tokens",
        ));
    };
    let Some(owner) = app.store.token_owner(&token_digest(token))? else {
        app.flush_auth_audit(now)?;
        app.auth_limit.refused(&network, now);
        app.store
            .audit("-", action, target, false, "unknown token", &remote)?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the API token is not valid",
            "check the token file; `hotpush token create` issues a new token",
        ));
    };
    if owner.group != group {
        app.store.audit(
            &owner.user,
            action,
            target,
            false,
            &format!("group `{}` is not `{group}`", owner.group),
            &remote,
        )?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "user `{}` (group `{}`) may not {action}",
                owner.user, owner.group
            ),
            format!("only members of the `{group}` group may {action}"),
        ));
    }
    Ok(owner)
}

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
    let severity = crate::core::advisory::check_advisory(&crate::core::advisory::AdvisoryText {
        id: &req.advisory,
        severity: &req.severity,
        title: None,
        summary: &req.summary,
        description: &req.description,
        cves: &req.cves,
    })
    .map_err(bad_advisory_text)?
    .to_owned();
    for r in &req.releases {
        if !app.config.repos.releases.contains(r) {
            return Err(ApiError::bad_request(
                "bad_release",
                format!("release `{r}` is not served here"),
                format!(
                    "configured releases: {}",
                    app.config.repos.releases.join(", ")
                ),
            ));
        }
    }
    // The texts stay on the push: the advisory changes when it is published.
    let id = app.store.open_push(
        &req.advisory,
        &AdvisoryText {
            severity,
            summary: req.summary.clone(),
            description: req.description.clone(),
            cves: req.cves.clone(),
            releases: req.releases.clone(),
        },
        &owner.user,
    )?;
    app.emit(
        "push-created",
        format!("{} opened push {id} for {}", owner.user, req.advisory),
        Some(id),
        Some(req.advisory.clone()),
    );
    Ok((StatusCode::CREATED, Json(push_view(&app, id, Scope::Full)?)))
}

fn check_file_name(name: &str) -> ApiResult<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.starts_with('.')
        || name.contains("..")
        || name.chars().any(|c| c.is_control());
    if bad {
        return Err(ApiError::bad_request(
            "bad_file_name",
            format!("file name `{}` is not allowed", name.escape_debug()),
            "upload plain file names such as `hello-1.0-2.noarch.rpm`, without path components",
        ));
    }
    if !name.ends_with(".rpm") {
        return Err(ApiError::bad_request(
            "bad_file_name",
            format!("`{name}` does not end in `.rpm`"),
            "only RPM packages can be pushed",
        ));
    }
    Ok(())
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
    let refuse = |e: ApiError| -> ApiError {
        let _ = app.store.audit(
            &owner.user,
            "upload-refused",
            &format!("push {push_id}: {file_name}"),
            false,
            &e.message,
            &remote.ip().to_string(),
        );
        e
    };
    check_file_name(&file_name).map_err(refuse)?;
    let push = app
        .store
        .push(push_id)?
        .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
    if push.state != "uploading" {
        return Err(ApiError::conflict(
            format!(
                "push {push_id} is `{}`; it no longer takes packages",
                push.state
            ),
            "open a new push for more packages",
        ));
    }
    let limit = app.config.intake.package_bytes_max;
    // Refuse an announced oversize body before reading any of it.
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(refuse(too_large(limit)));
    }
    // Removed on every way out (refusal, error, panic, a client that goes away)
    // unless it became a blob.
    let mut partial = PartialUpload {
        path: app.tree.incoming.join(format!(
            "{push_id}-{}-{}.part",
            now_ms(),
            rand::random::<u32>()
        )),
        kept: false,
    };
    let size = receive_to_file(body, &partial.path, limit)
        .await
        .map_err(refuse)?;
    let time_file = (now_ms() / 1000) as u64;
    let policy = app.policy();
    let tmp2 = partial.path.clone();
    let name2 = file_name.clone();
    let read = tokio::task::spawn_blocking(move || {
        let f = fs_err::File::open(&tmp2)?;
        Ok::<_, anyhow::Error>(read_package(
            std::io::BufReader::with_capacity(256 * 1024, f),
            FileFacts {
                location_href: package_href(&name2),
                time_file,
            },
            &policy,
        ))
    })
    .await
    .map_err(|e| anyhow::anyhow!("the package reader stopped: {e}"))??;
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            let hint = match &e {
                crate::core::rpm::IntakeError::Unsigned => {
                    "sign the package with the distribution key (`rpmsign --addsign`)"
                }
                crate::core::rpm::IntakeError::UntrustedKey(_) => {
                    "sign with a trusted key (`hotpush keys list`), or trust the signing key without a restart: `hotpush keys add FILE` (an admin; FILE from `gpg --armor --export KEYID`)"
                }
                crate::core::rpm::IntakeError::BadIdentity(_) => {
                    "fix Name/Version/Release/Epoch in the spec file and rebuild the package"
                }
                crate::core::rpm::IntakeError::Malformed(_) => {
                    "upload the package exactly as rpmbuild and rpmsign wrote it"
                }
                _ => "upload the exact signed RPM the build system produced",
            };
            app.store.audit(
                &owner.user,
                "upload-refused",
                &format!("push {push_id}: {file_name}"),
                false,
                &e.to_string(),
                &remote.ip().to_string(),
            )?;
            return Err(ApiError::unprocessable(
                "bad_package",
                format!("`{file_name}`: {e}"),
                hint,
            ));
        }
    };
    let pkg = read.package;
    let arch_ok = app.repos().iter().any(|r| r.takes_arch(&pkg.arch));
    if !arch_ok {
        return Err(refuse(ApiError::unprocessable(
            "unknown_arch",
            format!(
                "`{file_name}` is for arch `{}`, which no repository here takes",
                pkg.arch
            ),
            format!(
                "configured arches: {} (noarch goes to every binary arch, src to `source`)",
                app.config.repos.arches.join(", ")
            ),
        )));
    }
    let canonical = pkg.file_name();
    // One file name, one content: checked here before the blob is kept, and again
    // in the transaction that records the package.
    if let Some(held) = app.store.package_held(push_id, &canonical, &pkg.sha256)? {
        return Err(refuse(package_held(&pkg.nevra(), &pkg.sha256, &held)));
    }
    // Keep the blob under its sha256; the published name is the package's own.
    let blob = app.tree.blob_path(&pkg.sha256);
    if let Some(parent) = blob.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(anyhow::Error::from)?;
    }
    tokio::fs::rename(&partial.path, &blob)
        .await
        .map_err(anyhow::Error::from)?;
    partial.kept = true;
    let mut record = pkg.clone();
    record.location_href = package_href(&canonical);
    // The record first (a cache by sha256: harmless if the store refuses),
    // so a publisher run that sees the package also finds its record.
    app.records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(pkg.sha256.clone(), record);
    // The push may have been submitted while this package was on its way:
    // the store records it only if the push still takes packages, and only
    // if no other push holds its name in other bytes.
    let added = app.store.add_push_package(
        push_id,
        &PushPackage {
            sha256: pkg.sha256.clone(),
            file_name: canonical.clone(),
            nevra: pkg.nevra(),
            arch: pkg.arch.clone(),
            size,
            time_file,
            signed_by: read.signed_by.clone(),
        },
    )?;
    let recorded = match added {
        Ok(recorded) => recorded,
        Err(held) => {
            // Another upload of the same name won the race; the blob stays
            // (content-named, and maybe shared with another package of the same bytes).
            return Err(refuse(package_held(&pkg.nevra(), &pkg.sha256, &held)));
        }
    };
    if !recorded {
        let state = app
            .store
            .push(push_id)?
            .map(|p| p.state)
            .unwrap_or_default();
        return Err(refuse(ApiError::conflict(
            format!("push {push_id} is `{state}`; it no longer takes packages"),
            "open a new push for more packages",
        )));
    }
    app.emit(
        "package-uploaded",
        format!("push {push_id}: {} uploaded and verified", pkg.nevra()),
        Some(push_id),
        Some(push.advisory_id.clone()),
    );
    Ok((
        StatusCode::CREATED,
        Json(PushPackageView {
            file_name: canonical,
            nevra: pkg.nevra(),
            arch: pkg.arch,
            sha256: pkg.sha256,
            size,
            signed_by: read.signed_by,
        }),
    ))
}

/// An upload in `incoming/`: the file is removed when this is dropped, which is
/// every way out of the handler except the rename into `blobs/` (then `kept`).
struct PartialUpload {
    path: std::path::PathBuf,
    kept: bool,
}

impl Drop for PartialUpload {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Synchronous on purpose: it also runs when the handler future is dropped.
        if let Err(e) = fs_err::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, "cannot remove a refused upload");
            }
        }
    }
}

/// 422 for a package whose file name another push holds in other bytes.
fn package_held(nevra: &str, sha256: &str, held: &crate::origin::store::PackageHeld) -> ApiError {
    let verb = if held.push_state == "published" && held.advisory_state == "live" {
        "is live"
    } else {
        "is staged"
    };
    ApiError::unprocessable(
        "package_conflict",
        format!(
            "package `{nevra}` {verb} in advisory `{}` (push {}, {}) with different content: sha256 `{}` there, `{sha256}` here; clients would see two packages under one name",
            held.advisory_id, held.push_id, held.push_state, held.sha256
        ),
        format!(
            "retire `{}` first (`hotpush retire {}`), or bump the Release in the spec file and rebuild; to add the same package again upload the identical bytes",
            held.advisory_id, held.advisory_id
        ),
    )
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the package is larger than the limit of {limit} bytes"),
        "raise `intake.package_bytes_max` in hotpush.toml if this package is genuine",
    )
}

async fn receive_to_file(body: Body, path: &std::path::Path, limit: u64) -> ApiResult<u64> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(anyhow::Error::from)?;
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "upload_interrupted",
                format!("the upload was interrupted: {e}"),
                "upload the file again",
            )
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk).await.map_err(anyhow::Error::from)?;
    }
    // tokio's File reports the error of its last background write on
    // `flush`, not on `sync_all`: without this a full disk left an empty file.
    file.flush().await.map_err(anyhow::Error::from)?;
    file.sync_all().await.map_err(anyhow::Error::from)?;
    Ok(size)
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

/// One push; in the public scope only a published one, and any other answers
/// exactly as a push that does not exist.
pub(crate) fn push_view(app: &App, push_id: i64, scope: Scope) -> ApiResult<PushView> {
    let p = app
        .store
        .push(push_id)?
        .filter(|p| scope == Scope::Full || p.state == "published")
        .ok_or_else(|| ApiError::not_found(format!("push {push_id} does not exist")))?;
    let packages = app.store.push_packages(push_id)?;
    let arches: Vec<String> = packages.iter().map(|p| p.arch.clone()).collect();
    let repos: Vec<String> = app
        .repos()
        .into_iter()
        .filter(|r| arches.iter().any(|a| r.takes_arch(a)))
        .map(|r| r.path())
        .collect();
    let mirrors = mirror_views(app)?
        .into_iter()
        .filter(|m| repos.contains(&m.repo))
        .collect();
    Ok(PushView {
        id: p.id,
        advisory: p.advisory_id,
        state: p.state,
        created_by: p.created_by,
        created_at_ms: p.created_at_ms,
        accepted_at_ms: p.accepted_at_ms,
        published_at_ms: p.published_at_ms,
        error: p.error,
        proposal: p.proposal.map(|t| AdvisoryProposal {
            severity: t.severity,
            summary: t.summary,
            description: t.description,
            cves: t.cves,
            releases: t.releases,
        }),
        packages: packages
            .into_iter()
            .map(|x| PushPackageView {
                file_name: x.file_name,
                nevra: x.nevra,
                arch: x.arch,
                sha256: x.sha256,
                size: x.size,
                signed_by: x.signed_by,
            })
            .collect(),
        mirrors,
    })
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
    summary = "Abandon a push that is not yet published (uploading or staged)",
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
                        format!("push {push_id} is `{state}`; only a push that is uploading or staged can be cancelled"),
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
    let approved_by = app.store.approve_push(push_id, &owner.user, &digest)?;
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

/// Every advisory the scope may see: in the public scope those with a
/// published push, listing only the packages of published pushes (what clients
/// can already download), with the texts the published pushes gave them.
pub(crate) fn advisory_views(app: &App, scope: Scope) -> ApiResult<Vec<AdvisoryView>> {
    let public = app.store.published_advisories()?;
    let mut packages: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in app.store.pushes(1000)? {
        // A cancelled push ships nothing: its packages are not the advisory's.
        if p.state == "cancelled" || (scope == Scope::Public && p.state != "published") {
            continue;
        }
        for pkg in app.store.push_packages(p.id)? {
            let list = packages.entry(p.advisory_id.clone()).or_default();
            if !list.contains(&pkg.nevra) {
                list.push(pkg.nevra);
            }
        }
    }
    Ok(app
        .store
        .advisories()?
        .into_iter()
        .filter(|a| scope == Scope::Full || public.contains(&a.id))
        .map(|a| AdvisoryView {
            packages: packages.remove(&a.id).unwrap_or_default(),
            id: a.id,
            severity: a.severity,
            summary: a.summary,
            description: a.description,
            cves: a.cves,
            releases: a.releases,
            state: a.state,
            issued: a.issued,
            updated: a.updated,
        })
        .collect())
}

pub(crate) fn mirror_views(app: &App) -> ApiResult<Vec<MirrorView>> {
    let states = app.store.mirror_states()?;
    let mut out = Vec::new();
    for m in &app.mirrors {
        for repo in app.repos() {
            let current = app.served(&repo.path());
            let st = states
                .iter()
                .find(|s| s.mirror == m.name && s.repo == repo.path());
            let cur_rev = current.as_ref().map(|c| c.revision);
            let holds_current = st.is_some_and(|s| s.verified && Some(s.revision) == cur_rev);
            let lag_ms = match (&current, st) {
                (Some(c), _) if holds_current => Some(0).filter(|_| c.revision > 0),
                (Some(c), _) => Some(now_ms() - c.published_at_ms),
                _ => None,
            };
            out.push(MirrorView {
                name: m.name.clone(),
                public_url: m.public_url.clone(),
                repo: repo.path(),
                revision: st.map(|s| s.revision).unwrap_or(0),
                current: holds_current,
                verified: st.is_some_and(|s| s.verified),
                verified_at_ms: st.and_then(|s| s.verified_at_ms),
                lag_ms,
                last_error: st.and_then(|s| s.last_error.clone()),
                attempted: holds_current
                    || st.is_some_and(|s| cur_rev.is_some_and(|r| s.attempted_revision >= r)),
                stage: st.and_then(|s| s.stage.clone()),
                retries: st.map(|s| s.retries).unwrap_or(0),
                hint: st
                    .and_then(|s| s.last_error.as_deref())
                    .filter(|_| !holds_current)
                    .and_then(crate::core::api::partner_error_hint)
                    .map(str::to_owned),
            });
        }
    }
    Ok(out)
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

pub(crate) fn status_view(app: &App, scope: Scope) -> ApiResult<StatusView> {
    let mut repos = Vec::new();
    for repo in app.repos() {
        let cur = app.store.current_revision(&repo.path())?;
        repos.push(RepoView {
            metalink: format!(
                "{}/metalink?repo={}&arch={}",
                app.config.public_url,
                app.metalink_id(&repo),
                repo.arch
            ),
            baseurl: format!("{}/pub/{}/", app.config.public_url, repo.path()),
            repo: repo.path(),
            revision: cur.as_ref().map(|c| c.revision),
            repomd_sha256: cur.as_ref().map(|c| c.repomd_sha256.clone()),
            published_at_ms: cur.as_ref().map(|c| c.published_at_ms),
            packages: cur
                .as_ref()
                .map(|c| {
                    c.files
                        .iter()
                        .filter(|f| f.starts_with("Packages/"))
                        .count()
                })
                .unwrap_or(0),
        });
    }
    Ok(StatusView {
        public_url: app.config.public_url.clone(),
        channel: app.config.repos.channel.clone(),
        metalink_repo_prefix: app.config.metalink_repo_prefix.clone(),
        partners: app.mirrors.iter().map(|m| m.public_url.clone()).collect(),
        package_bytes_max: app.config.intake.package_bytes_max,
        key_fingerprint: app.repo_key().fingerprint(),
        queue_depth: app.store.queue_depth()?,
        repos,
        advisories: advisory_views(app, scope)?,
        mirrors: mirror_views(app)?,
    })
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
                } else if m.attempts >= crate::core::webhook::MAX_ATTEMPTS {
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

pub(crate) fn checklist_view(app: &App, push_id: i64, scope: Scope) -> ApiResult<ChecklistView> {
    let view = push_view(app, push_id, scope)?;
    let rows = app.store.push_packages(push_id)?;
    let advisory = app.store.advisory(&view.advisory)?;
    // The metalink of every repository this push touched must list each partner
    // that is verified at its current revision; then it is up to date.
    let touched: std::collections::BTreeSet<String> = app
        .repos()
        .into_iter()
        .filter(|r| view.packages.iter().any(|p| r.takes_arch(&p.arch)))
        .map(|r| r.path())
        .collect();
    let metalink_updated_at_ms = if view.state == "published" && !touched.is_empty() {
        let mut latest = view.published_at_ms;
        let mut complete = true;
        for repo in &touched {
            let Some(served) = app.served(repo) else {
                complete = false;
                break;
            };
            let body = String::from_utf8_lossy(&served.metalink.bytes);
            let origin_listed = body.contains(app.config.public_url.trim_end_matches('/'));
            let partners_listed = view
                .mirrors
                .iter()
                .filter(|m| &m.repo == repo && m.current)
                .all(|m| body.contains(m.public_url.trim_end_matches('/')));
            complete &= origin_listed && partners_listed;
            latest = latest.max(Some(served.published_at_ms));
            latest = latest.max(
                view.mirrors
                    .iter()
                    .filter(|m| &m.repo == repo && m.current)
                    .filter_map(|m| m.verified_at_ms)
                    .max(),
            );
        }
        latest.filter(|_| complete)
    } else {
        None
    };
    let facts = crate::core::sop::PushFacts {
        push_id: view.id,
        advisory: view.advisory.clone(),
        state: view.state.clone(),
        created_at_ms: view.created_at_ms,
        accepted_at_ms: view.accepted_at_ms,
        published_at_ms: view.published_at_ms,
        error: view.error.clone(),
        packages: rows.len(),
        last_upload_at_ms: rows.iter().map(|p| p.time_file as i64 * 1000).max(),
        signed_packages: rows.iter().filter(|p| p.signed_by.is_some()).count(),
        partners: view
            .mirrors
            .iter()
            .map(|m| crate::core::sop::PartnerFacts {
                name: m.name.clone(),
                repo: m.repo.clone(),
                current: m.current,
                verified_at_ms: m.verified_at_ms,
                last_error: m.last_error.clone(),
            })
            .collect(),
        metalink_updated_at_ms,
        advisory_state: advisory
            .as_ref()
            .map(|a| a.state.clone())
            .unwrap_or_default(),
        advisory_updated_at_ms: advisory.as_ref().map(|a| a.updated * 1000),
        announce_by_mail: crate::origin::mail::not_configured(&app.config.announce).is_none(),
        announced_at_ms: app.store.announced_at_ms(&view.advisory)?,
    };
    Ok(ChecklistView {
        push_id: view.id,
        advisory: view.advisory,
        state: view.state,
        steps: crate::core::sop::checklist(&facts)
            .into_iter()
            .map(|s| ChecklistStepView {
                key: s.key.to_owned(),
                title: s.title.to_owned(),
                state: s.state.as_str().to_owned(),
                at_ms: s.at_ms,
                detail: s.detail,
            })
            .collect(),
    })
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
            format!("check that the mail server at `{server}` is up and accepts mail from `[announce] from`, then send again"),
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
