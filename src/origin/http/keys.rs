//! `/api/v1/keys`: the trusted package-signing keys of the running origin,
//! listed by anyone (they are public, as `/keys/packages.asc` is), added and
//! removed by the admin group, audited, without a restart (`origin::keys`
//! stores and reloads them; `App` swaps the new set in). `/api/v1/repo-key`:
//! the repo-signing keys and their rotation (`origin::repo_keys`), the same way.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use crate::core::api::{
    ErrorEnvelope, NewTrustedKey, RepoKeyChoice, RepoKeysChange, RepoKeysView, TrustedKeyView,
    TrustedKeysChange, TrustedKeysView,
};
use crate::io::http_error::ApiError;
use crate::origin::app::App;
use crate::origin::auth::ADMIN_GROUP;
use crate::origin::keys::{KeyChangeError, TrustedSet};

fn view(app: &App, set: &TrustedSet) -> TrustedKeysView {
    TrustedKeysView {
        signatures_required: app.config.intake.require_signed_packages,
        keys: set
            .keys
            .iter()
            .map(|k| TrustedKeyView {
                fingerprint: k.fingerprint.clone(),
                key_id: k.fingerprint[k.fingerprint.len().saturating_sub(16)..].to_owned(),
                user_ids: k.user_ids.clone(),
                source: k.source.kind().to_owned(),
            })
            .collect(),
    }
}

fn refusal(
    app: &App,
    user: &str,
    action: &str,
    target: &str,
    remote: &SocketAddr,
    e: KeyChangeError,
) -> ApiError {
    let _ = app.store.audit(
        user,
        action,
        target,
        false,
        &e.to_string(),
        &remote.ip().to_string(),
    );
    match e {
        KeyChangeError::Invalid { message, hint } => {
            ApiError::unprocessable("bad_key", message, hint)
        }
        KeyChangeError::NotFound(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            e.to_string(),
            "`hotpush keys list` shows the trusted keys",
        ),
        KeyChangeError::Conflict { message, hint } => ApiError::conflict(message, hint),
        KeyChangeError::Failed { message, hint } => {
            tracing::error!(error = message, action, "repo key change failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "key_change_failed",
                message,
                hint,
            )
        }
        KeyChangeError::Io(e) => ApiError::from(e),
    }
}

/// `GET /api/v1/keys`.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    operation_id = "listTrustedKeys",
    summary = "The trusted package-signing keys uploads are checked against now",
    responses((status = 200, description = "OK", body = TrustedKeysView))
)]
pub async fn list_keys(State(app): State<Arc<App>>) -> Json<TrustedKeysView> {
    Json(view(&app, &app.trusted()))
}

/// `POST /api/v1/keys` (admin group): trust a key from now on.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    operation_id = "addTrustedKey",
    summary = "Trust a package-signing key, without a restart (admin group)",
    security(("bearer" = [])),
    request_body = NewTrustedKey,
    responses(
        (status = 201, description = "trusted from now on", body = TrustedKeysChange),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 422, description = "not a usable public key", body = ErrorEnvelope),
    )
)]
pub async fn add_key(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let owner = crate::origin::http::api::authorize(
        &app,
        &headers,
        &remote,
        "add-trusted-key",
        "trusted keys",
        ADMIN_GROUP,
    )?;
    let req: NewTrustedKey = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!("the key request is not valid JSON for this API: {e}"),
            "send {\"armored\": \"-----BEGIN PGP PUBLIC KEY BLOCK-----...\"}",
        )
    })?;
    let app2 = app.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _guard = app2.keys_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (changed, set) = crate::origin::keys::add(&app2.config, &req.armored)?;
        app2.set_trusted(set);
        Ok::<_, KeyChangeError>(changed)
    })
    .await
    .map_err(anyhow::Error::from)?;
    let changed = match result {
        Ok(c) => c,
        Err(e) => {
            return Err(refusal(
                &app,
                &owner.user,
                "add-trusted-key",
                "trusted keys",
                &remote,
                e,
            ))
        }
    };
    app.store.audit(
        &owner.user,
        "trusted-key-added",
        &changed.join(", "),
        true,
        "trusted from now on",
        &remote.ip().to_string(),
    )?;
    app.emit(
        "keys-changed",
        format!(
            "{} trusted package key(s) added: {}",
            owner.user,
            changed.join(", ")
        ),
        None,
        None,
    );
    Ok((
        StatusCode::CREATED,
        Json(TrustedKeysChange {
            changed,
            now: view(&app, &app.trusted()),
        }),
    ))
}

/// `DELETE /api/v1/keys/{fingerprint}` (admin group): stop trusting a key
/// added through the API.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{fingerprint}",
    operation_id = "removeTrustedKey",
    summary = "Stop trusting a package-signing key added through the API (admin group)",
    security(("bearer" = [])),
    params(("fingerprint" = String, Path, description = "the fingerprint or its last 16 hex digits")),
    responses(
        (status = 200, description = "no longer trusted", body = TrustedKeysChange),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 404, description = "no such key", body = ErrorEnvelope),
        (status = 409, description = "the key comes from hotpush.toml", body = ErrorEnvelope),
    )
)]
pub async fn remove_key(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(fingerprint): Path<String>,
    headers: HeaderMap,
) -> Result<Json<TrustedKeysChange>, ApiError> {
    let owner = crate::origin::http::api::authorize(
        &app,
        &headers,
        &remote,
        "remove-trusted-key",
        &fingerprint,
        ADMIN_GROUP,
    )?;
    let app2 = app.clone();
    let id = fingerprint.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _guard = app2.keys_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (removed, set) = crate::origin::keys::remove(&app2.config, &id)?;
        app2.set_trusted(set);
        Ok::<_, KeyChangeError>(removed)
    })
    .await
    .map_err(anyhow::Error::from)?;
    let removed = match result {
        Ok(r) => r,
        Err(e) => {
            return Err(refusal(
                &app,
                &owner.user,
                "remove-trusted-key",
                &fingerprint,
                &remote,
                e,
            ))
        }
    };
    app.store.audit(
        &owner.user,
        "trusted-key-removed",
        &removed,
        true,
        "no longer trusted",
        &remote.ip().to_string(),
    )?;
    app.emit(
        "keys-changed",
        format!("{} removed trusted package key {removed}", owner.user),
        None,
        None,
    );
    Ok(Json(TrustedKeysChange {
        changed: vec![removed],
        now: view(&app, &app.trusted()),
    }))
}

/// `GET /api/v1/repo-key`.
#[utoipa::path(
    get,
    path = "/api/v1/repo-key",
    operation_id = "getRepoKeys",
    summary = "The repo-signing keys: the one that signs, and a prepared next or a previous one",
    responses((status = 200, description = "OK", body = RepoKeysView))
)]
pub async fn repo_keys(State(app): State<Arc<App>>) -> Json<RepoKeysView> {
    Json(app.repo_keys().view())
}

/// What the three repo-key changes share: authorise (admin group), run the
/// change on a blocking thread, audit either way, emit the event.
async fn repo_key_change(
    app: Arc<App>,
    remote: SocketAddr,
    headers: &HeaderMap,
    action: &'static str,
    target: &str,
    change: impl FnOnce(&App) -> Result<(String, Vec<String>), KeyChangeError> + Send + 'static,
) -> Result<RepoKeysChange, ApiError> {
    let owner =
        crate::origin::http::api::authorize(&app, headers, &remote, action, target, ADMIN_GROUP)?;
    let app2 = app.clone();
    let result = tokio::task::spawn_blocking(move || change(&app2))
        .await
        .map_err(anyhow::Error::from)?;
    let (changed, resigned) = match result {
        Ok(r) => r,
        Err(e) => return Err(refusal(&app, &owner.user, action, target, &remote, e)),
    };
    let (kind, detail) = match action {
        "prepare-repo-key" => (
            "repokey-prepared",
            format!("next repo-signing key {changed} prepared; served beside the current one"),
        ),
        "switch-repo-key" => (
            "repokey-switched",
            format!(
                "repo-signing key {changed} signs from now on; signed again: {}",
                if resigned.is_empty() {
                    "nothing is served yet".to_owned()
                } else {
                    resigned.join(", ")
                }
            ),
        ),
        _ => (
            "repokey-retired",
            format!("repo-signing key {changed} is no longer served"),
        ),
    };
    app.store.audit(
        &owner.user,
        action,
        &changed,
        true,
        &detail,
        &remote.ip().to_string(),
    )?;
    app.emit(kind, format!("{}: {detail}", owner.user), None, None);
    if action == "switch-repo-key" {
        // Partners get the re-signed .asc and are verified with the new key.
        crate::origin::sync::worker::after_publish(&app, &app.repos());
    }
    Ok(RepoKeysChange {
        changed,
        resigned,
        now: app.repo_keys().view(),
    })
}

/// `POST /api/v1/repo-key/next` (admin group): prepare the next key.
#[utoipa::path(
    post,
    path = "/api/v1/repo-key/next",
    operation_id = "prepareNextRepoKey",
    summary = "Generate the next repo-signing key, served beside the current one (admin group)",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "prepared", body = RepoKeysChange),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 409, description = "a rotation is already under way", body = ErrorEnvelope),
    )
)]
pub async fn prepare_next_repo_key(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let change = repo_key_change(
        app,
        remote,
        &headers,
        "prepare-repo-key",
        "repo key",
        |app| {
            let ring = crate::origin::repo_keys::prepare_next_live(app)?;
            let next = ring
                .next
                .as_ref()
                .map(|k| k.fingerprint())
                .unwrap_or_default();
            Ok((next, Vec::new()))
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(change)))
}

fn choice(body: &[u8]) -> Result<RepoKeyChoice, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!("the request is not valid JSON for this API: {e}"),
            "send {\"fingerprint\": \"...\"} (`hotpush keys repo-status` shows them)",
        )
    })
}

/// `POST /api/v1/repo-key/switch` (admin group): sign with the prepared key.
#[utoipa::path(
    post,
    path = "/api/v1/repo-key/switch",
    operation_id = "switchRepoKey",
    summary = "Sign with the prepared next repo key from now on, and sign every served repomd.xml again (admin group)",
    security(("bearer" = [])),
    request_body = RepoKeyChoice,
    responses(
        (status = 200, description = "switched", body = RepoKeysChange),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 409, description = "no such prepared key", body = ErrorEnvelope),
        (status = 500, description = "`key_change_failed`: a served repomd.xml could not be signed with the new key (nothing switched), or the switch went through but a new .asc could not be put in place (the message says which)", body = ErrorEnvelope),
    )
)]
pub async fn switch_repo_key(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Json<RepoKeysChange>, ApiError> {
    let wanted = choice(&body)?.fingerprint;
    let target = wanted.clone();
    let change = repo_key_change(
        app,
        remote,
        &headers,
        "switch-repo-key",
        &target,
        move |app| {
            let resigned = crate::origin::repo_keys::switch(app, &wanted)?;
            Ok((app.repo_key().fingerprint(), resigned))
        },
    )
    .await?;
    Ok(Json(change))
}

/// `POST /api/v1/repo-key/retire` (admin group): stop serving the previous key.
#[utoipa::path(
    post,
    path = "/api/v1/repo-key/retire",
    operation_id = "retireRepoKey",
    summary = "Stop serving the previous repo key (admin group)",
    security(("bearer" = [])),
    request_body = RepoKeyChoice,
    responses(
        (status = 200, description = "retired", body = RepoKeysChange),
        (status = 401, description = "error", body = ErrorEnvelope),
        (status = 403, description = "error", body = ErrorEnvelope),
        (status = 409, description = "no such previous key", body = ErrorEnvelope),
    )
)]
pub async fn retire_repo_key(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Json<RepoKeysChange>, ApiError> {
    let wanted = choice(&body)?.fingerprint;
    let target = wanted.clone();
    let change = repo_key_change(
        app,
        remote,
        &headers,
        "retire-repo-key",
        &target,
        move |app| {
            let previous = app
                .repo_keys()
                .previous
                .as_ref()
                .map(|p| p.fingerprint.clone())
                .unwrap_or_default();
            crate::origin::repo_keys::retire_live(app, &wanted)?;
            Ok((previous, Vec::new()))
        },
    )
    .await?;
    Ok(Json(change))
}
